"""The annotator's pages: home, campaign overview (researchers) and the task page.

The task page is a shell: ``static/annotator/task.js`` asks the API for the
next task and renders it. The view only hands the script what the API does
not carry (the campaign's point radius, the user's progress, the URLs).
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotator.markdown import markdown_render
from annotator.models import Campaign
from annotator.roles import is_inspector, is_researcher, user_role
from annotator.selectors.quality import standing_for
from annotator.selectors.annotate import (
    annotator_submitted_count,
    campaign_overview,
    campaign_progress_list,
    campaigns_for_user,
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    researcher = is_researcher(request.user)
    campaigns = campaigns_for_user(user=request.user, include_inactive=researcher)
    rows = [
        {"progress": row, "instructions_html": markdown_render(row.campaign.instructions),
         "standing": standing_for(campaign=row.campaign, annotator=request.user)}
        for row in campaign_progress_list(user=request.user, campaigns=campaigns)
    ]
    return render(request, "annotator/home.html", {
        "rows": rows,
        "is_researcher": researcher,
        "is_inspector": is_inspector(request.user),
        "role": user_role(request.user),
    })


@login_required
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    if not is_researcher(request.user):
        raise PermissionDenied("Only researchers see a campaign's overview.")
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    overview = campaign_overview(campaign=campaign, page_number=request.GET.get("page", 1))
    return render(request, "annotator/campaign_overview.html", {
        "overview": overview,
        "campaign": campaign,
        "instructions_html": markdown_render(campaign.instructions),
    })


@login_required
@ensure_csrf_cookie
def annotate(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    return render(request, "annotator/task.html", {
        "campaign": campaign,
        "instructions_html": markdown_render(campaign.instructions),
        "submitted": annotator_submitted_count(user=request.user, campaign=campaign),
        "is_researcher": is_researcher(request.user),
    })
