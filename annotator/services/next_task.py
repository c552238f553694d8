"""Which task an annotator gets next.

``task_next`` is what the API calls. It refuses for an inactive campaign,
expires stale leases (an indexed query, nothing to do most of the time),
then, inside one transaction holding the annotator's row (so two tabs of one
annotator cannot both issue), hands back a live lease the annotator already
holds (a reload or a double click on Start never creates a second one) or
asks the issuer named by ``settings.ANNOTATOR_TASK_ISSUER``.

``task_issue`` is the default issuer, the papers' baseline (strategy ``all``):

1. ask the quality gate: a gold target to serve first, or a refusal;
2. otherwise walk the ``slot_fill_order`` index (fewest responses plus live
   leases first) to the first slot of an active attribute with room under
   the campaign's overlap that this annotator was never given (NOT EXISTS on
   AssignmentSlot's unique index), stopping at the first hit;
3. issue every active attribute of that target that still has room.

Concurrency. Only issuing raises a slot's ``n_open + n_done`` (submit moves a
lease from n_open to n_done, skip and expiry lower n_open), and an issuer
holds the *Target* row lock while it does, so the fill it re-reads under that
lock cannot grow under it. On PostgreSQL the candidate query takes that lock
with ``FOR UPDATE OF target SKIP LOCKED``: concurrent requests pass over each
other's targets instead of waiting or over-assigning (and wait for one only
when every open target is being issued that instant). Slot rows are then
locked in id order, the order submit, skip and expiry use, so nothing
deadlocks. SQLite serializes write transactions, which gives the same result.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import OuterRef
from django.utils import timezone
from django.utils.module_loading import import_string

from annotator.errors import ConflictError
from annotator.models import Assignment, AssignmentSlot, Attribute, Campaign, Slot, Target
from annotator.rows import model_read
from annotator.selectors.assignments import assignment_live_get
from annotator.services.assignments import assignment_create, leases_due_params, leases_due_sql, leases_expire
from annotator.services.quality import quality_gate
from annotator.sql import placeholders

# A candidate read before another issuer committed may turn out full once
# locked; the search then moves on. Past this many such targets it gives up.
MAX_STALE_CANDIDATES = 20


def campaign_assert_active(*, campaign: Campaign) -> None:
    if campaign.status != Campaign.Status.ACTIVE:
        raise ConflictError(f"Campaign {campaign.name!r} is {campaign.status}: no tasks are issued.",
                            field="campaign", rule="campaign_inactive", reason="campaign_inactive")


def campaign_for_next(*, campaign_id: int) -> Campaign | None:
    """The campaign, read with whether any of its leases ran out (``leases_due``): one statement.

    ``task_next`` then skips its own probe; every next-task request reads the campaign anyway.
    """
    return model_read(Campaign, 't0."id" = %s', [*leases_due_params(timezone.now()), campaign_id],
                      annotations=(("leases_due", leases_due_sql('t0."id"')),))


def task_next(*, campaign: Campaign, annotator) -> Assignment | None:
    """The annotator's live assignment in ``campaign``, else a new one from the configured issuer, else None."""
    campaign_assert_active(campaign=campaign)
    # Its own short transaction, before any target is locked: expiry waits on
    # Slot locks, and waiting on those while holding a Target lock could deadlock.
    leases_expire(campaign=campaign, due=getattr(campaign, "leases_due", None))
    with transaction.atomic():
        if connection.features.has_select_for_update:
            # One request per annotator at a time (SQLite's write transactions
            # already are). NO KEY UPDATE leaves inserts that reference the user
            # (responses) unblocked.
            with connection.cursor() as cursor:
                cursor.execute(_annotator_lock_sql(), [annotator.pk])
        # Under that lock, so a twin request that got here first has committed its lease.
        live = assignment_live_get(campaign=campaign, annotator=annotator)
        if live is not None:
            return live
        issuer = import_string(settings.ANNOTATOR_TASK_ISSUER)
        return issuer(campaign=campaign, annotator=annotator)


@lru_cache(maxsize=1)
def _annotator_lock_sql() -> str:
    q = connection.ops.quote_name
    user = get_user_model()._meta
    return f"SELECT {q(user.pk.column)} FROM {q(user.db_table)} WHERE {q(user.pk.column)} = %s FOR NO KEY UPDATE"


def _taken(annotator):
    """This annotator was given the slot's (target, attribute) before (an index lookup per slot)."""
    return AssignmentSlot.objects.filter(annotator=annotator, target_id=OuterRef("target_id"),
                                         attribute_id=OuterRef("attribute_id"))


class OpenSlot(NamedTuple):
    """What issuing reads of a Slot row."""

    id: int
    attribute_id: int
    n_open: int
    n_done: int
    score: float


@lru_cache(maxsize=64)
def _slots_with_room_sql(n_attributes: int) -> str:
    q = connection.ops.quote_name
    slot, taken = Slot._meta.db_table, AssignmentSlot._meta.db_table
    # By (target, attribute) only: with a campaign filter the planner may pick the
    # fill-order index and walk every slot of the campaign.
    sql = (f"SELECT s.{q('id')}, s.{q('attribute_id')}, s.{q('n_open')}, s.{q('n_done')}, s.{q('score')} "
           f"FROM {q(slot)} s WHERE s.{q('target_id')} = %s "
           f"AND s.{q('attribute_id')} IN ({placeholders(n_attributes)}) "
           f"AND NOT EXISTS (SELECT 1 FROM {q(taken)} a WHERE a.{q('annotator_id')} = %s "
           f"AND a.{q('target_id')} = s.{q('target_id')} AND a.{q('attribute_id')} = s.{q('attribute_id')}) "
           f"ORDER BY s.{q('id')}")
    if connection.features.has_select_for_update:
        sql += " FOR NO KEY UPDATE"
    return sql


def _slots_with_room(*, target_id: int, annotator, attribute_ids: list[int], overlap: int | None) -> list[OpenSlot]:
    """The target's slots this annotator never had, locked in id order, with room (``overlap=None``: any)."""
    if not attribute_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_slots_with_room_sql(len(attribute_ids)), [target_id, *attribute_ids, annotator.pk])
        slots = [OpenSlot(*row) for row in cursor.fetchall()]
    return [slot for slot in slots if overlap is None or slot.n_open + slot.n_done < overlap]


@lru_cache(maxsize=256)
def _candidate_sql(*, n_attributes: int, n_passed: int, scored: bool, skip_locked: bool) -> str:
    """The candidate query (see ``candidate_target``); its text depends only on these arguments."""
    q = connection.ops.quote_name
    slot, target, taken = Slot._meta.db_table, Target._meta.db_table, AssignmentSlot._meta.db_table
    fill = f"(s.{q('n_done')} + s.{q('n_open')})"  # the expression of the fill-order indexes
    sql = (f"SELECT s.{q('target_id')} FROM {q(slot)} s JOIN {q(target)} t ON t.{q('id')} = s.{q('target_id')} "
           f"WHERE s.{q('campaign_id')} = %s AND s.{q('attribute_id')} IN ({placeholders(n_attributes)}) "
           f"AND {fill} < %s AND NOT t.{q('is_gold')} "
           + (f"AND s.{q('score')} > %s " if scored else "")
           + (f"AND s.{q('target_id')} NOT IN ({placeholders(n_passed)}) " if n_passed else "")
           + f"AND NOT EXISTS (SELECT 1 FROM {q(taken)} a WHERE a.{q('annotator_id')} = %s "
           f"AND a.{q('target_id')} = s.{q('target_id')} AND a.{q('attribute_id')} = s.{q('attribute_id')}) "
           f"ORDER BY {fill}, " + (f"s.{q('score')} DESC, " if scored else "") + f"s.{q('id')} LIMIT 1")
    if connection.features.has_select_for_update:
        # NO KEY UPDATE: issuers still exclude each other on the target, but a submit inserting responses that
        # reference it (a KEY SHARE for the foreign key check) is not blocked.
        sql += " FOR NO KEY UPDATE OF t" + (" SKIP LOCKED" if skip_locked else "")
    return sql


def candidate_target(*, campaign: Campaign, annotator, attribute_ids: list[int], passed: list[int],
                     skip_locked: bool = True, min_score: float | None = None) -> Target | None:
    """The target of the open slot with the fewest responses plus leases, locked; None when there is none.

    An open slot: of one of ``attribute_ids``, under the campaign's overlap,
    not gold, never given to this annotator (NOT EXISTS on AssignmentSlot's
    unique index), its target not in ``passed``. Ties go to the lowest slot
    id (index ``slot_fill_order``); with ``min_score``, only slots scored
    above it count and ties go to the best score first (index
    ``slot_fill_score_order``), see the elicitation issuer. ``skip_locked``:
    pass over targets other requests are issuing right now instead of
    waiting for them.

    One SQL statement of its own (not a queryset): every next-task request
    runs it, and the ORM took longer to build it than the database to run it.
    """
    if not attribute_ids:
        return None
    scored = min_score is not None
    params: list = [campaign.pk, *attribute_ids, campaign.overlap, *([min_score] if scored else []), *passed,
                    annotator.pk]
    candidate = _candidate_sql(n_attributes=len(attribute_ids), n_passed=len(passed), scored=scored,
                               skip_locked=skip_locked)
    # The target read (with the item's image: the task payload needs it, see assignment_payload) in the same
    # statement: the candidate query is its scalar subquery, run once, which takes the lock.
    return model_read(Target, f't0."id" = ({candidate})', params, related=("item__image", "prompt"))


@transaction.atomic(savepoint=False)
def task_issue(*, campaign: Campaign, annotator) -> Assignment | None:
    """Default issuer: a gold target if the quality gate asks for one, else the emptiest open target.

    Expects to run inside ``task_next`` (which expires stale leases first).
    """
    campaign_assert_active(campaign=campaign)
    attributes = list(Attribute.objects.filter(campaign=campaign, active=True))  # Meta ordering: order, id
    if not attributes:
        return None
    position = {attribute.pk: index for index, attribute in enumerate(attributes)}
    by_id = {attribute.pk: attribute for attribute in attributes}
    attribute_ids = list(by_id)

    target: Target | None = None
    slots: list[OpenSlot] = []
    gold = quality_gate(campaign=campaign, annotator=annotator)
    if gold is not None:
        # Every annotator answers a gold target, so the overlap does not apply;
        # wait for its lock rather than skip it.
        gold = Target.objects.select_for_update(of=("self",), no_key=True).select_related("item", "prompt").get(pk=gold.pk)
        slots = _slots_with_room(target_id=gold.pk, annotator=annotator, attribute_ids=attribute_ids, overlap=None)
        target = gold if slots else None
    passed: list[int] = []
    while target is None and len(passed) <= MAX_STALE_CANDIDATES:
        first = candidate_target(campaign=campaign, annotator=annotator, attribute_ids=attribute_ids, passed=passed)
        if first is None and connection.features.has_select_for_update:
            # Every open target is being issued by someone else this instant:
            # wait for one rather than answer "nothing left".
            first = candidate_target(campaign=campaign, annotator=annotator, attribute_ids=attribute_ids,
                                     passed=passed, skip_locked=False)
        if first is None:
            return None
        slots = _slots_with_room(target_id=first.pk, annotator=annotator, attribute_ids=attribute_ids,
                                 overlap=campaign.overlap)
        if slots:
            target = first
        else:
            passed.append(first.pk)
    if target is None:
        return None
    chosen = sorted((by_id[slot.attribute_id] for slot in slots), key=lambda attribute: position[attribute.pk])
    return assignment_create(campaign=campaign, annotator=annotator, target=target, attributes=chosen,
                             now=timezone.now())
