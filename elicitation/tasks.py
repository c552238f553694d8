"""Celery tasks of elicitation (thin: ids in, call a service, idempotent).

``elicitation.tasks.scores_recompute`` is a public name: rewardlab sends it
by name after every retrain (it never imports elicitation).
"""
from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="elicitation.tasks.scores_recompute", acks_late=True)
def scores_recompute(campaign_id: int, version_id: int | None = None) -> dict[str, Any]:
    """Refresh the cost estimates, then score every slot of the campaign with its policy."""
    from annotator.models import Campaign
    from elicitation.services.costs import cost_estimates_refresh
    from elicitation.services.scores import scores_recompute as recompute

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return {"campaign": campaign_id, "missing": True}
    cost_estimates_refresh(campaign=campaign)
    state = recompute(campaign=campaign, version_id=version_id)
    return {"campaign": campaign_id, "strategy": state.used_strategy, "model_version": state.model_version,
            "n_slots": state.n_slots, "duration_ms": round(state.duration_ms, 1)}


@shared_task(name="elicitation.tasks.costs_refresh", acks_late=True)
def costs_refresh(campaign_id: int) -> dict[str, Any]:
    """Rebuild a campaign's cost estimates from every response (also run before each score recompute)."""
    from annotator.models import Campaign
    from elicitation.services.costs import cost_estimates_refresh

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return {"campaign": campaign_id, "missing": True}
    return {"campaign": campaign_id, "attributes": cost_estimates_refresh(campaign=campaign)}
