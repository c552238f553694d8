"""Django's PostgreSQL backend, with the parameter limit of server-side binding.

With ``server_side_binding`` (config/settings.py) every parameter travels in
the wire protocol's Bind message, whose count is a 16-bit field: a statement
with more than 65,535 parameters fails. Django 5.2 knows that limit for
Oracle and SQLite only, so the deletion collector and ``bulk_update`` (and
``bulk_create`` where it cannot use UNNEST) would put any number of rows into
one statement here: deleting 70,000 prompts in one call failed. This backend
declares the limit and sizes those batches by it, as Django does for SQLite
(Django's ticket #36822 adds the same upstream). A single ``__in`` list longer
than the limit still fails: the code reads and writes large id sets in chunks
(``DB_SERVER_BINDING=false`` goes back to client-side binding, without limit).
"""
from __future__ import annotations

from django.db import models
from django.db.backends.postgresql import base, features, operations
from django.utils.functional import cached_property

MAX_BIND_PARAMETERS = 2**16 - 1


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def max_query_params(self) -> int | None:
        return MAX_BIND_PARAMETERS if self.connection.settings_dict["OPTIONS"].get("server_side_binding") else None


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs) -> int:
        limit = self.connection.features.max_query_params
        columns = sum(len(f.fields) if isinstance(f, models.CompositePrimaryKey) else 1 for f in fields)
        if limit is None or not columns:
            return super().bulk_batch_size(fields, objs)
        return max(limit // columns, 1)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations
