"""Reads around assignments: the task payload, images in display order, ratings."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db import connection
from django.utils import timezone

from annotator.errors import ApplicationError
from annotator.markdown import markdown_render
from annotator.models import (
    Assignment, Attribute, AttributeKind, GroupImage, Image, Item, Pair, Response, Target, TargetType,
)
from annotator.rows import model_read, models_read


#: What every read of an assignment for its task page or submit also needs.
ASSIGNMENT_RELATED = ("campaign", "target__prompt")


def assignment_get_own(*, assignment_id: int, annotator, for_update: bool = False) -> Assignment:
    """The annotator's own assignment; anybody else's reads as missing (404), whatever their role."""
    # One plain read (every submit asks): the ORM took longer to compile it than the database to answer.
    assignment = model_read(Assignment, 't0."id" = %s AND t0."annotator_id" = %s', [assignment_id, annotator.pk],
                            related=ASSIGNMENT_RELATED, lock="UPDATE" if for_update else None)
    if assignment is None:
        raise ApplicationError("No such assignment.", field="assignment", rule="not_found", status_code=404)
    return assignment


def assignment_live_get(*, campaign, annotator, now=None) -> Assignment | None:
    """The annotator's issued assignment in this campaign whose lease still runs."""
    now = now or timezone.now()
    # Asked on every next-task request and nearly always answered "none": look for its id first (a plain
    # index lookup), and build the joined model only when there is one.
    with connection.cursor() as cursor:
        cursor.execute('SELECT "id" FROM "annotator_assignment" WHERE "annotator_id" = %s AND "status" = %s '
                       'AND "campaign_id" = %s AND "lease_expires_at" > %s ORDER BY "id" DESC LIMIT 1',
                       [annotator.pk, Assignment.Status.ISSUED.value, campaign.pk,
                        connection.ops.adapt_datetimefield_value(now)])
        row = cursor.fetchone()
    if row is None:
        return None
    return model_read(Assignment, 't0."id" = %s', [row[0]], related=ASSIGNMENT_RELATED)


def target_image_ids(*, target: Target) -> list[int]:
    """The target's images in their natural order (group positions, pair A then B)."""
    if target.type == TargetType.ITEM:
        return [target.item.image_id]
    if target.type == TargetType.GROUP:
        return list(GroupImage.objects.filter(group_id=target.group_id).order_by("position", "id")
                    .values_list("image_id", flat=True))
    if target.type == TargetType.PAIR:
        pair = Pair.objects.filter(pk=target.pair_id).values_list("image_a_id", "image_b_id").first()
        return list(pair) if pair else []
    return []


def assignment_image_ids(*, assignment: Assignment) -> list[int]:
    """Image ids as this annotator saw them: fixed at issue in ``display`` (pair sides are random)."""
    shown = (assignment.display or {}).get("images")
    if shown is not None:
        return [int(image_id) for image_id in shown]
    return target_image_ids(target=assignment.target)


def assignment_attributes(*, assignment: Assignment) -> list[Attribute]:
    """The requested attributes in the order the assignment lists them."""
    issued = getattr(assignment, "requested_attributes", None)  # set by assignment_create on a fresh lease
    if issued is not None:
        return list(issued)
    return models_read(Attribute, 's."assignment_id" = %s', [assignment.pk],
                       joins='INNER JOIN "annotator_assignmentslot" s ON s."attribute_id" = t0."id"',
                       order_by='s."position", t0."order", t0."id"')


def ranking_ratings(*, annotator, ranking: Attribute, image_ids: list[int]) -> dict[int, int]:
    """This annotator's ratings ``{image_id: k}`` of the ranking's ``rating_attribute`` on the images' items."""
    key = (ranking.config or {}).get("rating_attribute")
    if not key or not image_ids:
        return {}
    rows = (Response.objects.filter(annotator=annotator, valid=True, attribute__campaign_id=ranking.campaign_id,
                                    attribute__key=key, target__item__image_id__in=image_ids)
            .order_by("created_at", "id").values_list("target__item__image_id", "value"))
    ratings = {}
    for image_id, value in rows:
        k = value.get("value") if isinstance(value, dict) else None
        if isinstance(k, int) and not isinstance(k, bool):
            ratings[image_id] = k  # the latest rating wins
    return ratings


@lru_cache(maxsize=64)
def instructions_render(text: str) -> str:
    """Campaign markdown as sanitised HTML, the same as the pages show; cached, every task sends it."""
    return str(markdown_render(text))


def _attribute_payload(attribute: Attribute) -> dict:
    return {
        "key": attribute.key, "kind": attribute.kind, "question": attribute.question,
        "options": list(attribute.options or []), "points": attribute.likert_points,
        "anchors": list(attribute.anchors or []), "config": dict(attribute.config or {}),
        "category": attribute.category, "required": attribute.required,
    }


def _images(*, target: Target, image_ids: list[int]) -> dict[int, Image]:
    """The images by id; an item's own image when the issuer already read it with the target."""
    if target.type == TargetType.ITEM and Target.item.is_cached(target) and Item.image.is_cached(target.item):
        image = target.item.image
        if [image.pk] == image_ids:
            return {image.pk: image}
    return {image.pk: image for image in Image.objects.filter(pk__in=image_ids)}


def assignment_payload(*, assignment: Assignment) -> dict:
    """Everything the annotation page needs for one assignment (the API's ``assignment`` object)."""
    target = assignment.target
    prompt = target.prompt
    campaign = assignment.campaign
    attributes = assignment_attributes(assignment=assignment)
    image_ids = assignment_image_ids(assignment=assignment)
    images = _images(target=target, image_ids=image_ids)
    ratings: dict[int, int] = {}
    for attribute in attributes:
        if attribute.kind == AttributeKind.RANKING:
            ratings.update(ranking_ratings(annotator=assignment.annotator_id, ranking=attribute,
                                           image_ids=image_ids))
    return {
        "id": assignment.pk,
        "campaign": assignment.campaign_id,
        "status": assignment.status,
        "target": {
            "id": target.pk,
            "type": target.type,
            "images": [
                {"id": image_id, "url": images[image_id].file.url, "width": images[image_id].width,
                 "height": images[image_id].height}
                for image_id in image_ids if image_id in images
            ],
            "prompt": {"text": prompt.text, "tokens": list(prompt.tokens or [])},
        },
        "attributes": [_attribute_payload(attribute) for attribute in attributes],
        "lease_expires_at": assignment.lease_expires_at,
        "draft": assignment.draft or {},
        "ratings": {str(image_id): k for image_id, k in ratings.items()},
        "point_radius_frac": campaign.point_radius_frac,
        "instructions_html": instructions_render(campaign.instructions),
    }


def submission_body(*, assignment: Assignment, rows: list[tuple[str, Any, int | None]]) -> dict:
    """The body a submit answers with: ``rows`` of (attribute key, value as stored, active_ms) in attribute order."""
    return {
        "assignment": assignment.pk,
        "submission_id": str(assignment.submission_id) if assignment.submission_id else None,
        "responses": [{"attribute": key, "value": value, "active_ms": active_ms} for key, value, active_ms in rows],
    }


def submission_result(*, assignment: Assignment) -> dict:
    """The body a submit answered with, rebuilt from what was saved (so a resubmission gets the same)."""
    rows = (Response.objects.filter(assignment=assignment).order_by("attribute__order", "attribute_id")
            .values_list("attribute__key", "value", "active_ms"))
    return submission_body(assignment=assignment, rows=list(rows))
