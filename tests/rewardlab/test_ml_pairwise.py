"""Pairwise ranking model (ImageReward eq. 1) and pairs from rankings."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from rewardlab.ml.metrics import preference_accuracy
from rewardlab.ml.pairwise import PairwiseRewardModel, pairs_from_ranking

FAST = {"hidden": (32, 32), "lr": 1e-3, "epochs": 2, "min_steps": 150, "batch_size": 64}


def test_pairs_from_ranking_skips_ties():
    levels = [["a"], ["b", "c"], ["d"], ["e", "f"]]
    assert pairs_from_ranking(levels) == [
        ("a", "b"), ("a", "c"), ("a", "d"), ("a", "e"), ("a", "f"),
        ("b", "d"), ("c", "d"),
        ("b", "e"), ("b", "f"), ("c", "e"), ("c", "f"),
        ("d", "e"), ("d", "f"),
    ]


def test_pairs_from_ranking_without_ties_gives_k_choose_2():
    assert len(pairs_from_ranking([[i] for i in range(6)])) == 15
    assert pairs_from_ranking([[1, 2, 3]]) == []
    assert pairs_from_ranking([]) == []


def test_pairs_from_ranking_refuses_repeated_ids():
    with pytest.raises(ValueError, match="more than one place"):
        pairs_from_ranking([[1], [2, 1]])


@pytest.fixture(scope="module")
def ranked():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 8))
    utility = X[:, 0] - 0.5 * X[:, 1]
    i, j = rng.integers(0, 120, size=(2, 600))
    keep = i != j
    i, j = i[keep], j[keep]
    pairs = np.where((utility[i] > utility[j])[:, None], np.column_stack([i, j]), np.column_stack([j, i]))
    return X, utility, pairs


def test_contract_and_determinism(ranked):
    X, _, pairs = ranked
    model = PairwiseRewardModel(random_state=4, **FAST)
    assert clone(model).get_params() == model.get_params()
    assert model.fit(X, pairs) is model
    again = PairwiseRewardModel(random_state=4, **FAST).fit(X, pairs)
    np.testing.assert_array_equal(model.score(X), again.score(X))
    assert model.score(X).shape == (120,)


def test_learns_the_preference_order(ranked):
    X, utility, pairs = ranked
    model = PairwiseRewardModel(random_state=0, **FAST).fit(X, pairs)
    assert preference_accuracy(model.score(X), pairs) > 0.9
    assert np.corrcoef(model.score(X), utility)[0, 1] > 0.9


def test_rows_in_no_pair_change_nothing(ranked):
    X, _, pairs = ranked
    X_big = np.vstack([X, np.full((9, X.shape[1]), 50.0)])
    a = PairwiseRewardModel(random_state=1, **FAST).fit(X, pairs)
    b = PairwiseRewardModel(random_state=1, **FAST).fit(X_big, pairs)
    np.testing.assert_array_equal(a.score(X), b.score(X))


def test_bad_pairs_are_refused(ranked):
    X, _, _ = ranked
    with pytest.raises(ValueError, match="itself"):
        PairwiseRewardModel(**FAST).fit(X, [[1, 1]])
    with pytest.raises(ValueError, match="lie in"):
        PairwiseRewardModel(**FAST).fit(X, [[0, 500]])
    with pytest.raises(ValueError, match=r"\(m, 2\)"):
        PairwiseRewardModel(**FAST).fit(X, [[0, 1, 2]])
