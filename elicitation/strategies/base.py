"""What every acquisition strategy sees: candidates, model outputs and costs.

Pure numpy: no Django import (DESIGN §2). A *candidate* is a (target,
attribute) pair that still needs answers and that the annotator has not
answered. Strategies score candidates; higher is asked first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Parallel arrays, one entry per candidate.

    ``target_index`` indexes rows of the model outputs (one row per target);
    ``attribute_index`` indexes concept columns; the coarse attribute's
    candidates have ``is_coarse`` set (their attribute_index is ignored).
    ``cost`` is the estimated annotator-seconds of answering.
    """

    target_index: np.ndarray
    attribute_index: np.ndarray
    is_coarse: np.ndarray
    cost: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.target_index)
        for name in ("attribute_index", "is_coarse", "cost"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, expected {n}")

    def __len__(self) -> int:
        return len(self.target_index)


@dataclass(frozen=True)
class ModelOutputs:
    """The active CBM's predictions for every target row.

    ``concept_proba`` (T, k): stage-1 probabilities; ``coarse_proba`` (T,);
    ``aggregator_weights`` (k,) and ``aggregator_intercept``: the stage-2
    logistic regression over the concept probabilities;
    ``concept_samples`` (S, T, k): MC-dropout samples for BALD, optional;
    ``attribute_value`` (k,): held-out AUC lost when the attribute is dropped.
    """

    concept_proba: np.ndarray
    coarse_proba: np.ndarray
    aggregator_weights: np.ndarray
    aggregator_intercept: float
    concept_samples: np.ndarray | None = None
    attribute_value: np.ndarray | None = None
    version: int | None = None
    extra: dict = field(default_factory=dict)


EPS = 1e-12


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in bits of Bernoulli(p), 0 at p in {0, 1}."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def safe_cost(cost: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(cost, dtype=np.float64), 1e-3)
