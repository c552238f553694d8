"""Plain statements for the hot path's rows: multi-row inserts, reads into model instances, updates.

Each next -> submit cycle reads and writes a few dozen rows; compiling the
ORM's statements took longer than the database took to run them
(``benchmarks/cycle_profile.py``). The helpers here build each statement's
text once per shape and convert values with the fields' own methods, so
what reaches the database and what comes back equals what the ORM would
send and return, on SQLite and PostgreSQL alike.

Inserts. The annotation hot path writes a dozen rows of three or four
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

Reads. ``models_read`` / ``model_read``: one SELECT with the related rows
``select_related`` would join, into instances with the same caches.

Updates. ``instance_update``: ``save(update_fields=...)`` without signals.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from django.db import connection, models
from django.db.models import Model

from annotator.sql import placeholders


_UNSET = object()


@lru_cache(maxsize=256)
def _statement(model: type[Model], columns: tuple[str, ...], n_rows: int, returning: tuple[str, ...],
               numbered: bool = False) -> str:
    """The INSERT's text: ``%s`` placeholders, or PostgreSQL's own ``$1, $2, ...`` when ``numbered``."""
    q = connection.ops.quote_name
    meta = model._meta
    names = ", ".join(q(meta.get_field(name).column) for name in columns)
    k = len(columns)
    if numbered:
        values = ", ".join(f"({', '.join(f'${r * k + i + 1}' for i in range(k))})" for r in range(n_rows))
    else:
        values = ", ".join([f"({placeholders(k)})"] * n_rows)
    sql = f"INSERT INTO {q(meta.db_table)} ({names}) VALUES {values}"
    if returning:
        sql += " RETURNING " + ", ".join(q(meta.get_field(name).column) for name in returning)
    return sql


@lru_cache(maxsize=256)
def _fields(model: type[Model], columns: tuple[str, ...]) -> tuple:
    return tuple(model._meta.get_field(name) for name in columns)


# Django's own field classes whose ``get_db_prep_save`` hands a value of these exact types to the
# database unchanged (``int(x)``, ``float(x)``, ``str(x)`` of it; None stays None) on SQLite and
# PostgreSQL. Exact classes: a subclass may convert differently. A foreign key counts as its target.
_PLAIN_TYPES = {
    **dict.fromkeys((models.AutoField, models.BigAutoField, models.SmallAutoField, models.IntegerField,
                     models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField,
                     models.PositiveBigIntegerField, models.PositiveSmallIntegerField), (int, type(None))),
    models.FloatField: (float, type(None)),
    **dict.fromkeys((models.CharField, models.TextField), (str, type(None))),
    models.BooleanField: (bool, type(None)),
}


@lru_cache(maxsize=256)
def _plain_types(model: type[Model], columns: tuple[str, ...]) -> tuple[tuple[type, ...], ...]:
    """Per column, the value types its conversion would pass through unchanged (none: always convert)."""
    out = []
    for field in _fields(model, columns):
        target = field.target_field if type(field) is models.ForeignKey else field
        out.append(_PLAIN_TYPES.get(type(target), ()))
    return tuple(out)


def _insert_cursor(numbered: bool):
    """A cursor for ``rows_insert``: on PostgreSQL, psycopg's ``RawCursor`` behind Django's own wrapper.

    psycopg rewrites ``%s`` placeholders into ``$n`` by parsing the statement,
    and caches that only up to 50 parameters: a dozen rows of seven columns
    were parsed again on every request (about 0.13 ms each, four per cycle).
    A ``RawCursor`` takes the ``$n`` text as it is. Django's wrapper keeps
    what its own cursors give: error translation and the broken-transaction
    check. (Logged queries do not come here: see the caller.)
    """
    if not numbered:
        return connection.cursor()
    from psycopg import RawCursor

    connection.close_if_health_check_failed()  # what connection.cursor() does before it makes a cursor
    connection.ensure_connection()
    connection.validate_thread_sharing()
    return connection.make_cursor(RawCursor(connection.connection))


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
    plain = _plain_types(model, columns)
    params: list[Any] = []
    previous: list[tuple[Any, Any]] = [(_UNSET, None)] * len(fields)  # per column: (value, its conversion)
    for row in rows:
        if len(row) != len(fields):
            raise ValueError(f"a row has {len(row)} values for {len(fields)} columns")
        for i, (field, value) in enumerate(zip(fields, row)):
            if type(value) in plain[i]:  # a key, a count, a flag: its conversion would return it (3 µs each)
                params.append(value)
                continue
            # Most other columns repeat one object down the rows (the assignment, the annotator, ``now``):
            # it is converted once (the conversion depends on the value alone).
            if value is not previous[i][0]:
                previous[i] = (value, field.get_db_prep_save(value, connection))
            params.append(previous[i][1])
    # Logged queries (DEBUG, assertNumQueries) keep ``%s``: Django renders their text through psycopg's mogrify.
    numbered = connection.vendor == "postgresql" and not connection.queries_logged
    with _insert_cursor(numbered) as cursor:
        cursor.execute(_statement(model, columns, len(rows), returning, numbered), params)
        if not returning:
            return []
        stored = cursor.fetchall()
    readers = [getattr(field, "from_db_value", None) for field in _fields(model, returning)]
    return [tuple(value if read is None else read(value, None, connection) for read, value in zip(readers, row))
            for row in stored]


# ---------------------------------------------------------------- reads
class _Node(NamedTuple):
    """One model of a read: its slice of the row, where it hangs, and the converters of its columns."""

    model: type[Model]
    start: int
    stop: int
    parent: int | None  # index of the node it hangs from (None: the model read)
    relation: Any  # the forward field or reverse one-to-one relation from the parent
    pk: int  # offset of the primary key in the slice: NULL there is a missing row of an outer join
    converters: tuple[tuple[int, tuple, Any], ...]  # (column offset, converter functions, expression)


def _relation_join(parent_model: type[Model], name: str, parent_alias: str, alias: str) -> tuple[Any, str, bool]:
    """``(relation, ON condition, nullable)`` of following ``name`` from ``parent_model``."""
    q = connection.ops.quote_name
    relation = parent_model._meta.get_field(name)
    if relation.one_to_one and not relation.concrete:  # reverse one-to-one: the child holds the key
        return relation, f"{alias}.{q(relation.field.column)} = {parent_alias}.{q(parent_model._meta.pk.column)}", True
    if not (relation.many_to_one or relation.one_to_one):
        raise ValueError(f"{parent_model.__name__}.{name} is not a foreign key or a one-to-one relation")
    return relation, f"{alias}.{q(relation.target_field.column)} = {parent_alias}.{q(relation.column)}", relation.null


@lru_cache(maxsize=128)
def _read_plan(model: type[Model], where: str, related: tuple[str, ...], joins: str, order_by: str,
               limit: int | None, lock: str | None, annotations: tuple[tuple[str, str], ...],
               ) -> tuple[str, tuple[_Node, ...]]:
    q = connection.ops.quote_name
    nodes: list[_Node] = []
    columns: list[str] = []
    alias_of: dict[str, int] = {}
    from_sql = [f"{q(model._meta.db_table)} t0"]

    def add(node_model, parent, relation, alias) -> int:
        fields = node_model._meta.concrete_fields
        converters = []
        for offset, field in enumerate(fields):
            expression = field.get_col(alias)
            functions = (*connection.ops.get_db_converters(expression), *field.get_db_converters(connection))
            if functions:
                converters.append((offset, tuple(functions), expression))
        nodes.append(_Node(node_model, len(columns), len(columns) + len(fields), parent, relation,
                           fields.index(node_model._meta.pk), tuple(converters)))
        columns.extend(f"{alias}.{q(field.column)}" for field in fields)
        return len(nodes) - 1

    alias_of[""] = add(model, None, None, "t0")
    outer = {""}
    for path in related:
        parent_path, parent_model = "", model
        for name in path.split("__"):
            here = f"{parent_path}__{name}" if parent_path else name
            if here not in alias_of:
                alias = f"t{len(nodes)}"
                relation, on, nullable = _relation_join(parent_model, name, f"t{alias_of[parent_path]}", alias)
                left = nullable or parent_path in outer
                if left:
                    outer.add(here)
                from_sql.append(f"{'LEFT OUTER' if left else 'INNER'} JOIN {q(relation.related_model._meta.db_table)} "
                                f"{alias} ON {on}")
                alias_of[here] = add(relation.related_model, alias_of[parent_path], relation, alias)
            parent_path, parent_model = here, nodes[alias_of[here]].model
    columns.extend(f"{expression} AS {q(name)}" for name, expression in annotations)
    sql = f"SELECT {', '.join(columns)} FROM {' '.join(from_sql)}"
    sql += f" {joins}" if joins else ""
    sql += f" WHERE {where}"
    sql += f" ORDER BY {order_by}" if order_by else ""
    sql += f" LIMIT {int(limit)}" if limit is not None else ""
    if lock and connection.features.has_select_for_update:
        sql += f" FOR {lock} OF t0"
    return sql, tuple(nodes)


def models_read(model: type[Model], where: str, params: Sequence[Any], *, related: Sequence[str] = (),
                joins: str = "", order_by: str = "", limit: int | None = None, lock: str | None = None,
                annotations: Sequence[tuple[str, str]] = ()) -> list:
    """Instances of ``model`` by one plain SELECT, with the related rows ``select_related`` would give.

    ``where``, ``joins`` and ``order_by`` are SQL over the alias ``t0`` (the
    model's table); ``related`` lists forward foreign keys and one-to-ones,
    and reverse one-to-ones, as ``select_related`` spells them
    (``"target__prompt"``); ``lock`` is ``"UPDATE"`` or ``"NO KEY UPDATE"``
    (of ``t0`` only, where the database has row locks); ``annotations``,
    ``(name, SQL expression)`` pairs, become attributes of each instance as
    the database returns them. ``params`` follow the text: an annotation's
    come first.

    The statement's text is built once per shape; the values go through the
    same converters the ORM applies (SQLite's dates and booleans, JSON), so
    the instances equal what the queryset would return. For the reads every
    request makes, where compiling the queryset cost several times what
    running it did.
    """
    annotations = tuple(annotations)
    sql, nodes = _read_plan(model, where, tuple(related), joins, order_by, limit, lock, annotations)
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        rows = cursor.fetchall()
    db = connection.alias
    out = []
    for row in rows:
        instances: list[Model | None] = []
        for node in nodes:
            values = list(row[node.start:node.stop])
            parent = instances[node.parent] if node.parent is not None else None
            if node.parent is not None and (parent is None or values[node.pk] is None):
                instance = None
            else:
                for offset, functions, expression in node.converters:
                    for function in functions:
                        values[offset] = function(values[offset], expression, connection)
                instance = node.model.from_db(db, None, values)
            instances.append(instance)
            if parent is not None:
                node.relation.set_cached_value(parent, instance)
                if instance is not None and node.relation.one_to_one:
                    node.relation.remote_field.set_cached_value(instance, parent)
        root = instances[0]
        for (name, _), value in zip(annotations, row[nodes[-1].stop:]):
            setattr(root, name, value)
        out.append(root)
    return out


def model_read(model: type[Model], where: str, params: Sequence[Any], **options: Any) -> Any:
    """The one instance a lookup by a unique key finds (``models_read``'s arguments), or None."""
    rows = models_read(model, where, params, limit=1, **options)
    return rows[0] if rows else None


# ---------------------------------------------------------------- updates
@lru_cache(maxsize=64)
def _update_statement(model: type[Model], names: tuple[str, ...]) -> str:
    q = connection.ops.quote_name
    assignments = ", ".join(f"{q(field.column)} = %s" for field in _fields(model, names))
    return f"UPDATE {q(model._meta.db_table)} SET {assignments} WHERE {q(model._meta.pk.column)} = %s"


def instance_update(instance: Model, names: Sequence[str]) -> None:
    """``instance.save(update_fields=names)`` as one plain UPDATE, its text built once.

    Each field's ``pre_save`` and ``get_db_prep_save`` as ``Model.save`` does;
    no signals, so only for models without receivers or ``save()`` overrides
    (submit's Assignment: half the CPU of ``save``).
    """
    names = tuple(names)
    params = [field.get_db_prep_save(field.pre_save(instance, False), connection)
              for field in _fields(type(instance), names)]
    with connection.cursor() as cursor:
        cursor.execute(_update_statement(type(instance), names), [*params, instance.pk])
