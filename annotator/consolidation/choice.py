"""Multi-select choice (ImageReward issue checkboxes, prompt flags) and single choice (category).

Multi-select: every option is its own yes/no vote; an option is in the
consolidated set when more than half of the annotators ticked it, and
``["none"]`` stands for "no option has a majority", as in the answers.
Single choice: the plurality option; a tie at the top gives no label.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from annotator import agreement
from annotator.consolidation.base import Answer, Result, Spec, Unit, first_and_rest, is_skipped, mean_or_none

NONE = "none"


def _selections(answers: Sequence[Answer]) -> list[set[str]]:
    return [set(a.get("value") or []) - {NONE} for a in answers if not is_skipped(a)]


def _options(spec: Spec, selections: Sequence[set[str]]) -> list[str]:
    known = [o for o in spec.options if o != NONE]
    extra = sorted(set().union(*selections) - set(known)) if selections else []
    return known + extra


class ChoiceConsolidator:
    kind = "choice"

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        selections = _selections(answers)
        n = len(selections)
        options = _options(spec, selections)
        counts = {o: sum(o in s for s in selections) for o in options}
        shares = {o: (c / n if n else None) for o, c in counts.items()}
        majority = [o for o in options if n and counts[o] / n > 0.5]
        return Result(
            value={
                "value": majority or [NONE],
                "counts": counts,
                "shares": shares,
                "none": sum(not s for s in selections),
            },
            score=None,
            # Mean over options of the share that agrees with that option's majority.
            agreement=mean_or_none([max(s, 1 - s) for s in shares.values() if s is not None]) if options else
            (1.0 if n else None),
            n_responses=len(answers),
            n_skipped=len(answers) - n,
        )

    def reference(self, result: Result, spec: Spec) -> set[str] | None:
        if result.n_responses == result.n_skipped:
            return None
        return set(result.value["value"]) - {NONE}

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        if reference is None or is_skipped(answer):
            return None
        chosen = set(answer.get("value") or []) - {NONE}
        options = set(_options(spec, [chosen, reference]))
        if not options:
            return {"agreement": 1.0}
        # Per option, does the answer agree with the reference? (1 - normalised Hamming distance)
        return {"agreement": sum((o in chosen) == (o in reference) for o in options) / len(options)}

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        first, units = first_and_rest(units)
        spec = first.spec if first is not None else Spec(kind=self.kind)
        # The options may come from the answers themselves, so the selections are kept (not the units).
        all_selections = [_selections(u.answers) for u in units]
        options = _options(spec, [s for sel in all_selections for s in sel])
        per_option: dict[str, Any] = {}
        for option in options:
            table = np.array([[sum(option not in s for s in sel), sum(option in s for s in sel)]
                              for sel in all_selections], dtype=np.int64).reshape(-1, 2)
            per_option[option] = {
                "alpha": agreement.krippendorff_alpha(table, level="nominal"),
                "share": float(table[:, 1].sum() / table.sum()) if table.sum() else None,
                "unanimous_share": agreement.unanimous_share(table),
            }
        pairable = [sel for sel in all_selections if len(sel) >= 2]
        return {
            "kind": self.kind,
            "n_targets": len(all_selections),
            "n_responses": sum(len(sel) for sel in all_selections),
            "options": per_option,
            "alpha": mean_or_none([p["alpha"] for p in per_option.values()]),
            # Every annotator ticked exactly the same set.
            "unanimous_share": (float(np.mean([all(s == sel[0] for s in sel) for sel in pairable]))
                                if pairable else None),
        }


def _choices(answers: Sequence[Answer]) -> list[str]:
    return [a["value"] for a in answers if not is_skipped(a) and a.get("value") is not None]


class CategoryConsolidator:
    kind = "category"

    def _options(self, spec: Spec, chosen: Sequence[str]) -> list[str]:
        return list(spec.options) + sorted(set(chosen) - set(spec.options))

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        chosen = _choices(answers)
        counts = {o: chosen.count(o) for o in self._options(spec, chosen)}
        top = max(counts.values(), default=0)
        leaders = [o for o, c in counts.items() if c == top and c > 0]
        tie = len(leaders) > 1
        return Result(
            value={"value": leaders[0] if len(leaders) == 1 else None, "counts": counts, "tie": tie},
            score=None,
            agreement=top / len(chosen) if chosen else None,
            n_responses=len(answers),
            n_skipped=len(answers) - len(chosen),
        )

    def reference(self, result: Result, spec: Spec) -> str | None:
        return result.value["value"]

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        if reference is None or is_skipped(answer) or answer.get("value") is None:
            return None
        return {"agreement": float(answer["value"] == reference)}

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        first, units = first_and_rest(units)
        spec = first.spec if first is not None else Spec(kind=self.kind)
        all_chosen = [_choices(u.answers) for u in units]
        options = self._options(spec, [c for chosen in all_chosen for c in chosen])
        table = np.array([[chosen.count(o) for o in options] for chosen in all_chosen],
                         dtype=np.int64).reshape(len(all_chosen), len(options))
        full = table[table.sum(axis=1) == overlap]
        return {
            "kind": self.kind,
            "n_targets": len(all_chosen),
            "n_responses": int(table.sum()),
            "alpha": agreement.krippendorff_alpha(table, level="nominal"),
            "fleiss_kappa": agreement.fleiss_kappa(full) if overlap >= 2 else None,
            "n_targets_kappa": int(len(full)),
            "unanimous_share": agreement.unanimous_share(table),
        }
