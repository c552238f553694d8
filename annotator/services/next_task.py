"""Which task an annotator gets next.

``task_next`` is what the API calls: it refuses for an inactive campaign,
hands back a live lease the annotator already holds (a reload or a double
click on Start never creates a second one) and otherwise asks the issuer
named by ``settings.ANNOTATOR_TASK_ISSUER``. ``task_issue`` is the default
issuer, the papers' baseline (strategy ``all``):

1. expire stale leases (an indexed query; nothing to do most of the time);
2. ask the quality gate: a gold target to serve first, or a refusal;
3. otherwise take the slot with the fewest responses plus live leases that
   still has room under the campaign's overlap and that this annotator was
   never given (NOT EXISTS on AssignmentSlot's unique index), walking the
   ``slot_fill_order`` index and stopping at the first hit;
4. issue every active attribute of that target that still has room.

The Slot rows are locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
concurrent requests pass over each other's rows instead of over-assigning or
waiting. SQLite serializes write transactions, which gives the same guarantee.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.module_loading import import_string

from annotator.errors import ConflictError
from annotator.models import Assignment, AssignmentSlot, Attribute, Campaign, Slot, Target
from annotator.selectors.assignments import assignment_live_get
from annotator.services.assignments import assignment_create, leases_expire
from annotator.services.quality import quality_gate


def campaign_assert_active(*, campaign: Campaign) -> None:
    if campaign.status != Campaign.Status.ACTIVE:
        raise ConflictError(f"Campaign {campaign.name!r} is {campaign.status}: no tasks are issued.",
                            field="campaign", rule="campaign_inactive", reason="campaign_inactive")


def task_next(*, campaign: Campaign, annotator) -> Assignment | None:
    """The annotator's live assignment in ``campaign``, else a new one from the configured issuer, else None."""
    campaign_assert_active(campaign=campaign)
    with transaction.atomic():
        # One request at a time per annotator (PostgreSQL; SQLite is serialized
        # anyway): two tabs must not both find "no live lease" and issue twice.
        # NO KEY UPDATE leaves inserts that reference the user unblocked.
        get_user_model().objects.select_for_update(no_key=True).filter(pk=annotator.pk).values_list("pk").first()
        live = assignment_live_get(campaign=campaign, annotator=annotator)
        if live is not None:
            return live
        issuer = import_string(settings.ANNOTATOR_TASK_ISSUER)
        return issuer(campaign=campaign, annotator=annotator)


def _taken(annotator):
    """This annotator was given the slot's (target, attribute) before (an index lookup per slot)."""
    return AssignmentSlot.objects.filter(annotator=annotator, target_id=OuterRef("target_id"),
                                         attribute_id=OuterRef("attribute_id"))


def _open_slots(*, campaign: Campaign, annotator, attribute_ids: list[int]):
    """Slots with room under the overlap that this annotator was never given."""
    return (Slot.objects.alias(fill=F("n_done") + F("n_open"))
            .filter(campaign=campaign, attribute_id__in=attribute_ids, fill__lt=campaign.overlap)
            .filter(~Exists(_taken(annotator))))


@transaction.atomic
def task_issue(*, campaign: Campaign, annotator) -> Assignment | None:
    """Default issuer: a gold target if the quality gate asks for one, else the emptiest open target."""
    campaign_assert_active(campaign=campaign)
    now = timezone.now()
    leases_expire(campaign=campaign, now=now)
    attributes = list(Attribute.objects.filter(campaign=campaign, active=True))  # Meta ordering: order, id
    if not attributes:
        return None
    by_id = {attribute.pk: attribute for attribute in attributes}
    attribute_ids = list(by_id)

    gold = quality_gate(campaign=campaign, annotator=annotator)
    target: Target | None = None
    slots: list[Slot] = []
    if gold is not None:
        # Gold targets are answered by everyone who qualifies, so the overlap does not apply.
        slots = list(Slot.objects.filter(target=gold, attribute_id__in=attribute_ids)
                     .filter(~Exists(_taken(annotator))).select_for_update(skip_locked=True))
        target = gold if slots else None
    if target is None:
        first = (_open_slots(campaign=campaign, annotator=annotator, attribute_ids=attribute_ids)
                 .filter(target__is_gold=False)
                 .order_by("fill", "id").select_for_update(skip_locked=True, of=("self",)).first())
        if first is None:
            return None
        # By (target, attribute) only: with the campaign filter the planner may pick the
        # fill-order index and walk every slot of the campaign. Room is checked on the
        # locked rows, at most one per attribute.
        siblings = (Slot.objects.filter(target_id=first.target_id, attribute_id__in=attribute_ids)
                    .filter(~Exists(_taken(annotator))).select_for_update(skip_locked=True))
        slots = [slot for slot in siblings if slot.n_open + slot.n_done < campaign.overlap]
        target = Target.objects.select_related("prompt").get(pk=first.target_id)
    order = {attribute_id: position for position, attribute_id in enumerate(attribute_ids)}
    chosen = [by_id[slot.attribute_id] for slot in sorted(slots, key=lambda slot: order[slot.attribute_id])]
    return assignment_create(campaign=campaign, annotator=annotator, target=target, attributes=chosen, now=now)
