"""Uncertainty of the concept prediction per second of annotator time."""
from __future__ import annotations

import numpy as np

from elicitation.strategies.base import Candidates, ModelOutputs, binary_entropy, safe_cost
from elicitation.strategies.registry import register


def concept_uncertainty(candidates: Candidates, outputs: ModelOutputs) -> np.ndarray:
    """BALD over MC-dropout samples when present, else the predictive entropy.

    BALD = H(mean_s p_s) - mean_s H(p_s): the part of the uncertainty a label
    would remove from the model, not the label noise it cannot.
    The coarse candidates use the coarse prediction's entropy.
    """
    t, j = candidates.target_index, candidates.attribute_index
    coarse = candidates.is_coarse
    jj = np.where(coarse, 0, j)
    if outputs.concept_samples is not None:
        samples = outputs.concept_samples[:, t, jj]  # (S, n)
        value = binary_entropy(samples.mean(axis=0)) - binary_entropy(samples).mean(axis=0)
    else:
        value = binary_entropy(outputs.concept_proba[t, jj])
    return np.where(coarse, binary_entropy(outputs.coarse_proba[t]), value)


@register("uncertainty_per_cost")
def score_uncertainty_per_cost(candidates: Candidates, outputs: ModelOutputs,
                               rng: np.random.Generator) -> np.ndarray:
    return concept_uncertainty(candidates, outputs) / safe_cost(candidates.cost)
