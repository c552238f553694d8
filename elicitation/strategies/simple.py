"""Baselines: ask everything, only the coarse label, or at random."""
from __future__ import annotations

import numpy as np

from elicitation.strategies.base import Candidates, ModelOutputs
from elicitation.strategies.registry import register


@register("all", needs_model=False, bundle_all=True)
def score_all(candidates: Candidates, outputs: ModelOutputs | None, rng: np.random.Generator) -> np.ndarray:
    """Every active attribute of each target (the papers' practice): no preference among candidates."""
    return np.zeros(len(candidates))


@register("coarse", needs_model=False)
def score_coarse(candidates: Candidates, outputs: ModelOutputs | None, rng: np.random.Generator) -> np.ndarray:
    """Only the coarse attribute; fine-grained candidates are never asked."""
    return np.where(candidates.is_coarse, 1.0, -np.inf)


@register("random", needs_model=False)
def score_random(candidates: Candidates, outputs: ModelOutputs | None, rng: np.random.Generator) -> np.ndarray:
    return rng.random(len(candidates))
