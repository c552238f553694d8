"""The work of one training run: data, features, fit, held-out metrics, artifacts.

Called by ``training_run_execute`` on a training worker. torch (through
``rewardlab.ml``) is imported inside the functions here, never at module
import, so web processes that import the services never load it.

Artifacts of a version, under ``settings.ARTIFACTS_ROOT / <campaign> / <version>``:

    model/         rewardlab.ml.io.save_model (config.json, weights.safetensors, sklearn.joblib)
    outputs.npz    CBM only: predictions for every item target (what elicitation reads)
    metrics.json   the metrics stored on the version, for people reading the folder
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from sklearn.linear_model import LogisticRegression

from annotator.models import Campaign
from rewardlab.ml import metrics as M
from rewardlab.ml.encoders import Encoder
from rewardlab.selectors.embeddings import embeddings_matrix
from rewardlab.selectors.training_data import (ConceptData, PairData, concept_data, preference_pairs,
                                               responses_cost_s)
from rewardlab.services.embeddings import embeddings_compute, encoder_load

logger = logging.getLogger(__name__)

OUTPUTS_FILE = "outputs.npz"
MODEL_DIR = "model"
AP_KS = (10, 50)
#: Progress callback of a run: (phase, fields) -> None; the run throttles DB writes.
Progress = Callable[[str, dict[str, Any]], None]


class TrainingDataError(ValueError):
    """The campaign has not (yet) the labels this kind of model needs."""


@dataclass
class FitResult:
    model: Any
    metrics: dict[str, Any]
    n_train: int
    cost_spent_s: float
    snapshot: dict[str, Any]
    device: str
    outputs: dict[str, np.ndarray] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def artifact_dir_for(*, campaign_id: int, version_id: int) -> Path:
    return Path(settings.ARTIFACTS_ROOT) / str(campaign_id) / str(version_id)


# ---------------------------------------------------------------- features
@dataclass(frozen=True)
class FeatureSpec:
    """Which encoders make X: image embedding, then (optionally) prompt embedding, concatenated."""

    image: Encoder
    text: Encoder | None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeatureSpec:
        options = config.get("encoder_options") or {}
        image = encoder_load(name=config["image_encoder"], options=options.get(config["image_encoder"]))
        text_name = config.get("text_encoder") or ""
        text = encoder_load(name=text_name, options=options.get(text_name)) if text_name else None
        return cls(image=image, text=text)

    def describe(self) -> dict[str, Any]:
        return {"image": self.image.cache_key, "image_dim": self.image.dim,
                "text": self.text.cache_key if self.text else None, "text_dim": self.text.dim if self.text else 0}

    def matrix(self, *, image_sha256: list[str], prompt_sha256: list[str]) -> np.ndarray:
        parts = [embeddings_matrix(sha256s=image_sha256, encoder=self.image.name, version=self.image.version)]
        if self.text is not None:
            parts.append(embeddings_matrix(sha256s=prompt_sha256, encoder=self.text.name, version=self.text.version))
        if not image_sha256:
            return np.zeros((0, self.image.dim + (self.text.dim if self.text else 0)), dtype=np.float32)
        return np.hstack(parts).astype(np.float32, copy=False)

    def vector(self, *, image, prompt: str) -> np.ndarray:
        """One row of X for a new image and prompt (scoring), uncached."""
        parts = [self.image.encode_images([image])[0]]
        if self.text is not None:
            parts.append(self.text.encode_texts([prompt])[0])
        return np.concatenate(parts).astype(np.float32)[None, :]


def features_prepare(*, campaign: Campaign, features: FeatureSpec, progress: Progress) -> None:
    """Fill the embedding cache for every image and prompt of the campaign (idempotent)."""
    for role, encoder in (("image", features.image), ("text", features.text)):
        if encoder is None:
            continue
        embeddings_compute(campaign=campaign, encoder=encoder,
                           progress_cb=lambda done, total, role=role: progress(
                               "embedding", {"encoder": role, "done": done, "total": total}))


# ---------------------------------------------------------------- metrics
def _safe(fn: Callable[..., float], *args: Any) -> float | None:
    """A metric, or None where it is undefined (one class only, too few rows)."""
    try:
        value = float(fn(*args))
    except ValueError:
        return None
    return None if np.isnan(value) else value


def classification_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """ROC-AUC, AUPRC and AP@k of scores against 0/1 labels (None where one class is missing)."""
    out: dict[str, Any] = {"n_heldout": int(len(y)), "n_heldout_positive": int(np.sum(y == 1))}
    both = len(np.unique(y)) == 2
    out["roc_auc"] = _safe(M.roc_auc, y, scores) if both else None
    out["auprc"] = _safe(M.auprc, y, scores) if both else None
    for k in AP_KS:
        out[f"ap_at_{k}"] = _safe(M.ap_at_k, y, scores, k) if len(y) else None
    return out


def pair_metrics(scores: np.ndarray, pairs: np.ndarray, prefix: str = "") -> dict[str, Any]:
    return {f"{prefix}n_pairs": int(len(pairs)),
            f"{prefix}preference_accuracy": _safe(M.preference_accuracy, scores, pairs) if len(pairs) else None}


def attribute_values(*, P_train: np.ndarray, y_train: np.ndarray, P_test: np.ndarray, y_test: np.ndarray,
                     keys: list[str], C: float, full_auc: float | None) -> dict[str, float | None]:
    """Held-out AUC lost when one concept's column is left out of stage 2 (stage 1 kept as it is).

    Refitting only the aggregator is cheap (a logistic regression per
    attribute) and answers "what does eliciting this attribute buy us" for
    the elicitation strategy ``attribute_value``.
    """
    if full_auc is None or len(np.unique(y_train)) < 2:
        return {key: None for key in keys}
    out: dict[str, float | None] = {}
    for j, key in enumerate(keys):
        rest_train, rest_test = np.delete(P_train, j, axis=1), np.delete(P_test, j, axis=1)
        if rest_train.shape[1] == 0:
            out[key] = full_auc - 0.5  # without its only concept the aggregator is a constant
            continue
        agg = LogisticRegression(class_weight="balanced", C=C, max_iter=1000).fit(rest_train, y_train.astype(int))
        auc = _safe(M.roc_auc, y_test, agg.decision_function(rest_test))
        out[key] = None if auc is None else full_auc - auc
    return out


# ---------------------------------------------------------------- snapshot
def snapshot_of(*, kind: str, features: FeatureSpec, target_ids: np.ndarray, heldout_ids: np.ndarray,
                labels: list[np.ndarray]) -> dict[str, Any]:
    """What the run trained on: ids and a sha256 over ids, labels and encoder versions."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"kind": kind, "features": features.describe()}, sort_keys=True).encode())
    digest.update(np.asarray(target_ids, dtype=np.int64).tobytes())
    for array in labels:
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return {"sha256": digest.hexdigest(), "n_train": int(len(target_ids)), "n_heldout": int(len(heldout_ids)),
            "train_target_ids": [int(t) for t in target_ids], "heldout_target_ids": [int(t) for t in heldout_ids],
            "features": features.describe()}


# ---------------------------------------------------------------- models
def _model(kind: str, config: dict[str, Any], progress: Progress, **extra: Any):
    from rewardlab.ml.registry import build_model

    params = {**(config.get("params") or {}), **extra}
    params.setdefault("random_state", int(config.get("seed", 0)))
    params.setdefault("device", config.get("device", "auto"))
    if "hidden" in params and isinstance(params["hidden"], list):
        params["hidden"] = tuple(params["hidden"])
    model = build_model(kind, **params)
    if "progress_callback" in model.get_params():
        model.set_params(progress_callback=lambda *args, **kwargs: progress("training", _epoch_fields(args, kwargs)))
    return model


def _epoch_fields(args: tuple, kwargs: dict) -> dict[str, Any]:
    """The ml models' progress callback arguments as JSON fields (positional or keyword)."""
    names = ("epoch", "n_epochs", "loss")
    fields = {name: value for name, value in zip(names, args)}
    fields.update(kwargs)
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in fields.items()
            if isinstance(v, (int, float, str, np.integer, np.floating))}


def _concept_data(campaign: Campaign, config: dict[str, Any], *, concept_keys=None) -> ConceptData:
    return concept_data(campaign=campaign, concept_keys=concept_keys if concept_keys is not None else config.get("concepts"),
                        coarse_key=config.get("coarse"), heldout_frac=float(config["heldout_frac"]),
                        seed=int(config.get("split_seed", 0)), default_threshold=float(config["binarize_threshold"]),
                        complete_only=bool(config.get("complete_only", False)))


def _pairs(campaign: Campaign, config: dict[str, Any]) -> PairData:
    return preference_pairs(campaign=campaign, heldout_frac=float(config["heldout_frac"]),
                            seed=int(config.get("split_seed", 0)))


def _pair_scores(scorer: Callable[[np.ndarray], np.ndarray], features: FeatureSpec, pdata: PairData,
                 rows: np.ndarray) -> dict[str, Any]:
    """Preference accuracy of a pointwise reward on the held-out pairs."""
    pairs = pdata.pairs[rows]
    if not len(pairs):
        return {}
    X = features.matrix(image_sha256=pdata.image_sha256, prompt_sha256=pdata.prompt_sha256)
    return pair_metrics(scorer(X), pairs)


def fit_cbm(*, campaign: Campaign, config: dict[str, Any], features: FeatureSpec, progress: Progress) -> FitResult:
    data = _concept_data(campaign, config)
    if not data.concept_keys:
        raise TrainingDataError("the campaign has no binary or Likert item attribute to use as a concept")
    if data.coarse_key is None:
        raise TrainingDataError("the campaign has no coarse (is_coarse) binary or Likert item attribute")
    items = data.items
    train = ~items.heldout & data.labelled
    y_known = ~np.isnan(data.y)
    if len(np.unique(data.y[train & y_known])) < 2:
        raise TrainingDataError(f"the coarse label {data.coarse_key!r} needs both classes among training items "
                                f"(have {int((train & y_known).sum())} labelled)")
    X = features.matrix(image_sha256=items.image_sha256, prompt_sha256=items.prompt_sha256)
    model = _model("cbm", config, progress, concept_names=list(data.concept_keys))
    progress("training", {"epoch": 0})
    model.fit(X[train], data.C[train], data.y[train])
    progress("evaluating", {})

    test = items.heldout & y_known
    reward_test = model.decision_function(X[test])
    metrics = classification_metrics(data.y[test], reward_test)
    concept_test = model.predict_concepts(X[items.heldout])
    per_concept = {}
    for j, key in enumerate(data.concept_keys):
        known = ~np.isnan(data.C[items.heldout, j])
        labels = data.C[items.heldout, j][known]
        per_concept[key] = (_safe(M.roc_auc, labels, concept_test[known, j])
                            if len(np.unique(labels)) == 2 else None)
    metrics["per_concept_auc"] = per_concept
    fit_rows = train & y_known
    metrics["attribute_value"] = attribute_values(
        P_train=model.predict_concepts(X[fit_rows]), y_train=data.y[fit_rows],
        P_test=model.predict_concepts(X[test]), y_test=data.y[test], keys=list(data.concept_keys),
        C=float(model.aggregator_C), full_auc=metrics["roc_auc"])
    metrics["aggregator_weights"] = dict(zip(data.concept_keys, map(float, model.aggregator_weights_)))
    metrics["aggregator_intercept"] = float(model.aggregator_intercept_)
    metrics["coarse_key"] = data.coarse_key
    metrics["n_epochs"] = int(getattr(model, "n_epochs_", 0))
    metrics["final_loss"] = float(model.loss_curve_[-1]) if getattr(model, "loss_curve_", None) else None
    pdata = _pairs(campaign, config)
    metrics.update(_pair_scores(model.decision_function, features, pdata, pdata.heldout))

    outputs = model_outputs_compute(model=model, X=X, target_ids=items.target_ids, concept_keys=data.concept_keys,
                                    attribute_value=metrics["attribute_value"],
                                    mc_samples=int(config.get("mc_samples", 16)), seed=int(config.get("seed", 0)))
    attribute_ids = [*data.concept_attribute_ids, data.coarse_attribute_id]
    return FitResult(
        model=model, metrics=metrics, n_train=int(train.sum()),
        cost_spent_s=responses_cost_s(target_ids=items.target_ids[train], attribute_ids=attribute_ids),
        snapshot=snapshot_of(kind="cbm", features=features, target_ids=items.target_ids[train],
                             heldout_ids=items.target_ids[items.heldout], labels=[data.C[train], data.y[train]]),
        device=str(getattr(model, "device_", "")), outputs=outputs,
    )


def fit_coarse(*, campaign: Campaign, config: dict[str, Any], features: FeatureSpec, progress: Progress) -> FitResult:
    data = _concept_data(campaign, config, concept_keys=[])
    if data.coarse_key is None:
        raise TrainingDataError("the campaign has no coarse (is_coarse) binary or Likert item attribute")
    items = data.items
    y_known = ~np.isnan(data.y)
    train = ~items.heldout & y_known
    if len(np.unique(data.y[train])) < 2:
        raise TrainingDataError(f"the coarse label {data.coarse_key!r} needs both classes among training items "
                                f"(have {int(train.sum())} labelled)")
    X = features.matrix(image_sha256=items.image_sha256, prompt_sha256=items.prompt_sha256)
    model = _model("coarse", config, progress)
    progress("training", {"epoch": 0})
    model.fit(X[train], data.y[train])
    progress("evaluating", {})
    test = items.heldout & y_known
    metrics = classification_metrics(data.y[test], model.decision_function(X[test]))
    metrics["coarse_key"] = data.coarse_key
    metrics["n_epochs"] = int(getattr(model, "n_epochs_", 0))
    metrics["final_loss"] = float(model.loss_curve_[-1]) if getattr(model, "loss_curve_", None) else None
    pdata = _pairs(campaign, config)
    metrics.update(_pair_scores(model.decision_function, features, pdata, pdata.heldout))
    return FitResult(
        model=model, metrics=metrics, n_train=int(train.sum()),
        cost_spent_s=responses_cost_s(target_ids=items.target_ids[train], attribute_ids=[data.coarse_attribute_id]),
        snapshot=snapshot_of(kind="coarse", features=features, target_ids=items.target_ids[train],
                             heldout_ids=items.target_ids[items.heldout], labels=[data.y[train]]),
        device=str(getattr(model, "device_", "")),
    )


def fit_pairwise(*, campaign: Campaign, config: dict[str, Any], features: FeatureSpec,
                 progress: Progress) -> FitResult:
    pdata = _pairs(campaign, config)
    train = ~pdata.heldout
    if not train.any():
        raise TrainingDataError("the campaign has no ranking or side-by-side preference pair to train on")
    X = features.matrix(image_sha256=pdata.image_sha256, prompt_sha256=pdata.prompt_sha256)
    model = _model("pairwise", config, progress)
    progress("training", {"epoch": 0})
    model.fit(X, pdata.pairs[train])
    progress("evaluating", {})
    scores = model.score(X)
    metrics = pair_metrics(scores, pdata.pairs[pdata.heldout])
    metrics.update(pair_metrics(scores, pdata.pairs[train], prefix="train_"))
    metrics["n_epochs"] = int(getattr(model, "n_epochs_", 0))
    metrics["final_loss"] = float(model.loss_curve_[-1]) if getattr(model, "loss_curve_", None) else None
    # Where the campaign also has a coarse label, how well the pairwise reward ranks good above bad items.
    data = _concept_data(campaign, config, concept_keys=[])
    if data.coarse_key is not None:
        test = data.items.heldout & ~np.isnan(data.y)
        if test.any():
            Xi = features.matrix(image_sha256=[data.items.image_sha256[i] for i in np.flatnonzero(test)],
                                 prompt_sha256=[data.items.prompt_sha256[i] for i in np.flatnonzero(test)])
            metrics.update(classification_metrics(data.y[test], model.score(Xi)))
            metrics["coarse_key"] = data.coarse_key
    train_targets = np.unique(pdata.target_ids[train])
    return FitResult(
        model=model, metrics=metrics, n_train=int(train.sum()),
        cost_spent_s=responses_cost_s(target_ids=train_targets, attribute_ids=pdata.attribute_ids),
        snapshot=snapshot_of(kind="pairwise", features=features, target_ids=train_targets,
                             heldout_ids=np.unique(pdata.target_ids[pdata.heldout]), labels=[pdata.pairs[train]]),
        device=str(getattr(model, "device_", "")),
    )


FITTERS: dict[str, Callable[..., FitResult]] = {"cbm": fit_cbm, "coarse": fit_coarse, "pairwise": fit_pairwise}


# ---------------------------------------------------------------- outputs for elicitation
def model_outputs_compute(*, model: Any, X: np.ndarray, target_ids: np.ndarray, concept_keys: list[str],
                          attribute_value: dict[str, float | None], mc_samples: int = 16,
                          seed: int = 0) -> dict[str, np.ndarray]:
    """Every item target's concept and coarse predictions under a fitted CBM (arrays for the .npz)."""
    concept_proba = model.predict_concepts(X)
    coarse_proba = model.aggregator_.predict_proba(concept_proba)[:, 1]
    out = {
        "target_ids": np.asarray(target_ids, dtype=np.int64),
        "concept_keys": np.array(concept_keys, dtype=str),
        "concept_proba": concept_proba.astype(np.float32),
        "coarse_proba": coarse_proba.astype(np.float32),
        "aggregator_weights": np.asarray(model.aggregator_weights_, dtype=np.float64),
        "aggregator_intercept": np.float64(model.aggregator_intercept_),
        "attribute_value": np.array([np.nan if attribute_value.get(k) is None else attribute_value[k]
                                     for k in concept_keys], dtype=np.float64),
    }
    if mc_samples > 0 and float(getattr(model, "dropout", 0.0)) > 0:
        out["concept_samples"] = model.predict_concepts_samples(X, n_samples=mc_samples,
                                                                random_state=seed).astype(np.float32)
    return out


def artifacts_write(*, result: FitResult, directory: Path) -> Path:
    from rewardlab.ml.io import save_model

    directory.mkdir(parents=True, exist_ok=True)
    save_model(result.model, directory / MODEL_DIR)
    if result.outputs is not None:
        tmp = directory / (OUTPUTS_FILE + ".tmp.npz")
        np.savez(tmp, **result.outputs)
        tmp.replace(directory / OUTPUTS_FILE)
    (directory / "metrics.json").write_text(json.dumps(result.metrics, indent=1, sort_keys=True, default=str))
    return directory
