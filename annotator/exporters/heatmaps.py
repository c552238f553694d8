"""``heatmaps``: a PNG per item and label, and the same maps as arrays in NPZ shards.

* ``heatmaps/<label>/<external_id>.png``: the consolidated 8-bit map, byte for
  byte: hard-linked where the export and MEDIA_ROOT share a file system (a
  recompute replaces heatmap files atomically, never in place, so the link
  keeps this snapshot's map), else copied (``png / 255`` is the share of annotators whose disks cover
  the pixel; see ``annotator/consolidation/points.py``). The external id is
  percent-encoded into one path segment; a label two point attributes share
  becomes ``<key>.<label>``.
* ``heatmaps/heatmaps-00000.npz``, ``-00001``, ...: uint8 arrays, the PNG's
  own pixels (divide by 255 for the float map; nothing is lost, the map was
  8-bit when consolidation stored it) keyed ``<external_id>/<label>``, one
  shard per ``ITEMS_PER_SHARD`` items with heatmaps (option
  ``items_per_shard``). Each array is appended to its shard as it is read, so
  memory holds one map per process whatever the campaign size. Decoding the
  PNGs and deflating the arrays is the expensive part of an export: full
  shards are written by a pool of processes (option ``workers``, default one
  per CPU, 0 = in this process), and option ``npz=False`` leaves the shards
  out (the PNGs hold the same values). uint8 rather than float32: a quarter
  of the bytes to deflate and to store, for the same values.
* ``heatmaps/index.jsonl``: per map its external_id, label, PNG path and
  (with shards) shard file and key, to find a map without opening every shard.

Zip members carry a fixed date so that re-exports are byte-identical.
"""
from __future__ import annotations

import io
import logging
import multiprocessing
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from annotator.consolidation.points import heatmap_u8_from_png
from annotator.exporters.base import Exporter, JsonlFile
from annotator.exporters.records import ItemRow
from annotator.exporters.registry import register

logger = logging.getLogger(__name__)

ITEMS_PER_SHARD = 1000
COMPRESS_LEVEL = 1
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class NpzShardWriter:
    """An ``.npz`` (a zip of ``.npy`` members, as ``numpy.load`` reads it) written one array at a time."""

    def __init__(self, path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL,
                                   allowZip64=True)

    def add(self, key: str, array: np.ndarray) -> None:
        info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
        info.external_attr = 0o644 << 16
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
        # writestr, not open(info, "w"): a ZipInfo handed to open() is deflated at zlib's default
        # level 6, ignoring the archive's compresslevel; level 1 costs half the CPU on these maps.
        self.zip.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)

    def close(self) -> None:
        self.zip.close()


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)


def npz_shard_write(path: str, members: Sequence[tuple[str, str]]) -> int:
    """Write one shard from ``(key, PNG path)`` pairs; runs in a pool worker or inline."""
    shard = NpzShardWriter(path)
    try:
        for key, source in members:
            shard.add(key, heatmap_u8_from_png(source))
    finally:
        shard.close()
    return len(members)


def _pool(workers: int | None):
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        # fork: the workers only read PNG files and write their shard, never the database.
        return multiprocessing.get_context("fork").Pool(workers)
    except (AssertionError, OSError) as exc:  # e.g. inside a daemonic Celery worker process
        logger.info("heatmap shards are written without a process pool: %s", exc)
        return None


@register
class HeatmapsExporter(Exporter):
    name = "heatmaps"
    streams = ("items",)

    def open(self) -> None:
        self.dir = self.ctx.out_dir / "heatmaps"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index = JsonlFile(self.dir / "index.jsonl")
        self.npz = bool(self.ctx.extra.get("npz", True))
        self.per_shard = int(self.ctx.extra.get("items_per_shard", ITEMS_PER_SHARD))
        self.workers = self.ctx.extra.get("workers")
        self.members: list[tuple[str, str]] = []   # the open shard's (key, PNG path)
        self.items_in_shard = 0
        self.n_shards = 0
        self.pool = None
        self.pending: list = []
        self.count = 0

    def _shard_path(self) -> Path:
        return self.dir / f"heatmaps-{self.n_shards:05d}.npz"

    def _shard_close(self) -> None:
        path, members = str(self._shard_path()), self.members
        self.n_shards += 1
        self.members, self.items_in_shard = [], 0
        if self.pool is None and self.n_shards == 1:
            # The first full shard: a pool pays off from here on (more shards may follow).
            self.pool = _pool(self.workers)
        if self.pool is not None:
            self.pending.append(self.pool.apply_async(npz_shard_write, (path, members)))
        else:
            npz_shard_write(path, members)

    def write(self, stream: str, records: Sequence[ItemRow]) -> None:
        media_root = self.ctx.media_root
        for row in records:
            if not row.heatmaps:
                continue
            if self.npz and self.items_in_shard >= self.per_shard:
                self._shard_close()
            self.items_in_shard += 1
            index = []
            for ref in row.heatmaps:
                source = media_root / ref.source
                target = self.ctx.out_dir / ref.path
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(source, target)
                entry = {"external_id": ref.external_id, "label": ref.name, "png": ref.path}
                if self.npz:
                    key = f"{ref.external_id}/{ref.name}"
                    self.members.append((key, str(source)))
                    entry.update(npz=f"heatmaps/{self._shard_path().name}", key=key)
                index.append(entry)
            self.index.write_all(index)
            self.count += len(index)

    def close(self) -> dict[str, int]:
        try:
            if self.members:
                # The last shard is written here, in parallel with the others still running.
                path, members = str(self._shard_path()), self.members
                self.n_shards += 1
                npz_shard_write(path, members)
            for result in self.pending:
                result.get()
        finally:
            if self.pool is not None:
                self.pool.close()
                self.pool.join()
            self.index.close()
        return {"heatmaps_png": self.count, "heatmaps_npz_shards": self.n_shards}
