"""The budget ledger: reserve on issue, charge on submit, release on skip, expiry and cancel.

Every movement is one ``LedgerEntry`` per attribute, and the running totals
on the Budget row (and on the AttributeCap rows) move with it, under the
budget's row lock. The lock is the last one an operation takes (after the
annotator, Target, Assignment and Slot locks of annotator's services), so
nothing waits in a cycle.

Charged plus reserved never exceeds the limit:

- a reservation that does not fit is refused (``budget_exhausted``);
- a charge is the measured time, capped at ``charge_cap_multiple`` x the
  reserved estimate (an idle tab must not drain the budget), and never more
  than the room left once the assignment's own reservation is released.
  Work past the ceiling is still recorded (``measured_s``), never charged.
- a charge settles its attribute's reservation (``settled_s``: what was
  still reserved), so a submit writes one row per answered attribute; a
  requested attribute left unanswered is released.

What an assignment still holds reserved is therefore its reserves minus its
releases minus what its charges settled, per attribute.

A campaign without a Budget row is unlimited: the entries are written all
the same (spend over time, cost per attribute) without taking a lock.
Invalidation leaves the entries alone: the time was spent.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

from django.db import connection, transaction
from django.db.models import Case, F, FloatField, Sum, When
from django.utils import timezone

from annotator.errors import ConflictError
from annotator.models import Assignment, AssignmentSlot, Attribute, Campaign
from annotator.rows import instance_update, model_read, models_read, rows_insert
from annotator.sql import placeholders
from elicitation.models import AttributeCap, Budget, LedgerEntry
from elicitation.selectors.costs import (PolicySettings, annotator_speed_factor, attribute_costs,
                                         policy_settings)
from elicitation.services.costs import cost_measurements_add

#: Float slack when comparing sums of seconds against a limit.
EPS = 1e-6
Kind = LedgerEntry.Kind

# The issuer plans a bundle with cost estimates under the budget lock; the
# "issued" hook then reserves exactly those amounts instead of re-reading
# estimates a concurrent submit may have moved in between, against the
# Budget row the issuer already locked (None: the campaign has none).
_planned: contextvars.ContextVar[tuple[dict[int, float], Budget | None] | None] = contextvars.ContextVar(
    "elicitation_planned_costs", default=None)


@contextlib.contextmanager
def planned_costs(costs: Mapping[int, float], *, budget: Budget | None) -> Iterator[None]:
    """Within the block, reservations use ``costs`` (seconds by attribute id) and the locked ``budget``."""
    token = _planned.set((dict(costs), budget))
    try:
        yield
    finally:
        _planned.reset(token)


def planned_total(costs: Mapping[int, float]) -> float:
    """What a reservation of ``costs`` adds up to (``Assignment.estimated_cost_s``)."""
    return _round(sum(_round(seconds) for seconds in costs.values()))


def budget_exhausted_error(*, budget: Budget | None = None, needed_s: float | None = None) -> ConflictError:
    message = ("The annotation budget of this campaign is used up, so no new task can be issued. "
               "Thank you for your work!")
    if budget is not None and budget.limit_s is not None and needed_s is not None:
        remaining = max(budget.limit_s - budget.charged_s - budget.reserved_s, 0.0)
        if remaining > EPS:
            message = (f"The annotation budget of this campaign is nearly used up ({remaining:.0f} s left, the next "
                       f"task needs about {needed_s:.0f} s), so no new task can be issued. Thank you for your work!")
    return ConflictError(message, field="campaign", rule="budget_exhausted", reason="budget_exhausted")


def budget_lock(*, campaign_id: int) -> Budget | None:
    """The campaign's Budget row, locked until the transaction ends (None: unlimited campaign).

    Every issue and submit asks: one plain statement that locks the row and reads the model with it.
    """
    return model_read(Budget, 't0."campaign_id" = %s', [campaign_id], lock="UPDATE")


def _round(seconds: float) -> float:
    return round(float(seconds), 3)


def _outstanding(*, assignment_id: int) -> dict[int | None, float]:
    """Reserved and neither released nor settled by a charge, per attribute id, of one assignment."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:  # plain SQL: every submit asks
        cursor.execute(f"SELECT {q('attribute_id')}, {q('kind')}, {q('seconds')}, {q('settled_s')} "
                       f"FROM {q(LedgerEntry._meta.db_table)} WHERE {q('assignment_id')} = %s",
                       [assignment_id])
        rows = cursor.fetchall()
    out: dict[int | None, float] = defaultdict(float)
    for attribute_id, kind, seconds, settled in rows:
        out[attribute_id] += LedgerEntry.reserved_delta(kind, seconds, settled)
    return {aid: _round(value) for aid, value in out.items() if value > EPS}


ENTRY_COLUMNS = ("campaign", "assignment", "attribute", "kind", "seconds", "measured_s", "settled_s", "created_at")
Entry = tuple[int | None, str, float, float | None, float]  # attribute_id, kind, seconds, measured_s, settled_s


def _entries_write(assignment: Assignment, entries: Sequence[Entry]) -> None:
    """Append entries of one assignment (one INSERT)."""
    now = timezone.now()
    rows_insert(LedgerEntry, ENTRY_COLUMNS, [(assignment.campaign_id, assignment.pk, *entry, now) for entry in entries])


def _caps_move(*, budget: Budget, cap_ids: set[int], reserved: Mapping[int, float] | None = None,
               charged: Mapping[int, float] | None = None) -> None:
    """Add to the per-attribute running totals of the caps in ``cap_ids`` (nothing to do without caps)."""
    for field, amounts in (("reserved_s", reserved), ("charged_s", charged)):
        amounts = {aid: value for aid, value in (amounts or {}).items() if aid in cap_ids and value}
        if not amounts:
            continue
        AttributeCap.objects.filter(budget=budget, attribute_id__in=list(amounts)).update(**{
            field: F(field) + Case(*[When(attribute_id=aid, then=value) for aid, value in amounts.items()],
                                   default=0.0, output_field=FloatField())})


def caps_read(*, budget: Budget, attribute_ids) -> dict[int, AttributeCap]:
    """The budget's caps on these attributes, by attribute id.

    One plain read: every issue and submit of a budgeted campaign asks (``annotator.rows.models_read``).
    """
    ids = list(attribute_ids)
    if not ids:
        return {}
    caps = models_read(AttributeCap, f't0."budget_id" = %s AND t0."attribute_id" IN ({placeholders(len(ids))})',
                       [budget.pk, *ids])
    return {cap.attribute_id: cap for cap in caps}


def _cap_ids(*, budget: Budget, attribute_ids) -> set[int]:
    return set(caps_read(budget=budget, attribute_ids=attribute_ids))


def assignment_costs(*, assignment: Assignment, policy: PolicySettings, with_speed: bool = True) -> dict[int, float]:
    """Estimated seconds of each attribute the assignment requests (scaled by the annotator's speed)."""
    attribute_ids = list(AssignmentSlot.objects.filter(assignment=assignment).values_list("attribute_id", flat=True))
    costs = attribute_costs(campaign=assignment.campaign, attribute_ids=attribute_ids, policy=policy)
    speed = (annotator_speed_factor(campaign=assignment.campaign, annotator=assignment.annotator, policy=policy)
             if with_speed else 1.0)
    return {aid: costs[aid].estimate_s * speed for aid in attribute_ids}


def fits(*, budget: Budget | None, caps: Mapping[int, AttributeCap], costs: Mapping[int, float]) -> bool:
    """Whether reserving ``costs`` keeps the budget and every cap within its limit."""
    if budget is not None and budget.limit_s is not None:
        if budget.charged_s + budget.reserved_s + sum(costs.values()) > budget.limit_s + EPS:
            return False
    for aid, seconds in costs.items():
        cap = caps.get(aid)
        if cap is None:
            continue
        if cap.retired or (cap.limit_s is not None and cap.charged_s + cap.reserved_s + seconds > cap.limit_s + EPS):
            return False
    return True


@transaction.atomic(savepoint=False)
def ledger_reserve(*, assignment: Assignment) -> float:
    """Reserve the estimated cost of a newly issued assignment; refuses (budget_exhausted) what does not fit.

    Returns the seconds reserved (also stored in ``Assignment.estimated_cost_s``).
    """
    planned = _planned.get()
    if planned is not None:
        # The issuer's word on the budget holds for its transaction (None: the campaign had none when it
        # planned, an instant ago; a budget added now counts from the next request).
        costs, budget = planned
    else:
        budget = budget_lock(campaign_id=assignment.campaign_id)
        costs = assignment_costs(assignment=assignment,
                                 policy=policy_settings(campaign=assignment.campaign, budget=budget))
    costs = {aid: _round(seconds) for aid, seconds in costs.items()}
    total = planned_total(costs)
    if budget is not None:
        caps = caps_read(budget=budget, attribute_ids=costs)
        if not fits(budget=budget, caps=caps, costs=costs):
            raise budget_exhausted_error(budget=budget, needed_s=total)
        budget.reserved_s = _round(budget.reserved_s + total)
        instance_update(budget, ["reserved_s", "updated_at"])
        _caps_move(budget=budget, cap_ids=set(caps), reserved=costs)
    _entries_write(assignment, [(aid, Kind.RESERVE, seconds, None, 0.0) for aid, seconds in costs.items()])
    if assignment.estimated_cost_s != total:  # the issuer may have stored it already
        Assignment.objects.filter(pk=assignment.pk).update(estimated_cost_s=total)
        assignment.estimated_cost_s = total
    return total


def _release_entries(outstanding: Mapping[int | None, float]) -> list[Entry]:
    return [(aid, Kind.RELEASE, seconds, None, 0.0) for aid, seconds in outstanding.items()]


@transaction.atomic(savepoint=False)
def ledger_release(*, assignment: Assignment) -> float:
    """Give back what an assignment still holds reserved (skip, expiry, cancel); idempotent. Returns seconds."""
    budget = budget_lock(campaign_id=assignment.campaign_id)
    outstanding = _outstanding(assignment_id=assignment.pk)
    if not outstanding:
        return 0.0
    total = _round(sum(outstanding.values()))
    if budget is not None:
        budget.reserved_s = max(_round(budget.reserved_s - total), 0.0)
        instance_update(budget, ["reserved_s", "updated_at"])
        _caps_move(budget=budget, cap_ids=_cap_ids(budget=budget, attribute_ids=[a for a in outstanding if a]),
                   reserved={aid: -s for aid, s in outstanding.items()})
    _entries_write(assignment, _release_entries(outstanding))
    return total


@transaction.atomic(savepoint=False)
def ledger_charge(*, assignment: Assignment, active_ms: Mapping[str, int | None],
                  attributes: Sequence[Attribute] | None = None) -> float:
    """Charge a submission's measured time (capped), settle or release its reservation, record the costs measured.

    ``active_ms`` maps each answered attribute key to its active time (None:
    the browser sent none; the estimate is charged); ``attributes``: the
    assignment's requested attributes, if the caller has them at hand.
    Returns seconds charged.
    """
    budget = budget_lock(campaign_id=assignment.campaign_id)
    policy = policy_settings(campaign=assignment.campaign, budget=budget)
    if attributes is not None:
        requested = {attribute.key: attribute.pk for attribute in attributes}
    else:
        requested = dict(AssignmentSlot.objects.filter(assignment=assignment)
                         .values_list("attribute__key", "attribute_id"))
    answered = [requested[key] for key in active_ms if key in requested]
    outstanding = _outstanding(assignment_id=assignment.pk)
    # Estimates are read only where needed: a charge without a reservation (a late submission), or speeds.
    late = any(aid not in outstanding for aid in answered)
    estimates = assignment_costs(assignment=assignment, policy=policy) if late else {}
    by_id = {requested[key]: ms for key, ms in active_ms.items() if key in requested}

    room = float("inf")
    if budget is not None and budget.limit_s is not None:
        room = budget.limit_s - budget.charged_s - (budget.reserved_s - sum(outstanding.values()))
    charges, measured = {}, {}
    for aid in answered:
        base = outstanding.get(aid) or estimates[aid]
        ms = by_id[aid]
        seconds = ms / 1000.0 if ms is not None else base
        measured[aid] = seconds
        amount = min(seconds, policy.charge_cap_multiple * base, max(room, 0.0))
        room -= amount
        charges[aid] = _round(amount)
    total = _round(sum(charges.values()))
    released = _round(sum(outstanding.values()))
    if budget is not None:
        budget.reserved_s = max(_round(budget.reserved_s - released), 0.0)
        budget.charged_s = _round(budget.charged_s + total)
        instance_update(budget, ["reserved_s", "charged_s", "updated_at"])
        touched = {aid for aid in [*outstanding, *charges] if aid is not None}
        _caps_move(budget=budget, cap_ids=_cap_ids(budget=budget, attribute_ids=touched),
                   reserved={aid: -s for aid, s in outstanding.items()}, charged=charges)
    # Each charge settles its attribute's reservation; what was reserved for an unanswered attribute is released.
    _entries_write(assignment, [*_release_entries({aid: s for aid, s in outstanding.items() if aid not in charges}),
                                *[(aid, Kind.CHARGE, charges[aid], _round(measured[aid]), outstanding.get(aid, 0.0))
                                  for aid in answered]])
    timed = {aid: measured[aid] for aid in answered if by_id[aid] is not None}
    speed = policy.per_annotator_speed and bool(timed)
    if timed:
        # After the commit, outside the budget lock: see cost_measurements_add. A crash in between loses
        # the measurement, not the answer; costs_refresh rebuilds the statistics from the responses.
        campaign_id, annotator = assignment.campaign_id, assignment.annotator if speed else None
        estimates = assignment_costs(assignment=assignment, policy=policy, with_speed=False) if speed else None
        transaction.on_commit(lambda: cost_measurements_add(campaign_id=campaign_id, measured_s=timed,
                                                            annotator=annotator, estimates_s=estimates), robust=True)
    return total


@transaction.atomic
def budget_totals_reconcile(*, campaign: Campaign) -> Budget | None:
    """Rebuild the running totals of a budget and its caps from the ledger (repair; admin action)."""
    budget = budget_lock(campaign_id=campaign.pk)
    if budget is None:
        return None
    per_attribute: dict[int | None, dict[str, float]] = defaultdict(lambda: {"charged": 0.0, "reserved": 0.0})
    for aid, kind, total, settled in (LedgerEntry.objects.filter(campaign=campaign)
                                      .values_list("attribute_id", "kind")
                                      .annotate(total=Sum("seconds"), settled=Sum("settled_s"))):
        bucket = per_attribute[aid]
        if kind == Kind.CHARGE:
            bucket["charged"] += total
        bucket["reserved"] += LedgerEntry.reserved_delta(kind, total, settled)
    budget.charged_s = _round(sum(b["charged"] for b in per_attribute.values()))
    budget.reserved_s = max(_round(sum(b["reserved"] for b in per_attribute.values())), 0.0)
    budget.save(update_fields=["charged_s", "reserved_s", "updated_at"])
    for cap in AttributeCap.objects.filter(budget=budget):
        bucket = per_attribute.get(cap.attribute_id, {"charged": 0.0, "reserved": 0.0})
        cap.charged_s, cap.reserved_s = _round(bucket["charged"]), max(_round(bucket["reserved"]), 0.0)
        cap.save(update_fields=["charged_s", "reserved_s"])
    return budget
