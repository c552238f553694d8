"""Figure routes of elicitation (researchers only): spend against budget, the simulator's comparison.

The spend figure is cached under the budget's last change and the ledger's
size, so a reload never redraws an unchanged figure.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from annotator.models import Campaign
from annotator.roles import is_researcher
from elicitation import plots
from elicitation.models import LedgerEntry
from elicitation.selectors.budgets import budget_summary, spend_series

CACHE_SECONDS = 24 * 3600


def benchmark_png_path() -> Path:
    """Where ``benchmarks/elicitation.py`` saves its AUC-against-cost comparison."""
    return Path(settings.BASE_DIR) / "benchmarks" / "out" / "elicitation.png"


def _researcher(request: HttpRequest) -> None:
    if not is_researcher(request.user):
        raise PermissionDenied("Only researchers see budget figures.")


@login_required
@require_GET
def spend_plot(request: HttpRequest, campaign_id: int) -> HttpResponse:
    _researcher(request)
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    summary = budget_summary(campaign=campaign)
    stamp = LedgerEntry.objects.filter(campaign=campaign).aggregate(n=Count("pk"), last=Max("created_at"))
    last = stamp["last"].timestamp() if stamp["last"] else 0  # no spaces: a key memcached also takes
    key = (f"elicitation:spend:{campaign.pk}:{stamp['n']}:{last}:{summary.limit_s}:"
           f"{summary.hourly_rate}:{summary.charged_s}:{summary.reserved_s}")
    png = cache.get(key)
    if png is None:
        png = plots.spend_png(**spend_series(campaign=campaign), limit_s=summary.limit_s,
                              hourly_rate=summary.hourly_rate, currency=summary.currency)
        cache.set(key, png, CACHE_SECONDS)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=30"
    return response


@login_required
@require_GET
def benchmark_plot(request: HttpRequest) -> HttpResponse:
    _researcher(request)
    path = benchmark_png_path()
    if not path.exists():
        raise Http404("No benchmark figure yet: run benchmarks/elicitation.py.")
    return FileResponse(path.open("rb"), content_type="image/png")
