"""Text of the plain SQL statements the hot paths run (the same on SQLite and PostgreSQL)."""
from __future__ import annotations


def placeholders(n: int) -> str:
    """``%s, %s, ...``: n parameter markers, for a VALUES row or an ``IN (...)`` list."""
    return ", ".join(["%s"] * n)
