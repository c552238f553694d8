"""What the torch-backed reward models share: input checks, scaling, device, persistence hooks."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted

from rewardlab.ml._torch import MLP, forward_numpy, resolve_device, torch_threads


def check_binary_target(y: Any, n_rows: int, *, name: str = "y") -> np.ndarray:
    """A float (n,) array of 0/1 with NaN where the label is unknown."""
    y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan", input_name=name)
    if y.ndim != 1 or len(y) != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows},), got {y.shape}")
    known = y[~np.isnan(y)]
    if not np.isin(known, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold 0, 1 or NaN (unknown); got values {np.unique(known)[:5]}")
    return y


class TorchRewardModel(BaseEstimator):
    """Base for reward models whose learned part is a torch module on scaled embeddings.

    Subclasses name their fitted attributes by kind so ``rewardlab.ml.io`` can
    save them without knowing the model: torch modules go to safetensors,
    scikit-learn objects and arrays to joblib, plain values to JSON.
    """

    _torch_attrs: ClassVar[tuple[str, ...]] = ("network_",)
    _joblib_attrs: ClassVar[tuple[str, ...]] = ("scaler_",)
    _json_attrs: ClassVar[tuple[str, ...]] = ("n_features_in_", "loss_curve_", "n_epochs_")

    # The shared hyperparameters of the MLP trunk. Subclasses with no others
    # (coarse, pairwise) inherit this signature, which is what scikit-learn's
    # get_params/clone introspect; the CBM declares its own, longer one.
    def __init__(
        self,
        *,
        hidden: Sequence[int] = (256, 256),
        epochs: int = 100,
        lr: float = 1e-4,
        batch_size: int = 128,
        min_steps: int = 1500,
        weight_decay: float = 1e-4,
        dropout: float = 0.1,
        random_state: int | np.random.RandomState | None = None,
        device: str = "auto",
        n_threads: int | None = 1,
        progress_callback: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.min_steps = min_steps
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.progress_callback = progress_callback

    # -- fitting helpers -------------------------------------------------
    def _check_X(self, X: Any, *, reset: bool) -> np.ndarray:
        X = check_array(X, dtype=np.float32, input_name="X")
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with {self.n_features_in_}"
            )
        return X

    def _fit_scaler(self, X: np.ndarray) -> np.ndarray:
        self.scaler_ = StandardScaler().fit(X)
        return self.scaler_.transform(X).astype(np.float32)

    def _device(self) -> torch.device:
        return resolve_device(getattr(self, "device_", None) or self.device)

    def _forward(self, X: Any, *, train_mode: bool = False) -> np.ndarray:
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        Z = self.scaler_.transform(X).astype(np.float32)
        with torch_threads(self.n_threads):
            return forward_numpy(self.network_, Z, self._device(), train_mode=train_mode)

    # -- persistence hooks (see rewardlab.ml.io) ---------------------------
    def _n_outputs(self) -> int:
        """Width of ``network_``'s last layer."""
        return 1

    def _network_config(self) -> dict[str, Any]:
        """JSON-able facts needed to rebuild the torch modules before loading weights."""
        return {"n_in": int(self.n_features_in_), "hidden": [int(h) for h in self.hidden],
                "n_out": int(self._n_outputs()), "dropout": float(self.dropout)}

    def _build_networks(self, config: dict[str, Any]) -> dict[str, torch.nn.Module]:
        """Empty modules, keyed by attribute name, shaped as ``config`` says."""
        return {"network_": MLP(config["n_in"], config["hidden"], config["n_out"], config["dropout"])}
