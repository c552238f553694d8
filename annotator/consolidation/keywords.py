"""Misaligned prompt keywords (RichHF §3.2: majority vote per token).

A token is misaligned in the consolidated value when more than half of the
annotators who answered flagged it. Agreement is per token: the share of
annotators on the token's majority side, averaged over the prompt's tokens.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from annotator import agreement
from annotator.consolidation.base import Answer, Result, Spec, Unit, is_skipped


def _flags(answers: Sequence[Answer]) -> list[set[int]]:
    return [set(int(i) for i in a.get("tokens") or []) for a in answers if not is_skipped(a)]


def _n_tokens(spec: Spec, flags: Sequence[set[int]]) -> int:
    if spec.n_tokens:
        return int(spec.n_tokens)
    # Unknown prompt length: the tokens anybody flagged are all we can score.
    return max((max(f) + 1 for f in flags if f), default=0)


def _token_table(flags: Sequence[set[int]], n_tokens: int) -> np.ndarray:
    """(tokens x [not flagged, flagged]) counts."""
    flagged = np.zeros(n_tokens, dtype=np.int64)
    for f in flags:
        for i in f:
            if 0 <= i < n_tokens:
                flagged[i] += 1
    return np.stack([len(flags) - flagged, flagged], axis=1)


class KeywordsConsolidator:
    kind = "keywords"

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        flags = _flags(answers)
        n = len(flags)
        counts = Counter(i for f in flags for i in f)
        tokens = sorted(i for i, c in counts.items() if c > n / 2)
        table = _token_table(flags, _n_tokens(spec, flags))
        if n and len(table):
            token_agreement = float((table.max(axis=1) / n).mean())
        else:
            token_agreement = 1.0 if n else None  # nothing to disagree on
        return Result(
            value={"tokens": tokens, "counts": {str(i): counts[i] for i in sorted(counts)}},
            score=None,
            agreement=token_agreement,
            n_responses=len(answers),
            n_skipped=len(answers) - n,
        )

    def reference(self, result: Result, spec: Spec) -> set[int] | None:
        if result.n_responses == result.n_skipped:
            return None
        return set(result.value["tokens"])

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        if reference is None or is_skipped(answer):
            return None
        flagged = set(int(i) for i in answer.get("tokens") or [])
        n_tokens = _n_tokens(spec, [flagged, reference])
        if n_tokens == 0:
            return {"agreement": 1.0}
        same = sum((i in flagged) == (i in reference) for i in range(n_tokens))
        return {"agreement": same / n_tokens}

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        tables = []
        unanimous = []
        n_targets = 0
        for unit in units:
            n_targets += 1
            flags = _flags(unit.answers)
            tables.append(_token_table(flags, _n_tokens(unit.spec, flags)))
            if len(flags) >= 2:
                unanimous.append(all(f == flags[0] for f in flags))
        table = np.concatenate(tables) if tables else np.zeros((0, 2), dtype=np.int64)
        totals = table.sum(axis=1)
        pairable = totals >= 2
        return {
            "kind": self.kind,
            "n_targets": n_targets,
            "n_tokens": int(len(table)),
            # Every (target, token) is one nominal unit: flagged or not.
            "alpha": agreement.krippendorff_alpha(table, level="nominal"),
            "token_agreement": (float((table[pairable].max(axis=1) / totals[pairable]).mean())
                                if pairable.any() else None),
            "flagged_share": (float((table[:, 1] > totals / 2).mean()) if len(table) else None),
            "unanimous_share": float(np.mean(unanimous)) if unanimous else None,
        }
