"""Reads behind the annotator's pages: home, campaign overview, task page."""
from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet, Sum

from annotator.models import Assignment, Attribute, Campaign, Item, Response, Slot, Target

OVERVIEW_PAGE_SIZE = 60


@dataclass(frozen=True)
class CampaignProgress:
    """One campaign on the home page, with the viewer's own progress in it."""

    campaign: Campaign
    submitted: int
    responses: int
    open_assignment_id: int | None


def campaigns_for_user(*, user, include_inactive: bool = False) -> QuerySet[Campaign]:
    """Campaigns a user may work on: active ones (researchers may ask for all)."""
    qs = Campaign.objects.all().order_by("name")
    if not include_inactive:
        qs = qs.filter(status=Campaign.Status.ACTIVE)
    return qs


def campaign_progress_list(*, user, campaigns: QuerySet[Campaign]) -> list[CampaignProgress]:
    """The user's submitted assignments, valid responses and open task per campaign (three queries)."""
    ids = [c.pk for c in campaigns]
    submitted = dict(
        Assignment.objects.filter(annotator=user, campaign_id__in=ids, status=Assignment.Status.SUBMITTED)
        .values_list("campaign_id").annotate(n=Count("id")).values_list("campaign_id", "n")
    )
    responses = dict(
        Response.objects.filter(annotator=user, assignment__campaign_id__in=ids, valid=True)
        .values_list("assignment__campaign_id").annotate(n=Count("id")).values_list("assignment__campaign_id", "n")
    )
    open_ids: dict[int, int] = {}
    for campaign_id, assignment_id in (
        Assignment.objects.filter(annotator=user, campaign_id__in=ids, status=Assignment.Status.ISSUED)
        .order_by("issued_at").values_list("campaign_id", "id")
    ):
        open_ids.setdefault(campaign_id, assignment_id)
    return [
        CampaignProgress(campaign=c, submitted=submitted.get(c.pk, 0), responses=responses.get(c.pk, 0),
                         open_assignment_id=open_ids.get(c.pk))
        for c in campaigns
    ]


def annotator_submitted_count(*, user, campaign: Campaign) -> int:
    return Assignment.objects.filter(annotator=user, campaign=campaign, status=Assignment.Status.SUBMITTED).count()


@dataclass(frozen=True)
class CampaignOverview:
    campaign: Campaign
    page: Page
    attributes: list[Attribute]
    counts: dict[str, int]


def campaign_overview(*, campaign: Campaign, page_number: int | str | None = 1,
                      page_size: int = OVERVIEW_PAGE_SIZE) -> CampaignOverview:
    """A page of the campaign's items (with image and prompt) and every attribute with its progress."""
    items = (
        Item.objects.filter(campaign=campaign).select_related("image", "image__prompt").order_by("id")
    )
    page = Paginator(items, page_size).get_page(page_number)
    attributes = list(
        Attribute.objects.filter(campaign=campaign).annotate(
            n_done=Sum("slots__n_done", default=0),
            n_slots=Count("slots"),
        ).order_by("order", "id")
    )
    target_counts = dict(
        Target.objects.filter(campaign=campaign).values_list("type").annotate(n=Count("id")).values_list("type", "n")
    )
    assignment_counts = Assignment.objects.filter(campaign=campaign).aggregate(
        submitted=Count("id", filter=Q(status=Assignment.Status.SUBMITTED)),
        open=Count("id", filter=Q(status=Assignment.Status.ISSUED)),
    )
    counts = {
        "items": target_counts.get("item", 0),
        "groups": target_counts.get("group", 0),
        "pairs": target_counts.get("pair", 0),
        "prompts": target_counts.get("prompt", 0),
        "submitted": assignment_counts["submitted"],
        "open": assignment_counts["open"],
        "responses": Response.objects.filter(target__campaign=campaign, valid=True).count(),
        "slots_total": Slot.objects.filter(campaign=campaign).count(),
    }
    return CampaignOverview(campaign=campaign, page=page, attributes=attributes, counts=counts)
