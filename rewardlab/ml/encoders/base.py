"""The encoder contract and the registry that maps a backend name to its class.

An encoder turns images and/or prompts into fixed-size float32 vectors. Its
``name`` and ``version`` together key the embedding cache, so anything that
changes the vectors (weights, feature definitions, sizes) must change
``version``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from PIL import Image


class EncoderUnavailable(RuntimeError):
    """The backend is registered but cannot load here (a package or weights are missing)."""


class Encoder:
    """Base class: subclasses set ``name``/``modalities`` and, per instance, ``version``/``dim``."""

    name: ClassVar[str]
    #: Subset of {"image", "text"}: which ``encode_*`` methods work.
    modalities: ClassVar[frozenset[str]] = frozenset()
    version: str
    dim: int

    @classmethod
    def is_available(cls) -> bool:
        """Whether the backend's requirements are installed (weights paths are checked at load)."""
        return True

    @property
    def cache_key(self) -> str:
        """What the embedding cache stores vectors under, besides the content hash."""
        return f"{self.name}:{self.version}"

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32 embeddings of the images."""
        raise NotImplementedError(f"encoder {self.name!r} does not encode images")

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 embeddings of the texts."""
        raise NotImplementedError(f"encoder {self.name!r} does not encode texts")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.cache_key} dim={self.dim}>"


ENCODERS: dict[str, type[Encoder]] = {}


def register_encoder(cls: type[Encoder]) -> type[Encoder]:
    """Class decorator: make ``cls`` loadable as ``get_encoder(cls.name)``."""
    if cls.name in ENCODERS and ENCODERS[cls.name] is not cls:
        raise ValueError(f"an encoder named {cls.name!r} is already registered")
    ENCODERS[cls.name] = cls
    return cls


def get_encoder(name: str, **kwargs: Any) -> Encoder:
    """An instance of the encoder registered as ``name``; ``kwargs`` go to its constructor."""
    try:
        cls = ENCODERS[name]
    except KeyError:
        raise KeyError(f"unknown encoder {name!r}; registered: {sorted(ENCODERS)}") from None
    return cls(**kwargs)


def available_encoders() -> dict[str, bool]:
    """Registered encoder names and whether each can load on this machine."""
    return {name: cls.is_available() for name, cls in sorted(ENCODERS.items())}


