"""Per-kind consolidation and agreement, pure numpy/scipy (no Django import).

``CONSOLIDATORS`` is the registry keyed by attribute kind; each entry
implements ``annotator.consolidation.base.Consolidator``::

    from annotator.consolidation import consolidator, Spec
    result = consolidator("binary").consolidate([{"value": True}, {"skipped": True}], Spec(kind="binary"))
"""
from __future__ import annotations

from annotator.consolidation.base import Answer, Consolidator, Result, Spec, Unit, is_skipped
from annotator.consolidation.binary import BinaryConsolidator
from annotator.consolidation.choice import CategoryConsolidator, ChoiceConsolidator
from annotator.consolidation.keywords import KeywordsConsolidator
from annotator.consolidation.likert import LikertConsolidator
from annotator.consolidation.points import PointsConsolidator
from annotator.consolidation.ranking import RankingConsolidator
from annotator.consolidation.sxs import SxsConsolidator

CONSOLIDATORS: dict[str, Consolidator] = {
    c.kind: c for c in (
        BinaryConsolidator(), LikertConsolidator(), ChoiceConsolidator(), CategoryConsolidator(),
        PointsConsolidator(), KeywordsConsolidator(), RankingConsolidator(), SxsConsolidator(),
    )
}


def consolidator(kind: str) -> Consolidator:
    try:
        return CONSOLIDATORS[kind]
    except KeyError:
        raise ValueError(f"no consolidator for kind {kind!r}; known: {', '.join(sorted(CONSOLIDATORS))}") from None


def consolidate(kind: str, answers, spec: Spec) -> Result:
    return consolidator(kind).consolidate(answers, spec)


__all__ = ["Answer", "CONSOLIDATORS", "Consolidator", "Result", "Spec", "Unit", "consolidate", "consolidator",
           "is_skipped"]
