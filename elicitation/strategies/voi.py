"""Expected reduction of the coarse prediction's entropy, per second.

Through the CBM's aggregator p = sigmoid(b + w . c_hat): learning attribute j
of item i replaces c_hat_ij by its value, so

    VOI_ij = H(p_i) - [p_ij H(p_i | c_j = 1) + (1 - p_ij) H(p_i | c_j = 0)]

(the expected-uncertainty-decrease criterion of Shin et al. 2023), divided by
cost_j in the spirit of Chauhan et al.'s cost-aware interactive CBMs. The
coarse label itself is a candidate whose value is the entropy it removes,
H(p_i): it is the training signal the aggregator learns from.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from elicitation.strategies.base import Candidates, ModelOutputs, binary_entropy, safe_cost
from elicitation.strategies.registry import register


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return expit(z)  # no overflow warning for very negative logits


def expected_entropy_reduction(candidates: Candidates, outputs: ModelOutputs) -> np.ndarray:
    t, j = candidates.target_index, candidates.attribute_index
    coarse = candidates.is_coarse
    jj = np.where(coarse, 0, j)
    c_hat = outputs.concept_proba[t]  # (n, k)
    w = np.asarray(outputs.aggregator_weights, dtype=np.float64)
    logit = outputs.aggregator_intercept + c_hat @ w  # (n,)
    p_j = c_hat[np.arange(len(t)), jj]
    w_j = w[jj]
    h_now = binary_entropy(_sigmoid(logit))
    h_if_1 = binary_entropy(_sigmoid(logit + w_j * (1.0 - p_j)))
    h_if_0 = binary_entropy(_sigmoid(logit - w_j * p_j))
    voi = h_now - (p_j * h_if_1 + (1.0 - p_j) * h_if_0)
    return np.where(coarse, h_now, np.maximum(voi, 0.0))


@register("voi_per_cost")
def score_voi_per_cost(candidates: Candidates, outputs: ModelOutputs, rng: np.random.Generator) -> np.ndarray:
    return expected_entropy_reduction(candidates, outputs) / safe_cost(candidates.cost)
