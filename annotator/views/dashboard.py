"""The researcher's dashboard: progress, agreement, annotators, figures, heatmaps, exports.

Researchers only. The page runs aggregate queries only; agreement statistics
and the figures (PNGs drawn by ``annotator.plots``) come from the campaign's
snapshot (``annotator.services.dashboard``), recomputed by a task when the
latest consolidation is newer, so reloading never redraws an unchanged figure
and no request waits for a campaign-wide computation.
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from annotator import plots
from annotator.models import Attribute, AttributeKind, Campaign, Consolidated, Target
from annotator.roles import is_researcher
from annotator.selectors import dashboard as selectors
from annotator.services.dashboard import PLOT_DATA, dashboard_snapshot_for


def _campaign_for_researcher(request: HttpRequest, campaign_id: int) -> Campaign:
    if not is_researcher(request.user):
        raise PermissionDenied("Only researchers see the dashboard.")
    return get_object_or_404(Campaign, pk=campaign_id)


@login_required
@ensure_csrf_cookie
@require_GET
def dashboard(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign_for_researcher(request, campaign_id)
    snapshot, state = dashboard_snapshot_for(campaign=campaign)
    kinds = set(Attribute.objects.filter(campaign=campaign).values_list("kind", flat=True))
    context = {
        "campaign": campaign,
        "snapshot_state": state,
        "snapshot_at": snapshot["computed_at"] if snapshot else None,
        "snapshot_version": snapshot["stamp"] if snapshot else "",
        "totals": selectors.campaign_totals(campaign=campaign),
        "progress": selectors.attribute_progress(campaign=campaign),
        "agreement": selectors.agreement_table(campaign=campaign, raw=snapshot and snapshot["agreement"]),
        "agreement_columns": selectors.AGREEMENT_COLUMNS,
        "annotators": selectors.annotator_table(campaign=campaign, heavy=snapshot and snapshot["annotators"]),
        "has_likert": AttributeKind.LIKERT in kinds,
        "has_sxs": AttributeKind.SXS in kinds,
        "has_points": AttributeKind.POINTS in kinds,
        "heatmap_targets": (snapshot or {}).get("heatmap_targets") or [],
        "exports": selectors.export_jobs(campaign=campaign),
        "panels": selectors.dashboard_panels(campaign=campaign, request=request),
    }
    return render(request, "annotator/dashboard.html", context)


@login_required
@require_GET
def plot(request: HttpRequest, campaign_id: int, name: str) -> HttpResponse:
    campaign = _campaign_for_researcher(request, campaign_id)
    if name not in plots.PLOTS:
        raise Http404(f"No figure named {name!r}.")
    snapshot = selectors.snapshot_get(campaign=campaign)
    # The snapshot's figure (possibly of slightly older data while a refresh runs);
    # drawn here only when the campaign has none yet.
    png = snapshot["plots"][name] if snapshot else plots.PLOTS[name](PLOT_DATA[name](campaign=campaign))
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=60"
    return response


def _target_item(campaign: Campaign, target_id: int) -> Target:
    target = get_object_or_404(Target.objects.select_related("item__image", "prompt"), pk=target_id,
                               campaign=campaign)
    if target.type != "item":
        raise Http404("Heatmaps exist for items only.")
    return target


@login_required
@require_GET
def heatmap_json(request: HttpRequest, campaign_id: int, target_id: int) -> JsonResponse:
    campaign = _campaign_for_researcher(request, campaign_id)
    target = _target_item(campaign, target_id)

    def url_for(attribute_key: str, label: str) -> str:
        return reverse("dashboard-heatmap-png", args=[campaign.pk, target.pk, attribute_key, label])

    return JsonResponse(selectors.heatmap_payload(campaign=campaign, target=target, url_for=url_for))


@login_required
@require_GET
def heatmap_png(request: HttpRequest, campaign_id: int, target_id: int, attribute_key: str,
                label: str) -> HttpResponse:
    campaign = _campaign_for_researcher(request, campaign_id)
    target = _target_item(campaign, target_id)
    consolidated = get_object_or_404(Consolidated, target=target, attribute__key=attribute_key,
                                     attribute__campaign=campaign)
    heat = selectors.heatmap_array(consolidated=consolidated, label=label)
    if heat is None:
        raise Http404(f"No heatmap for label {label!r}.")
    response = HttpResponse(plots.heatmap_overlay_png(heat, label), content_type="image/png")
    response["Cache-Control"] = "private, max-age=60"
    return response
