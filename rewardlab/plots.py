"""Reward-model figures as PNG bytes (matplotlib figures without pyplot; no Django).

- ``version_metrics_png``: one version's held-out metrics and per-concept AUC.
- ``aggregator_weights_png``: the CBM aggregator's weight per attribute, as
  Collins et al. Figs. 6-8 show what the linear stage 2 relies on.
- ``learning_curve_png``: held-out ROC-AUC of every finished version against
  the number of labelled training items and against the annotation cost
  spent on them (Collins Fig. 3, left and right).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from annotator.plots import _empty, _png, _subplots  # one figure style across apps

KIND_COLOURS = {"cbm": "#1f77b4", "coarse": "#222222", "pairwise": "#d62728"}
SUMMARY_METRICS = ("roc_auc", "auprc", "ap_at_10", "ap_at_50", "preference_accuracy")


def version_metrics_png(*, title: str, metrics: Mapping[str, Any]) -> bytes:
    """Summary metrics (left) and per-concept held-out AUC (right) of one version."""
    summary = [(m, metrics.get(m)) for m in SUMMARY_METRICS if metrics.get(m) is not None]
    concepts = [(k, v) for k, v in (metrics.get("per_concept_auc") or {}).items()]
    if not summary and not concepts:
        return _empty(title, "No held-out metric yet (too few held-out labels).")
    width = 3.2 + 0.45 * max(len(concepts), 1)
    fig, axes = _subplots(1, 2 if concepts else 1, figsize=(width + 3.5, 3.4), squeeze=False,
                             gridspec_kw={"width_ratios": [3.5, width]} if concepts else None)
    ax = axes[0, 0]
    if summary:
        names, values = zip(*summary)
        bars = ax.bar(range(len(values)), values, color="#1f77b4")
        ax.set_xticks(range(len(values)), [n.replace("_", " ") for n in names], rotation=30, ha="right")
        for bar, value in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, value + 0.01, f"{value:.2f}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_ylabel("held-out score")
    ax.set_title("reward")
    if concepts:
        ax = axes[0, 1]
        keys = [k for k, _ in concepts]
        values = [np.nan if v is None else v for _, v in concepts]
        ax.bar(range(len(keys)), np.nan_to_num(values, nan=0.0), color=["#bbbbbb" if np.isnan(v) else "#2ca02c"
                                                                        for v in values])
        ax.set_xticks(range(len(keys)), keys, rotation=45, ha="right")
        ax.set_ylim(0, 1.05)
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax.set_ylabel("held-out ROC-AUC")
        ax.set_title("stage 1: per attribute (grey: undefined)")
    fig.suptitle(title)
    return _png(fig)


def aggregator_weights_png(*, title: str, weights: Mapping[str, float], intercept: float | None = None,
                           values: Mapping[str, float | None] | None = None) -> bytes:
    """Horizontal bars of the aggregator weight per attribute, sorted; AUC lost without it beside each bar."""
    if not weights:
        return _empty(title, "This version has no aggregator (not a concept-bottleneck model).")
    items = sorted(weights.items(), key=lambda kv: kv[1])
    keys = [k for k, _ in items]
    w = np.array([v for _, v in items], dtype=float)
    fig, ax = _subplots(figsize=(6.4, 0.9 + 0.32 * len(keys)))
    ax.barh(range(len(keys)), w, color=["#d62728" if v < 0 else "#1f77b4" for v in w])
    ax.set_yticks(range(len(keys)), keys)
    ax.axvline(0, color="0.3", lw=0.8)
    span = float(np.abs(w).max()) or 1.0
    for i, key in enumerate(keys):
        lost = (values or {}).get(key)
        if lost is not None:
            ax.text(w[i] + (0.02 if w[i] >= 0 else -0.02) * span, i, f"ΔAUC {lost:+.3f}", va="center",
                    ha="left" if w[i] >= 0 else "right", fontsize=7, color="0.3")
    ax.set_xlim(-1.35 * span, 1.35 * span)
    ax.set_xlabel("aggregator weight (logit per unit concept probability)"
                  + (f"; intercept {intercept:+.2f}" if intercept is not None else ""))
    ax.set_title(title)
    return _png(fig)


def learning_curve_png(*, title: str, points: Sequence[Mapping[str, Any]]) -> bytes:
    """``points``: ``[{"kind", "n_train", "cost_s", "roc_auc", "version"}]``; one line per kind."""
    points = [p for p in points if p.get("roc_auc") is not None]
    if not points:
        return _empty(title, "No finished version with a held-out ROC-AUC yet.")
    fig, (left, right) = _subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for kind in sorted({p["kind"] for p in points}):
        rows = sorted((p for p in points if p["kind"] == kind), key=lambda p: p["n_train"])
        colour = KIND_COLOURS.get(kind, "#9467bd")
        left.plot([p["n_train"] for p in rows], [p["roc_auc"] for p in rows], "o-", color=colour, label=kind)
        rows = sorted(rows, key=lambda p: p["cost_s"])
        right.plot([max(p["cost_s"], 1e-3) / 3600.0 for p in rows], [p["roc_auc"] for p in rows], "o-",
                   color=colour, label=kind)
    left.set_xlabel("labelled training items (N)")
    left.set_ylabel("held-out ROC-AUC")
    right.set_xlabel("annotation cost spent (annotator hours, log scale)")
    right.set_xscale("log")
    for ax in (left, right):
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax.grid(alpha=0.3)
    left.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return _png(fig)
