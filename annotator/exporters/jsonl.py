"""``jsonl``: items.jsonl, groups.jsonl and responses.jsonl, one JSON object per line."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotator.exporters.base import Exporter, JsonlFile
from annotator.exporters.registry import register

FILES = {"items": "items.jsonl", "groups": "groups.jsonl", "responses": "responses.jsonl"}


@register
class JsonlExporter(Exporter):
    name = "jsonl"
    streams = ("items", "groups", "responses")

    def open(self) -> None:
        self.files = {stream: JsonlFile(self.ctx.out_dir / name) for stream, name in FILES.items()}

    def write(self, stream: str, records: Sequence[Any]) -> None:
        if stream == "items":
            records = [row.record for row in records]
        self.files[stream].write_all(records)

    def close(self) -> dict[str, int]:
        for handle in self.files.values():
            handle.close()
        return {f"{stream}_jsonl": handle.count for stream, handle in self.files.items()}
