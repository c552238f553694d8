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
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q

from annotator.errors import ApplicationError, ConflictError
from annotator.models import (
    AnnotatorStanding, AssignmentSlot, Attribute, AttributeKind, Campaign, GoldAnswer, Item, Target, TargetType,
)
from annotator.validation import ValueContext, value_validate


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
    with connection.cursor() as cursor:  # plain SQL: every next-task request asks
        cursor.execute('SELECT "gold_answered", "gold_score", "n_skips" FROM "annotator_annotatorstanding" '
                       'WHERE "campaign_id" = %s AND "annotator_id" = %s', [campaign.pk, annotator.pk])
        row = cursor.fetchone()
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


# ---------------------------------------------------------------- gold answers
@dataclass
class GoldReport:
    targets: set[int] = field(default_factory=set)
    answers: int = 0
    unchanged: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    def summary(self) -> str:
        text = f"{self.answers} gold answers on {len(self.targets)} targets ({self.unchanged} unchanged)"
        if self.refused:
            text += f"; {len(self.refused)} refused:\n" + "\n".join(f"  {where}: {why}" for where, why in self.refused)
        return text


def _target_image_ids(target: Target) -> tuple[int, ...]:
    if target.pair_id is not None:
        return (target.pair.image_a_id, target.pair.image_b_id)
    if target.group_id is not None:
        return tuple(target.group.members.order_by("position").values_list("image_id", flat=True))
    if target.item_id is not None:
        return (target.item.image_id,)
    return ()


@transaction.atomic
def gold_answer_set(*, target: Target, attribute: Attribute, value: Any, created_by=None) -> tuple[GoldAnswer, bool]:
    """Validate a gold value like a submission and store it; the target becomes gold. ``(row, changed)``."""
    if attribute.target_type != target.type or attribute.campaign_id != target.campaign_id:
        raise ApplicationError(f"Attribute {attribute.key!r} is not asked about {target.type} targets of this "
                               f"campaign.", field="attribute", rule="target_type")
    image_ids = _target_image_ids(target)
    if attribute.kind == AttributeKind.SXS and isinstance(value, dict) and "a" in value and "b" in value:
        image_ids = (value["a"], value["b"])  # the sides the reference answer was given for
        value = {"choice": value.get("choice")}
    normalised = value_validate(attribute=attribute, value=value, context=ValueContext(
        image_ids=image_ids, n_tokens=len(target.prompt.tokens or []), prefix="value"))
    gold, created = GoldAnswer.objects.get_or_create(target=target, attribute=attribute,
                                                     defaults={"value": normalised, "created_by": created_by})
    changed = created or gold.value != normalised
    if not created and changed:
        gold.value = normalised
        gold.save(update_fields=["value"])
    if not target.is_gold:
        Target.objects.filter(pk=target.pk).update(is_gold=True)
        target.is_gold = True
    return gold, changed


def truth_to_value(kind: str, truth: Any) -> dict:
    """A plain ground-truth value (Item.meta["truth"] of the synthetic dataset) in the API's value shape."""
    if kind == AttributeKind.BINARY:
        return {"value": bool(truth)}
    if kind == AttributeKind.LIKERT:
        return {"value": int(truth)}
    if kind == AttributeKind.CHOICE:
        return {"value": list(truth) or ["none"]}
    if kind == AttributeKind.CATEGORY:
        return {"value": str(truth)}
    if kind == AttributeKind.POINTS:
        points = [{"x": float(p["x"]), "y": float(p["y"]), "label": p["label"]} for p in truth]
        return {"points": points, "none": not points}
    if kind == AttributeKind.KEYWORDS:
        return {"tokens": [int(t) for t in truth]}
    raise ValueError(f"no ground-truth conversion for kind {kind!r}")


def gold_from_truth(*, campaign: Campaign, n: int, seed: int = 0, created_by=None) -> GoldReport:
    """Make up to ``n`` items gold, with GoldAnswers from ``Item.meta["truth"]``.

    Items are drawn in a seeded random order among those with a truth; items
    that are gold already count towards ``n``, so re-running changes nothing.
    Every active item attribute the truth names gets a gold answer.
    """
    report = GoldReport()
    attributes = [a for a in Attribute.objects.filter(campaign=campaign, target_type=TargetType.ITEM, active=True)]
    existing = list(Target.objects.filter(campaign=campaign, type=TargetType.ITEM, is_gold=True,
                                          item__meta__has_key="truth").values_list("pk", flat=True))
    candidates = list(Target.objects.filter(campaign=campaign, type=TargetType.ITEM, is_gold=False,
                                            item__meta__has_key="truth").order_by("pk").values_list("pk", flat=True))
    random.Random(seed).shuffle(candidates)
    chosen = existing[:n] + candidates[: max(0, n - len(existing))]
    for target in Target.objects.filter(pk__in=chosen).select_related("item", "prompt").order_by("pk"):
        truth = target.item.meta.get("truth") or {}
        for attribute in attributes:
            if attribute.key not in truth:
                continue
            try:
                _, changed = gold_answer_set(target=target, attribute=attribute, created_by=created_by,
                                             value=truth_to_value(attribute.kind, truth[attribute.key]))
            except (ApplicationError, ValueError, TypeError, KeyError) as exc:
                report.refused.append((f"target {target.pk}", f"{attribute.key}: {getattr(exc, 'message', exc)}"))
                continue
            report.targets.add(target.pk)
            report.answers += changed
            report.unchanged += not changed
    return report


def _target_from_ref(campaign: Campaign, ref: Any) -> Target:
    """``{"item": external_id} | {"group": name} | {"pair": [a, b]} | {"prompt": text} | {"id": target id}``.

    A pair names its images by item external_id or by Image id, in either order.
    """
    if not isinstance(ref, dict) or len(ref) != 1:
        raise ApplicationError("target is one of {item|group|pair|prompt|id: ...}.", field="target", rule="type")
    (kind, key), = ref.items()
    targets = Target.objects.filter(campaign=campaign).select_related("item", "pair", "group", "prompt")
    found = None
    if kind == "id":
        found = targets.filter(pk=key).first()
    elif kind == "item":
        found = targets.filter(type=TargetType.ITEM, item__external_id=key).first()
    elif kind == "group":
        found = targets.filter(type=TargetType.GROUP, group__name=key).first()
    elif kind == "prompt":
        found = targets.filter(type=TargetType.PROMPT, prompt__text=key).first()
    elif kind == "pair" and isinstance(key, list) and len(key) == 2:
        # Images by item external_id, or by Image id where the line gives numbers.
        images = dict(Item.objects.filter(campaign=campaign, external_id__in=[str(k) for k in key])
                      .values_list("external_id", "image_id"))
        a, b = (k if isinstance(k, int) else images.get(k) for k in key)
        found = targets.filter(type=TargetType.PAIR).filter(
            Q(pair__image_a_id=a, pair__image_b_id=b) | Q(pair__image_a_id=b, pair__image_b_id=a)).first()
    if found is None:
        raise ApplicationError(f"No {kind} target {key!r} in this campaign.", field="target", rule="exists")
    return found


def gold_import(*, campaign: Campaign, lines: Iterable[str], created_by=None) -> GoldReport:
    """Gold answers from JSONL: ``{"target": {...}, "attribute": key, "value": {...}}`` per line.

    Values are in the API's shape (DESIGN §4) and validated the same way; bad
    lines are reported by number and the rest stored. Re-running changes nothing.
    """
    report = GoldReport()
    attributes = {a.key: a for a in Attribute.objects.filter(campaign=campaign)}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ApplicationError("A line is a JSON object.", field=None, rule="type")
            attribute = attributes.get(record.get("attribute"))
            if attribute is None:
                raise ApplicationError(f"Unknown attribute {record.get('attribute')!r}.", field="attribute",
                                       rule="unknown_attribute")
            target = _target_from_ref(campaign, record.get("target"))
            _, changed = gold_answer_set(target=target, attribute=attribute, value=record.get("value"),
                                         created_by=created_by)
        except json.JSONDecodeError as exc:
            report.refused.append((f"line {number}", f"not JSON ({exc.msg})"))
            continue
        except ApplicationError as exc:
            report.refused.append((f"line {number}", f"{exc.message} [{exc.extra.get('field')}: {exc.extra.get('rule')}]"))
            continue
        report.targets.add(target.pk)
        report.answers += changed
        report.unchanged += not changed
    return report
