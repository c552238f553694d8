"""Assignment life-cycle hook of elicitation: the budget ledger (see ``annotator/hooks.py``).

Listed in ``settings.ANNOTATOR_ASSIGNMENT_HOOKS``; runs inside annotator's
transaction, so a reservation that does not fit the budget refuses the issue
(``budget_exhausted``, 409) and nothing of it is saved.
"""
from __future__ import annotations

from typing import Any

from elicitation.services.ledger import ledger_charge, ledger_release, ledger_reserve


def on_assignment_event(*, event: str, assignment, **info: Any) -> None:
    if event == "issued":
        ledger_reserve(assignment=assignment)
    elif event == "submitted":
        ledger_charge(assignment=assignment, active_ms=info.get("active_ms") or {}, attributes=info.get("attributes"))
    elif event in ("skipped", "expired", "cancelled"):
        ledger_release(assignment=assignment)
    # "invalidated": the charge was real time spent; the entries stay as they are.
