"""Concept-bottleneck reward model fit at the paper's scale, on CPU.

Fits ``ConceptBottleneckRewardModel`` (sequential mode) with the paper's stage-1
settings (``CBM_PAPER_SETTINGS``: MLP 256-256, 100 epochs, lr 1e-4, batch 128,
Adam; ~4,000 steps) on 5,000 synthetic items x 12 attributes. Features are
random but learnable: a fixed random non-linear map of a 24-d latent plus
noise, with each attribute a thresholded function of the latent and the coarse
label a decision tree over three attributes (as in Collins et al.,
Experiment 2). Half the concept labels are missing.

Prints JSON: wall seconds of each run and their median, CPU seconds (what the
fit costs when it has its cores to itself), the held-out concept and reward
ROC-AUC of the last run, and the machine's load average.

    python benchmarks/cbm_fit.py                   # 5,000 x 512 x 12, 3 runs, 1 torch thread
    python benchmarks/cbm_fit.py --features 600 --threads 2

Target: <= 60 s per fit.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from rewardlab.ml.cbm import CBM_PAPER_SETTINGS, ConceptBottleneckRewardModel  # noqa: E402


def synthetic(n: int, n_features: int, n_concepts: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings, concepts and coarse labels; the generating map depends only on ``seed``."""
    maps = np.random.default_rng(seed)
    w1 = maps.normal(size=(24, 256)) / np.sqrt(24)
    w2 = maps.normal(size=(256, n_features)) / np.sqrt(256)
    b = maps.normal(size=(24, n_concepts)) / np.sqrt(24)
    rng = np.random.default_rng(seed + n)
    z = rng.normal(size=(n, 24))
    X = np.tanh(np.maximum(z @ w1, 0.0) @ w2) + 0.3 * rng.normal(size=(n, n_features))
    C = ((z @ b + 0.3 * rng.normal(size=(n, n_concepts))) > 0).astype(np.float64)
    y = (C[:, 0].astype(bool) & (C[:, 1].astype(bool) | ~C[:, 2].astype(bool))).astype(np.float64)
    return X.astype(np.float32), C, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--concepts", type=int, default=12)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the model's n_threads)")
    parser.add_argument("--missing", type=float, default=0.5, help="share of concept labels left unknown")
    args = parser.parse_args()

    X, C, y = synthetic(args.items, args.features, args.concepts, seed=0)
    rng = np.random.default_rng(1)
    C_train = np.where(rng.random(C.shape) < args.missing, np.nan, C)
    X_test, C_test, y_test = synthetic(2000, args.features, args.concepts, seed=0)

    walls, cpus = [], []
    model = None
    for run in range(args.runs):
        model = ConceptBottleneckRewardModel(
            **CBM_PAPER_SETTINGS, random_state=run, device="cpu", n_threads=args.threads
        )
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(X, C_train, y)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)

    concepts = model.predict_concepts(X_test)
    print(json.dumps({
        "benchmark": "cbm_fit",
        "items": args.items, "features": args.features, "concepts": args.concepts,
        "missing_concept_share": args.missing,
        "settings": {**CBM_PAPER_SETTINGS, "hidden": list(CBM_PAPER_SETTINGS["hidden"])},
        "epochs_run": model.n_epochs_,
        "optimiser_steps": model.n_epochs_ * -(-int((~np.isnan(C_train)).any(axis=1).sum()) // 128),
        "device": "cpu", "torch_threads": args.threads, "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "load_average_1m": os.getloadavg()[0], "machine": platform.machine(),
        "wall_s": [round(t, 2) for t in walls],
        "wall_s_median": round(statistics.median(walls), 2),
        "cpu_s": [round(t, 2) for t in cpus],
        "cpu_s_median": round(statistics.median(cpus), 2),
        "target_s": 60,
        "held_out": {
            "concept_roc_auc_mean": round(float(np.mean(
                [roc_auc_score(C_test[:, j], concepts[:, j]) for j in range(args.concepts)])), 4),
            "reward_roc_auc": round(float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])), 4),
        },
    }, indent=2))


if __name__ == "__main__":
    main()
