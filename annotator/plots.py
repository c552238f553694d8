"""Dashboard figures as PNG bytes (matplotlib figures without pyplot; no Django).

Each function takes plain data from ``annotator.selectors.dashboard`` and
returns PNG bytes, drawn the way a figure in a paper would be: labelled axes
with units, a title, one panel per attribute, shares printed on the bars.
The views cache the bytes per campaign, keyed by the latest consolidation.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 110
LABEL_COLOURS = {"artifact": (0.86, 0.16, 0.16), "misalignment": (0.16, 0.35, 0.88)}
SXS_ORDER = ["A>>B", "A>B", "A=B", "B>A", "B>>A", "A", "B", "unsure"]


def _subplots(*grid: int, figsize: tuple[float, float], **kw) -> tuple[Figure, Any]:
    """``pyplot.subplots`` without pyplot: a server keeps no global figure state (matplotlib's advice
    for web servers); the figure is freed with its last reference."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kw)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _empty(title: str, message: str) -> bytes:
    fig, ax = _subplots(figsize=(6, 2.2))
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.45, message, ha="center", va="center", fontsize=11, color="0.35", transform=ax.transAxes)
    return _png(fig)


def likert_spread_png(spreads: Sequence[Mapping[str, Any]]) -> bytes:
    """Histogram of the max-min score spread per item, one panel per Likert attribute (RichHF Fig. 4).

    ``spreads``: ``[{"key", "points", "counts": {spread: n_items}}]``, spread in raw scale points.
    """
    title = "Annotator agreement on Likert scores (max − min spread per item)"
    spreads = [s for s in spreads if sum(s["counts"].values())]
    if not spreads:
        return _empty(title, "No item has two or more Likert answers yet.")
    n = len(spreads)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = _subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False, sharey=True)
    for ax, spread in zip(axes.flat, spreads):
        points = int(spread["points"] or 5)
        xs = np.arange(points)
        counts = np.array([spread["counts"].get(int(x), 0) for x in xs], dtype=float)
        total = counts.sum()
        shares = 100.0 * counts / total
        ax.bar(xs, shares, width=0.75, color="#4c72b0", edgecolor="#2a4a80")
        for x, share in zip(xs, shares):
            if share > 0:
                ax.text(x, share + 1.5, f"{share:.0f}%", ha="center", va="bottom", fontsize=8)
        good = shares[: min(2, points)].sum()
        ax.set_title(f"{spread['key']} (n={int(total)}; spread ≤ 1: {good:.0f}%)", fontsize=9.5)
        ax.set_xticks(xs)
        ax.set_xlabel(f"max − min score (points of {points})")
        ax.set_ylim(0, 110)
        ax.grid(axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of items (%)")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11.5)
    fig.tight_layout()
    return _png(fig)


def sxs_tallies_png(tallies: Sequence[Mapping[str, Any]]) -> bytes:
    """Side-by-side answers per choice, with the unsure share (Collins Table 1).

    ``tallies``: ``[{"key", "counts": {choice: n}}]``.
    """
    title = "Side-by-side judgements"
    tallies = [t for t in tallies if sum(t["counts"].values())]
    if not tallies:
        return _empty(title, "No side-by-side answers yet.")
    n = len(tallies)
    fig, axes = _subplots(1, n, figsize=(5.2 * n, 3.2), squeeze=False)
    for ax, tally in zip(axes.flat, tallies):
        counts = tally["counts"]
        choices = [c for c in SXS_ORDER if c in counts] + sorted(c for c in counts if c not in SXS_ORDER)
        values = np.array([counts[c] for c in choices], dtype=float)
        total = values.sum()
        colours = ["#b0b0b0" if c == "unsure" else ("#dd8452" if c in ("A=B",) else "#4c72b0") for c in choices]
        ax.bar(range(len(choices)), values, color=colours, edgecolor="0.25", linewidth=0.6)
        for x, v in enumerate(values):
            ax.text(x, v, f"{100 * v / total:.0f}%", ha="center", va="bottom", fontsize=8)
        unsure = 100.0 * counts.get("unsure", 0) / total
        ax.set_title(f"{tally['key']} (n={int(total)}; unsure: {unsure:.1f}%)", fontsize=9.5)
        ax.set_xticks(range(len(choices)), choices)
        ax.set_xlabel("answer (sides as shown to the annotator)")
        ax.set_ylabel("answers")
        ax.set_ylim(0, values.max() * 1.18)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=11.5)
    fig.tight_layout()
    return _png(fig)


HEAT_COLOURMAPS = {"artifact": "YlOrRd", "misalignment": "YlGnBu"}


def heatmap_overlay_png(heat: np.ndarray, label: str) -> bytes:
    """A consolidated heatmap as an RGBA PNG to lay over its image.

    Colour from a sequential colour map per label (yellow where few annotators
    marked, dark red / dark blue where all did), so the heat stays readable on
    any image colour; transparent where nobody marked, more opaque with heat.
    """
    from PIL import Image as PILImage

    heat = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    cmap = matplotlib.colormaps[HEAT_COLOURMAPS.get(label, "YlOrBr")]
    rgba = cmap(0.3 + 0.7 * heat)  # skip the near-white start of the map
    rgba[..., 3] = np.where(heat > 0, 0.35 + 0.45 * heat, 0.0)
    buffer = io.BytesIO()
    PILImage.fromarray(np.round(rgba * 255).astype(np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


PLOTS = {
    "likert_spread": likert_spread_png,
    "sxs_tallies": sxs_tallies_png,
}
