"""Shared types of the per-kind consolidators (pure: no Django).

A consolidator turns the valid answers of one (target, attribute) into a
``Result``; the DB side (``annotator.services.consolidation``) builds the
``Spec`` from the attribute, the campaign and the target and stores the result.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

Answer = Mapping[str, Any]

# Long side of a stored heatmap (DESIGN §4: the image's size capped to 512).
HEATMAP_MAX_SIDE = 512


@dataclass(frozen=True)
class Spec:
    """What a consolidator needs to know about the attribute and the target."""

    kind: str
    options: tuple[str, ...] = ()
    likert_points: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    # points
    radius_frac: float = 0.05
    width: int | None = None
    height: int | None = None
    max_side: int = HEATMAP_MAX_SIDE
    # ranking: the group's images in display position order; sxs: (image A, image B) of the pair
    image_ids: tuple[int, ...] = ()
    # keywords: number of tokens of the prompt
    n_tokens: int | None = None


@dataclass
class Result:
    """One consolidated value, ready to be stored as a ``Consolidated`` row.

    ``heatmaps`` (points only) holds float maps in [0, 1] that the DB side
    writes as PNG files; they are never put in the JSON value.
    """

    value: dict[str, Any]
    score: float | None
    agreement: float | None
    n_responses: int
    n_skipped: int
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    """The valid answers to one (target, attribute), for campaign-level agreement."""

    spec: Spec
    answers: Sequence[Answer]


class Consolidator(Protocol):
    kind: str

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        """The consolidated value of the valid answers (at least one)."""

    def reference(self, result: Result, spec: Spec) -> Any:
        """What one answer is compared with: the consensus (or, fed a gold answer, the gold label)."""

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        """Agreement of one answer with a reference: ``{"agreement": 0..1, ...}``; None if not comparable."""

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        """Agreement over all targets of a campaign for one attribute.

        ``units`` is read once, in one pass (the selector streams them from the
        database): keep per-unit summaries as compact rows, never the units.
        """


def answer_agreements(consolidator: Consolidator, answers: Sequence[Answer],
                      spec: Spec) -> list[dict[str, float] | None]:
    """Each answer compared with the consensus of all of them (its own included).

    A consolidator may define ``answer_agreements`` itself when it can do
    this without recomputing (points reuse their cropped masks).
    """
    own = getattr(consolidator, "answer_agreements", None)
    if own is not None:
        return own(answers, spec)
    reference = consolidator.reference(consolidator.consolidate(answers, spec), spec)
    return [consolidator.compare(answer, reference, spec) for answer in answers]


def count_table(rows: Iterable[Sequence[int]], width: int) -> np.ndarray:
    """Rows of ``width`` counts, one per unit, as an int64 array (n, width), built without a list of rows."""
    return np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64).reshape(-1, width)


def first_and_rest(units: Iterable[Unit]) -> tuple[Unit | None, Iterator[Unit]]:
    """The first unit (None if there is none) and an iterator over all of them, the first included."""
    units = iter(units)
    first = next(units, None)
    return first, (itertools.chain([first], units) if first is not None else iter(()))


def is_skipped(answer: Answer) -> bool:
    """An explicit skip ("unsure" / "hard to answer"), kept as a response but carrying no label."""
    return bool(answer.get("skipped"))


def modal_share(counts: Sequence[int]) -> float | None:
    total = sum(counts)
    return max(counts) / total if total else None


def mean_or_none(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(kept)) if kept else None
