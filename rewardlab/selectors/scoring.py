"""Scoring a new image and prompt with the active concept-bottleneck model.

The model is loaded on first use (that is when torch is imported, never at
URL loading) and kept per process, keyed by version id: a retrain makes a new
version, so the next request loads it and the old one is dropped. After the
first request one 512x512 image costs its decode, the encoders and one MLP
forward pass (``benchmarks/score_api.py`` measures it).
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from PIL import Image as PILImage

from annotator.errors import ConflictError
from annotator.images import image_validate
from annotator.models import Campaign
from rewardlab.models import ModelVersion
from rewardlab.selectors.models import active_version

MODEL_DIR = "model"


@dataclass(frozen=True)
class LoadedModel:
    version_id: int
    campaign_id: int
    kind: str
    model: Any
    features: Any  # rewardlab.services.fitting.FeatureSpec


#: Keyed by (version id, artifact dir): ids are never reused in production, but test databases reuse them.
_LOADED: dict[tuple[int, str], LoadedModel] = {}
_LOCK = threading.Lock()


def loaded_model(*, version: ModelVersion) -> LoadedModel:
    """The fitted model and encoders of ``version``, loaded once per process."""
    from rewardlab.services.fitting import FeatureSpec

    # Checked on every call, not only on a cache miss: the version row is the truth.
    features = FeatureSpec.from_config(version.config)
    trained_on = (version.data_snapshot or {}).get("features") or {}
    now = features.describe()
    if trained_on and (trained_on.get("image"), trained_on.get("text")) != (now["image"], now["text"]):
        # The encoders' code changed since training: the model would read other features.
        raise ConflictError(
            f"Model version {version.pk} was trained on {trained_on.get('image')} / {trained_on.get('text')} "
            f"features; this server computes {now['image']} / {now['text']}. Retrain the campaign.",
            field="campaign", rule="encoder_changed", reason="encoder_changed")
    key = (version.pk, version.artifact_dir)
    with _LOCK:
        hit = _LOADED.get(key)
        if hit is not None:
            return hit
        from rewardlab.ml.io import load_model  # imports torch: only here, on the first score
        model = load_model(Path(version.artifact_dir) / MODEL_DIR,
                           device=getattr(settings, "REWARDLAB_SCORE_DEVICE", "cpu"))
        loaded = LoadedModel(version_id=version.pk, campaign_id=version.campaign_id, kind=version.kind, model=model,
                             features=features)
        # Versions of other campaigns stay; an older version of the same campaign and kind is dropped.
        for old in [k for k, m in _LOADED.items() if (m.campaign_id, m.kind) == (version.campaign_id, version.kind)]:
            _LOADED.pop(old)
        _LOADED[key] = loaded
        return loaded


def reward_score(*, data: bytes, name: str, prompt: str, campaign: Campaign | None = None) -> dict[str, Any]:
    """Reward and per-attribute probabilities of one image for one prompt.

    ``reward`` is the CBM aggregator's logit (higher is better),
    ``probability`` its P(good), ``attributes`` the stage-1 probability of
    each concept. Bad images are refused exactly as import refuses them;
    without an active CBM (for ``campaign``, or anywhere when None) a
    ``ConflictError`` with rule ``no_model``.
    """
    image_validate(data=data, name=name)
    version = active_version(campaign=campaign, kind=ModelVersion.Kind.CBM)
    if version is None:
        where = f"campaign {campaign.pk}" if campaign is not None else "any campaign"
        raise ConflictError(f"No active reward model for {where} yet.", field="campaign", rule="no_model",
                            reason="no_model")
    loaded = loaded_model(version=version)
    with PILImage.open(io.BytesIO(data)) as picture:
        rgb = picture.convert("RGB")
    X = loaded.features.vector(image=rgb, prompt=prompt)
    model = loaded.model
    concepts = model.predict_concepts(X)
    reward = float(model.aggregator_.decision_function(concepts)[0])
    probability = float(model.aggregator_.predict_proba(concepts)[0, 1])
    return {
        "reward": reward,
        "probability": probability,
        "attributes": {key: float(p) for key, p in zip(model.concept_names_, concepts[0])},
        "model_version": version.pk,
        "campaign": version.campaign_id,
    }
