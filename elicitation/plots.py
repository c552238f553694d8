"""Figures of elicitation as PNG bytes (matplotlib figures without pyplot; no Django).

``spend_png``: spend against budget over time (Budget admin page and the
dashboard panel). ``auc_cost_png``: held-out ROC-AUC against cumulative
annotation cost per strategy, mean and spread over seeds (Collins et al.
Fig. 3 right, with per-attribute costs that differ): the simulator's
benchmark saves it to ``benchmarks/out/elicitation.png``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from annotator.plots import _png, _subplots  # one figure style across apps

CHANCE = 0.5
STRATEGY_COLOURS = {"all": "0.2", "coarse": "tab:orange", "random": "tab:gray", "uncertainty_per_cost": "tab:blue",
                    "voi_per_cost": "tab:red", "attribute_value": "tab:green"}


def spend_png(*, t: Sequence[datetime], charged: Sequence[float], reserved: Sequence[float],
              limit_s: float | None, hourly_rate: float | None = None, currency: str = "") -> bytes:
    """Cumulative charged and charged-plus-reserved annotator-hours over time, with the limit as a line."""
    fig, ax = _subplots(figsize=(7, 3.2))
    ax.set_title("Spend against budget")
    if not t:
        ax.set_axis_off()
        ax.text(0.5, 0.45, "Nothing spent yet.", ha="center", va="center", color="0.35", transform=ax.transAxes)
        return _png(fig)
    hours = np.asarray(charged) / 3600.0
    held = hours + np.asarray(reserved) / 3600.0
    # Everything in one time bucket (a campaign's first minutes): a step line of one point draws nothing,
    # so mark the points and centre an hour on them.
    marker = "o" if len(t) == 1 else None
    ax.step(t, hours, where="post", label="charged", color="tab:blue", marker=marker)
    ax.step(t, held, where="post", label="charged + reserved", color="tab:blue", alpha=0.45, linestyle="--",
            marker=marker)
    if len(t) == 1:
        ax.set_xlim(t[0] - timedelta(minutes=30), t[0] + timedelta(minutes=30))
    if limit_s is not None:
        ax.axhline(limit_s / 3600.0, color="tab:red", linewidth=1, label="budget")
    ax.set_ylabel("annotator-hours")
    ax.set_ylim(bottom=0)
    if hourly_rate:
        secondary = ax.secondary_yaxis("right", functions=(lambda h: h * hourly_rate, lambda m: m / hourly_rate))
        secondary.set_ylabel(currency or "money")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return _png(fig)


def auc_cost_png(*, results: Mapping[str, Sequence[Mapping[str, Any]]], target_auc: float | None = None,
                 budgets: Sequence[float] = (), title: str = "") -> bytes:
    """Mean held-out ROC-AUC (band: min-max over seeds) against cumulative annotator-hours, per strategy.

    ``results``: strategy -> list of runs, each with ``curve = [{"cost", "auc"}, ...]``. Each run is a step
    function (the model trained at a cost serves until the next one; chance before the first), read on a
    common grid.
    """
    fig, ax = _subplots(figsize=(7.5, 4.6))
    top = max((p["cost"] for runs in results.values() for run in runs for p in run["curve"]), default=1.0)
    grid = np.linspace(0, top, 200)
    for name, runs in results.items():
        curves = np.array([step_at(run["curve"], grid) for run in runs])
        if not len(curves):
            continue
        mean = curves.mean(axis=0)
        colour = STRATEGY_COLOURS.get(name)
        ax.plot(grid / 3600.0, mean, label=name, color=colour, linewidth=2 if name != "all" else 2.5)
        ax.fill_between(grid / 3600.0, curves.min(axis=0), curves.max(axis=0), color=colour,
                        alpha=0.12, linewidth=0)
    if target_auc is not None:
        ax.axhline(target_auc, color="0.4", linestyle=":", linewidth=1, label=f"target AUC {target_auc:.3f}")
    for budget in budgets:
        ax.axvline(budget / 3600.0, color="0.8", linewidth=0.8)
    ax.set_xlabel("annotation cost (annotator-hours charged)")
    ax.set_ylabel("held-out ROC-AUC (ground-truth coarse label)")
    ax.set_title(title or "Reward model quality against annotation cost")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.25)
    return _png(fig)


def step_at(curve: Sequence[Mapping[str, Any]], grid: np.ndarray, *, before: float = CHANCE) -> np.ndarray:
    """The AUC in force at each cost of ``grid``; ``before`` the first model (chance: no model ranks nothing)."""
    costs = np.array([p["cost"] for p in curve], dtype=np.float64)
    aucs = np.array([p["auc"] for p in curve], dtype=np.float64)
    out = np.full(len(grid), before, dtype=np.float64)
    if not len(costs):
        return out
    index = np.searchsorted(costs, grid, side="right") - 1
    out[index >= 0] = aucs[index[index >= 0]]
    return out
