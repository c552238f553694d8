"""Pairwise ranking reward model (ImageReward §2.2, eq. 1).

A scoring MLP f is trained on (preferred, other) pairs with
loss = -log sigmoid(f(x_i) - f(x_j)); pairs come from rankings (every strictly
ordered pair, ties skipped) and from side-by-side choices.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from sklearn.utils.validation import check_array

from rewardlab.ml._base import TorchRewardModel
from rewardlab.ml._torch import MLP, resolve_device, resolve_seed, seeded, torch_threads, train_minibatch

T = TypeVar("T", bound=Hashable)


def pairs_from_ranking(levels: Sequence[Iterable[T]]) -> list[tuple[T, T]]:
    """Every strictly ordered (better, worse) pair from levels listed best to worst.

    Ids in the same level are ties and give no pair, as in ImageReward, where a
    ranking of k images without ties yields C(k, 2) pairs.

    >>> pairs_from_ranking([["a"], ["b", "c"], ["d"]])
    [('a', 'b'), ('a', 'c'), ('a', 'd'), ('b', 'd'), ('c', 'd')]
    """
    levels = [list(level) for level in levels]
    seen: set[T] = set()
    for level in levels:
        for item in level:
            if item in seen:
                raise ValueError(f"id {item!r} appears in more than one place in the ranking")
            seen.add(item)
    pairs: list[tuple[T, T]] = []
    for i, better_level in enumerate(levels):
        for worse_level in levels[i + 1 :]:
            pairs.extend((b, w) for b in better_level for w in worse_level)
    return pairs


def check_pairs(pairs: Any, n_rows: int) -> np.ndarray:
    """An (m, 2) int array of [preferred, other] row indices into X."""
    pairs = check_array(pairs, dtype=None, input_name="pairs")
    if pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (m, 2), got {pairs.shape}")
    if not np.issubdtype(pairs.dtype, np.integer):
        if not np.all(np.mod(pairs, 1) == 0):
            raise ValueError("pairs must hold integer row indices")
        pairs = pairs.astype(np.int64)
    if pairs.min() < 0 or pairs.max() >= n_rows:
        raise ValueError(f"pair indices must lie in [0, {n_rows})")
    if (pairs[:, 0] == pairs[:, 1]).any():
        raise ValueError("a pair compares an item with itself")
    return pairs.astype(np.int64)


class PairwiseRewardModel(TorchRewardModel):
    """Scoring MLP f(x) trained with -log sigmoid(f(x_i) - f(x_j)) on preferred/other pairs.

    Same trunk, defaults and step floor as the concept-bottleneck model; the
    step count is over pairs. The input scaler is fitted on the rows that
    appear in at least one pair, so rows no pair mentions change nothing.
    """

    def fit(self, X: Any, pairs: Any) -> PairwiseRewardModel:
        """``pairs`` (m, 2): row indices into X, [preferred, other]."""
        X = self._check_X(X, reset=True)
        pairs = check_pairs(pairs, X.shape[0])
        used, local = np.unique(pairs, return_inverse=True)
        local = local.reshape(pairs.shape)
        Z = self._fit_scaler(X[used])
        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = resolve_seed(self.random_state)
        with torch_threads(self.n_threads), seeded(seed, device):
            net = self.network_ = MLP(Z.shape[1], self.hidden, 1, self.dropout).to(device)
            Zt = torch.from_numpy(Z).to(device)
            Pt = torch.from_numpy(local).to(device)

            def loss_fn(idx: torch.Tensor) -> torch.Tensor:
                batch = Pt[idx]
                margin = net(Zt[batch[:, 0]]) - net(Zt[batch[:, 1]])
                return -torch.nn.functional.logsigmoid(margin).mean()

            self.loss_curve_ = train_minibatch(
                net, loss_fn, n_rows=len(pairs), epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                weight_decay=self.weight_decay, min_steps=self.min_steps,
                generator=torch.Generator().manual_seed(seed), device=device,
                progress_callback=self.progress_callback,
            )
        self.n_epochs_ = len(self.loss_curve_)
        return self

    def score(self, X: Any) -> np.ndarray:  # noqa: D401 - a reward, not scikit-learn's score(X, y)
        """Reward f(x) per row, shape (n,). Only differences between scores are meaningful."""
        return self._forward(X)[:, 0].astype(np.float64)

    decision_function = score
