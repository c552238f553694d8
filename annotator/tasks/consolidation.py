"""Celery tasks: consolidation (thin: ids in, call the service; recomputing is idempotent)."""
from __future__ import annotations

from celery import shared_task

from annotator.models import Campaign
from annotator.services.consolidation import campaign_consolidate, consolidated_recompute
from annotator.services.reviews import assignment_agreement_refresh


@shared_task(name="annotator.consolidate_target", acks_late=True)
def consolidate_target(target_id: int, attribute_ids: list[int] | None = None) -> dict:
    """Recompute one target's consolidated values, then its assignments' agreement with that consensus.

    The submit API sends it on commit: one message per submission (as an
    invalidation does the two in a row, ``services/reviews.py``).
    """
    result = consolidated_recompute(target_id=target_id, attribute_ids=attribute_ids)
    return {**result, "agreements": assignment_agreement_refresh(target_ids=[target_id])}


@shared_task(name="annotator.consolidate_campaign", acks_late=True)
def consolidate_campaign(campaign_id: int) -> dict:
    """Recompute a whole campaign (e.g. after changing its overlap or point radius)."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return {"campaign": campaign_id, "missing": True}
    return {"campaign": campaign_id, **campaign_consolidate(campaign=campaign)}
