"""Rankings of a group into five levels (ImageReward §2.2, A.3, B.3).

Level 1 is best. ImageReward turns a ranking of k images into at most C(k, 2)
comparisons, one per strictly ordered pair; tied pairs (two images on one
level) give no training pair. Here they are counted over all annotators.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from annotator import agreement
from annotator.consolidation.base import Answer, Result, Spec, Unit, is_skipped, mean_or_none


def answer_levels(answer: Answer) -> dict[int, int]:
    """image id -> level (1 = best)."""
    return {int(image): level for level, images in enumerate(answer.get("levels") or [], start=1)
            for image in images}


def _images(spec: Spec, rankings: Sequence[dict[int, int]]) -> list[int]:
    if spec.image_ids:
        return [int(i) for i in spec.image_ids]
    return sorted(set().union(*(r.keys() for r in rankings))) if rankings else []


def _rank_table(rankings: Sequence[dict[int, int]], images: Sequence[int]) -> np.ndarray:
    """(annotators x images) levels; an image an annotator did not place is NaN."""
    return np.array([[r.get(i, np.nan) for i in images] for r in rankings], dtype=float).reshape(
        len(rankings), len(images))


def _complete_rows(table: np.ndarray) -> np.ndarray:
    return table[~np.isnan(table).any(axis=1)] if table.size else table


class RankingConsolidator:
    kind = "ranking"

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        rankings = [answer_levels(a) for a in answers if not is_skipped(a)]
        images = _images(spec, rankings)
        pairs = []
        training: dict[tuple[int, int], int] = {}
        for a, b in combinations(images, 2):
            a_wins = b_wins = ties = 0
            for r in rankings:
                if a not in r or b not in r:
                    continue
                if r[a] < r[b]:
                    a_wins += 1
                elif r[b] < r[a]:
                    b_wins += 1
                else:
                    ties += 1
            pairs.append({"a": a, "b": b, "a_wins": a_wins, "b_wins": b_wins, "ties": ties})
            if a_wins:
                training[(a, b)] = a_wins
            if b_wins:
                training[(b, a)] = b_wins
        mean_rank = {}
        for image in images:
            levels = [r[image] for r in rankings if image in r]
            mean_rank[str(image)] = float(np.mean(levels)) if levels else None
        position = {image: p for p, image in enumerate(images)}
        order = sorted((i for i in images if mean_rank[str(i)] is not None),
                       key=lambda i: (mean_rank[str(i)], position[i]))
        table = _complete_rows(_rank_table(rankings, images))
        return Result(
            value={
                "pairs": pairs,
                "mean_rank": mean_rank,
                "order": order,
                # ImageReward-style training pairs: [better, worse] with how many annotators said so.
                "training_pairs": [{"better": better, "worse": worse, "count": count}
                                   for (better, worse), count in sorted(
                                       training.items(), key=lambda kv: (position[kv[0][0]], position[kv[0][1]]))],
            },
            score=None,
            agreement=agreement.mean_pairwise_kendall_tau(table) if len(table) >= 2 else None,
            n_responses=len(answers),
            n_skipped=len(answers) - len(rankings),
        )

    def reference(self, result: Result, spec: Spec) -> dict[int, float] | None:
        ranks = {int(i): r for i, r in result.value["mean_rank"].items() if r is not None}
        return ranks or None

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        if reference is None or is_skipped(answer):
            return None
        levels = answer_levels(answer)
        images = [i for i in reference if i in levels]
        if len(images) < 2:
            return None
        mine = [levels[i] for i in images]
        theirs = [reference[i] for i in images]
        # Pairwise accuracy against the consensus order; a tie agrees only with a tie.
        same = [np.sign(mine[x] - mine[y]) == np.sign(theirs[x] - theirs[y])
                for x, y in combinations(range(len(images)), 2)]
        result = {"agreement": float(np.mean(same))}
        tau = agreement.kendall_tau(mine, theirs)
        if tau is not None:
            result["tau"] = tau
        return result

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        ws, taus = [], []
        n_responses = n_targets = 0
        for unit in units:
            n_targets += 1
            rankings = [answer_levels(a) for a in unit.answers if not is_skipped(a)]
            n_responses += len(rankings)
            table = _complete_rows(_rank_table(rankings, _images(unit.spec, rankings)))
            if len(table) >= 2:
                ws.append(agreement.kendall_w(table))
                taus.append(agreement.mean_pairwise_kendall_tau(table))
        return {
            "kind": self.kind,
            "n_targets": n_targets,
            "n_responses": n_responses,
            "n_groups_compared": len(taus),
            "kendall_w": mean_or_none(ws),
            "mean_kendall_tau": mean_or_none(taus),
        }
