"""Points on the image -> per-label heatmaps (RichHF §3.1-3.2).

Each point is a disk of radius ``radius_frac`` x image height. One
annotator's disks are united into a 0/1 mask per label; the heatmap is the
mean of the annotators' masks, annotators who marked nothing counting as
empty masks. Maps live on the image's pixel grid with the long side capped
at 512 (same aspect), the radius scaled with it.

Pixel (row i, column j) covers [j, j+1) x [i, i+1) of the grid; it is inside
a disk when its centre (j + 0.5, i + 0.5) lies within the radius (boundary
included) of the point (x * width, y * height).

Stored maps are 8-bit PNGs (see ``png_encode``): ``png = round(heat * 255)``,
read back as ``png / 255`` (so 0.5 is stored as 128 and reads as 0.50196).
"""
from __future__ import annotations

import io
import math
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
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
    """The disk radius on the grid: ``radius_frac`` x image height, scaled as the image is."""
    return spec.radius_frac * spec.height * min(1.0, spec.max_side / max(spec.width, spec.height))


def labels_of(spec: Spec, answers: Sequence[Answer]) -> list[str]:
    if spec.options:
        return list(spec.options)
    seen = sorted({p.get("label") for a in answers for p in a.get("points") or [] if p.get("label")})
    return seen or [DEFAULT_LABEL]


def _disk_box(cx: float, cy: float, radius: float, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Inclusive (i0, i1, j0, j1) of the pixels a disk may cover, one pixel wider than needed.

    Pixel centres j + 0.5 within the radius have j in [cx - r - 0.5, cx + r - 0.5]; the box
    is widened so that rounding can never leave out a pixel the exact test below keeps.
    """
    h, w = shape
    j0, j1 = max(0, math.floor(cx - radius - 0.5)), min(w - 1, math.ceil(cx + radius - 0.5))
    i0, i1 = max(0, math.floor(cy - radius - 0.5)), min(h - 1, math.ceil(cy + radius - 0.5))
    return None if j0 > j1 or i0 > i1 else (i0, i1, j0, j1)


def _draw(mask: np.ndarray, centres: Sequence[tuple[float, float]], radius: float, shape: tuple[int, int],
          origin: tuple[int, int] = (0, 0)) -> None:
    """Set the pixels of ``mask`` (a window of the grid starting at ``origin``) inside any disk.

    The loop is over points; each disk is drawn by broadcasting over its
    bounding box only, so the work is proportional to the disk area.
    """
    oi, oj = origin
    r2 = radius * radius
    for cx, cy in centres:
        box = _disk_box(cx, cy, radius, shape)
        if box is None:
            continue
        i0, i1, j0, j1 = box
        dx2 = (np.arange(j0, j1 + 1) + 0.5 - cx) ** 2
        dy2 = (np.arange(i0, i1 + 1) + 0.5 - cy) ** 2
        mask[i0 - oi:i1 + 1 - oi, j0 - oj:j1 + 1 - oj] |= dy2[:, None] + dx2[None, :] <= r2


def disk_mask(points: Sequence[tuple[float, float]], shape: tuple[int, int], radius: float) -> np.ndarray:
    """Union of disks around normalised (x, y) points on a (height, width) grid."""
    h, w = shape
    mask = np.zeros((h, w), dtype=bool)
    _draw(mask, [(x * w, y * h) for x, y in points], radius, shape)
    return mask


@dataclass
class LabelMaps:
    """One label's annotator masks, cropped to the box holding every disk (all zero outside it).

    Most of a heatmap is empty: counting, IoU and quantising inside the box
    keeps the work proportional to the marked area, not the image.
    """

    shape: tuple[int, int]
    box: tuple[int, int, int, int] | None   # inclusive (i0, i1, j0, j1); None when nobody marked
    masks: np.ndarray                        # (annotators, box height, box width) bool
    marked: list[bool]                       # per annotator: placed at least one point

    @cached_property
    def counts(self) -> np.ndarray:
        """Per pixel of the box, how many annotators' disks cover it."""
        return self.masks.sum(axis=0, dtype=np.uint16)

    def full(self, window: np.ndarray, dtype) -> np.ndarray:
        out = np.zeros(self.shape, dtype=dtype)
        if self.box is not None:
            i0, i1, j0, j1 = self.box
            out[i0:i1 + 1, j0:j1 + 1] = window
        return out


def label_maps(centres: Sequence[Sequence[tuple[float, float]]], radius: float, shape: tuple[int, int]) -> LabelMaps:
    """Masks of each annotator's disks (pixel-coordinate centres per annotator) inside their common box."""
    boxes = [b for per_annotator in centres for cx, cy in per_annotator
             if (b := _disk_box(cx, cy, radius, shape)) is not None]
    marked = [bool(c) for c in centres]
    if not boxes:
        return LabelMaps(shape, None, np.zeros((len(centres), 0, 0), dtype=bool), marked)
    i0, j0 = min(b[0] for b in boxes), min(b[2] for b in boxes)
    i1, j1 = max(b[1] for b in boxes), max(b[3] for b in boxes)
    masks = np.zeros((len(centres), i1 - i0 + 1, j1 - j0 + 1), dtype=bool)
    for mask, per_annotator in zip(masks, centres):
        _draw(mask, per_annotator, radius, shape, origin=(i0, j0))
    return LabelMaps(shape, (i0, i1, j0, j1), masks, marked)


def answer_masks(answer: Answer, labels: Sequence[str], shape: tuple[int, int], radius: float) -> dict[str, np.ndarray]:
    """One answer's full-size mask per label."""
    masks = {}
    for label, (centres,) in _centres([answer], labels, shape).items():
        masks[label] = np.zeros(shape, dtype=bool)
        _draw(masks[label], centres, radius, shape)
    return masks


def _centres(answers: Sequence[Answer], labels: Sequence[str],
             shape: tuple[int, int]) -> dict[str, list[list[tuple[float, float]]]]:
    """Per label, per answer, the points in pixel coordinates of the grid."""
    h, w = shape
    out: dict[str, list[list[tuple[float, float]]]] = {label: [[] for _ in answers] for label in labels}
    for k, answer in enumerate(answers):
        for point in answer.get("points") or []:
            label = point.get("label") or labels[0]
            if label in out:
                out[label][k].append((float(point["x"]) * w, float(point["y"]) * h))
    return out


def _require_size(spec: Spec) -> None:
    if not spec.width or not spec.height:
        raise ValueError("points need the image size (Spec.width, Spec.height)")


def quantise_counts(counts: np.ndarray, n: int) -> np.ndarray:
    """``round(heat * 255)`` of heat = counts / n, through a table of the n + 1 possible values.

    The table holds exactly the floats ``k / n`` a mean of n masks gives, so
    the bytes equal ``heatmap_to_png(counts / n)``'s.
    """
    table = np.rint(np.clip(np.arange(n + 1) / n, 0.0, 1.0) * 255).astype(np.uint8)
    return table.take(counts)  # take: about twice as fast as table[counts] on a full map


class PointsConsolidator:
    kind = "points"

    def label_maps(self, answers: Sequence[Answer], spec: Spec) -> tuple[int, dict[str, LabelMaps]]:
        """(answered annotators, per label their cropped disk masks); skipped answers left out."""
        _require_size(spec)
        w, h = grid_size(spec.width, spec.height, spec.max_side)
        answered = [a for a in answers if not is_skipped(a)]
        labels = labels_of(spec, answered)
        radius = radius_px(spec)
        return len(answered), {label: label_maps(centres, radius, (h, w))
                               for label, centres in _centres(answered, labels, (h, w)).items()}

    def consolidate(self, answers: Sequence[Answer], spec: Spec) -> Result:
        result, maps = self.consolidate_maps(answers, spec)
        n = result.value["n_annotators"]
        result.heatmaps = {label: m.full(m.counts / n if n else 0.0, np.float64)
                           for label, m in maps.items()}
        return result

    def consolidate_maps(self, answers: Sequence[Answer], spec: Spec) -> tuple[Result, dict[str, LabelMaps]]:
        """The consolidated value without the full-size maps, and the cropped masks they come from."""
        n, maps = self.label_maps(answers, spec)
        w, h = grid_size(spec.width, spec.height, spec.max_side)
        value_labels: dict[str, Any] = {}
        ious = []
        marked_any = [False] * n
        for label, m in maps.items():
            marked_any = [a or b for a, b in zip(marked_any, m.marked)]
            n_marked = sum(m.marked)
            flat = m.masks.reshape(n, -1)
            pair_ious = agreement.pairwise_iou(flat).tolist() if n >= 2 else []
            # Two annotators who both marked nothing agree perfectly (identical empty masks);
            # ``iou_marked`` leaves those pairs out, for the regions people did mark.
            label_iou = sum(1.0 if math.isnan(v) else v for v in pair_ious) / len(pair_ious) if pair_ious else None
            marked_pairs = [v for v in pair_ious if not math.isnan(v)]
            ious.append(label_iou)
            top = int(m.counts.max()) if n and m.masks.size else 0
            value_labels[label] = {
                "path": None,
                "share": n_marked / n if n else None,
                "n_marked": n_marked,
                "max": top / n if n else 0.0,
                "iou": label_iou,
                "iou_marked": sum(marked_pairs) / len(marked_pairs) if marked_pairs else None,
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
        ), maps

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

    def answer_agreements(self, answers: Sequence[Answer], spec: Spec) -> list[dict[str, float] | None]:
        """Each answer's ``compare`` with the consensus, from the cropped masks drawn once.

        Same numbers as ``compare(answer, reference(consolidate(answers)))``
        (a pixel is in the consensus when 2 x count > n, i.e. heat > 0.5),
        without drawing every answer's disks a second time at full size.
        """
        n, maps = self.label_maps(answers, spec)
        answered = [i for i, a in enumerate(answers) if not is_skipped(a)]
        out: list[dict[str, float] | None] = [None] * len(answers)
        if not n:
            return out
        totals = [0.0] * n
        for m in maps.values():
            consensus = 2 * m.counts > n if m.box is not None else None
            for k in range(n):
                totals[k] += 1.0 if consensus is None else agreement.iou(m.masks[k], consensus)
        for k, index in enumerate(answered):
            out[index] = {"agreement": totals[k] / len(maps)}
        return out

    def campaign_agreement(self, units: Iterable[Unit], *, overlap: int) -> dict[str, Any]:
        return self.campaign_agreement_from_values(self.consolidate(u.answers, u.spec).value for u in units)

    def campaign_agreement_from_values(self, values: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Campaign agreement from consolidated values (their per-target IoUs), no pixel work; one pass."""
        per_label: dict[str, dict[str, list]] = {}
        n_targets = n_responses = 0
        for value in values:
            n_targets += 1
            n_responses += value.get("n_annotators", 0)
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
            "n_targets": n_targets,
            "n_responses": int(n_responses),
            "labels": labels,
            "mean_iou": mean_or_none([v["mean_iou"] for v in labels.values()]),
        }


# Identity grey palette: index v is the colour (v, v, v).
_GREY_PALETTE = bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))
_GREY_PALETTE_LIST = list(_GREY_PALETTE)


def png_encode(quantised: np.ndarray, *, compress_level: int = 1) -> bytes:
    """An 8-bit PNG of a uint8 array, pixel index = grey level = the array's value.

    Written as a palette image with the identity grey palette rather than as
    mode "L": the values, the look and ``Image.open(...).convert("L")`` are
    the same, but Pillow skips PNG row filtering for palette images, which
    makes encoding, the bulk of a campaign recompute, ~40% faster. Level-1
    zlib with the run-length strategy suits maps that are mostly zero.
    """
    quantised = np.ascontiguousarray(quantised, dtype=np.uint8)
    image = Image.frombytes("P", (quantised.shape[1], quantised.shape[0]), quantised.tobytes())
    image.putpalette(_GREY_PALETTE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level, compress_type=zlib.Z_RLE)
    return buffer.getvalue()


def heatmap_to_png(heat: np.ndarray, *, compress_level: int = 1) -> bytes:
    """8-bit greyscale PNG of a [0, 1] heatmap (png = round(heat * 255))."""
    return png_encode(np.rint(np.clip(heat, 0.0, 1.0) * 255).astype(np.uint8), compress_level=compress_level)


def heatmap_u8_from_png(data: bytes | str | os.PathLike) -> np.ndarray:
    """A stored heatmap's pixels as uint8 (255 = every annotator's disks cover the pixel)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(source) as image:
        if image.mode == "L" or (image.mode == "P" and image.getpalette("RGB") == _GREY_PALETTE_LIST):
            # The pixels already are the grey levels (png_encode's identity palette): no conversion pass.
            return np.asarray(image, dtype=np.uint8)
        return np.asarray(image.convert("L"), dtype=np.uint8)


def heatmap_from_png(data: bytes | str | os.PathLike) -> np.ndarray:
    """A stored heatmap as float32 in [0, 1] (png / 255)."""
    return heatmap_u8_from_png(data).astype(np.float32) / 255.0


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of one."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Writers of one path are serialised by the target lock; the pid keeps processes apart.
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_if_changed(path: str | os.PathLike, data: bytes) -> bool:
    """``write_atomic`` unless the file already holds exactly ``data``; returns whether it wrote.

    A recompute of unchanged answers then leaves the maps' files alone:
    reading a few KB is cheaper than creating a file and freeing the old one
    (on ext4 with online discard, replacing tens of thousands of files slows
    file creation for minutes afterwards). Exports hard-linked to the old
    files stay valid either way: a changed map is replaced, never rewritten.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read(len(data) + 1) == data:
                return False
    except FileNotFoundError:
        pass
    write_atomic(path, data)
    return True


def points_job(answers: Sequence[Answer], spec: Spec, paths: dict[str, str], root: str) -> Result:
    """Consolidate one (target, points attribute) and write its PNGs under ``root``.

    Quantises the cropped annotator counts straight to bytes, never building
    float maps; in a campaign-wide recompute this runs in a worker process
    and only the small JSON result travels back.
    """
    result, maps = PointsConsolidator().consolidate_maps(answers, spec)
    n = result.value["n_annotators"]
    for label, m in maps.items():
        window = quantise_counts(m.counts, n) if n and m.box is not None else 0
        rel = paths[label]
        write_if_changed(os.path.join(root, rel), png_encode(m.full(window, np.uint8)))
        result.value["heatmaps"][label]["path"] = rel
    return result


def points_batch(jobs: Sequence[tuple[Sequence[Answer], Spec, dict[str, str], str]]) -> list[Result]:
    """``points_job`` over a batch: one round trip to a worker process per batch, not per map."""
    return [points_job(*job) for job in jobs]
