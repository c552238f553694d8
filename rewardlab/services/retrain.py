"""Retrain triggers: after N new consolidated values, and by the periodic check (DESIGN §6).

annotator tells rewardlab, by task name after commit, how many consolidated
values a recompute changed (``rewardlab.tasks.consolidated_changed``). The
count accumulates in ``CampaignModelSettings.n_new_values``; at
``retrain_every`` (per campaign, else ``settings.REWARDLAB_RETRAIN_EVERY``,
default 50) a retrain starts and the counter goes back to zero.

The periodic ``retrain_check`` catches what a lost message would miss: it
also counts the consolidated rows written since the last retrain, and it
reaps runs whose worker died. A kind that already has a run queued or
running is not started twice; its values keep counting for the next check.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotator.models import Attribute, Campaign, Consolidated
from rewardlab.models import CampaignModelSettings, ModelVersion
from rewardlab.selectors.training_data import LABEL_KINDS, PAIR_KINDS
from rewardlab.services.training import model_settings_get, retrain_every, training_run_start, training_runs_reap

logger = logging.getLogger(__name__)


def retrain_kinds(*, campaign: Campaign, row: CampaignModelSettings | None = None) -> list[str]:
    """The model kinds a retrain trains: the settings' list, else what the campaign's attributes allow.

    A coarse item attribute with consolidated values gives a CBM when
    concept attributes sit beside it (a coarse model when it is alone);
    consolidated rankings or side-by-side choices give a pairwise model.
    Kinds without data yet are left out, so a retrain never queues a run
    that can only fail.
    """
    row = row or model_settings_get(campaign=campaign)
    if row.retrain_kinds:
        return [k for k in row.retrain_kinds if k in ModelVersion.Kind.values]
    labels = Attribute.objects.filter(campaign=campaign, target_type="item", kind__in=LABEL_KINDS)
    kinds = []
    if Consolidated.objects.filter(campaign=campaign, attribute__in=labels.filter(is_coarse=True)).exists():
        kinds.append("cbm" if labels.filter(is_coarse=False, active=True).exists() else "coarse")
    if Consolidated.objects.filter(campaign=campaign, attribute__kind__in=PAIR_KINDS).exists():
        kinds.append("pairwise")
    return kinds


def retrain_start(*, campaign: Campaign, trigger: str = "retrain") -> list[ModelVersion]:
    """Start a run of every retrain kind not already queued or running; resets the counter if any started."""
    with transaction.atomic():
        row = CampaignModelSettings.objects.select_for_update().get(pk=model_settings_get(campaign=campaign).pk)
        busy = set(ModelVersion.objects.filter(
            campaign=campaign, status__in=(ModelVersion.Status.QUEUED, ModelVersion.Status.RUNNING))
            .values_list("kind", flat=True))
        started = [training_run_start(campaign=campaign, kind=kind, trigger=trigger)
                   for kind in retrain_kinds(campaign=campaign, row=row) if kind not in busy]
        if started:
            row.n_new_values = 0
            row.last_retrain_at = timezone.now()
            row.save(update_fields=["n_new_values", "last_retrain_at"])
    return started


def consolidated_count(*, campaign_id: int, n_changed: int) -> list[ModelVersion]:
    """Add ``n_changed`` new consolidated values; start a retrain when the campaign's threshold is reached."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or n_changed <= 0:
        return []
    with transaction.atomic():
        row = CampaignModelSettings.objects.select_for_update().get(pk=model_settings_get(campaign=campaign).pk)
        row.n_new_values += int(n_changed)
        row.save(update_fields=["n_new_values"])
        if row.n_new_values < retrain_every(row):
            return []
        return retrain_start(campaign=campaign, trigger="retrain")


def new_values_since_retrain(*, campaign: Campaign, row: CampaignModelSettings) -> int:
    """Consolidated values written since the last retrain (all of them before the first)."""
    qs = Consolidated.objects.filter(campaign=campaign)
    if row.last_retrain_at is not None:
        qs = qs.filter(computed_at__gt=row.last_retrain_at)
    return qs.count()


def retrain_check() -> dict[str, Any]:
    """Periodic: reap dead runs, then retrain every campaign with enough new values."""
    reaped = training_runs_reap()
    started: dict[int, list[int]] = {}
    campaign_ids = set(Consolidated.objects.values_list("campaign_id", flat=True).distinct())
    campaign_ids |= set(CampaignModelSettings.objects.filter(n_new_values__gt=0).values_list("campaign_id", flat=True))
    for campaign in Campaign.objects.filter(pk__in=campaign_ids).order_by("pk"):
        row = model_settings_get(campaign=campaign)
        n_new = max(row.n_new_values, new_values_since_retrain(campaign=campaign, row=row))
        if n_new < retrain_every(row):
            continue
        try:
            versions = retrain_start(campaign=campaign, trigger="retrain")
        except Exception:  # noqa: BLE001 - one campaign's broken settings must not stop the others
            logger.exception("retrain of campaign %s could not start", campaign.pk)
            continue
        if versions:
            started[campaign.pk] = [v.pk for v in versions]
    return {"reaped": reaped, "started": started}
