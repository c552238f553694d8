"""Side-by-side judgements with an "unsure" option (Collins Table 1; RichHF Tab. 5 five-way scale).

Sides are randomised per assignment, so an answer says which image it saw
as A (``"a"``) and as B (``"b"``). Tallies are kept in the pair's own order
(``Spec.image_ids`` = (image A, image B) of the Pair row): an answer given
with the sides swapped has its choice mirrored.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from annotator import agreement
from annotator.consolidation.base import Answer, Result, Spec, Unit, count_table

CHOICES_5WAY = ("A>>B", "A>B", "A=B", "B>A", "B>>A", "unsure")
CHOICES_3WAY = ("A", "B", "unsure")
_MIRROR = {"A>>B": "B>>A", "A>B": "B>A", "B>A": "A>B", "B>>A": "A>>B", "A": "B", "B": "A"}
# choice -> (winner side or "tie"/"unsure", strength, preference for A in [0, 1])
_MEANING = {
    "A>>B": ("A", 2, 1.0), "A>B": ("A", 1, 0.75), "A=B": ("tie", 0, 0.5), "B>A": ("B", 1, 0.25),
    "B>>A": ("B", 2, 0.0), "A": ("A", 1, 1.0), "B": ("B", 1, 0.0), "unsure": ("unsure", 0, None),
}
OUTCOMES = ("A", "B", "tie", "unsure")


def _pair(spec: Spec, answers: Sequence[Answer]) -> tuple[int | None, int | None]:
    if len(spec.image_ids) == 2:
        return int(spec.image_ids[0]), int(spec.image_ids[1])
    first = answers[0] if answers else {}
    return first.get("a"), first.get("b")


def canonical_choice(answer: Answer, pair: tuple[int | None, int | None]) -> str:
    """The answer's choice in the pair's own A/B order."""
    choice = "unsure" if answer.get("skipped") else answer.get("choice", "unsure")
    if choice not in _MEANING:
        return "unsure"
    if pair[0] is not None and answer.get("a") == pair[1] and answer.get("b") == pair[0]:
        return _MIRROR.get(choice, choice)
    return choice


def _mode_choices(spec: Spec, seen: Sequence[str]) -> tuple[str, ...]:
    three_way = spec.config.get("mode") == "3way" or (
        not spec.config.get("mode") and any(c in ("A", "B") for c in seen))
    return CHOICES_3WAY if three_way else CHOICES_5WAY


def _outcome_counts(choices: Sequence[str]) -> list[int]:
    outcomes = [_MEANING[c][0] for c in choices]
    return [outcomes.count(o) for o in OUTCOMES]


class SxsConsolidator:
    kind = "sxs"

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        pair = _pair(spec, answers)
        choices = [canonical_choice(a, pair) for a in answers]
        n = len(choices)
        counts = dict(zip(OUTCOMES, _outcome_counts(choices)))
        top = max(counts.values())
        leaders = [o for o, c in counts.items() if c == top]
        # A unique modal outcome wins; a shared top is "unsure" when unsure is among
        # the leaders (people could not tell), else "tie".
        if len(leaders) == 1:
            majority = leaders[0]
        else:
            majority = "unsure" if "unsure" in leaders else "tie"
        side_image = {"A": pair[0], "B": pair[1]}
        preferences = [_MEANING[c][2] for c in choices if _MEANING[c][2] is not None]
        image_a, image_b = pair
        return Result(
            value={
                "image_a": image_a,
                "image_b": image_b,
                "tallies": {c: choices.count(c) for c in _mode_choices(spec, choices)},
                "votes": {str(image_a): counts["A"], str(image_b): counts["B"], "tie": counts["tie"],
                          "unsure": counts["unsure"]},
                "strength": {str(image_a): sum(_MEANING[c][1] for c in choices if _MEANING[c][0] == "A"),
                             str(image_b): sum(_MEANING[c][1] for c in choices if _MEANING[c][0] == "B")},
                "majority": side_image.get(majority, majority),
                "unsure_share": counts["unsure"] / n,
            },
            # Preference for the pair's image A (1 = strongly A, 0 = strongly B); unsure answers carry none.
            score=float(np.mean(preferences)) if preferences else None,
            agreement=top / n,
            n_responses=n,
            n_skipped=counts["unsure"],
        )

    def reference(self, result: Result, spec: Spec) -> Any:
        majority = result.value["majority"]
        return None if majority == "unsure" else majority

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        pair = _pair(spec, [answer])
        side = _MEANING[canonical_choice(answer, pair)][0]
        if reference is None or side == "unsure":
            return None
        said = {"A": pair[0], "B": pair[1]}.get(side, side)
        return {"agreement": float(said == reference)}

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        majorities = {"image": 0, "tie": 0, "unsure": 0}

        def rows():
            for u in units:
                majority = self.consolidate(u.answers, u.spec).value["majority"]
                majorities[majority if majority in ("tie", "unsure") else "image"] += 1
                yield _outcome_counts([canonical_choice(a, _pair(u.spec, u.answers)) for a in u.answers])

        table = count_table(rows(), len(OUTCOMES))
        totals = table.sum(axis=1)
        return {
            "kind": self.kind,
            "n_targets": len(table),
            "n_responses": int(totals.sum()),
            # Collins Table 1: the share of votes that were "unsure".
            "unsure_share": float(table[:, 3].sum() / totals.sum()) if totals.sum() else None,
            "unanimous_share": agreement.unanimous_share(table),
            # A / B / tie as nominal categories; unsure answers carry no judgement and drop out.
            "alpha": agreement.krippendorff_alpha(table[:, :3], level="nominal"),
            "majority_counts": majorities,
        }
