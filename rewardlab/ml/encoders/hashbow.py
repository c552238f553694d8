"""``hashbow``: hashed bag of words and bigrams, the offline default prompt encoder.

Stateless (no vocabulary to fit or store), so every prompt, past or future,
maps to the same vector; bigrams keep "red cube" apart from "cube red"-style
swaps that matter for alignment attributes.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

from rewardlab.ml.encoders.base import Encoder, register_encoder


@register_encoder
class HashBowEncoder(Encoder):
    name = "hashbow"
    modalities = frozenset({"text"})

    def __init__(self, dim: int = 256) -> None:
        self.dim = int(dim)
        self.version = f"1-d{self.dim}-ng12"
        # Single-character tokens are kept: prompts count ("3 cats") and spell ("a").
        self._vectorizer = HashingVectorizer(
            n_features=self.dim, ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b",
            lowercase=True, alternate_sign=True, norm="l2", dtype=np.float32,
        )

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectorizer.transform(list(texts)).toarray().astype(np.float32, copy=False)
