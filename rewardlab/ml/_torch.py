"""The torch pieces every reward model shares: the MLP trunk and the training loop.

Kept in one place so the concept-bottleneck, coarse and pairwise models train
the same way (same optimiser, same step budget, same determinism rules) and
differ only in their heads and losses.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

#: Rows scored per forward pass at inference; bounds memory, not results.
INFERENCE_CHUNK = 8192


def resolve_device(device: str | None) -> torch.device:
    """``"auto"``/None pick CUDA when present; anything else goes to torch."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_seed(random_state: int | np.random.RandomState | None) -> int:
    """A torch seed from a scikit-learn style ``random_state``.

    An int is used as it is, so the same ``random_state`` gives the same model;
    None draws a fresh seed, as scikit-learn does.
    """
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    rng = random_state if isinstance(random_state, np.random.RandomState) else np.random.RandomState()
    return int(rng.randint(0, 2**31 - 1))


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run torch's CPU ops on ``n_threads`` intra-op threads, restoring the previous count after.

    None leaves torch's setting alone. Process-wide while active, so not for
    use from several Python threads at once.
    """
    previous = torch.get_num_threads()
    change = n_threads is not None and int(n_threads) != previous
    if change:
        torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(previous)


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch for initialisation and dropout without touching the caller's RNG."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class MLP(nn.Module):
    """Linear-ReLU-Dropout blocks followed by one linear layer with ``n_out`` outputs.

    A "multi-head" MLP in the paper's sense is this with one output per
    attribute: the heads share the trunk and each owns one row of the last layer.
    """

    def __init__(self, n_in: int, hidden: Sequence[int], n_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(h)
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def n_epochs_for(n_rows: int, *, epochs: int, batch_size: int, min_steps: int) -> int:
    """Epochs to run: at least ``epochs``, more when that gives fewer than ``min_steps`` steps.

    The paper's 100 epochs at batch 128 are ~4,000 Adam steps on its 5k items
    but only ~200 on the few hundred items a new campaign has; ``min_steps``
    keeps the optimisation budget, not the epoch count, roughly constant.
    """
    steps_per_epoch = max(1, math.ceil(n_rows / batch_size))
    return max(int(epochs), math.ceil(int(min_steps) / steps_per_epoch))


def train_minibatch(
    module: nn.Module,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    n_rows: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    min_steps: int,
    generator: torch.Generator,
    device: torch.device,
    progress_callback: Callable[[int, int, float], None] | None = None,
) -> list[float]:
    """Adam over shuffled minibatches of row indices; returns the mean loss per epoch.

    ``progress_callback(epoch, n_epochs, mean_loss)`` is called after each
    epoch (epochs count from 1); training runs report progress through it.

    ``loss_fn`` receives the batch's row indices (on ``device``) and returns a
    scalar loss, so each model keeps its own data layout (rows, pairs) and
    masking. Shuffling draws only from ``generator`` (CPU), so the order
    depends on ``n_rows`` and the seed and on nothing else.
    """
    optimiser = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay) if weight_decay else (
        torch.optim.Adam(module.parameters(), lr=lr)
    )
    n_epochs = n_epochs_for(n_rows, epochs=epochs, batch_size=batch_size, min_steps=min_steps)
    curve: list[float] = []
    module.train()
    for epoch in range(n_epochs):
        order = torch.randperm(n_rows, generator=generator).to(device)
        total, batches = 0.0, 0
        for start in range(0, n_rows, batch_size):
            idx = order[start : start + batch_size]
            loss = loss_fn(idx)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
            batches += 1
        curve.append(total / max(batches, 1))
        if progress_callback is not None:
            progress_callback(epoch + 1, n_epochs, curve[-1])
    module.eval()
    return curve


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy averaged over known entries only.

    Unknown entries are multiplied by zero *and* their NaN targets replaced
    first, so they contribute exactly nothing to the loss or its gradient.
    A batch with no known entry gives a zero loss that still backpropagates.
    """
    mask = mask.to(logits.dtype)
    safe = torch.nan_to_num(targets, nan=0.0) * mask
    per = nn.functional.binary_cross_entropy_with_logits(logits, safe, reduction="none") * mask
    return per.sum() / mask.sum().clamp(min=1)


@torch.no_grad()
def forward_numpy(module: nn.Module, X: np.ndarray, device: torch.device, *, train_mode: bool = False) -> np.ndarray:
    """Run ``module`` on a float32 array in chunks and return the outputs as numpy."""
    module.train(train_mode)
    outs = []
    # range(0, max(n, 1)) so an empty X still yields one (0, n_out) chunk.
    for start in range(0, max(len(X), 1), INFERENCE_CHUNK):
        xb = torch.from_numpy(np.ascontiguousarray(X[start : start + INFERENCE_CHUNK], dtype=np.float32)).to(device)
        outs.append(module(xb).float().cpu().numpy())
    module.eval()
    return np.concatenate(outs, axis=0)
