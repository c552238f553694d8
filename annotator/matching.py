"""Does an answer match a reference answer? (pure Python + numpy/scipy, no Django)

Used for gold scoring (ImageReward A.2: annotators are tested against the
researchers' answers before they are employed) and for an assignment's
agreement with the consensus, which orders the inspectors' review queue.

Rules per attribute kind (a response *matches* the gold answer when):

- binary, category: the same answer (an "unsure"/skip only matches a skip);
- likert: within one scale point (RichHF §3.4 counts a max-min spread of
  at most 1 point as good agreement);
- choice: Jaccard similarity of the ticked options >= 0.5 ("none" = no option);
- points: IoU of the disk masks >= 0.3, or both marked nothing;
- keywords: F1 of the flagged token indices >= 0.5 (both empty = 1);
- ranking: Kendall's tau-b of the level indices >= 0.5;
- sxs: the same direction (the same image preferred, both "equal" or both
  "unsure"), sides mapped back to image ids.

Each ``*_similarity`` returns a float in [0, 1] (or for ranking, tau in
[-1, 1]); ``answer_matches`` applies the thresholds above.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import kendalltau

LIKERT_TOLERANCE = 1
CHOICE_JACCARD_MIN = 0.5
POINTS_IOU_MIN = 0.3
KEYWORDS_F1_MIN = 0.5
RANKING_TAU_MIN = 0.5
# Long side of the grid the disk masks are drawn on: IoU at this resolution
# is within a percent of the full-size value for disks of 1/20 image height.
MASK_LONG_SIDE = 128


@dataclass(frozen=True)
class MatchContext:
    """What a comparison needs beyond the two values."""

    image_width: int = 1
    image_height: int = 1
    radius_frac: float = 0.05
    image_a: int | None = None  # a pair's stored sides, for sxs values without "a"/"b"
    image_b: int | None = None


# ---------------------------------------------------------------- per kind
def _binary_answer(value: dict) -> Any:
    return "skipped" if value.get("skipped") else value.get("value")


def binary_similarity(value: dict, reference: dict, context: MatchContext | None = None) -> float:
    return float(_binary_answer(value) == _binary_answer(reference))


def category_similarity(value: dict, reference: dict, context: MatchContext | None = None) -> float:
    return float(value.get("value") == reference.get("value"))


def likert_distance(value: dict, reference: dict) -> float:
    return abs(float(value["value"]) - float(reference["value"]))


def _options(value: dict) -> set[str]:
    return {o for o in value.get("value") or [] if o != "none"}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def choice_similarity(value: dict, reference: dict, context: MatchContext | None = None) -> float:
    return jaccard(_options(value), _options(reference))


def keywords_f1(value: dict, reference: dict, context: MatchContext | None = None) -> float:
    predicted, truth = set(value.get("tokens") or []), set(reference.get("tokens") or [])
    if not predicted and not truth:
        return 1.0
    hits = len(predicted & truth)
    return 2.0 * hits / (len(predicted) + len(truth))


def mask_grid(width: int, height: int, long_side: int = MASK_LONG_SIDE) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def disk_mask(points: list[dict], *, width: int, height: int, radius_frac: float,
              label: str | None = None) -> np.ndarray:
    """Boolean mask of the union of disks (radius = radius_frac x image height), on a small grid."""
    gw, gh = mask_grid(width, height)
    pts = [p for p in points if label is None or p.get("label") == label]
    if not pts:
        return np.zeros((gh, gw), dtype=bool)
    xs = np.array([p["x"] for p in pts], dtype=np.float64) * gw
    ys = np.array([p["y"] for p in pts], dtype=np.float64) * gh
    radius = radius_frac * gh
    # Pixel centres; broadcasting over all points at once: (n, 1, 1) against (gh, gw).
    yy, xx = np.mgrid[0:gh, 0:gw] + 0.5
    d2 = (xx[None] - xs[:, None, None]) ** 2 + (yy[None] - ys[:, None, None]) ** 2
    return (d2 <= radius * radius).any(axis=0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(a, b).sum() / union)


def points_similarity(value: dict, reference: dict, context: MatchContext | None = None) -> float:
    """Mean IoU over the labels either answer uses; 1 when both marked nothing."""
    context = context or MatchContext()
    mine, theirs = value.get("points") or [], reference.get("points") or []
    labels = sorted({p.get("label") for p in mine} | {p.get("label") for p in theirs})
    if not labels:
        return 1.0
    scores = [
        iou(disk_mask(mine, width=context.image_width, height=context.image_height,
                      radius_frac=context.radius_frac, label=label),
            disk_mask(theirs, width=context.image_width, height=context.image_height,
                      radius_frac=context.radius_frac, label=label))
        for label in labels
    ]
    return float(np.mean(scores))


def ranking_levels(value: dict) -> dict[int, int]:
    return {int(image): level for level, images in enumerate(value.get("levels") or []) for image in images}


def ranking_tau(value: dict, reference: dict, context: MatchContext | None = None) -> float:
    """Kendall's tau-b between the two rankings' level indices (ties allowed)."""
    mine, theirs = ranking_levels(value), ranking_levels(reference)
    images = sorted(set(mine) & set(theirs))
    if len(images) < 2:
        return 0.0
    a = [mine[i] for i in images]
    b = [theirs[i] for i in images]
    if len(set(a)) == 1 and len(set(b)) == 1:
        return 1.0  # both put everything level: the same (empty) order
    tau = kendalltau(a, b).statistic
    return 0.0 if np.isnan(tau) else float(tau)


_SXS_DIRECTION = {
    "A>>B": "a", "A>B": "a", "A": "a",
    "B>>A": "b", "B>A": "b", "B": "b",
    "A=B": "equal", "unsure": "unsure",
}


def sxs_preference(value: dict, context: MatchContext | None = None) -> Any:
    """The preferred image id, or "equal" / "unsure" (sides mapped back to images)."""
    context = context or MatchContext()
    direction = _SXS_DIRECTION.get(value.get("choice"))
    if direction in ("a", "b"):
        side = value.get(direction, context.image_a if direction == "a" else context.image_b)
        return int(side) if side is not None else direction
    return direction


def sxs_similarity(value: dict, reference: dict, context: MatchContext | None = None) -> float:
    return float(sxs_preference(value, context) == sxs_preference(reference, context))


# ---------------------------------------------------------------- registry
SIMILARITY = {
    "binary": binary_similarity,
    "category": category_similarity,
    "choice": choice_similarity,
    "points": points_similarity,
    "keywords": keywords_f1,
    "ranking": ranking_tau,
    "sxs": sxs_similarity,
}

THRESHOLD = {
    "binary": 1.0,
    "category": 1.0,
    "choice": CHOICE_JACCARD_MIN,
    "points": POINTS_IOU_MIN,
    "keywords": KEYWORDS_F1_MIN,
    "ranking": RANKING_TAU_MIN,
    "sxs": 1.0,
}


def answer_matches(kind: str, value: dict, reference: dict, context: MatchContext | None = None) -> bool:
    """Whether ``value`` counts as the same answer as ``reference`` (see the module docstring)."""
    if kind == "likert":
        if "value" not in value or "value" not in reference:
            return False
        return likert_distance(value, reference) <= LIKERT_TOLERANCE
    if kind not in SIMILARITY:
        raise ValueError(f"no matching rule for attribute kind {kind!r}")
    return SIMILARITY[kind](value, reference, context) >= THRESHOLD[kind]
