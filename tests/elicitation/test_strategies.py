"""Strategy scores on small cases computed by hand (no database)."""
import math

import numpy as np
import pytest

from elicitation.costs import annotator_speed, cost_estimate
from elicitation.strategies import Candidates, ModelOutputs, binary_entropy, bundle_target, candidate_scores
from elicitation.strategies.attribute_value import retirement_proposals


def H(p):
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def sig(z):
    return 1 / (1 + math.exp(-z))


@pytest.fixture
def outputs():
    # Two targets, two concepts; aggregator p = sigmoid(-1 + 2 c0 - 1 c1).
    return ModelOutputs(
        concept_proba=np.array([[0.5, 0.2], [0.9, 0.6]]),
        coarse_proba=np.array([sig(-1 + 2 * 0.5 - 0.2), sig(-1 + 2 * 0.9 - 0.6)]),
        aggregator_weights=np.array([2.0, -1.0]),
        aggregator_intercept=-1.0,
        attribute_value=np.array([0.10, -0.02]),
    )


def cands(t, j, coarse, cost):
    return Candidates(np.array(t), np.array(j), np.array(coarse, dtype=bool), np.array(cost, dtype=float))


def test_voi_matches_the_formula_by_hand(outputs):
    c = cands([0, 0, 1], [0, 1, 0], [False, False, True], [10.0, 20.0, 50.0])
    scores, used = candidate_scores("voi_per_cost", c, outputs, np.random.default_rng(0))
    assert used == "voi_per_cost"
    # Target 0, concept 0: logit = -1 + 1 - 0.2 = -0.2; p_j = 0.5, w_j = 2.
    z = -0.2
    voi0 = H(sig(z)) - (0.5 * H(sig(z + 2 * 0.5)) + 0.5 * H(sig(z - 2 * 0.5)))
    # Target 0, concept 1: p_j = 0.2, w_j = -1.
    voi1 = H(sig(z)) - (0.2 * H(sig(z - 1 * 0.8)) + 0.8 * H(sig(z + 1 * 0.2)))
    # Coarse candidate on target 1: the whole entropy of its prediction.
    coarse = H(sig(-1 + 1.8 - 0.6))
    assert scores == pytest.approx([voi0 / 10, voi1 / 20, coarse / 50], rel=1e-9)
    assert voi0 > 0 and voi1 > 0


def test_uncertainty_per_cost_uses_entropy_or_bald(outputs):
    c = cands([0, 1], [1, 0], [False, False], [2.0, 4.0])
    scores, _ = candidate_scores("uncertainty_per_cost", c, outputs, np.random.default_rng(0))
    assert scores == pytest.approx([H(0.2) / 2, H(0.9) / 4])
    # BALD: samples that agree carry no mutual information; disagreeing ones do.
    samples = np.stack([np.array([[0.5, 0.99], [0.9, 0.6]]), np.array([[0.5, 0.01], [0.9, 0.6]])])
    bald_outputs = ModelOutputs(**{**outputs.__dict__, "concept_samples": samples})
    scores, _ = candidate_scores("uncertainty_per_cost", cands([0, 0], [0, 1], [False, False], [1, 1]),
                                 bald_outputs, np.random.default_rng(0))
    assert scores[0] == pytest.approx(0.0, abs=1e-9)
    assert scores[1] == pytest.approx(H(0.5) - H(0.99))


def test_attribute_value_per_cost_and_retirement(outputs):
    c = cands([0, 0, 1], [0, 1, 0], [False, False, True], [10.0, 10.0, 50.0])
    scores, _ = candidate_scores("attribute_value", c, outputs, np.random.default_rng(0))
    assert scores[0] == pytest.approx(0.10 / 10, abs=1e-6)
    assert scores[1] == -np.inf
    assert scores[2] == pytest.approx(0.10 / 50, abs=1e-6)
    assert list(retirement_proposals(outputs.attribute_value)) == [1]


def test_coarse_and_all_and_fallback_without_a_model():
    c = cands([0, 0], [0, 1], [False, True], [1.0, 1.0])
    rng = np.random.default_rng(0)
    assert list(candidate_scores("coarse", c, None, rng)[0]) == [-np.inf, 1.0]
    assert list(candidate_scores("all", c, None, rng)[0]) == [0.0, 0.0]
    for name in ("voi_per_cost", "uncertainty_per_cost", "attribute_value"):
        scores, used = candidate_scores(name, c, None, rng)
        assert used == "all" and list(scores) == [0.0, 0.0]


def test_bundle_respects_the_time_limit_but_always_asks_one():
    scores = np.array([0.1, 0.9, 0.5, -np.inf])
    costs = np.array([30.0, 100.0, 20.0, 1.0])
    assert list(bundle_target(scores, costs, time_limit_s=90)) == [1]
    assert list(bundle_target(scores, np.array([30.0, 40.0, 20.0, 1.0]), time_limit_s=90)) == [1, 2, 0]
    assert list(bundle_target(scores, costs, time_limit_s=90, bundle_all=True)) == [1, 2, 0]


def test_cost_estimate_shrinks_log_time_towards_the_prior():
    est = cost_estimate(prior_s=20.0, measured_s=[], pseudo_count=5)
    assert est.estimate_s == pytest.approx(20.0) and est.n == 0 and est.measured_median_s is None
    est = cost_estimate(prior_s=20.0, measured_s=[40.0, 40.0, 40.0, 40.0, 40.0], pseudo_count=5)
    assert est.estimate_s == pytest.approx(math.sqrt(20 * 40))  # equal weight: the geometric mean
    assert est.measured_median_s == 40.0
    many = cost_estimate(prior_s=20.0, measured_s=[10.0] * 10_000, pseudo_count=5)
    assert many.estimate_s == pytest.approx(10.0, rel=1e-3)
    assert annotator_speed(log_ratios=[math.log(2)] * 5, pseudo_count=5) == pytest.approx(math.sqrt(2))


def test_binary_entropy_edges():
    assert binary_entropy(np.array([0.0, 0.5, 1.0])) == pytest.approx([0.0, 1.0, 0.0], abs=1e-9)
