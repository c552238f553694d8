"""Insert a few rows with one multi-row ``INSERT``, without building model instances.

The annotation hot path (next -> submit) writes a dozen rows of three or four
tables per request: the requested attributes, the responses, the ledger's
entries. ``bulk_create`` builds a model instance per row and compiles its
statement each time: a large share of a request's CPU for a dozen rows.
``rows_insert`` converts each value with its field's own
``get_db_prep_save`` (so JSON, dates and foreign keys reach the database
exactly as the ORM sends them, on SQLite and PostgreSQL alike), caches the
statement per table, column list and row count, and can return columns of
the new rows (``RETURNING``, in the order the rows were given).

It skips what model saves do besides the INSERT: signals, ``pre_save``
hooks (``auto_now_add`` fields get the one ``now`` passed in instead) and
validation. Use it only for models without any of those, as the callers
here are.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import Model

from annotator.sql import placeholders


_UNSET = object()


@lru_cache(maxsize=256)
def _statement(model: type[Model], columns: tuple[str, ...], n_rows: int, returning: tuple[str, ...]) -> str:
    q = connection.ops.quote_name
    meta = model._meta
    names = ", ".join(q(meta.get_field(name).column) for name in columns)
    row = f"({placeholders(len(columns))})"
    sql = f"INSERT INTO {q(meta.db_table)} ({names}) VALUES {', '.join([row] * n_rows)}"
    if returning:
        sql += " RETURNING " + ", ".join(q(meta.get_field(name).column) for name in returning)
    return sql


@lru_cache(maxsize=256)
def _fields(model: type[Model], columns: tuple[str, ...]) -> tuple:
    return tuple(model._meta.get_field(name) for name in columns)


def rows_insert(model: type[Model], columns: Sequence[str], rows: Sequence[Sequence[Any]],
                returning: Sequence[str] = ()) -> list[tuple]:
    """Insert ``rows`` (values in ``columns`` order, field names) into ``model``'s table; the ``returning`` columns.

    Returned rows come in the order of ``rows`` (PostgreSQL and SQLite both
    return a multi-row VALUES insert's rows in order), each value as the
    database stored it and converted as the ORM reads it (a field's
    ``from_db_value``: JSON comes back parsed, with PostgreSQL's jsonb key order).
    """
    if not rows:
        return []
    columns, returning = tuple(columns), tuple(returning)
    fields = _fields(model, columns)
    params: list[Any] = []
    previous: list[tuple[Any, Any]] = [(_UNSET, None)] * len(fields)  # per column: (value, its conversion)
    for row in rows:
        if len(row) != len(fields):
            raise ValueError(f"a row has {len(row)} values for {len(fields)} columns")
        for i, (field, value) in enumerate(zip(fields, row)):
            # Most columns repeat one object down the rows (the assignment, the annotator, ``now``):
            # it is converted once (the conversion depends on the value alone).
            if value is not previous[i][0]:
                previous[i] = (value, field.get_db_prep_save(value, connection))
            params.append(previous[i][1])
    with connection.cursor() as cursor:
        cursor.execute(_statement(model, columns, len(rows), returning), params)
        if not returning:
            return []
        stored = cursor.fetchall()
    readers = [getattr(field, "from_db_value", None) for field in _fields(model, returning)]
    return [tuple(value if read is None else read(value, None, connection) for read, value in zip(readers, row))
            for row in stored]
