"""Assignment life cycle after the choice of target: create, submit, draft, skip, expire.

Locks are always taken in one order: annotator row, Target row (issuing only),
Assignment row, then Slot rows by id. So concurrent issues, submits, skips and
expiries on PostgreSQL wait for each other instead of deadlocking. On SQLite
every write transaction is already serialized (``transaction_mode=IMMEDIATE``).
"""
from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError
from annotator.hooks import assignment_event
from annotator.models import (
    AnnotatorStanding, Assignment, AssignmentSlot, Attribute, AttributeKind, Campaign, Response, Slot, Target,
    TargetType,
)
from annotator.rows import instance_update, rows_insert
from annotator.selectors.assignments import (
    assignment_attributes, assignment_get_own, assignment_image_ids, ranking_ratings, submission_body,
    submission_result, target_image_ids,
)
from annotator.services.reviews import quality_after_submit
from annotator.services.quality import standing_ensure
from annotator.sql import placeholders
from annotator.validation import ValueContext, submission_validate

DRAFT_MAX_BYTES = 256 * 1024
EXPIRE_BATCH = 1000
Status = Assignment.Status


def _conflict(message: str, reason: str, field: str | None = None) -> ConflictError:
    return ConflictError(message, field=field, rule=reason, reason=reason)


def _slots_locked(*, target_id: int, attribute_ids: Iterable[int]) -> dict[int, tuple[int, int, int]]:
    """Slot rows of one target, locked in id order (the global lock order): ``{attribute_id: (id, n_open, n_done)}``.

    Plain SQL, as ``_slots_move``: every submit and skip runs it.
    """
    attribute_ids = list(attribute_ids)
    if not attribute_ids:
        return {}
    q = connection.ops.quote_name
    sql = (f"SELECT {q('attribute_id')}, {q('id')}, {q('n_open')}, {q('n_done')} FROM {q(Slot._meta.db_table)} "
           f"WHERE {q('target_id')} = %s AND {q('attribute_id')} IN ({placeholders(len(attribute_ids))}) "
           f"ORDER BY {q('id')}" + (" FOR UPDATE" if connection.features.has_select_for_update else ""))
    with connection.cursor() as cursor:
        cursor.execute(sql, [target_id, *attribute_ids])
        rows = cursor.fetchall()
    return {attribute_id: (slot_id, n_open, n_done) for attribute_id, slot_id, n_open, n_done in rows}


def _slots_issue(*, target_id: int, attribute_ids: Sequence[int]) -> None:
    """A new lease counts in ``n_open`` of its slots (locked by the issuer already, in id order)."""
    if not attribute_ids:
        return
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {q(Slot._meta.db_table)} SET {q('n_open')} = {q('n_open')} + 1 "
                       f"WHERE {q('target_id')} = %s AND {q('attribute_id')} IN "
                       f"({placeholders(len(attribute_ids))})", [target_id, *attribute_ids])


def _slots_move(slot_ids: Sequence[int], *, release: bool, done: Sequence[int] = ()) -> None:
    """One UPDATE of locked slot counters: a lease leaves ``n_open`` (``release``), ``done`` slots gain an answer.

    Plain SQL (the same on SQLite and PostgreSQL): every submit and skip runs it.
    """
    if not slot_ids or not (release or done):
        return
    q = connection.ops.quote_name
    n_open, n_done, pk = q("n_open"), q("n_done"), q("id")
    changes, params = [], []
    if release:
        changes.append(f"{n_open} = CASE WHEN {n_open} > 0 THEN {n_open} - 1 ELSE 0 END")
    if done:
        changes.append(f"{n_done} = {n_done} + CASE WHEN {pk} IN ({placeholders(len(done))}) THEN 1 ELSE 0 END")
        params.extend(done)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {q(Slot._meta.db_table)} SET {', '.join(changes)} "
                       f"WHERE {pk} IN ({placeholders(len(slot_ids))})", [*params, *slot_ids])


def _display(*, target: Target) -> dict:
    images = target_image_ids(target=target)
    if target.type == TargetType.PAIR and random.random() < 0.5:
        # Left/right are randomised per assignment so position bias averages out (Collins SxS).
        images = images[::-1]
    return {"images": images}


def assignment_create(*, campaign: Campaign, annotator, target: Target, attributes: Sequence[Attribute],
                      now: datetime | None = None, source: str = "api",
                      estimated_cost_s: float | None = None) -> Assignment:
    """Issue a lease on ``attributes`` of ``target``; shared by every issuing policy.

    Callers hold the Target row lock and have checked the room under the
    overlap on Slot rows they locked in id order (see next_task). Counts the
    lease in Slot.n_open and tells the hooks, inside the caller's transaction.
    ``estimated_cost_s`` defaults to the attributes' prior costs.
    """
    now = now or timezone.now()
    attributes = list(attributes)
    if estimated_cost_s is None:
        estimated_cost_s = sum(attribute.prior_cost_s for attribute in attributes)
    assignment = Assignment.objects.create(
        campaign=campaign, annotator=annotator, target=target,
        lease_expires_at=now + timedelta(seconds=campaign.lease_seconds), display=_display(target=target),
        is_gold=target.is_gold, estimated_cost_s=estimated_cost_s, source=source,
    )
    rows_insert(AssignmentSlot, ("assignment", "attribute", "target", "annotator", "position"),
                [(assignment.pk, attribute.pk, target.pk, annotator.pk, position)
                 for position, attribute in enumerate(attributes)])
    _slots_issue(target_id=target.pk, attribute_ids=[attribute.pk for attribute in attributes])
    assignment.requested_attributes = attributes  # what assignment_attributes would read back
    assignment_event(event="issued", assignment=assignment)
    return assignment


def leases_due_sql(campaign_column: str | None = None) -> str:
    """``EXISTS`` an issued lease that ran out (index (status, lease_expires_at)); params ``leases_due_params``.

    ``campaign_column``: the SQL of the campaign id to narrow to, e.g. ``t0."id"`` when it rides along the
    campaign's own read (``campaign_for_next``); None: every campaign.
    """
    q = connection.ops.quote_name
    return (f"EXISTS(SELECT 1 FROM {q(Assignment._meta.db_table)} WHERE {q('status')} = %s "
            f"AND {q('lease_expires_at')} < %s"
            + (f" AND {q('campaign_id')} = {campaign_column}" if campaign_column else "") + ")")


def leases_due_params(now: datetime) -> list:
    return [Status.ISSUED.value, connection.ops.adapt_datetimefield_value(now)]


def _leases_due(*, campaign_id: int | None, now: datetime) -> bool:
    """Whether an issued lease ran out; one plain statement."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {leases_due_sql('%s' if campaign_id is not None else None)}",
                       leases_due_params(now) + ([campaign_id] if campaign_id is not None else []))
        return bool(cursor.fetchone()[0])


def leases_expire(*, campaign: Campaign | None = None, now: datetime | None = None,
                   limit: int = EXPIRE_BATCH, due: bool | None = None) -> int:
    """Expire issued assignments whose lease ran out; returns how many.

    One indexed range query on (status, lease_expires_at) when nothing is due,
    so the next-task request can afford to call it every time. ``due``: that
    query's answer when the caller has it already (``campaign_for_next``).
    """
    now = now or timezone.now()
    # The usual case, checked without opening a write transaction (SQLite would take its lock).
    if due is None:
        due = _leases_due(campaign_id=campaign.pk if campaign is not None else None, now=now)
    if not due:
        return 0
    overdue = Assignment.objects.filter(status=Status.ISSUED, lease_expires_at__lt=now)
    if campaign is not None:
        overdue = overdue.filter(campaign=campaign)
    with transaction.atomic(savepoint=False):
        # SKIP LOCKED: an assignment being submitted right now is not expired under it.
        expired = list(overdue.select_for_update(skip_locked=True).order_by("id")[:limit])
        if not expired:
            return 0
        ids = [assignment.pk for assignment in expired]
        released = Counter(AssignmentSlot.objects.filter(assignment_id__in=ids)
                           .values_list("target_id", "attribute_id"))
        slots = list(Slot.objects.select_for_update().filter(Exists(AssignmentSlot.objects.filter(
            assignment_id__in=ids, target_id=OuterRef("target_id"), attribute_id=OuterRef("attribute_id"))))
            .order_by("id"))
        for slot in slots:
            slot.n_open = max(slot.n_open - released[(slot.target_id, slot.attribute_id)], 0)
        Slot.objects.bulk_update(slots, ["n_open"])
        Assignment.objects.filter(pk__in=ids).update(status=Status.EXPIRED)
        for assignment in expired:
            assignment.status = Status.EXPIRED
            assignment_event(event="expired", assignment=assignment)
    return len(expired)


def _refuse_closed(assignment: Assignment) -> None:
    if assignment.status == Status.SUBMITTED:
        raise _conflict("This assignment was already submitted.", "already_submitted")
    if assignment.status in (Status.SKIPPED, Status.INVALIDATED, Status.CANCELLED):
        raise _conflict(f"This assignment was {assignment.status}.", f"assignment_{assignment.status}")


def _enqueue_consolidation(target_id: int, attribute_ids: list[int]) -> None:
    # Consolidation, then the agreement with it: one message per submission.
    from annotator.tasks import consolidation

    args = (target_id, attribute_ids)
    # The arguments' repr for monitoring given here: Celery's bounded saferepr took a fifth of the send's CPU.
    consolidation.consolidate_target.apply_async(args, argsrepr=repr(args), kwargsrepr="{}")


def assignment_submit(*, assignment_id: int, annotator, submission_id: uuid.UUID, responses: Any,
                      active_ms: Any = None, now: datetime | None = None) -> tuple[dict, bool]:
    """Validate and save a submission; ``(body, created)``.

    The same ``submission_id`` again returns the first body with
    ``created=False`` and saves nothing: the assignment row lock makes
    concurrent repeats wait and then see the first one.
    """
    try:
        return _submit(assignment_id=assignment_id, annotator=annotator, submission_id=submission_id,
                       responses=responses, active_ms=active_ms, now=now or timezone.now())
    except IntegrityError as exc:
        # Only a submission id another assignment already has gets here (its unique index).
        raise _conflict("This submission id was used for another assignment.", "submission_id_reused",
                        field="submission_id") from exc


@transaction.atomic
def _submit(*, assignment_id: int, annotator, submission_id: uuid.UUID, responses: Any, active_ms: Any,
            now: datetime) -> tuple[dict, bool]:
    assignment = assignment_get_own(assignment_id=assignment_id, annotator=annotator, for_update=True)
    if assignment.submission_id is not None:
        if assignment.submission_id == submission_id:
            return submission_result(assignment=assignment), False
        raise _conflict("This assignment was already submitted.", "already_submitted")
    _refuse_closed(assignment)
    # A submission id another assignment already used is refused by its unique index when the
    # assignment row is saved below (IntegrityError, see assignment_submit): nothing of it stays.

    requested = assignment_attributes(assignment=assignment)
    image_ids = assignment_image_ids(assignment=assignment)
    ratings: dict[int, int] = {}
    for attribute in requested:
        if attribute.kind == AttributeKind.RANKING:
            ratings.update(ranking_ratings(annotator=annotator, ranking=attribute, image_ids=image_ids))
    context = ValueContext(image_ids=tuple(image_ids), n_tokens=len(assignment.target.prompt.tokens or []),
                           ratings=ratings)
    known_keys = {attribute.key for attribute in requested}
    if isinstance(responses, dict) and not known_keys.issuperset(responses):
        # Only a key outside the task needs the campaign's keys (unknown_attribute vs not_requested).
        known_keys = set(Attribute.objects.filter(campaign_id=assignment.campaign_id).values_list("key", flat=True))
    valid = submission_validate(requested=requested, known_keys=known_keys, responses=responses,
                                active_ms=active_ms, context=context)

    slots = _slots_locked(target_id=assignment.target_id, attribute_ids=[a.pk for a in requested])
    lease_counted = assignment.status == Status.ISSUED
    if not lease_counted and not assignment.is_gold:
        # An expired lease: welcome only where nobody has taken the place since.
        overlap = assignment.campaign.overlap
        for item in valid:
            slot = slots.get(item.attribute.pk)
            if slot is not None and slot[1] + slot[2] >= overlap:
                raise _conflict("Your lease expired and the task went to someone else; take the next task.",
                                "lease_reissued")

    # The values come back as stored: PostgreSQL's jsonb orders keys its own way, and a repeat of this
    # submission (which reads them back, submission_result) must get byte for byte the same body.
    stored = rows_insert(Response, ("assignment", "attribute", "target", "annotator", "value", "active_ms", "valid",
                                    "created_at"),
                         [(assignment.pk, item.attribute.pk, assignment.target_id, annotator.pk, item.value,
                           item.active_ms, True, now) for item in valid], returning=("value",))
    answered = {item.attribute.pk for item in valid}
    _slots_move([slot_id for slot_id, _, _ in slots.values()], release=lease_counted,
                done=[slots[aid][0] for aid in answered if aid in slots])

    assignment.status = Status.SUBMITTED
    assignment.submitted_at = now
    assignment.submission_id = submission_id
    instance_update(assignment, ["status", "submitted_at", "submission_id"])
    quality_after_submit(assignment=assignment)  # gold score (services/reviews.py)
    # Last: a hook may lock a campaign-wide row (the budget), held only from here to the commit.
    assignment_event(event="submitted", assignment=assignment, attributes=requested,
                     active_ms={item.attribute.key: item.active_ms for item in valid})
    target_id, attribute_ids = assignment.target_id, sorted(answered)
    transaction.on_commit(lambda: _enqueue_consolidation(target_id, attribute_ids))
    rows = sorted(((item.attribute.order, item.attribute.pk), item.attribute.key, value, item.active_ms)
                  for item, (value,) in zip(valid, stored, strict=True))
    return submission_body(assignment=assignment, rows=[row[1:] for row in rows]), True


@transaction.atomic
def assignment_draft_save(*, assignment_id: int, annotator, responses: Any, active_ms: Any,
                          now: datetime | None = None) -> datetime:
    """Keep the unsent answers with the assignment (not validated: a draft may be half done)."""
    if not isinstance(responses, dict):
        raise ApplicationError("responses is an object.", field="responses", rule="type")
    if not isinstance(active_ms, dict):
        raise ApplicationError("active_ms is an object.", field="active_ms", rule="type")
    draft = {"responses": responses, "active_ms": active_ms}
    size = len(json.dumps(draft, separators=(",", ":")).encode())
    if size > DRAFT_MAX_BYTES:
        raise ApplicationError(f"A draft holds at most {DRAFT_MAX_BYTES // 1024} KB ({size} bytes sent).",
                               field="responses", rule="size")
    assignment = assignment_get_own(assignment_id=assignment_id, annotator=annotator, for_update=True)
    _refuse_closed(assignment)
    assignment.draft = draft
    assignment.draft_saved_at = now or timezone.now()
    assignment.save(update_fields=["draft", "draft_saved_at"])
    return assignment.draft_saved_at


@transaction.atomic
def assignment_skip(*, assignment_id: int, annotator, reason: str = "") -> Assignment:
    """Give the task back: its places return to the queue and the skip is counted.

    Skipping twice is harmless (the second changes nothing). An expired lease
    was already released, so only its status changes.
    """
    assignment = assignment_get_own(assignment_id=assignment_id, annotator=annotator, for_update=True)
    if assignment.status == Status.SKIPPED:
        return assignment
    _refuse_closed(assignment)
    was_live = assignment.status == Status.ISSUED
    assignment.status = Status.SKIPPED
    assignment.skip_reason = (reason or "")[:300]
    assignment.save(update_fields=["status", "skip_reason"])
    if was_live:
        slots = _slots_locked(target_id=assignment.target_id,
                              attribute_ids=AssignmentSlot.objects.filter(assignment=assignment)
                              .values_list("attribute_id", flat=True))
        _slots_move([slot_id for slot_id, _, _ in slots.values()], release=True)
        assignment_event(event="skipped", assignment=assignment, reason=assignment.skip_reason)
    # The quality gate reads n_skips against the campaign's skip limit.
    standing = standing_ensure(campaign=assignment.campaign, annotator=annotator)
    AnnotatorStanding.objects.filter(pk=standing.pk).update(n_skips=F("n_skips") + 1)
    return assignment
