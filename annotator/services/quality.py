"""Quality control at issue time: gold tasks, qualification, skip limits (ImageReward A.2).

ImageReward tests annotators against the researchers' answers before they are
employed, lets quality inspectors send invalid work back for relabeling, and
limits how often an annotator may skip. Here a campaign asks for
``gold_tasks_required`` gold tasks first (targets with ``is_gold`` and
``GoldAnswer`` rows); once they are done, an annotator whose gold score is
below ``qualification_threshold`` gets no more tasks, and neither does one who
has used up ``skip_limit`` skips. Scoring lives in ``services/reviews.py``.
"""
from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db.models import Exists, OuterRef

from annotator.errors import ConflictError
from annotator.models import AnnotatorStanding, AssignmentSlot, Campaign, GoldAnswer, Target


def pseudonym_make(*, campaign_id: int, annotator_id: int) -> str:
    """A stable, non-reversible annotator name per campaign (shown on the dashboard, exported)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{campaign_id}:{annotator_id}".encode(), hashlib.sha256)
    return f"ann-{digest.hexdigest()[:8]}"


def standing_ensure(*, campaign: Campaign, annotator) -> AnnotatorStanding:
    """The (campaign, annotator) standing row, created with its pseudonym on first use."""
    standing, _ = AnnotatorStanding.objects.get_or_create(
        campaign=campaign, annotator=annotator,
        defaults={"pseudonym": pseudonym_make(campaign_id=campaign.pk, annotator_id=annotator.pk)},
    )
    return standing


def gold_target_next(*, campaign: Campaign, annotator) -> Target | None:
    """The next gold target this annotator has never been given (lowest id first)."""
    never_given = ~Exists(AssignmentSlot.objects.filter(annotator=annotator, target=OuterRef("pk")))
    has_answers = Exists(GoldAnswer.objects.filter(target=OuterRef("pk")))
    return (Target.objects.filter(campaign=campaign, is_gold=True)
            .filter(has_answers, never_given).order_by("pk").first())


def _percent(x: float) -> str:
    return f"{100 * x:.0f}%"


def quality_gate(*, campaign: Campaign, annotator) -> Target | None:
    """Before issuing a task: the gold Target this annotator must do next, or None.

    Raises ``ConflictError`` (reason ``not_qualified`` / ``skip_limit``) when the
    annotator may not receive more tasks. Runs on every next-task request, so
    the common case (qualified, under the skip limit) is one indexed query on
    the (campaign, annotator) standing; the gold lookup only happens while the
    annotator is still qualifying.
    """
    row = (AnnotatorStanding.objects.filter(campaign=campaign, annotator=annotator)
           .values_list("gold_answered", "gold_score", "n_skips").first())
    gold_answered, gold_score, n_skips = row if row is not None else (0, None, 0)

    if n_skips >= campaign.skip_limit:
        raise ConflictError(
            f"You have skipped {n_skips} tasks, which is this campaign's limit of {campaign.skip_limit} skips, "
            f"so no further tasks can be issued to you. Please contact the researchers.",
            field=None, rule="skip_limit", reason="skip_limit", n_skips=n_skips, skip_limit=campaign.skip_limit,
        )

    required = campaign.gold_tasks_required
    if required <= 0:
        return None
    if gold_answered < required:
        target = gold_target_next(campaign=campaign, annotator=annotator)
        if target is not None:
            return target
        # Fewer gold targets than required: qualify on the ones there are.
    if gold_score is not None and gold_score < campaign.qualification_threshold:
        raise ConflictError(
            f"Your score on the qualification tasks is {_percent(gold_score)} of answers matching the "
            f"reference answers, below the {_percent(campaign.qualification_threshold)} this campaign requires, "
            f"so no further tasks can be issued to you.",
            field=None, rule="not_qualified", reason="not_qualified",
            gold_score=gold_score, threshold=campaign.qualification_threshold,
        )
    return None
