"""Celery tasks: quality control (thin: ids in, call a service, idempotent)."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="annotator.campaign_agreement_refresh")
def campaign_agreement_refresh_task(campaign_id: int) -> int:
    from annotator.models import Campaign
    from annotator.services.reviews import campaign_agreement_refresh

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    return campaign_agreement_refresh(campaign=campaign) if campaign else 0


@shared_task(name="annotator.dashboard_refresh")
def dashboard_refresh_task(campaign_id: int) -> str | None:
    """Recompute a campaign's dashboard snapshot (agreement, annotators, figures)."""
    from annotator.models import Campaign
    from annotator.services.dashboard import dashboard_snapshot_refresh

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    return dashboard_snapshot_refresh(campaign=campaign)["stamp"] if campaign else None
