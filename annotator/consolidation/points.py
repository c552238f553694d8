"""Points on the image -> per-label heatmaps (RichHF §3.1-3.2).

Each point is a disk of radius ``radius_frac`` x image height. One
annotator's disks are united into a 0/1 mask per label; the heatmap is the
mean of the annotators' masks, annotators who marked nothing counting as
empty masks. Maps live on the image's pixel grid with the long side capped
at 512 (same aspect), the radius scaled with it.

Pixel (row i, column j) covers [j, j+1) x [i, i+1) of the grid; it is inside
a disk when its centre (j + 0.5, i + 0.5) lies within the radius (boundary
included) of the point (x * width, y * height).

Stored maps are 8-bit PNGs: ``png = round(heat * 255)``, read back as
``png / 255`` (so 0.5 is stored as 128 and reads as 0.50196).
"""
from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from annotator import agreement
from annotator.consolidation.base import Answer, Result, Spec, Unit, is_skipped, mean_or_none

DEFAULT_LABEL = "point"


def grid_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(grid width, grid height): the image size with the long side capped at ``max_side``, same aspect."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def radius_px(spec: Spec) -> float:
    _, grid_h = grid_size(spec.width, spec.height, spec.max_side)
    return spec.radius_frac * grid_h


def labels_of(spec: Spec, answers: Sequence[Answer]) -> list[str]:
    if spec.options:
        return list(spec.options)
    seen = sorted({p.get("label") for a in answers for p in a.get("points") or [] if p.get("label")})
    return seen or [DEFAULT_LABEL]


def disk_mask(points: Sequence[tuple[float, float]], shape: tuple[int, int], radius: float) -> np.ndarray:
    """Union of disks around normalised (x, y) points on a (height, width) grid.

    The loop is over points; each disk is drawn by broadcasting over its
    bounding box only, so the work is proportional to the disk area.
    """
    h, w = shape
    mask = np.zeros((h, w), dtype=bool)
    r2 = radius * radius
    for x, y in points:
        cx, cy = x * w, y * h
        # Pixel centres j + 0.5 within the radius: j in [cx - r - 0.5, cx + r - 0.5].
        j0, j1 = max(0, math.ceil(cx - radius - 0.5)), min(w - 1, math.floor(cx + radius - 0.5))
        i0, i1 = max(0, math.ceil(cy - radius - 0.5)), min(h - 1, math.floor(cy + radius - 0.5))
        if j0 > j1 or i0 > i1:
            continue
        dx2 = (np.arange(j0, j1 + 1) + 0.5 - cx) ** 2
        dy2 = (np.arange(i0, i1 + 1) + 0.5 - cy) ** 2
        mask[i0:i1 + 1, j0:j1 + 1] |= dy2[:, None] + dx2[None, :] <= r2
    return mask


def answer_masks(answer: Answer, labels: Sequence[str], shape: tuple[int, int], radius: float) -> dict[str, np.ndarray]:
    by_label: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    for point in answer.get("points") or []:
        label = point.get("label") or labels[0]
        if label in by_label:
            by_label[label].append((float(point["x"]), float(point["y"])))
    return {label: disk_mask(pts, shape, radius) for label, pts in by_label.items()}


def _require_size(spec: Spec) -> None:
    if not spec.width or not spec.height:
        raise ValueError("points need the image size (Spec.width, Spec.height)")


class PointsConsolidator:
    kind = "points"

    def masks(self, answers: Sequence[Answer], spec: Spec) -> tuple[list[str], dict[str, np.ndarray]]:
        """Per label, the (annotators x h x w) stack of the answered (not skipped) annotators' masks."""
        _require_size(spec)
        w, h = grid_size(spec.width, spec.height, spec.max_side)
        radius = radius_px(spec)
        answered = [a for a in answers if not is_skipped(a)]
        labels = labels_of(spec, answered)
        per_answer = [answer_masks(a, labels, (h, w), radius) for a in answered]
        stacks = {label: (np.stack([m[label] for m in per_answer]) if per_answer
                          else np.zeros((0, h, w), dtype=bool)) for label in labels}
        return labels, stacks

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        labels, stacks = self.masks(answers, spec)
        w, h = grid_size(spec.width, spec.height, spec.max_side)
        answered = [a for a in answers if not is_skipped(a)]
        n = len(answered)
        marked_any = [bool(a.get("points")) for a in answered]
        value_labels: dict[str, Any] = {}
        heatmaps: dict[str, np.ndarray] = {}
        ious = []
        for label in labels:
            stack = stacks[label]
            heat = stack.mean(axis=0) if n else np.zeros((h, w))
            heatmaps[label] = heat
            n_marked = int(stack.reshape(n, -1).any(axis=1).sum()) if n else 0
            pair_ious = agreement.pairwise_iou(stack.reshape(n, -1)) if n >= 2 else np.empty(0)
            # Two annotators who both marked nothing agree perfectly (identical empty masks);
            # ``iou_marked`` leaves those pairs out, for the regions people did mark.
            label_iou = float(np.nan_to_num(pair_ious, nan=1.0).mean()) if len(pair_ious) else None
            marked_pairs = pair_ious[~np.isnan(pair_ious)]
            ious.append(label_iou)
            value_labels[label] = {
                "path": None,
                "share": n_marked / n if n else None,
                "n_marked": n_marked,
                "max": float(heat.max()),
                "iou": label_iou,
                "iou_marked": float(marked_pairs.mean()) if len(marked_pairs) else None,
                "n_pairs": int(len(pair_ious)),
            }
        return Result(
            value={"width": w, "height": h, "radius_px": radius_px(spec), "n_annotators": n,
                   "heatmaps": value_labels},
            # Share of annotators who marked anything: "has a flaw" as a score in [0, 1].
            score=(sum(marked_any) / n) if n else None,
            agreement=mean_or_none(ious),
            n_responses=len(answers),
            n_skipped=len(answers) - n,
            heatmaps=heatmaps,
        )

    def reference(self, result: Result, spec: Spec) -> dict[str, np.ndarray] | None:
        if result.n_responses == result.n_skipped:
            return None
        # The consensus region: pixels more than half of the annotators covered.
        return {label: heat > 0.5 for label, heat in result.heatmaps.items()}

    def compare(self, answer: Answer, reference: Any, spec: Spec) -> dict[str, float] | None:
        if reference is None or is_skipped(answer):
            return None
        labels = list(reference)
        w, h = grid_size(spec.width, spec.height, spec.max_side)
        mine = answer_masks(answer, labels, (h, w), radius_px(spec))
        return {"agreement": float(np.mean([agreement.iou(mine[label], reference[label]) for label in labels]))}

    def campaign_agreement(self, units: Sequence[Unit], *, overlap: int) -> dict[str, Any]:
        return self.campaign_agreement_from_values([self.consolidate(u.answers, u.spec).value for u in units])

    def campaign_agreement_from_values(self, values: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Campaign agreement from stored consolidated values (their per-target IoUs), no pixel work."""
        per_label: dict[str, dict[str, list]] = {}
        for value in values:
            for label, info in (value.get("heatmaps") or {}).items():
                acc = per_label.setdefault(label, {"iou": [], "iou_marked": [], "share": [], "max": []})
                for key in acc:
                    acc[key].append(info.get(key))
        labels = {
            label: {
                # Mean over targets of the mean pairwise IoU of annotators' disk masks.
                "mean_iou": mean_or_none(acc["iou"]),
                "mean_iou_marked": mean_or_none(acc["iou_marked"]),
                "marked_share": mean_or_none(acc["share"]),
                "empty_share": (float(np.mean([m == 0 for m in acc["max"] if m is not None]))
                                if acc["max"] else None),
            }
            for label, acc in per_label.items()
        }
        return {
            "kind": self.kind,
            "n_targets": len(values),
            "n_responses": int(sum(v.get("n_annotators", 0) for v in values)),
            "labels": labels,
            "mean_iou": mean_or_none([v["mean_iou"] for v in labels.values()]),
        }


def heatmap_to_png(heat: np.ndarray, *, compress_level: int = 1) -> bytes:
    """8-bit greyscale PNG of a [0, 1] heatmap (png = round(heat * 255)).

    Level 1 zlib: heatmaps are mostly zeros and compress well even at the
    fastest level, and encoding dominates a campaign's consolidation time.
    """
    quantised = np.rint(np.clip(heat, 0.0, 1.0) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(quantised).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def heatmap_from_png(data: bytes | str | os.PathLike) -> np.ndarray:
    """A stored heatmap as float32 in [0, 1] (png / 255)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(source) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of one."""
    directory = os.path.dirname(os.fspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def points_job(answers: Sequence[Answer], spec: Spec, paths: dict[str, str], root: str) -> Result:
    """Consolidate one (target, points attribute) and write its PNGs under ``root``.

    Runs in a worker process during a campaign-wide recompute: only the
    small JSON result travels back, never the maps.
    """
    result = PointsConsolidator().consolidate(answers, spec)
    for label, heat in result.heatmaps.items():
        rel = paths[label]
        write_atomic(os.path.join(root, rel), heatmap_to_png(heat))
        result.value["heatmaps"][label]["path"] = rel
    result.heatmaps = {}
    return result


def points_batch(jobs: Sequence[tuple[Sequence[Answer], Spec, dict[str, str], str]]) -> list[Result]:
    """``points_job`` over a batch: one round trip to a worker process per batch, not per map."""
    return [points_job(*job) for job in jobs]
