"""The dashboard's snapshot: the expensive figures of a campaign, computed off the request.

A snapshot holds the consolidation selectors' agreement statistics, the
per-annotator agreement and medians, and the figures (PNG bytes), tagged
with the data stamp it was computed at (``selectors.dashboard.data_stamp``).
``dashboard_snapshot_refresh`` computes and stores one (the Celery task
``annotator.dashboard_refresh`` calls it); ``dashboard_snapshot_for`` is what a
page asks: the stored snapshot, and a refresh sent when it is missing or
older than the data. Small campaigns are computed in the request the first
time, so a new campaign's page is never empty.
"""
from __future__ import annotations

from typing import Any

from django.db.models import Sum
from django.utils import timezone

from annotator import plots
from annotator.models import Campaign, Slot
from annotator.selectors import dashboard as selectors

# Below this many answers a first snapshot is computed in the request (about a second).
INLINE_MAX_RESPONSES = 20_000
REFRESH_LOCK_SECONDS = 300

PLOT_DATA = {
    "likert_spread": selectors.likert_spreads,
    "sxs_tallies": selectors.sxs_tallies,
}


def dashboard_snapshot_refresh(*, campaign: Campaign) -> dict[str, Any]:
    """Compute and store the campaign's snapshot at the current data stamp; idempotent."""
    store = selectors.dashboard_cache()
    stamp = selectors.data_stamp(campaign=campaign)
    current = selectors.snapshot_get(campaign=campaign)
    if current is not None and current["stamp"] == stamp:
        return current
    figures = {name: data(campaign=campaign) for name, data in PLOT_DATA.items()}
    snapshot = {
        "stamp": stamp,
        "computed_at": timezone.now(),
        "agreement": selectors.agreement_raw(campaign=campaign),
        "annotators": selectors.annotator_stats(campaign=campaign),
        "figures": figures,
        "heatmap_targets": selectors.heatmap_targets(campaign=campaign),
        "plots": {name: plots.PLOTS[name](data) for name, data in figures.items()},
    }
    store.set(selectors.campaign_cache_key(campaign=campaign, name="snapshot"), snapshot, selectors.CACHE_SECONDS)
    store.delete(selectors.campaign_cache_key(campaign=campaign, name="refreshing"))
    return snapshot


def _refresh_send(campaign: Campaign, stamp: str) -> None:
    from annotator.tasks.quality import dashboard_refresh_task

    store = selectors.dashboard_cache()
    # One refresh per stamp at a time: reloads while it runs do not pile up tasks.
    if store.get(selectors.campaign_cache_key(campaign=campaign, name="refreshing")) == stamp:
        return
    store.set(selectors.campaign_cache_key(campaign=campaign, name="refreshing"), stamp, REFRESH_LOCK_SECONDS)
    dashboard_refresh_task.delay(campaign.pk)


def dashboard_snapshot_for(*, campaign: Campaign) -> tuple[dict[str, Any] | None, str]:
    """``(snapshot or None, state)``; state: ``fresh``, ``stale`` (older data, refresh sent) or ``pending``."""
    stamp = selectors.data_stamp(campaign=campaign)
    snapshot = selectors.snapshot_get(campaign=campaign)
    if snapshot is not None and snapshot["stamp"] == stamp:
        return snapshot, "fresh"
    if snapshot is None:
        answers = Slot.objects.filter(campaign=campaign).aggregate(n=Sum("n_done"))["n"] or 0
        if answers <= INLINE_MAX_RESPONSES:
            return dashboard_snapshot_refresh(campaign=campaign), "fresh"
    _refresh_send(campaign, stamp)
    # An eager Celery (tests, a worker-less demo) has already refreshed.
    snapshot = selectors.snapshot_get(campaign=campaign)
    if snapshot is not None and snapshot["stamp"] == stamp:
        return snapshot, "fresh"
    return snapshot, ("stale" if snapshot is not None else "pending")
