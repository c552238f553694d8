"""Reads of the embedding cache: vectors by content hash, as float32 matrices."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from rewardlab.models import EmbeddingCache

#: Rows per ``sha256 IN (...)`` query; keeps every backend under its parameter limit.
QUERY_CHUNK = 2000


def vector_decode(blob: bytes | memoryview, dim: int) -> np.ndarray:
    vector = np.frombuffer(bytes(blob), dtype="<f4")
    if vector.shape != (dim,):
        raise ValueError(f"stored vector has {vector.size} values, expected {dim}")
    return vector


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), QUERY_CHUNK):
        yield list(values[start:start + QUERY_CHUNK])


def embeddings_cached(*, sha256s: Iterable[str], encoder: str, version: str) -> set[str]:
    """The hashes among ``sha256s`` that already have a vector for (encoder, version)."""
    wanted = sorted(set(sha256s))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        found.update(EmbeddingCache.objects.filter(encoder=encoder, version=version, sha256__in=chunk)
                     .values_list("sha256", flat=True))
    return found


def embeddings_matrix(*, sha256s: Sequence[str], encoder: str, version: str) -> np.ndarray:
    """(n, dim) float32, one row per hash in the given order (duplicates allowed).

    Raises ``KeyError`` naming the first hash with no cached vector: callers
    compute embeddings first (``rewardlab.services.embeddings``).
    """
    unique = list(dict.fromkeys(sha256s))
    vectors: dict[str, np.ndarray] = {}
    for chunk in _chunks(unique):
        for sha, d, blob in (EmbeddingCache.objects.filter(encoder=encoder, version=version, sha256__in=chunk)
                             .values_list("sha256", "dim", "vector")):
            vectors[sha] = vector_decode(blob, d)
    missing = [sha for sha in unique if sha not in vectors]
    if missing:
        raise KeyError(f"no {encoder}:{version} embedding for {missing[0]} ({len(missing)} missing)")
    if not unique:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([vectors[sha] for sha in sha256s]).astype(np.float32, copy=False)
