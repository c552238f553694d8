"""Gold scoring, the inspectors' review queue and invalidation (ImageReward A.2).

- ``gold_score_update``: after a gold submission, score the annotator's answers
  on gold targets against the researchers' ``GoldAnswer`` rows (rules in
  ``annotator.matching``) and update their ``AnnotatorStanding``.
- ``review_sample``: the inspector's queue: submitted, unreviewed work, the
  assignments that agree least with the consensus first, plus a random share
  (``campaign.inspection_rate``) so inspectors also see work that looks fine
  and can estimate the base error rate.
- ``review_submit``: accept, or invalidate: the responses leave consolidation,
  the slots reopen so the target is issued to someone else for relabeling, the
  assignment hooks hear ``invalidated`` (the budget ledger keeps its entries).
"""
from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef

from annotator.errors import ApplicationError, ConflictError
from annotator.hooks import assignment_event
from annotator.matching import MatchContext, answer_matches
from annotator.models import Assignment, AnnotatorStanding, Campaign, GoldAnswer, Response, Review, Slot
from annotator.selectors.quality import assignment_agreements, match_context
from annotator.services.consolidation import consolidated_recompute
from annotator.services.quality import standing_ensure

VERDICTS = {"accept": Review.Verdict.ACCEPTED, "accepted": Review.Verdict.ACCEPTED,
            "invalidate": Review.Verdict.INVALIDATED, "invalidated": Review.Verdict.INVALIDATED}


# ---------------------------------------------------------------- gold
@transaction.atomic
def gold_score_update(*, assignment: Assignment) -> AnnotatorStanding:
    """Re-score all of this annotator's valid answers on gold targets of the campaign.

    Recomputed from scratch (a handful of rows) rather than incremented, so it
    is idempotent and stays right after an invalidation. ``gold_answered``
    counts submitted assignments with at least one answer compared to gold;
    ``gold_score`` is the share of compared answers that match.
    """
    campaign = assignment.campaign
    responses = list(
        Response.objects.filter(annotator_id=assignment.annotator_id, target__campaign=campaign,
                                target__is_gold=True, valid=True, assignment__status=Assignment.Status.SUBMITTED)
        .select_related("attribute", "target__item__image", "target__pair")
        .order_by("pk")
    )
    gold = {(g.target_id, g.attribute_id): g.value
            for g in GoldAnswer.objects.filter(target_id__in={r.target_id for r in responses})}
    matches: list[bool] = []
    assignments: set[int] = set()
    contexts: dict[int, MatchContext] = {}
    for response in responses:
        reference = gold.get((response.target_id, response.attribute_id))
        if reference is None:
            continue
        if response.target_id not in contexts:
            contexts[response.target_id] = match_context(target=response.target, campaign=campaign)
        matches.append(answer_matches(response.attribute.kind, response.value, reference,
                                      contexts[response.target_id]))
        assignments.add(response.assignment_id)

    standing = standing_ensure(campaign=campaign, annotator=assignment.annotator)
    standing = AnnotatorStanding.objects.select_for_update().get(pk=standing.pk)
    standing.gold_answered = len(assignments)
    standing.gold_score = sum(matches) / len(matches) if matches else None
    standing.qualified = (standing.gold_answered >= campaign.gold_tasks_required
                          and standing.gold_score is not None
                          and standing.gold_score >= campaign.qualification_threshold)
    standing.save(update_fields=["gold_answered", "gold_score", "qualified"])
    return standing


def quality_after_submit(*, assignment: Assignment) -> None:
    """What quality control does when an assignment is submitted (called by the submit service).

    Gold work is scored at once, inside the submit transaction, so the next
    next-task request already sees the new qualification. The agreement with
    the consensus of every assignment on the target changes with each new
    answer: the submit's consolidation task refreshes it after the commit,
    once the consensus itself is recomputed (``tasks/consolidation.py``).
    """
    if assignment.is_gold:
        gold_score_update(assignment=assignment)


# ---------------------------------------------------------------- review queue
def _review_candidates(*, campaign: Campaign, inspector):
    reviewed = Exists(Review.objects.filter(assignment=OuterRef("pk")))
    return (Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED, is_gold=False)
            .exclude(annotator=inspector).filter(~reviewed))


def review_sample(*, campaign: Campaign, inspector, k: int = 20,
                  rng: random.Random | None = None) -> list[Assignment]:
    """Up to ``k`` submitted, unreviewed assignments for an inspector.

    ``k x inspection_rate`` places (rounded at random, so the expected share is
    exact also for k=1) go to assignments drawn uniformly from the rest; the
    others to the lowest agreement with the consensus (NULL, i.e. not yet
    comparable, last). Gold assignments are left out: gold scoring already
    checks them. An inspector never reviews their own work.
    """
    if k <= 0:
        return []
    rng = rng or random.Random()
    candidates = _review_candidates(campaign=campaign, inspector=inspector)
    wanted_random = k * min(max(campaign.inspection_rate, 0.0), 1.0)
    n_random = int(wanted_random) + (1 if rng.random() < wanted_random - int(wanted_random) else 0)
    low = list(candidates.order_by(F("agreement").asc(nulls_last=True), "submitted_at", "pk")[: k - n_random])
    if n_random == 0:
        return low
    rest = candidates.exclude(pk__in=[a.pk for a in low]).order_by("pk")
    n_rest = rest.count()
    offsets = sorted(rng.sample(range(n_rest), min(n_random, n_rest)))
    # One small query per pick (k is a page, not the campaign): cheaper than ORDER BY RANDOM() over all.
    picked = [rest[offset] for offset in offsets]
    return low + picked


# ---------------------------------------------------------------- verdicts
def _recompute_after_invalidation(target_id: int, attribute_ids: list[int]) -> None:
    consolidated_recompute(target_id=target_id, attribute_ids=attribute_ids)
    assignment_agreement_refresh(target_ids=[target_id])


@transaction.atomic
def review_submit(*, assignment: Assignment, inspector, verdict: str, reason: str = "") -> Review:
    """Record an inspector's verdict; an invalidation sends the target back for relabeling."""
    normalised = VERDICTS.get((verdict or "").strip().lower())
    if normalised is None:
        raise ApplicationError("verdict must be 'accepted' or 'invalidated'.", field="verdict", rule="choice")
    reason = (reason or "").strip()
    if normalised == Review.Verdict.INVALIDATED and not reason:
        raise ApplicationError("Say why the work is invalid: the reason is required to invalidate.",
                               field="reason", rule="required")
    locked = Assignment.objects.select_for_update().select_related("campaign", "target").get(pk=assignment.pk)
    if locked.annotator_id == inspector.pk:
        raise ApplicationError("Inspectors do not review their own work.", field="assignment",
                               rule="own_assignment", status_code=403)
    if locked.status != Assignment.Status.SUBMITTED:
        raise ConflictError(f"Only submitted work can be reviewed; this assignment is {locked.status}.",
                            field="assignment", rule="not_submitted", reason="not_submitted")
    if normalised == Review.Verdict.ACCEPTED and locked.reviews.exists():
        raise ConflictError("This assignment has already been reviewed.", field="assignment",
                            rule="already_reviewed", reason="already_reviewed")

    review = Review.objects.create(assignment=locked, inspector=inspector, verdict=normalised, reason=reason)
    if normalised == Review.Verdict.INVALIDATED:
        valid = Response.objects.filter(assignment=locked, valid=True)
        attribute_ids = sorted(valid.values_list("attribute_id", flat=True))
        valid.update(valid=False)
        # The target goes back into the queue: its slots have room again, and
        # this annotator's AssignmentSlot rows keep it away from them.
        Slot.objects.filter(target_id=locked.target_id, attribute_id__in=attribute_ids,
                            n_done__gt=0).update(n_done=F("n_done") - 1)
        locked.status = Assignment.Status.INVALIDATED
        locked.save(update_fields=["status"])
        assignment_event(event="invalidated", assignment=locked, review=review, reason=reason)
        if locked.target.is_gold:
            gold_score_update(assignment=locked)
        target_id = locked.target_id
        transaction.on_commit(lambda: _recompute_after_invalidation(target_id, attribute_ids))
    return review


# ---------------------------------------------------------------- agreement with consensus
def assignment_agreement_refresh(*, target_ids: Iterable[int]) -> int:
    """Store each submitted assignment's agreement with the consensus (orders the review queue)."""
    scores: dict[int, Any] = assignment_agreements(target_ids=list(target_ids))
    rows = [Assignment(pk=pk, agreement=value) for pk, value in scores.items()]
    Assignment.objects.bulk_update(rows, ["agreement"], batch_size=500)
    return len(rows)


def campaign_agreement_refresh(*, campaign: Campaign, chunk: int = 500) -> int:
    """The same for a whole campaign (after a raw-response import or a simulation), in chunks of targets."""
    target_ids = list(Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED)
                      .values_list("target_id", flat=True).distinct().order_by("target_id"))
    return sum(assignment_agreement_refresh(target_ids=target_ids[i:i + chunk])
               for i in range(0, len(target_ids), chunk))
