"""Reads of the model registry: active versions, their cached predictions, attribute values.

Nothing here imports torch: predictions for elicitation are read from the
``outputs.npz`` a training run wrote (``rewardlab.services.fitting``), so
scoring every candidate of a 10,000-item campaign is a file read.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from annotator.models import Campaign
from rewardlab.models import ModelVersion

OUTPUTS_FILE = "outputs.npz"
_OUTPUTS_CACHE: dict[tuple[int, str, float], dict[str, Any]] = {}
_LOCK = threading.Lock()
MAX_CACHED = 8


def active_version(*, campaign: Campaign | None, kind: str = ModelVersion.Kind.CBM) -> ModelVersion | None:
    """The campaign's active finished version of ``kind``; with no campaign, the newest active one of any campaign."""
    qs = ModelVersion.objects.filter(kind=kind, active=True, status=ModelVersion.Status.DONE)
    if campaign is not None:
        qs = qs.filter(campaign=campaign)
    return qs.order_by("-finished_at", "-pk").first()


def model_versions(*, campaign: Campaign, kind: str | None = None) -> list[ModelVersion]:
    """Every version of a campaign, oldest first (what the learning-curve plots read)."""
    qs = ModelVersion.objects.filter(campaign=campaign)
    if kind is not None:
        qs = qs.filter(kind=kind)
    return list(qs.order_by("created_at", "pk"))


def _load_outputs(version: ModelVersion) -> dict[str, Any] | None:
    path = Path(version.artifact_dir) / OUTPUTS_FILE if version.artifact_dir else None
    if path is None or not path.exists():
        return None
    key = (version.pk, str(path), path.stat().st_mtime)
    with _LOCK:
        cached = _OUTPUTS_CACHE.get(key)
    if cached is not None:
        return cached
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    out = {
        "version": version.pk,
        "model_version": version.pk,
        "target_ids": arrays["target_ids"],
        "concept_keys": arrays["concept_keys"],
        "concept_proba": arrays["concept_proba"],
        "coarse_proba": arrays["coarse_proba"],
        "aggregator_weights": arrays["aggregator_weights"],
        "aggregator_intercept": float(arrays["aggregator_intercept"]),
        "attribute_value": arrays.get("attribute_value"),
        "concept_samples": arrays.get("concept_samples"),
    }
    for array in out.values():
        if isinstance(array, np.ndarray):
            array.setflags(write=False)  # shared between callers of this process
    with _LOCK:
        for old in [k for k in _OUTPUTS_CACHE if k[0] == version.pk] + list(_OUTPUTS_CACHE)[:-MAX_CACHED + 1]:
            _OUTPUTS_CACHE.pop(old, None)  # bounded: a few campaigns' active outputs per process
        _OUTPUTS_CACHE[key] = out
    return out


def active_model_outputs(*, campaign: Campaign) -> dict[str, Any] | None:
    """The active CBM's predictions for every item target of the campaign, or None before a model exists.

    Keys: ``target_ids`` (T,), ``concept_keys`` (k,), ``concept_proba`` (T, k),
    ``coarse_proba`` (T,), ``aggregator_weights`` (k,), ``aggregator_intercept``
    (float), ``attribute_value`` (k,: held-out AUC lost without the
    attribute, NaN where undefined), ``concept_samples`` (S, T, k: MC-dropout,
    or None) and ``version`` / ``model_version`` (the ModelVersion id).
    Arrays are read-only and shared: copy before changing them. Items added
    after the training run are not in ``target_ids`` until the next retrain.
    """
    version = active_version(campaign=campaign, kind=ModelVersion.Kind.CBM)
    if version is None:
        return None
    return _load_outputs(version)


def attribute_values(*, campaign: Campaign) -> dict[str, float | None]:
    """Per concept key of the active CBM: held-out ROC-AUC lost when it is left out of the aggregator.

    Empty before a CBM exists. Positive: the attribute helps; zero or
    negative: it could be retired (Collins et al., Experiment 2).
    """
    version = active_version(campaign=campaign, kind=ModelVersion.Kind.CBM)
    if version is None:
        return {}
    return dict(version.metrics.get("attribute_value") or {})
