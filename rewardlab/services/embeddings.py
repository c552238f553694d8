"""Embeddings, DB side: encode a campaign's images and prompts once per encoder version.

Vectors are cached by content hash (``Image.sha256``, ``Prompt.text_sha256``)
and encoder version, so re-running is cheap and duplicates across campaigns
share one row. Encoders are loaded once per process (CLIP takes seconds).
"""
from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image as PILImage

from annotator.models import Campaign, GroupImage, Image, Item, Pair, Prompt, Target
from rewardlab.ml.encoders import Encoder, get_encoder
from rewardlab.models import CampaignModelSettings, EmbeddingCache
from rewardlab.selectors.embeddings import embeddings_cached

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
BATCH = 64

_ENCODERS: dict[tuple[str, str], Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def encoder_load(*, name: str, options: dict[str, Any] | None = None) -> Encoder:
    """The encoder registered as ``name`` built with ``options``, cached for the life of the process."""
    import json

    key = (name, json.dumps(options or {}, sort_keys=True))
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = get_encoder(name, **(options or {}))
        return _ENCODERS[key]


def campaign_encoder(*, campaign: Campaign, name: str) -> Encoder:
    """``name`` built with the campaign's ``encoder_options`` for it."""
    options = (CampaignModelSettings.objects.filter(campaign=campaign).values_list("encoder_options", flat=True)
               .first() or {})
    return encoder_load(name=name, options=options.get(name) or {})


def campaign_image_ids(*, campaign: Campaign) -> set[int]:
    """Every image a campaign asks about: items, group members, both sides of pairs."""
    ids = set(Item.objects.filter(campaign=campaign).values_list("image_id", flat=True))
    ids.update(GroupImage.objects.filter(group__campaign=campaign).values_list("image_id", flat=True))
    for a, b in Pair.objects.filter(campaign=campaign).values_list("image_a_id", "image_b_id"):
        ids.update((a, b))
    return ids


def campaign_prompt_ids(*, campaign: Campaign) -> set[int]:
    ids = set(Target.objects.filter(campaign=campaign).values_list("prompt_id", flat=True))
    image_ids = sorted(campaign_image_ids(campaign=campaign))
    for start in range(0, len(image_ids), 2000):
        ids.update(Image.objects.filter(pk__in=image_ids[start:start + 2000]).values_list("prompt_id", flat=True))
    return ids


def image_open(*, name: str) -> PILImage.Image:
    """An RGB Pillow image of a stored ``Image.file`` (decoded fully, the file closed again)."""
    storage = Image._meta.get_field("file").storage
    with storage.open(name, "rb") as fh:
        data = fh.read()
    picture = PILImage.open(io.BytesIO(data))
    return picture.convert("RGB")


def embeddings_store(*, encoder: Encoder, sha256s: Sequence[str], vectors: np.ndarray) -> int:
    """Insert vectors (a duplicate written meanwhile by another worker is left as it is)."""
    vectors = np.asarray(vectors, dtype="<f4")
    rows = [EmbeddingCache(sha256=sha, encoder=encoder.name, version=encoder.version, dim=int(vectors.shape[1]),
                           vector=vectors[i].tobytes()) for i, sha in enumerate(sha256s)]
    EmbeddingCache.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(rows)


def _encode_missing(*, encoder: Encoder, wanted: list[tuple[str, Any]], encode: Callable[[list], np.ndarray],
                    load: Callable[[Any], Any], progress: Callable[[int], None]) -> int:
    unique = dict(wanted)
    cached = embeddings_cached(sha256s=unique, encoder=encoder.name, version=encoder.version)
    todo = [(sha, ref) for sha, ref in unique.items() if sha not in cached]
    progress(len(unique) - len(todo))
    for start in range(0, len(todo), BATCH):
        batch = todo[start:start + BATCH]
        vectors = encode([load(ref) for _, ref in batch])
        embeddings_store(encoder=encoder, sha256s=[sha for sha, _ in batch], vectors=vectors)
        progress(len(batch))
    return len(todo)


def embeddings_compute(*, campaign: Campaign, encoder: str | Encoder,
                       progress_cb: ProgressCallback | None = None) -> dict[str, Any]:
    """Encode every image (and/or prompt, by the encoder's modalities) of ``campaign`` not cached yet.

    ``encoder`` is a registered name (built with the campaign's options) or
    an instance. ``progress_cb(done, total)`` is called after each batch.
    Idempotent: a second call computes nothing. Returns counts.
    """
    if isinstance(encoder, str):
        encoder = campaign_encoder(campaign=campaign, name=encoder)
    images: list[tuple[str, str]] = []
    texts: list[tuple[str, str]] = []
    if "image" in encoder.modalities:
        ids = sorted(campaign_image_ids(campaign=campaign))
        for start in range(0, len(ids), 2000):
            images += list(Image.objects.filter(pk__in=ids[start:start + 2000]).values_list("sha256", "file"))
    if "text" in encoder.modalities:
        ids = sorted(campaign_prompt_ids(campaign=campaign))
        for start in range(0, len(ids), 2000):
            texts += list(Prompt.objects.filter(pk__in=ids[start:start + 2000]).values_list("text_sha256", "text"))
    total = len(images) + len(texts)
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if progress_cb is not None:
            progress_cb(done, total)

    computed = 0
    if images:
        computed += _encode_missing(encoder=encoder, wanted=images, encode=encoder.encode_images,
                                    load=lambda name: image_open(name=name), progress=progress)
    if texts:
        computed += _encode_missing(encoder=encoder, wanted=texts, encode=encoder.encode_texts,
                                    load=lambda text: text, progress=progress)
    return {"encoder": encoder.name, "version": encoder.version, "dim": encoder.dim, "images": len(images),
            "prompts": len(texts), "computed": computed, "cached": total - computed}


def encode_one(*, encoder: Encoder, image: PILImage.Image | None = None, text: str | None = None) -> np.ndarray:
    """One vector, uncached (the scoring API: a new upload has no row to cache against)."""
    if image is not None:
        return encoder.encode_images([image])[0]
    return encoder.encode_texts([text or ""])[0]
