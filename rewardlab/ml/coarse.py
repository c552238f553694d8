"""Coarse reward model: the paper's baseline, the CBM's stage-1 trunk with one head on the coarse label."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import ClassifierMixin

from rewardlab.ml._base import TorchRewardModel, check_binary_target
from rewardlab.ml._torch import MLP, resolve_device, resolve_seed, seeded, torch_threads, train_minibatch


class CoarseRewardModel(ClassifierMixin, TorchRewardModel):
    """MLP from embedding to P(good), trained with BCE on the coarse label only.

    Hyperparameters and their defaults are the concept-bottleneck model's
    (see ``ConceptBottleneckRewardModel``), so the two differ only in the
    supervision they get; ``CBM_PAPER_SETTINGS`` applies here too. Rows whose
    label is NaN are dropped before scaling and batching.
    """

    _joblib_attrs: ClassVar[tuple[str, ...]] = ("scaler_", "classes_")

    def fit(self, X: Any, y: Any) -> CoarseRewardModel:
        X = self._check_X(X, reset=True)
        y = check_binary_target(y, X.shape[0])
        known = ~np.isnan(y)
        if not known.any():
            raise ValueError("no known coarse label to train on")
        self.classes_ = np.array([0, 1])
        Z = self._fit_scaler(X[known])
        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = resolve_seed(self.random_state)
        with torch_threads(self.n_threads), seeded(seed, device):
            net = self.network_ = MLP(Z.shape[1], self.hidden, 1, self.dropout).to(device)
            Zt = torch.from_numpy(Z).to(device)
            yt = torch.from_numpy(y[known].astype(np.float32)).to(device)

            def loss_fn(idx: torch.Tensor) -> torch.Tensor:
                return torch.nn.functional.binary_cross_entropy_with_logits(net(Zt[idx]).squeeze(1), yt[idx])

            self.loss_curve_ = train_minibatch(
                net, loss_fn, n_rows=Z.shape[0], epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                weight_decay=self.weight_decay, min_steps=self.min_steps,
                generator=torch.Generator().manual_seed(seed), device=device,
                progress_callback=self.progress_callback,
            )
        self.n_epochs_ = len(self.loss_curve_)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Logit of P(good): the scalar reward, shape (n,)."""
        return self._forward(X)[:, 0].astype(np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
