"""Read JSON columns in bulk: the stored text, parsed with orjson.

Django's ``JSONField`` runs ``json.loads`` through a per-row converter; on
the hundreds of thousands of responses that consolidation, agreement and
export stream, that converter is the largest single cost. Selecting
``json_text("value")`` instead gives the column's JSON text (SQLite's stored
text, PostgreSQL's jsonb output), and ``json_parse`` turns it into the same
Python value several times faster.
"""
from __future__ import annotations

from typing import Any

import orjson
from django.db.models import TextField
from django.db.models.functions import Cast


def json_text(field: str) -> Cast:
    """An expression for ``.annotate()``: the JSON column ``field`` as text."""
    return Cast(field, TextField())


def json_parse(text: str | None) -> Any:
    """The value of a ``json_text`` column (None stays None)."""
    return None if text is None else orjson.loads(text)
