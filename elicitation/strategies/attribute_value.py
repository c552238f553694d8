"""Per attribute: held-out AUC lost when it is removed from the CBM, per second.

Collins et al. (Experiment 2) show the wrong attributes hurt; attributes whose
value is not positive are proposed for retirement on the dashboard. The
coarse label's value is the AUC the coarse signal adds (``extra['coarse_value']``,
defaulting to the best attribute's value so it stays in play).
"""
from __future__ import annotations

import numpy as np

from elicitation.strategies.base import Candidates, ModelOutputs, safe_cost
from elicitation.strategies.registry import register


def retirement_proposals(attribute_value: np.ndarray, *, tolerance: float = 0.0) -> np.ndarray:
    """Indices of attributes whose removal does not lower held-out AUC."""
    return np.flatnonzero(np.asarray(attribute_value) <= tolerance)


@register("attribute_value")
def score_attribute_value(candidates: Candidates, outputs: ModelOutputs, rng: np.random.Generator) -> np.ndarray:
    if outputs.attribute_value is None:
        raise ValueError("attribute_value needs ModelOutputs.attribute_value (AUC lost per attribute)")
    values = np.asarray(outputs.attribute_value, dtype=np.float64)
    coarse_value = float(outputs.extra.get("coarse_value", values.max(initial=0.0)))
    jj = np.where(candidates.is_coarse, 0, candidates.attribute_index)
    value = np.where(candidates.is_coarse, coarse_value, values[jj])
    # Retired attributes are never asked; a tiny random jitter breaks the ties
    # among targets so the same items are not asked over and over.
    score = np.where(value > 0, value / safe_cost(candidates.cost), -np.inf)
    return score + 1e-9 * rng.random(len(candidates))
