"""Binary yes / no / unsure (TIA2 good / bad / skip; Collins' yes/no attributes).

TIA2 §3.1-3.2: three annotators, the label is positive when two of three say
so, and the aggregate score counts good=1, bad=0, inconclusive=0.5.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


from annotator import agreement
from annotator.consolidation.base import Answer, Result, Spec, Unit, count_table, is_skipped

CATEGORIES = ("yes", "no", "unsure")


def answer_category(answer: Answer) -> str:
    if is_skipped(answer) or answer.get("value") is None:
        return "unsure"
    return "yes" if answer["value"] is True else "no"


def _counts(answers: Sequence[Answer]) -> list[int]:
    cats = [answer_category(a) for a in answers]
    return [cats.count(c) for c in CATEGORIES]


class BinaryConsolidator:
    kind = "binary"

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        yes, no, unsure = _counts(answers)
        n = yes + no + unsure
        # Strict majority of all answers, unsure ones included: 2 of 3, 3 of 4.
        label = yes >= n // 2 + 1
        return Result(
            value={"value": label, "yes": yes, "no": no, "unsure": unsure},
            score=(yes + 0.5 * unsure) / n,
            agreement=max(yes, no, unsure) / n,
            n_responses=n,
            n_skipped=unsure,
        )

    def reference(self, result: Result, spec: Spec) -> str | None:
        value = result.value
        if value["yes"] == 0 and value["no"] == 0:
            return None  # only unsure answers: there is no label to agree with
        return "yes" if value["value"] else "no"

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        category = answer_category(answer)
        if reference is None or category == "unsure":
            return None
        return {"agreement": float(category == reference)}

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        table = count_table((_counts(u.answers) for u in units), 3)
        totals = table.sum(axis=1)
        full = table[totals == overlap]
        return {
            "kind": self.kind,
            "n_targets": int(len(table)),
            "n_responses": int(totals.sum()),
            # yes / no / unsure are three nominal categories for both coefficients.
            "alpha": agreement.krippendorff_alpha(table, level="nominal"),
            "fleiss_kappa": agreement.fleiss_kappa(full) if overlap >= 2 else None,
            "n_targets_kappa": int(len(full)),
            "unanimous_share": agreement.unanimous_share(table),
            "unsure_share": float(table[:, 2].sum() / totals.sum()) if totals.sum() else None,
            "positive_share": float((table[:, 0] >= totals // 2 + 1).mean()) if len(table) else None,
        }
