"""What every export format shares: the context, the exporter contract, byte-stable writers.

An export reads each *stream* (items, groups, responses) once, in id order,
in chunks; every exporter that consumes a stream gets each chunk and writes it
out at once, so memory holds one chunk, never the campaign.

Byte-identical re-exports depend on three habits kept here: JSON with sorted
keys and fixed separators, no wall-clock time in any file, and rows ordered by
database id.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

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


def json_line(record: dict[str, Any]) -> str:
    try:
        # NaN is rare: refuse it fast and clean only the records that hold one.
        text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(json_clean(record), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text + "\n"


def json_document(value: Any) -> str:
    return json.dumps(json_clean(value), sort_keys=True, ensure_ascii=False, indent=2) + "\n"


class JsonlFile:
    """A JSON Lines file written record by record."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self.count = 0

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self._fh.write(json_line(record))
            self.count += 1

    def close(self) -> None:
        self._fh.close()


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


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
