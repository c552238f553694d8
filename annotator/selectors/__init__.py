"""Reads (selectors): plain functions from ids and models to models, rows and dicts; no writes."""
from __future__ import annotations

from typing import TypeVar

from django.db.models import QuerySet

T = TypeVar("T")


def unique_or_none(queryset: QuerySet[T]) -> T | None:
    """The one row of a lookup by a primary or unique key, or None.

    ``QuerySet.first()`` orders by the model's ordering or the primary key to
    pick the first of many; on a unique key there is at most one, and
    compiling that ORDER BY took a fifth of such a query's CPU on the
    next -> submit path (``benchmarks/cycle_profile.py``).
    """
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None
