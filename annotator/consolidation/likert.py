"""Likert scores (RichHF §3.2/§3.4, ImageReward 7-point ratings).

The consolidated score is the mean of (k - 1) / (points - 1), so 5- and
7-point scales land on [0, 1] alike; the spread max(k) - min(k) is RichHF's
per-item agreement measure (Fig. 4), kept on the raw scale.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from annotator import agreement
from annotator.consolidation.base import Answer, Result, Spec, Unit, count_table, first_and_rest, is_skipped


def _points(spec: Spec) -> int:
    return int(spec.likert_points or 5)


def _scores(answers: Sequence[Answer]) -> np.ndarray:
    return np.array([a["value"] for a in answers if not is_skipped(a) and a.get("value") is not None], dtype=float)


class LikertConsolidator:
    kind = "likert"

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        points = _points(spec)
        # Plain floats: a handful of scores per target, where numpy's per-call cost would dominate.
        k = [float(a["value"]) for a in answers if not is_skipped(a) and a.get("value") is not None]
        n_skipped = len(answers) - len(k)
        if not k:
            return Result(value={"value": None, "mean": None, "std": None, "spread": None, "counts": {}},
                          score=None, agreement=None, n_responses=len(answers), n_skipped=n_skipped)
        mean = math.fsum(k) / len(k)
        normalised = (mean - 1) / (points - 1)
        spread = max(k) - min(k)
        return Result(
            value={
                "value": normalised,
                "mean": mean,
                # Population std (ddof=0): one annotator gives 0, not NaN.
                "std": math.sqrt(math.fsum((x - mean) ** 2 for x in k) / len(k)),
                "spread": spread,
                "counts": {str(v): c for v, c in sorted(Counter(int(x) for x in k).items())},
            },
            score=normalised,
            # RichHF standardises the max-min difference to [0, 1]; agreement is its complement.
            agreement=1.0 - spread / (points - 1),
            n_responses=len(answers),
            n_skipped=n_skipped,
        )

    def reference(self, result: Result, spec: Spec) -> float | None:
        return result.value["mean"]

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        if reference is None or is_skipped(answer) or answer.get("value") is None:
            return None
        deviation = abs(float(answer["value"]) - float(reference))
        return {"agreement": 1.0 - deviation / (_points(spec) - 1), "abs_dev": deviation}

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        first, units = first_and_rest(units)
        points = _points(first.spec) if first is not None else 5
        spreads: list[int] = []

        def rows():
            for unit in units:
                k = _scores(unit.answers).astype(int)
                if len(k) >= 2:
                    spreads.append(int(k.max() - k.min()))
                yield np.bincount(k - 1, minlength=points)[:points]

        table = count_table(rows(), points)
        histogram = np.bincount(np.array(spreads, dtype=int), minlength=points)[:points]
        return {
            "kind": self.kind,
            "n_targets": len(table),
            "n_responses": int(table.sum()),
            "alpha": agreement.krippendorff_alpha(table, level="ordinal", value_domain=list(range(1, points + 1))),
            "unanimous_share": agreement.unanimous_share(table),
            # RichHF Fig. 4: histogram of max - min over targets with at least two scores.
            "spread_histogram": {str(s): int(c) for s, c in enumerate(histogram)},
            "mean_spread": float(np.mean(spreads)) if spreads else None,
            "spread_le_1_share": float(np.mean(np.array(spreads) <= 1)) if spreads else None,
            "mean_score": float(np.mean([(r @ np.arange(points)) / r.sum() / (points - 1)
                                         for r in table if r.sum()])) if table.sum() else None,
        }
