"""``parquet``: items.parquet, the items.jsonl content flattened into typed columns.

Written with pyarrow's ParquetWriter in row groups of ``ROW_GROUP_ROWS``
items (buffered, so the file does not depend on the read chunk size), with
a schema fixed by the campaign's attributes (see ``flatten.py``): item
columns, then ``<key>.<field>`` for every item attribute and every prompt
attribute (keys are unique within a campaign). Heatmap columns hold the PNG
paths of items.jsonl. ``meta`` is the item's meta object as JSON text.
Loads with ``pyarrow.parquet.read_table``, ``pandas.read_parquet`` and
``datasets.load_dataset("parquet", data_files=...)``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from annotator.exporters.base import Exporter
from annotator.exporters.flatten import BOOL, FLOAT, INT32, INT64, INTS, STRING, STRINGS, attribute_columns, attribute_row
from annotator.exporters.records import ItemRow
from annotator.exporters.registry import register

ARROW_TYPES = {BOOL: pa.bool_(), INT32: pa.int32(), INT64: pa.int64(), FLOAT: pa.float64(), STRING: pa.string(),
               STRINGS: pa.list_(pa.string()), INTS: pa.list_(pa.int32())}
ROW_GROUP_ROWS = 5000
ITEM_COLUMNS = [("external_id", STRING), ("split", STRING), ("image", STRING), ("sha256", STRING),
                ("width", INT32), ("height", INT32), ("generator", STRING), ("seed", INT64), ("prompt", STRING),
                ("prompt_tokens", STRINGS), ("prompt_category", STRING), ("meta", STRING)]


@register
class ParquetExporter(Exporter):
    name = "parquet"
    streams = ("items",)

    def open(self) -> None:
        # Per attribute: its columns, and where an item record keeps its entry.
        self.parts = [(attribute, attribute_columns(attribute), where)
                      for target_type, where in (("item", "consolidated"), ("prompt", "prompt_consolidated"))
                      for attribute in self.ctx.attributes_for(target_type)]
        columns = list(ITEM_COLUMNS) + [column for _, part, _ in self.parts for column in part]
        self.schema = pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in columns])
        self.writer = pq.ParquetWriter(self.ctx.out_dir / "items.parquet", self.schema, compression="zstd")
        self.row_group_rows = int(self.ctx.extra.get("row_group_rows", ROW_GROUP_ROWS))
        self.pending: list[dict] = []
        self.count = 0

    def _flat(self, row: ItemRow) -> dict:
        record = row.record
        flat = {name: record[name] for name, _ in ITEM_COLUMNS if name != "meta"}
        flat["meta"] = json.dumps(record["meta"], sort_keys=True, ensure_ascii=False)
        for attribute, columns, where in self.parts:
            flat.update(attribute_row(attribute, record[where].get(attribute["key"]), columns))
        # NaN is not a value Arrow readers expect for "undefined": null, as in items.jsonl.
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in flat.items()}

    def _flush(self) -> None:
        rows, self.pending = self.pending[:self.row_group_rows], self.pending[self.row_group_rows:]
        table = pa.Table.from_pydict({name: [row[name] for row in rows] for name in self.schema.names},
                                     schema=self.schema)
        self.writer.write_table(table, row_group_size=len(rows))
        self.count += len(rows)

    def write(self, stream: str, records: Sequence[ItemRow]) -> None:
        self.pending.extend(self._flat(row) for row in records)
        while len(self.pending) >= self.row_group_rows:
            self._flush()

    def close(self) -> dict[str, int]:
        if self.pending:
            self._flush()
        self.writer.close()
        return {"items_parquet": self.count}
