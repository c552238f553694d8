"""Reads for quality control: an annotator's standing, agreement with others, review pages."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import numpy as np

from annotator.matching import MatchContext
from annotator.models import (
    AnnotatorStanding, Assignment, Attribute, Campaign, GroupImage, Response, Review, Target,
)
from annotator.services.quality import pseudonym_make

# Points are compared on a coarse grid (as annotator_agreement does): the queue
# needs an order, not the stored heatmaps' resolution.
POINTS_GRID = 128


def _percent(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def standing_for(*, campaign: Campaign, annotator) -> dict[str, Any]:
    """What an annotator may see about their own standing in a campaign (home page).

    ``status`` is one of ``not_required`` (no gold tasks in this campaign),
    ``qualifying`` (gold tasks still to do), ``qualified``, ``not_qualified``;
    ``message`` says it in words.
    """
    row = (AnnotatorStanding.objects.filter(campaign=campaign, annotator=annotator)
           .values("gold_answered", "gold_score", "n_skips").first()) or {
        "gold_answered": 0, "gold_score": None, "n_skips": 0}
    required = campaign.gold_tasks_required
    threshold = campaign.qualification_threshold
    answered, score = row["gold_answered"], row["gold_score"]
    if required <= 0:
        status, message = "not_required", "No qualification needed for this campaign."
    elif answered < required:
        status = "qualifying"
        message = (f"Qualification: {answered} of {required} gold tasks done"
                   + (f", {_percent(score)} correct so far" if score is not None else "")
                   + f" ({_percent(threshold)} needed).")
    elif score is not None and score < threshold:
        status = "not_qualified"
        message = f"Not qualified: {_percent(score)} correct on the gold tasks, {_percent(threshold)} needed."
    else:
        status = "qualified"
        message = f"Qualified: {_percent(score)} correct on {answered} gold tasks ({_percent(threshold)} needed)."
    return {
        "status": status,
        "qualified": status in ("qualified", "not_required"),
        "gold_required": required,
        "gold_answered": answered,
        "gold_score": score,
        "threshold": threshold,
        "n_skips": row["n_skips"],
        "skip_limit": campaign.skip_limit,
        "skips_left": max(0, campaign.skip_limit - row["n_skips"]),
        "message": message,
    }


# ---------------------------------------------------------------- agreement with the others
def match_context(*, target: Target, campaign: Campaign) -> MatchContext:
    """Image size (points), radius and pair sides (sxs) for comparing answers on a target."""
    if target.item_id is not None:
        image = target.item.image
        return MatchContext(image_width=image.width, image_height=image.height,
                            radius_frac=campaign.point_radius_frac)
    if target.pair_id is not None:
        return MatchContext(image_a=target.pair.image_a_id, image_b=target.pair.image_b_id,
                            radius_frac=campaign.point_radius_frac)
    return MatchContext(radius_frac=campaign.point_radius_frac)



def assignment_agreements(*, target_ids: list[int]) -> dict[int, float | None]:
    """Per submitted assignment on these targets: its agreement with the consensus.

    Uses the consolidation package's own rules: each (target, attribute) is
    consolidated from its valid answers and each answer compared with that
    consensus by its kind's ``compare`` (binary / category / sxs: equals the
    majority; likert: 1 - |k - mean| / (points - 1); points: IoU with the
    majority region; ...). The assignment's agreement is the mean over its
    answers; ``None`` where no (target, attribute) it answered has a second
    answer yet (a consensus of one says nothing).
    """
    from annotator.consolidation import CONSOLIDATORS
    from annotator.selectors.consolidation import (
        attribute_spec, needs_target_info, target_infos, target_spec, valid_answers_grouped,
    )

    target_ids = list(target_ids)
    if not target_ids:
        return {}
    rows = list(Response.objects.filter(target_id__in=target_ids, valid=True,
                                        assignment__status=Assignment.Status.SUBMITTED)
                .values_list("target_id", "attribute_id", "annotator_id", "assignment_id"))
    assignment_of = {(t, at, an): a for t, at, an, a in rows}
    attributes = {a.pk: a for a in Attribute.objects.filter(pk__in={r[1] for r in rows}).select_related("campaign")}
    infos = (target_infos(target_ids=target_ids)
             if any(needs_target_info(a.kind) for a in attributes.values()) else {})
    scores: dict[int, list[float]] = defaultdict(list)
    for target_id, attribute_id, annotators, values in valid_answers_grouped(attribute_ids=list(attributes),
                                                                             target_ids=target_ids):
        attribute = attributes[attribute_id]
        kind = CONSOLIDATORS.get(attribute.kind)
        if kind is None or len(values) < 2:
            continue
        spec = target_spec(attribute_spec(attribute=attribute, campaign=attribute.campaign), infos.get(target_id))
        if attribute.kind == "points":
            spec = dataclasses.replace(spec, max_side=POINTS_GRID)
        reference = kind.reference(kind.consolidate(values, spec), spec)
        for annotator_id, value in zip(annotators, values):
            assignment_id = assignment_of.get((target_id, attribute_id, annotator_id))
            compared = kind.compare(value, reference, spec) if assignment_id is not None else None
            if compared is not None and compared.get("agreement") is not None:
                scores[assignment_id].append(float(compared["agreement"]))
    return {pk: (float(np.mean(scores[pk])) if scores.get(pk) else None) for pk in set(assignment_of.values())}


# ---------------------------------------------------------------- review page
def _image_json(image) -> dict[str, Any]:
    return {"id": image.pk, "url": image.file.url, "width": image.width, "height": image.height}


def target_images(*, target: Target) -> list[dict[str, Any]]:
    if target.item_id is not None:
        return [_image_json(target.item.image)]
    if target.pair_id is not None:
        return [_image_json(target.pair.image_a), _image_json(target.pair.image_b)]
    if target.group_id is not None:
        members = GroupImage.objects.filter(group_id=target.group_id).select_related("image").order_by("position")
        return [_image_json(m.image) for m in members]
    return []


def _render_answer(attribute: Attribute, value: dict, *, images: dict[int, dict], n_tokens: int) -> dict[str, Any]:
    """Whatever the review template needs to show one answer without JavaScript."""
    kind = attribute.kind
    out: dict[str, Any] = {"kind": kind, "raw": value}
    if kind == "binary":
        labels = attribute.options or ["yes", "no", "unsure"]
        if value.get("skipped"):
            out["text"] = labels[2] if len(labels) > 2 else "skipped"
        else:
            out["text"] = labels[0] if value.get("value") else labels[1]
    elif kind == "likert":
        k, points = value.get("value"), attribute.likert_points or 5
        anchors = attribute.anchors or []
        out.update(value=k, points=points, scale=list(range(1, points + 1)),
                   anchor=anchors[k - 1] if isinstance(k, int) and 0 < k <= len(anchors) else "")
    elif kind in ("choice", "category"):
        chosen = value.get("value")
        out["chosen"] = chosen if isinstance(chosen, list) else [chosen]
        out["options"] = attribute.options
    elif kind == "points":
        out["points"] = value.get("points") or []
        out["none"] = bool(value.get("none"))
    elif kind == "keywords":
        out["tokens"] = sorted(t for t in value.get("tokens") or [] if 0 <= t < n_tokens)
    elif kind == "ranking":
        out["levels"] = [[images.get(int(i), {"id": i}) for i in level] for level in value.get("levels") or []]
    elif kind == "sxs":
        out["choice"] = value.get("choice")
        out["a"], out["b"] = images.get(value.get("a")), images.get(value.get("b"))
    return out


def review_item(*, assignment: Assignment) -> dict[str, Any]:
    """One assignment as the inspector sees it: images, prompt tokens, every answer rendered."""
    target = (Target.objects.select_related("prompt", "item__image", "pair__image_a", "pair__image_b", "campaign")
              .get(pk=assignment.target_id))
    images = target_images(target=target)
    by_id = {img["id"]: img for img in images}
    tokens = target.prompt.tokens or []
    responses = list(Response.objects.filter(assignment=assignment).select_related("attribute")
                     .order_by("attribute__order", "attribute_id"))
    answers = []
    flagged: set[int] = set()
    points: list[dict] = []
    for response in responses:
        rendered = _render_answer(response.attribute, response.value, images=by_id, n_tokens=len(tokens))
        if rendered["kind"] == "keywords":
            flagged.update(rendered["tokens"])
        if rendered["kind"] == "points":
            points += [{**p, "attribute": response.attribute.key} for p in rendered["points"]]
        answers.append({"key": response.attribute.key, "question": response.attribute.question,
                        "active_ms": response.active_ms, "valid": response.valid, **rendered})
    text = target.prompt.text
    # Prompt as segments (plain text between tokens, tokens marked when flagged): the
    # template escapes every segment, so prompt text is never injected as HTML.
    segments, pos = [], 0
    for i, token in enumerate(tokens):
        if token["start"] > pos:
            segments.append({"text": text[pos:token["start"]], "token": None, "flagged": False})
        segments.append({"text": text[token["start"]:token["end"]], "token": i, "flagged": i in flagged})
        pos = token["end"]
    if pos < len(text):
        segments.append({"text": text[pos:], "token": None, "flagged": False})
    standing = AnnotatorStanding.objects.filter(campaign_id=assignment.campaign_id,
                                                annotator_id=assignment.annotator_id).first()
    return {
        "assignment": assignment,
        "target": target,
        "images": images,
        "prompt_text": text,
        "prompt_segments": segments,
        "answers": answers,
        "points": points,
        "pseudonym": (standing.pseudonym if standing and standing.pseudonym
                      else pseudonym_make(campaign_id=assignment.campaign_id, annotator_id=assignment.annotator_id)),
        "reviews": list(Review.objects.filter(assignment=assignment).select_related("inspector").order_by("pk")),
    }
