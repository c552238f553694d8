"""Helpers for the transformers-backed encoders (imported only when one is built)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch


def weights_fingerprint(path: str | Path) -> str:
    """Short hash of a model directory's config and weight file names and sizes.

    Cheap (no weight bytes are read) yet changes when the checkpoint does, so
    it can stand in the embedding cache key.
    """
    path = Path(path)
    digest = hashlib.sha256()
    config = path / "config.json"
    if config.exists():
        digest.update(config.read_bytes())
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{f.name}:{f.stat().st_size}".encode())
    return digest.hexdigest()[:12]


def pooled(output: object) -> torch.Tensor:
    """``get_*_features`` return a tensor in transformers 4 and an output object in 5."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output
