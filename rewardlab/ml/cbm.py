"""Concept-bottleneck reward model (Collins et al., "Reward Models from Fine-Grained Feedback").

Stage 1 maps an embedding to one logit per attribute (the concepts); stage 2 is
a linear aggregator from the concept probabilities to the coarse "good" label.
Because elicitation asks only some attributes of each item, concept labels
and the coarse label may each be missing; the model learns from whatever is
known and nothing else.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, check_is_fitted

from rewardlab.ml._base import TorchRewardModel, check_binary_target
from rewardlab.ml._torch import (
    MLP,
    forward_numpy,
    masked_bce,
    resolve_device,
    resolve_seed,
    seeded,
    torch_threads,
    train_minibatch,
)

MODES = ("sequential", "independent", "joint")

#: Stage 1 exactly as the paper's appendix ("two 256-dimension hidden layers ...
#: 100 epochs, with a learning rate of 1e-4 ... batch size of 128"), with no
#: step floor, weight decay or dropout, which the paper does not use.
CBM_PAPER_SETTINGS: dict[str, Any] = {
    "hidden": (256, 256),
    "epochs": 100,
    "lr": 1e-4,
    "batch_size": 128,
    "min_steps": 0,
    "weight_decay": 0.0,
    "dropout": 0.0,
}


def _concept_mask(C: np.ndarray, concept_mask: Any) -> np.ndarray:
    known = ~np.isnan(C)
    if concept_mask is None:
        return known
    mask = check_array(concept_mask, dtype=bool, input_name="concept_mask")
    if mask.shape != C.shape:
        raise ValueError(f"concept_mask must have shape {C.shape}, got {mask.shape}")
    if (mask & ~known).any():
        raise ValueError("concept_mask marks as known a concept whose value in C is NaN")
    return mask


def _aggregator_from_linear(weights: np.ndarray, intercept: float) -> LogisticRegression:
    """A fitted-looking LogisticRegression carrying a linear layer learned elsewhere (joint mode)."""
    agg = LogisticRegression()
    agg.classes_ = np.array([0, 1])
    agg.coef_ = np.asarray(weights, dtype=np.float64).reshape(1, -1)
    agg.intercept_ = np.array([float(intercept)])
    agg.n_features_in_ = agg.coef_.shape[1]
    agg.n_iter_ = np.array([0])
    return agg


class ConceptBottleneckRewardModel(ClassifierMixin, TorchRewardModel):
    """Two-stage reward model: embedding -> attribute probabilities -> P(good).

    Parameters
    ----------
    mode : {"sequential", "independent", "joint"}
        ``sequential`` (the paper): train stage 1, then fit the aggregator on
        stage 1's predicted probabilities. ``independent``: fit the aggregator
        on the true concept values where known, stage-1 predictions elsewhere.
        ``joint``: one network, concept heads plus a linear aggregator, trained
        on coarse BCE + ``concept_weight`` x masked concept BCE; its linear
        layer becomes the aggregator.
    hidden, epochs, lr, batch_size : stage 1 MLP, as in the paper (two hidden
        layers of 256, 100 epochs, lr 1e-4, batch 128; Adam).
    min_steps : int, default 1500
        Floor on optimiser steps: epochs become
        ``max(epochs, ceil(min_steps / steps_per_epoch))``. The paper's settings
        are ~4,000 Adam steps on its 5k items but only ~200 on the 200 items a
        new campaign may have, which leaves stage 1 under-trained at lr 1e-4
        (held-out concept ROC-AUC 0.92 after 300 steps vs 0.96 after 1,000 on
        a 160-item synthetic task; no further gain at 2,000). The floor changes
        nothing at the paper's scale, where 100 epochs already exceed it.
    weight_decay : float, default 1e-4
        Decoupled weight decay (AdamW) when > 0; plain Adam, as the paper, at 0.
        A little regularisation for the longer training at small N.
    dropout : float, default 0.1
        Dropout after each hidden layer; also what ``predict_concepts_samples``
        (MC dropout, used by BALD acquisition) samples from.
    concept_weight : float, default 1.0
        Weight of the concept loss in ``joint`` mode.
    aggregator_C : float, default 1.0
        Inverse regularisation of the class-balanced logistic aggregator
        (scikit-learn's default, as the paper).
    concept_names : sequence of str, optional
        Names of the k attributes, kept with the model for inspection.
    random_state : int, RandomState or None
        Same int -> identical weights and predictions (on CPU).
    device : str, default "auto"
        ``"auto"`` uses CUDA when available.
    n_threads : int or None, default 1
        Torch intra-op CPU threads while fitting and predicting (None: torch's
        default). These MLPs are too small to gain much from more threads and
        slow down by an order of magnitude when cores are shared, as on a
        worker running several jobs; scale out with processes instead.
    progress_callback : callable or None
        ``progress_callback(epoch, n_epochs, mean_loss)`` after each training
        epoch; not saved with the model.

    Rows with no known concept and no known coarse label carry no information;
    they are dropped before anything is fitted (the input scaler included), so
    adding such rows changes nothing, bit for bit. In the two-stage modes the
    scaler and stage 1 see only rows with at least one known concept, so the
    coarse labels never change stage 1.
    """

    _joblib_attrs: ClassVar[tuple[str, ...]] = ("scaler_", "aggregator_", "classes_")
    _json_attrs: ClassVar[tuple[str, ...]] = TorchRewardModel._json_attrs + ("n_concepts_", "concept_names_")

    def __init__(
        self,
        *,
        mode: str = "sequential",
        hidden: Sequence[int] = (256, 256),
        epochs: int = 100,
        lr: float = 1e-4,
        batch_size: int = 128,
        min_steps: int = 1500,
        weight_decay: float = 1e-4,
        dropout: float = 0.1,
        concept_weight: float = 1.0,
        aggregator_C: float = 1.0,
        concept_names: Sequence[str] | None = None,
        random_state: int | np.random.RandomState | None = None,
        device: str = "auto",
        n_threads: int | None = 1,
        progress_callback: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self.mode = mode
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.min_steps = min_steps
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.concept_weight = concept_weight
        self.aggregator_C = aggregator_C
        self.concept_names = concept_names
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.progress_callback = progress_callback

    # -- fit ---------------------------------------------------------------
    def fit(self, X: Any, C: Any, y: Any, concept_mask: Any = None) -> ConceptBottleneckRewardModel:
        """Fit on embeddings X (n, d), concepts C (n, k) in [0, 1] with NaN unknown, y (n,) 0/1/NaN."""
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        X = self._check_X(X, reset=True)
        C = check_array(C, dtype=np.float64, ensure_all_finite="allow-nan", input_name="C")
        if C.shape[0] != X.shape[0]:
            raise ValueError(f"C has {C.shape[0]} rows, X has {X.shape[0]}")
        mask = _concept_mask(C, concept_mask)
        if ((C[mask] < 0) | (C[mask] > 1)).any():
            raise ValueError("known concept values must lie in [0, 1]")
        y = check_binary_target(y, X.shape[0])
        y_known = ~np.isnan(y)
        if not y_known.any() or len(np.unique(y[y_known])) < 2:
            raise ValueError("the aggregator needs known coarse labels of both classes (0 and 1)")

        k = C.shape[1]
        names = list(self.concept_names) if self.concept_names is not None else [f"concept_{j}" for j in range(k)]
        if len(names) != k:
            raise ValueError(f"concept_names has {len(names)} names for {k} concepts")
        self.n_concepts_ = k
        self.concept_names_ = names
        self.classes_ = np.array([0, 1])

        # Drop rows that carry no label at all before scaling and batching, and
        # fit the scaler on exactly the rows the network trains on: rows with a
        # known concept (all labelled rows in joint mode, where y trains it too).
        keep = mask.any(axis=1) | y_known
        X, C, mask, y, y_known = X[keep], C[keep], mask[keep], y[keep], y_known[keep]
        if not mask.any():
            raise ValueError("no known concept value to train stage 1 on")
        network_rows = np.ones(len(X), dtype=bool) if self.mode == "joint" else mask.any(axis=1)
        self._fit_scaler(X[network_rows])
        Z = self.scaler_.transform(X).astype(np.float32)

        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = resolve_seed(self.random_state)
        with torch_threads(self.n_threads), seeded(seed, device):
            self.network_ = MLP(Z.shape[1], self.hidden, k, self.dropout).to(device)
            if self.mode == "joint":
                self._fit_joint(Z, C, mask, y, y_known, seed, device)
            else:
                self._fit_stage1(Z, C, mask, seed, device)
                self._fit_aggregator(Z, C, mask, y, y_known, seed)
        return self

    def _train(self, module: torch.nn.Module, loss_fn: Any, n_rows: int, seed: int, device: torch.device) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.loss_curve_ = train_minibatch(
            module, loss_fn, n_rows=n_rows, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, min_steps=self.min_steps, generator=generator, device=device,
            progress_callback=self.progress_callback,
        )
        self.n_epochs_ = len(self.loss_curve_)

    def _fit_stage1(self, Z: np.ndarray, C: np.ndarray, mask: np.ndarray, seed: int, device: torch.device) -> None:
        # Rows with only a coarse label add zero gradient to stage 1, but would
        # still shift the batching; stage 1 trains on rows with a known concept.
        rows = mask.any(axis=1)
        Zt = torch.from_numpy(Z[rows]).to(device)
        Ct = torch.from_numpy(np.nan_to_num(C[rows]).astype(np.float32)).to(device)
        Mt = torch.from_numpy(mask[rows].astype(np.float32)).to(device)
        net = self.network_

        def loss_fn(idx: torch.Tensor) -> torch.Tensor:
            return masked_bce(net(Zt[idx]), Ct[idx], Mt[idx])

        self._train(net, loss_fn, int(rows.sum()), seed, device)

    def _fit_aggregator(self, Z: np.ndarray, C: np.ndarray, mask: np.ndarray, y: np.ndarray,
                        y_known: np.ndarray, seed: int) -> None:
        probs = expit(forward_numpy(self.network_, Z[y_known], self._device()).astype(np.float64))
        if self.mode == "independent":
            probs = np.where(mask[y_known], C[y_known], probs)
        self.aggregator_ = LogisticRegression(
            class_weight="balanced", C=self.aggregator_C, max_iter=1000, random_state=seed
        ).fit(probs, y[y_known].astype(int))

    def _fit_joint(self, Z: np.ndarray, C: np.ndarray, mask: np.ndarray, y: np.ndarray,
                   y_known: np.ndarray, seed: int, device: torch.device) -> None:
        net = self.network_
        head = torch.nn.Linear(self.n_concepts_, 1).to(device)
        joint = torch.nn.ModuleDict({"concepts": net, "aggregator": head})
        Zt = torch.from_numpy(Z).to(device)
        Ct = torch.from_numpy(np.nan_to_num(C).astype(np.float32)).to(device)
        Mt = torch.from_numpy(mask.astype(np.float32)).to(device)
        yt = torch.from_numpy(np.nan_to_num(y).astype(np.float32)).to(device)
        # Class-balanced like the sequential aggregator, so modes are comparable.
        n_pos = float(y[y_known].sum())
        n_known = float(y_known.sum())
        w_pos, w_neg = n_known / (2 * n_pos), n_known / (2 * (n_known - n_pos))
        wt = torch.from_numpy(np.where(y_known, np.where(y == 1, w_pos, w_neg), 0.0).astype(np.float32)).to(device)
        weight = float(self.concept_weight)

        def loss_fn(idx: torch.Tensor) -> torch.Tensor:
            logits = net(Zt[idx])
            coarse = head(torch.sigmoid(logits)).squeeze(1)
            w = wt[idx]
            per = torch.nn.functional.binary_cross_entropy_with_logits(coarse, yt[idx], reduction="none")
            coarse_loss = (per * w).sum() / (w > 0).sum().clamp(min=1)
            return coarse_loss + weight * masked_bce(logits, Ct[idx], Mt[idx])

        self._train(joint, loss_fn, Z.shape[0], seed, device)
        self.aggregator_ = _aggregator_from_linear(
            head.weight.detach().cpu().numpy().ravel(), float(head.bias.detach().cpu()[0])
        )

    # -- predict -------------------------------------------------------------
    def predict_concepts(self, X: Any) -> np.ndarray:
        """Stage-1 probability of each attribute, shape (n, k)."""
        return expit(self._forward(X).astype(np.float64))

    def predict_concepts_samples(self, X: Any, n_samples: int = 20, random_state: int | None = 0) -> np.ndarray:
        """MC-dropout samples of the concept probabilities, shape (n_samples, n, k).

        With ``dropout=0`` every sample equals ``predict_concepts`` (zero
        epistemic spread). ``random_state`` fixes the dropout masks.
        """
        check_is_fitted(self)
        device = self._device()
        with seeded(resolve_seed(random_state), device):
            samples = [self._forward(X, train_mode=True) for _ in range(int(n_samples))]
        return expit(np.stack(samples).astype(np.float64))

    def _bottleneck(self, X: Any, interventions: Any) -> np.ndarray:
        concepts = self.predict_concepts(X)
        if interventions is not None:
            given = check_array(
                interventions, dtype=np.float64, ensure_all_finite="allow-nan", input_name="interventions"
            )
            if given.shape != concepts.shape:
                raise ValueError(f"interventions must have shape {concepts.shape}, got {given.shape}")
            concepts = np.where(np.isnan(given), concepts, given)
        return concepts

    def decision_function(self, X: Any, interventions: Any = None) -> np.ndarray:
        """Aggregator logit (the scalar reward), shape (n,)."""
        return self.aggregator_.decision_function(self._bottleneck(X, interventions))

    def predict_proba(self, X: Any, interventions: Any = None) -> np.ndarray:
        """P(bad), P(good), shape (n, 2); ``interventions`` (n, k), NaN = not intervened,
        replaces predicted concepts with human values before the aggregator."""
        return self.aggregator_.predict_proba(self._bottleneck(X, interventions))

    def predict(self, X: Any, interventions: Any = None) -> np.ndarray:
        return self.classes_[(self.decision_function(X, interventions) > 0).astype(int)]

    @property
    def aggregator_weights_(self) -> np.ndarray:
        """Linear aggregator weight per concept, shape (k,), in ``concept_names_`` order."""
        check_is_fitted(self, "aggregator_")
        return self.aggregator_.coef_.ravel().copy()

    @property
    def aggregator_intercept_(self) -> float:
        check_is_fitted(self, "aggregator_")
        return float(self.aggregator_.intercept_[0])

    def _n_outputs(self) -> int:
        return int(self.n_concepts_)
