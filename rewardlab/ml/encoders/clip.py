"""``clip``: transformers CLIP loaded from a local directory (images and prompts).

The directory is what ``CLIPModel.save_pretrained`` plus a processor's (or an
image processor's and a tokenizer's) ``save_pretrained`` write, e.g. a copy of
openai/clip-vit-large-patch14. Nothing is downloaded.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from rewardlab.ml.encoders.base import Encoder, EncoderUnavailable, register_encoder


@register_encoder
class ClipEncoder(Encoder):
    """L2-normalised CLIP image and text embeddings (``projection_dim`` wide)."""

    name = "clip"
    modalities = frozenset({"image", "text"})

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec("transformers") is not None

    def __init__(self, model_path: str | Path, device: str = "auto", batch_size: int = 32) -> None:
        import torch
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        from rewardlab.ml._torch import resolve_device
        from rewardlab.ml.encoders._hf import weights_fingerprint

        path = Path(model_path)
        if not (path / "config.json").exists():
            raise EncoderUnavailable(f"no CLIP checkpoint at {path} (config.json missing)")
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.model = CLIPModel.from_pretrained(str(path)).to(self.device).eval()
        self.image_processor = AutoImageProcessor.from_pretrained(str(path))
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.dim = int(self.model.config.projection_dim)
        self.max_length = int(self.model.config.text_config.max_position_embeddings)
        self.version = f"{path.name}-{weights_fingerprint(path)}"
        self._torch = torch

    def _normalised(self, features: "torch.Tensor") -> np.ndarray:  # noqa: F821
        from rewardlab.ml.encoders._hf import pooled

        f = pooled(features).float()
        f = f / f.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return f.cpu().numpy().astype(np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        chunks = [np.zeros((0, self.dim), dtype=np.float32)]
        with self._torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = [im.convert("RGB") for im in images[start : start + self.batch_size]]
                pixels = self.image_processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device)
                chunks.append(self._normalised(self.model.get_image_features(pixel_values=pixels)))
        return np.concatenate(chunks)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        chunks = [np.zeros((0, self.dim), dtype=np.float32)]
        with self._torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.tokenizer(
                    list(texts[start : start + self.batch_size]), padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                )
                feats = self.model.get_text_features(
                    input_ids=tokens["input_ids"].to(self.device),
                    attention_mask=tokens["attention_mask"].to(self.device),
                )
                chunks.append(self._normalised(feats))
        return np.concatenate(chunks)
