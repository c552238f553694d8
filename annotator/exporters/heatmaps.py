"""``heatmaps``: a PNG per item and label, and the same maps as float arrays in NPZ shards.

* ``heatmaps/<label>/<external_id>.png``: the consolidated 8-bit map, copied
  byte for byte (``png / 255`` is the share of annotators whose disks cover
  the pixel; see ``annotator/consolidation/points.py``). The external id is
  percent-encoded into one path segment; a label two point attributes share
  becomes ``<key>.<label>``.
* ``heatmaps/heatmaps-00000.npz``, ``-00001``, ...: float32 arrays
  ``png / 255`` keyed ``<external_id>/<label>``, one shard per
  ``ITEMS_PER_SHARD`` items with heatmaps. Each array is appended to the open
  shard as it is read, so memory holds one map, whatever the campaign size.
* ``heatmaps/index.jsonl``: per map its external_id, label, PNG path and
  shard file and key, to find a map without opening every shard.

Zip members carry a fixed date so that re-exports are byte-identical.
"""
from __future__ import annotations

import shutil
import zipfile
from collections.abc import Sequence

import numpy as np

from annotator.consolidation.points import heatmap_from_png
from annotator.exporters.base import Exporter, JsonlFile
from annotator.exporters.records import ItemRow
from annotator.exporters.registry import register

ITEMS_PER_SHARD = 1000
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class NpzShardWriter:
    """An ``.npz`` (a zip of ``.npy`` members, as ``numpy.load`` reads it) written one array at a time."""

    def __init__(self, path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True)

    def add(self, key: str, array: np.ndarray) -> None:
        info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with self.zip.open(info, "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)

    def close(self) -> None:
        self.zip.close()


@register
class HeatmapsExporter(Exporter):
    name = "heatmaps"
    streams = ("items",)

    def open(self) -> None:
        self.dir = self.ctx.out_dir / "heatmaps"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index = JsonlFile(self.dir / "index.jsonl")
        self.per_shard = int(self.ctx.extra.get("items_per_shard", ITEMS_PER_SHARD))
        self.shard: NpzShardWriter | None = None
        self.n_shards = 0
        self.items_in_shard = 0
        self.count = 0

    def _shard(self) -> NpzShardWriter:
        if self.shard is None or self.items_in_shard >= self.per_shard:
            if self.shard is not None:
                self.shard.close()
            self.shard = NpzShardWriter(self.dir / f"heatmaps-{self.n_shards:05d}.npz")
            self.n_shards += 1
            self.items_in_shard = 0
        return self.shard

    def write(self, stream: str, records: Sequence[ItemRow]) -> None:
        media_root = self.ctx.media_root
        for row in records:
            if not row.heatmaps:
                continue
            shard = self._shard()
            self.items_in_shard += 1
            index = []
            for ref in row.heatmaps:
                source = media_root / ref.source
                target = self.ctx.out_dir / ref.path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                key = f"{ref.external_id}/{ref.name}"
                shard.add(key, heatmap_from_png(source))
                index.append({"external_id": ref.external_id, "label": ref.name, "png": ref.path,
                              "npz": f"heatmaps/{shard.path.name}", "key": key})
            self.index.write_all(index)
            self.count += len(index)

    def close(self) -> dict[str, int]:
        if self.shard is not None:
            self.shard.close()
        self.index.close()
        return {"heatmaps_png": self.count, "heatmaps_npz_shards": self.n_shards}
