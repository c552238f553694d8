"""Save/load round trips for every registered model type."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rewardlab.ml.cbm import ConceptBottleneckRewardModel
from rewardlab.ml.io import load_model, save_model
from rewardlab.ml.registry import MODEL_TYPES, build_model, get_model_class, model_type_name

FAST = {"hidden": (16, 8), "epochs": 2, "min_steps": 20, "batch_size": 32}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 6))
    C = np.where(rng.random((90, 3)) < 0.6, (X[:, :3] > 0).astype(float), np.nan)
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    pairs = np.column_stack([np.arange(0, 80, 2), np.arange(1, 81, 2)])
    return X, C, y, pairs


def test_registry_names_the_three_model_types():
    assert set(MODEL_TYPES) == {"cbm", "coarse", "pairwise"}
    assert get_model_class("cbm") is ConceptBottleneckRewardModel
    model = build_model("cbm", mode="joint")
    assert model.mode == "joint" and model_type_name(model) == "cbm"
    with pytest.raises(KeyError, match="unknown model type"):
        get_model_class("nope")


@pytest.mark.parametrize("mode", ["sequential", "independent", "joint"])
def test_cbm_round_trip(tmp_path, data, mode):
    X, C, y, _ = data
    model = build_model("cbm", mode=mode, concept_names=["sharp", "bright", "red"], random_state=0, **FAST)
    model.fit(X, C, y)
    save_model(model, tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"config.json", "weights.safetensors", "sklearn.joblib"}
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == "cbm"
    assert config["params"]["mode"] == mode
    assert config["fitted"]["concept_names_"] == ["sharp", "bright", "red"]
    assert config["network"] == {"n_in": 6, "hidden": [16, 8], "n_out": 3, "dropout": 0.1}

    loaded = load_model(tmp_path / "m")
    assert type(loaded) is ConceptBottleneckRewardModel
    assert loaded.get_params()["hidden"] == (16, 8)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict_concepts(X), model.predict_concepts(X))
    np.testing.assert_array_equal(loaded.aggregator_weights_, model.aggregator_weights_)
    np.testing.assert_array_equal(
        loaded.predict_concepts_samples(X, 3, random_state=1), model.predict_concepts_samples(X, 3, random_state=1)
    )
    interventions = np.full((len(X), 3), np.nan)
    interventions[:, 1] = 1.0
    np.testing.assert_array_equal(
        loaded.predict_proba(X, interventions=interventions), model.predict_proba(X, interventions=interventions)
    )


def test_coarse_round_trip(tmp_path, data):
    X, _, y, _ = data
    model = build_model("coarse", random_state=0, **FAST).fit(X, y)
    loaded = load_model(save_model(model, tmp_path / "coarse"))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))


def test_pairwise_round_trip(tmp_path, data):
    X, _, _, pairs = data
    model = build_model("pairwise", random_state=0, **FAST).fit(X, pairs)
    loaded = load_model(save_model(model, tmp_path / "pairwise"))
    np.testing.assert_array_equal(loaded.score(X), model.score(X))


def test_unfitted_models_are_not_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save_model(build_model("coarse"), tmp_path / "x")
