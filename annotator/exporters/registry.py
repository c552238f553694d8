"""Export formats, a registry keyed by name (DESIGN §2: pluggable things are registries)."""
from __future__ import annotations

from annotator.errors import ApplicationError
from annotator.exporters.base import Exporter

EXPORTERS: dict[str, type[Exporter]] = {}


def register(cls: type[Exporter]) -> type[Exporter]:
    EXPORTERS[cls.name] = cls
    return cls


def exporter_names() -> list[str]:
    return sorted(EXPORTERS)


def formats_clean(formats: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Known format names, deduplicated, in registry order; none given means all."""
    if not formats:
        return tuple(exporter_names())
    unknown = sorted(set(formats) - set(EXPORTERS))
    if unknown:
        raise ApplicationError(
            f"Unknown export format {unknown[0]!r}; known: {', '.join(exporter_names())}.",
            field="formats", rule="known_format",
        )
    return tuple(name for name in exporter_names() if name in set(formats))
