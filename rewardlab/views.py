"""Figure routes of rewardlab (researchers only): PNGs for the dashboard panel.

Figures are cached per version (or per campaign's set of versions) under a
stamp that changes when a version changes, so a reload never redraws an
unchanged figure.
"""
from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from annotator.models import Campaign
from annotator.roles import is_researcher
from rewardlab import plots
from rewardlab.models import ModelVersion
from rewardlab.selectors.dashboard import learning_curve_points

CACHE_SECONDS = 24 * 3600


def _researcher(request: HttpRequest) -> None:
    if not is_researcher(request.user):
        raise PermissionDenied("Only researchers see reward-model figures.")


def _png_response(key: str, draw: Callable[[], bytes]) -> HttpResponse:
    png = cache.get(key)
    if png is None:
        png = draw()
        cache.set(key, png, CACHE_SECONDS)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=60"
    return response


def _version(request: HttpRequest, version_id: int) -> ModelVersion:
    _researcher(request)
    return get_object_or_404(ModelVersion.objects.select_related("campaign"), pk=version_id)


def _title(version: ModelVersion) -> str:
    return f"{version.campaign.name}: {version.kind} v{version.pk}"


@login_required
@require_GET
def version_metrics(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version(request, version_id)
    return _png_response(f"rewardlab:metrics:{version.pk}:{version.updated_at.timestamp()}",
                         lambda: plots.version_metrics_png(title=_title(version), metrics=version.metrics or {}))


@login_required
@require_GET
def version_weights(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version(request, version_id)
    metrics = version.metrics or {}
    return _png_response(
        f"rewardlab:weights:{version.pk}:{version.updated_at.timestamp()}",
        lambda: plots.aggregator_weights_png(title=f"{_title(version)}: aggregator weights",
                                             weights=metrics.get("aggregator_weights") or {},
                                             intercept=metrics.get("aggregator_intercept"),
                                             values=metrics.get("attribute_value")))


@login_required
@require_GET
def learning_curve(request: HttpRequest, campaign_id: int) -> HttpResponse:
    _researcher(request)
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    stamp = ModelVersion.objects.filter(campaign=campaign).aggregate(at=Max("updated_at"), n=Count("id"))
    at = stamp["at"].timestamp() if stamp["at"] else 0
    return _png_response(
        f"rewardlab:curve:{campaign.pk}:{campaign.created_at.timestamp()}:{at}:{stamp['n']}",
        lambda: plots.learning_curve_png(title=f"{campaign.name}: held-out ROC-AUC of the reward models",
                                         points=learning_curve_points(campaign=campaign)))
