"""Concept-bottleneck and coarse reward models: estimator contract, masking, interventions."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from rewardlab.ml.cbm import CBM_PAPER_SETTINGS, ConceptBottleneckRewardModel
from rewardlab.ml.coarse import CoarseRewardModel

# Small enough to keep each fit well under a second.
FAST = {"hidden": (16, 16), "epochs": 3, "min_steps": 60, "batch_size": 32}


@pytest.fixture(scope="module")
def data():
    """Four concepts readable from the first features; good = concept 0 and concept 1."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(160, 12))
    C = (X[:, :4] > 0).astype(float)
    y = (C[:, 0] * C[:, 1]).astype(float)
    C_partial = np.where(rng.random(C.shape) < 0.5, C, np.nan)
    y_partial = np.where(rng.random(len(y)) < 0.8, y, np.nan)
    return X, C, y, C_partial, y_partial


def test_hyperparameters_are_stored_untouched_and_clone_works():
    model = ConceptBottleneckRewardModel(mode="joint", hidden=[8], concept_names=("a", "b"), random_state=3)
    params = model.get_params()
    assert params["hidden"] == [8]
    assert params["concept_names"] == ("a", "b")
    assert params["mode"] == "joint"
    assert params["random_state"] == 3
    copy = clone(model)
    assert copy is not model
    assert copy.get_params() == params
    assert not hasattr(copy, "network_")


def test_defaults_are_documented_small_n_settings_and_paper_settings_exist():
    model = ConceptBottleneckRewardModel()
    assert (model.hidden, model.epochs, model.lr, model.batch_size) == ((256, 256), 100, 1e-4, 128)
    assert model.min_steps == 1500
    assert CBM_PAPER_SETTINGS == {"hidden": (256, 256), "epochs": 100, "lr": 1e-4, "batch_size": 128,
                                  "min_steps": 0, "weight_decay": 0.0, "dropout": 0.0}


def test_fit_returns_self_and_sets_fitted_state(data):
    X, _, _, C_partial, y_partial = data
    model = ConceptBottleneckRewardModel(random_state=0, concept_names=["w", "x", "y", "z"], **FAST)
    assert model.fit(X, C_partial, y_partial) is model
    assert model.n_features_in_ == 12
    assert model.n_concepts_ == 4
    assert model.concept_names_ == ["w", "x", "y", "z"]
    assert model.aggregator_weights_.shape == (4,)
    assert isinstance(model.aggregator_intercept_, float)
    # epochs are raised to reach min_steps: 160 rows at batch 32 -> 5 steps/epoch -> 12 epochs
    assert model.n_epochs_ == 12
    assert model.predict_concepts(X).shape == (160, 4)
    proba = model.predict_proba(X)
    assert proba.shape == (160, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(model.predict(X))) <= {0, 1}
    np.testing.assert_array_equal(model.predict(X), (model.decision_function(X) > 0).astype(int))


@pytest.mark.parametrize("mode", ["sequential", "independent", "joint"])
def test_same_random_state_gives_identical_predictions(data, mode):
    X, _, _, C_partial, y_partial = data
    a = ConceptBottleneckRewardModel(mode=mode, random_state=11, **FAST).fit(X, C_partial, y_partial)
    b = ConceptBottleneckRewardModel(mode=mode, random_state=11, **FAST).fit(X, C_partial, y_partial)
    c = ConceptBottleneckRewardModel(mode=mode, random_state=12, **FAST).fit(X, C_partial, y_partial)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict_concepts(X), b.predict_concepts(X))
    assert not np.array_equal(a.predict_concepts(X), c.predict_concepts(X))


@pytest.mark.parametrize("mode", ["sequential", "independent", "joint"])
def test_rows_without_any_label_change_nothing(data, mode):
    X, _, _, C_partial, y_partial = data
    rng = np.random.default_rng(0)
    extra = rng.normal(size=(57, X.shape[1])) * 10  # far off, would move the scaler if used
    where = np.sort(rng.choice(len(X) + len(extra), size=len(extra), replace=False))
    X_big = np.insert(X, where - np.arange(len(where)), extra, axis=0)
    C_big = np.insert(C_partial, where - np.arange(len(where)), np.nan, axis=0)
    y_big = np.insert(y_partial, where - np.arange(len(where)), np.nan, axis=0)
    assert X_big.shape[0] == 217

    small = ConceptBottleneckRewardModel(mode=mode, random_state=5, **FAST).fit(X, C_partial, y_partial)
    big = ConceptBottleneckRewardModel(mode=mode, random_state=5, **FAST).fit(X_big, C_big, y_big)
    np.testing.assert_array_equal(small.predict_concepts(X), big.predict_concepts(X))
    np.testing.assert_array_equal(small.predict_proba(X), big.predict_proba(X))
    np.testing.assert_array_equal(small.aggregator_weights_, big.aggregator_weights_)


def test_masked_concept_values_are_ignored_exactly(data):
    X, C, y, C_partial, _ = data
    mask = ~np.isnan(C_partial)
    scrambled = np.where(mask, C, 1.0 - C)  # hidden entries flipped: must not matter
    a = ConceptBottleneckRewardModel(random_state=1, **FAST).fit(X, C, y, concept_mask=mask)
    b = ConceptBottleneckRewardModel(random_state=1, **FAST).fit(X, scrambled, y, concept_mask=mask)
    c = ConceptBottleneckRewardModel(random_state=1, **FAST).fit(X, C_partial, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict_proba(X), c.predict_proba(X))


def test_rows_with_unknown_coarse_label_still_train_stage_one(data):
    X, _, _, C_partial, y_partial = data
    y_fewer = y_partial.copy()
    y_fewer[:80] = np.nan
    a = ConceptBottleneckRewardModel(random_state=2, **FAST).fit(X, C_partial, y_partial)
    b = ConceptBottleneckRewardModel(random_state=2, **FAST).fit(X, C_partial, y_fewer)
    # stage 1 sees the same concept labels, so the concept predictions agree exactly
    np.testing.assert_array_equal(a.predict_concepts(X), b.predict_concepts(X))
    assert not np.array_equal(a.aggregator_weights_, b.aggregator_weights_)


@pytest.mark.parametrize("mode", ["sequential", "independent", "joint"])
def test_intervening_on_a_concept_moves_the_reward_as_its_weight_says(data, mode):
    X, C, y, C_partial, y_partial = data
    model = ConceptBottleneckRewardModel(mode=mode, random_state=0, **FAST).fit(X, C_partial, y_partial)
    weights = model.aggregator_weights_
    assert np.all(weights != 0)
    for j in range(4):
        on = np.full(C.shape, np.nan)
        off = np.full(C.shape, np.nan)
        on[:, j], off[:, j] = 1.0, 0.0
        p_on = model.predict_proba(X, interventions=on)[:, 1]
        p_off = model.predict_proba(X, interventions=off)[:, 1]
        assert np.all((p_on > p_off) == (weights[j] > 0)), (mode, j, weights)
    # intervening with every true concept equals the aggregator applied to them
    full = model.predict_proba(X, interventions=C)
    np.testing.assert_allclose(full, model.aggregator_.predict_proba(C))
    # no intervention and an all-NaN intervention are the same
    no_op = np.full(C.shape, np.nan)
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X, interventions=no_op))


def test_independent_mode_fits_the_aggregator_on_true_concepts(data):
    X, C, y, _, _ = data
    model = ConceptBottleneckRewardModel(mode="independent", random_state=0, **FAST).fit(X, C, y)
    # good = c0 and c1: the true concepts make those two weights dominate
    w = model.aggregator_weights_
    assert w[0] > 1 and w[1] > 1
    assert abs(w[2]) < min(w[0], w[1]) and abs(w[3]) < min(w[0], w[1])


def test_mc_dropout_samples(data):
    X, _, _, C_partial, y_partial = data
    model = ConceptBottleneckRewardModel(random_state=0, dropout=0.2, **FAST).fit(X, C_partial, y_partial)
    s1 = model.predict_concepts_samples(X[:10], n_samples=6, random_state=3)
    s2 = model.predict_concepts_samples(X[:10], n_samples=6, random_state=3)
    assert s1.shape == (6, 10, 4)
    np.testing.assert_array_equal(s1, s2)
    assert s1.std(axis=0).mean() > 0
    assert ((s1 >= 0) & (s1 <= 1)).all()
    # sampling leaves the deterministic prediction alone
    np.testing.assert_array_equal(model.predict_concepts(X[:10]), model.predict_concepts(X[:10]))


def test_learns_the_concepts_and_the_reward(data):
    from sklearn.metrics import roc_auc_score

    X, C, y, C_partial, y_partial = data
    model = ConceptBottleneckRewardModel(random_state=0, min_steps=400).fit(X, C_partial, y_partial)
    pc = model.predict_concepts(X)
    assert min(roc_auc_score(C[:, j], pc[:, j]) for j in range(4)) > 0.9
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) > 0.9


def test_invalid_inputs_are_refused(data):
    X, C, y, _, _ = data
    with pytest.raises(ValueError, match="mode"):
        ConceptBottleneckRewardModel(mode="bogus").fit(X, C, y)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ConceptBottleneckRewardModel(**FAST).fit(X, C * 2, y)
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        ConceptBottleneckRewardModel(**FAST).fit(X, C, y * 3)
    with pytest.raises(ValueError, match="both classes"):
        ConceptBottleneckRewardModel(**FAST).fit(X, C, np.zeros(len(y)))
    with pytest.raises(ValueError, match="concept_names"):
        ConceptBottleneckRewardModel(concept_names=["a"], **FAST).fit(X, C, y)
    fitted = ConceptBottleneckRewardModel(random_state=0, **FAST).fit(X, C, y)
    with pytest.raises(ValueError, match="interventions"):
        fitted.predict_proba(X, interventions=np.zeros((len(X), 3)))
    with pytest.raises(ValueError, match="features"):
        fitted.predict_proba(X[:, :5])


def test_coarse_model_contract_and_learning(data):
    from sklearn.metrics import roc_auc_score

    X, _, y, _, y_partial = data
    model = CoarseRewardModel(random_state=0, hidden=(64, 64), lr=1e-3, min_steps=150)
    assert clone(model).get_params() == model.get_params()
    assert model.fit(X, y_partial) is model
    again = CoarseRewardModel(random_state=0, hidden=(64, 64), lr=1e-3, min_steps=150).fit(X, y_partial)
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    proba = model.predict_proba(X)
    assert proba.shape == (160, 2)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-model.decision_function(X))))
    assert roc_auc_score(y, proba[:, 1]) > 0.85
    # unknown labels are dropped before anything is fitted
    extra = np.vstack([X, X[:7] + 100])
    y_extra = np.concatenate([y_partial, np.full(7, np.nan)])
    bigger = CoarseRewardModel(random_state=0, hidden=(64, 64), lr=1e-3, min_steps=150).fit(extra, y_extra)
    np.testing.assert_array_equal(bigger.predict_proba(X), proba)
