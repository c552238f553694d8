"""What every export format shares: the context, the exporter contract, byte-stable writers.

An export reads each *stream* (items, groups, responses) once, in id order,
in chunks; every exporter that consumes a stream gets each chunk and writes it
out at once, so memory holds one chunk, never the campaign.

Byte-identical re-exports depend on three habits kept here: JSON with sorted
keys and fixed separators, no wall-clock time in any file, and rows ordered by
database id.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson

STREAMS = ("items", "groups", "responses")


@dataclass
class ExportContext:
    """Everything an exporter may need; built once per export by the service."""

    out_dir: Path
    campaign: dict[str, Any]
    # Attribute descriptions (key, kind, target_type, options, likert_points), in campaign order.
    attributes: list[dict[str, Any]]
    formats: tuple[str, ...]
    media_root: Path
    # Heatmap paths in records point inside the export when it writes heatmaps/, else into MEDIA_ROOT.
    heatmaps_in_export: bool = False
    chunk_size: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)

    def attributes_for(self, *target_types: str) -> list[dict[str, Any]]:
        return [a for a in self.attributes if a["target_type"] in target_types]


class Exporter:
    """One export format: opened once, fed chunks of the streams it names, closed once.

    ``close`` returns counts for the manifest. Files are written under
    ``ctx.out_dir``; the manifest lists and checksums every file found there.
    """

    name: ClassVar[str]
    streams: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx

    def open(self) -> None:  # pragma: no cover - default does nothing
        pass

    def write(self, stream: str, records: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> dict[str, int]:
        return {}


def json_clean(value: Any) -> Any:
    """NaN and infinities are not JSON: they become null (agreement of one annotator is undefined)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(v) for v in value]
    return value


#: orjson: sorted keys, non-string keys as strings, numpy scalars as numbers; NaN and infinities become
#: null as json_clean makes them. Several times faster than json.dumps on the 400,000 lines of a large export.
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def json_line(record: dict[str, Any]) -> str:
    return json_line_bytes(record).decode()


def json_line_bytes(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, option=_ORJSON | orjson.OPT_APPEND_NEWLINE)


def json_document(value: Any) -> str:
    return json.dumps(json_clean(value), sort_keys=True, ensure_ascii=False, indent=2) + "\n"


class JsonlFile:
    """A JSON Lines file written record by record."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] = path.open("wb")
        self.count = 0

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        lines = [json_line_bytes(record) for record in records]
        self._fh.write(b"".join(lines))
        self.count += len(lines)

    def close(self) -> None:
        self._fh.close()


def chunked(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Python 3.11 has no itertools.batched."""
    chunk: list[Any] = []
    for element in iterable:
        chunk.append(element)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


ProgressCallback = Callable[[int], None]
