"""Assignment life-cycle hooks.

``annotator`` imports neither ``elicitation`` nor ``rewardlab``. Apps that
must act when an assignment is issued, submitted, skipped, expires or is
invalidated (the budget ledger reserves, charges and releases) list a module
in ``settings.ANNOTATOR_ASSIGNMENT_HOOKS``; that module defines
``on_assignment_event(*, event: str, assignment, **info)``. Hooks run inside
the caller's transaction, so a hook that raises refuses the whole operation
(for example a reservation that would exceed the budget).
"""
from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from typing import Any

from django.conf import settings

EVENTS = ("issued", "submitted", "skipped", "expired", "invalidated", "cancelled")


@lru_cache(maxsize=1)
def _hook_modules() -> tuple[Any, ...]:
    return tuple(import_module(path) for path in getattr(settings, "ANNOTATOR_ASSIGNMENT_HOOKS", ()))


def assignment_event(*, event: str, assignment, **info: Any) -> None:
    assert event in EVENTS, event
    for module in _hook_modules():
        module.on_assignment_event(event=event, assignment=assignment, **info)
