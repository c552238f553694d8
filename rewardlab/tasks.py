"""Celery tasks of rewardlab: thin entry points (ids in, call a service), all on the ``training`` queue.

The route ``rewardlab.tasks.*`` -> ``training`` is in settings, so GPU workers
(``celery worker -Q training``) run them. Names are a public contract:
annotator and beat send them by name.
"""
from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

SOFT_TIME_LIMIT_S = int(getattr(settings, "REWARDLAB_TRAIN_SOFT_TIME_LIMIT", 3600))
TIME_LIMIT_S = int(getattr(settings, "REWARDLAB_TRAIN_TIME_LIMIT", SOFT_TIME_LIMIT_S + 300))


@shared_task(name="rewardlab.tasks.train", bind=True, acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=SOFT_TIME_LIMIT_S, time_limit=TIME_LIMIT_S, max_retries=6)
def train(self, run_id: int) -> dict[str, Any]:
    """Execute training run ``run_id``. A finished run is left alone; a run another worker holds is retried later."""
    from rewardlab.services.training import run_stale_s, training_run_execute

    version, state = training_run_execute(run_id=run_id)
    if state == "busy" and not self.request.is_eager:
        # Either a duplicate delivery while the run is alive, or its worker died:
        # look again once a dead worker's heartbeat would count as stale.
        raise self.retry(countdown=run_stale_s() + 5)
    return {"run_id": run_id, "state": state, "status": getattr(version, "status", None)}


@shared_task(name="rewardlab.tasks.embed_campaign", acks_late=True, soft_time_limit=SOFT_TIME_LIMIT_S,
             time_limit=TIME_LIMIT_S)
def embed_campaign(campaign_id: int, encoder: str | None = None) -> dict[str, Any]:
    """Fill the embedding cache of a campaign (its configured encoders, or ``encoder``); idempotent."""
    from annotator.models import Campaign
    from rewardlab.services.embeddings import embeddings_compute
    from rewardlab.services.training import model_settings_get

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return {"campaign": campaign_id, "missing": True}
    row = model_settings_get(campaign=campaign)
    names = [encoder] if encoder else [n for n in (row.image_encoder, row.text_encoder) if n]
    return {"campaign": campaign_id,
            "encoders": [embeddings_compute(campaign=campaign, encoder=name) for name in names]}


@shared_task(name="rewardlab.tasks.consolidated_changed")
def consolidated_changed(campaign_id: int, n_changed: int) -> list[int]:
    """Count new consolidated values of a campaign; start a retrain at the threshold. Returns started run ids."""
    from rewardlab.services.retrain import consolidated_count

    return [v.pk for v in consolidated_count(campaign_id=campaign_id, n_changed=n_changed)]


@shared_task(name="rewardlab.tasks.retrain_check")
def retrain_check() -> dict[str, Any]:
    """Periodic (beat): reap dead runs and retrain campaigns with enough new values."""
    from rewardlab.services.retrain import retrain_check as check

    return check()
