"""The inspector's review page: one sampled assignment at a time, accept or invalidate.

The page works without JavaScript (a plain form POST); ``static/annotator/review.js``
adds keyboard shortcuts and the per-label toggles of the point overlay.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from annotator.errors import ApplicationError
from annotator.models import Assignment, Campaign, Review
from annotator.roles import is_inspector
from annotator.selectors.quality import review_item
from annotator.services.reviews import review_sample, review_submit


def _require_inspector(request: HttpRequest) -> None:
    if not is_inspector(request.user):
        raise PermissionDenied("Only inspectors and researchers review work.")


@login_required
def review_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    _require_inspector(request)
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if request.method == "POST":
        assignment = get_object_or_404(Assignment, pk=request.POST.get("assignment"), campaign=campaign)
        try:
            review = review_submit(assignment=assignment, inspector=request.user,
                                   verdict=request.POST.get("verdict", ""), reason=request.POST.get("reason", ""))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(f"{reverse('review', args=[campaign.pk])}?assignment={assignment.pk}")
        done = "accepted" if review.verdict == Review.Verdict.ACCEPTED else "invalidated and sent back for relabeling"
        messages.success(request, f"Assignment #{assignment.pk} {done}.")
        return redirect("review", campaign.pk)

    # "Skip" walks down the queue: ?skip=n shows the (n+1)-th assignment, wrapping round.
    skip = min(int(request.GET["skip"]), 200) if request.GET.get("skip", "").isdigit() else 0
    requested = request.GET.get("assignment")
    if requested:
        assignment = get_object_or_404(Assignment, pk=requested, campaign=campaign)
    else:
        sample = review_sample(campaign=campaign, inspector=request.user, k=skip + 1)
        assignment = sample[skip % len(sample)] if sample else None
    pending = (Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED, is_gold=False)
               .exclude(annotator=request.user).filter(reviews__isnull=True).count())
    context = {
        "campaign": campaign,
        "item": review_item(assignment=assignment) if assignment else None,
        "pending": pending,
        "next_skip": skip + 1,
        "reviewable": (assignment is not None and assignment.status == Assignment.Status.SUBMITTED
                       and assignment.annotator_id != request.user.pk),
    }
    return render(request, "annotator/review.html", context)
