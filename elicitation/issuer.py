"""The cost-aware next-task issuer (``settings.ANNOTATOR_TASK_ISSUER``); see ``elicitation/README.md``.

``task_next`` (annotator) calls ``task_issue_cost_aware`` inside its
transaction, after it handed back any live lease and expired stale ones.
This issuer keeps the default issuer's contract and concurrency rules (the
Target row lock with SKIP LOCKED, Slot rows in id order, the overlap
re-checked under those locks; it reuses its helpers) and adds:

1. the campaign's strategy (``Campaign.policy``) picks the target: ``all``
   and ``coarse`` walk the fill order (fewest answers first; ``coarse``
   only its coarse attribute), the model-based strategies walk the same
   fill levels and, within a level, the best stored score first
   (``Slot.score``, written after every retrain by ``scores_recompute``):
   a target is found by its best slot among those with the fewest answers,
   so a slot somebody already holds does not send the next annotator to the
   same target again, and the annotator's own answered slots (a higher
   fill) are not walked over on every request. Without scores for the
   current policy they fall back to ``all`` and ask for a recompute;
2. the target's open attributes are bundled by score up to
   ``Campaign.task_time_limit_s`` (``bundle_target``; ``all`` bundles every
   one), with costs from the cost model and the annotator's speed;
3. retired attributes and attributes over their cap are never asked; a
   bundle that does not fit the budget loses its most expensive attributes
   until it does, else the next target is tried, and only then is the
   request refused with ``budget_exhausted`` (409);
4. the budget row is locked last, the fit re-checked under the lock, and the
   reservation written by the ledger hook with exactly the planned costs.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, F
from django.utils import timezone

from annotator.models import Assignment, Attribute, Campaign, Slot, Target
from annotator.rows import model_read, models_read
from annotator.services.assignments import assignment_create
from annotator.services import next_task as default_issuer
from annotator.services.next_task import (MAX_STALE_CANDIDATES, OpenSlot, _slots_with_room, _taken,
                                          campaign_assert_active, candidate_target)
from elicitation.models import AttributeCap, Budget
from elicitation.selectors.costs import annotator_speed_factor, cost_of, policy_settings
from elicitation.services.ledger import (EPS, budget_exhausted_error, budget_lock, caps_read, fits, planned_costs,
                                         planned_total)
from elicitation.services.scores import FILL_ORDER, NEVER
from elicitation.strategies import bundle_target, get_strategy

logger = logging.getLogger(__name__)

SCORES_TASK = "elicitation.tasks.scores_recompute"
SCORES_REQUEST_TTL_S = 120


@dataclass
class Plan:
    """What one request knows before it locks anything (read without locks)."""

    campaign: Campaign
    strategy: str
    scored: bool
    bundle_all: bool
    attributes: dict[int, Attribute]
    position: dict[int, int]
    costs: dict[int, float]
    budget: Budget | None
    caps: dict[int, AttributeCap] = field(default_factory=dict)

    @property
    def room(self) -> float:
        if self.budget is None or self.budget.limit_s is None:
            return float("inf")
        return self.budget.limit_s - self.budget.charged_s - self.budget.reserved_s


def _has_cap(attribute: Attribute) -> bool:
    try:
        attribute.cap  # noqa: B018
    except Attribute.cap.RelatedObjectDoesNotExist:
        return False
    return True


def _strategy_name(campaign: Campaign) -> str:
    try:
        return get_strategy(campaign.policy).name
    except KeyError:
        logger.warning("campaign %s has unknown policy %r; issuing as 'all'", campaign.pk, campaign.policy)
        return "all"


def _scores_request(campaign: Campaign) -> None:
    """Ask (once in a while) for the scores of a policy that has none stored yet."""
    key = f"elicitation:scores-requested:{campaign.pk}:{campaign.created_at.timestamp()}:{campaign.policy}"
    if not cache.add(key, 1, timeout=SCORES_REQUEST_TTL_S):
        return
    from elicitation.tasks import scores_recompute

    campaign_id = campaign.pk
    transaction.on_commit(lambda: scores_recompute.delay(campaign_id, None), robust=True)


def plan_make(*, campaign: Campaign, annotator) -> Plan | None:
    """The request's strategy, attributes, costs and budget; None when the campaign asks nothing."""
    # Plain reads (every next-task request plans): the ORM took longer to compile them than to run them.
    attributes = models_read(Attribute, 't0."campaign_id" = %s AND t0."active"', [campaign.pk],
                             related=("cost_estimate", "cap"), order_by='t0."order", t0."id"')  # Meta ordering
    if not attributes:
        return None
    budget = model_read(Budget, 't0."campaign_id" = %s', [campaign.pk])
    policy = policy_settings(campaign=campaign, budget=budget)
    speed = annotator_speed_factor(campaign=campaign, annotator=annotator, policy=policy)
    name = _strategy_name(campaign)
    scored = False
    if name not in FILL_ORDER:
        with connection.cursor() as cursor:  # plain SQL: every next-task request of a scored policy asks
            cursor.execute('SELECT "strategy", "used_strategy" FROM "elicitation_scorestate" WHERE "campaign_id" = %s',
                           [campaign.pk])
            state = cursor.fetchone()
        if state is None or state[0] != campaign.policy:
            _scores_request(campaign)
        scored = state is not None and state[0] == campaign.policy and state[1] not in FILL_ORDER
    if name == "coarse":
        attributes = [a for a in attributes if a.is_coarse]
    if budget is not None:
        # Retired attributes are no work left to do: never asked, never a reason to refuse.
        attributes = [a for a in attributes if not (_has_cap(a) and a.cap.retired)]
    return Plan(
        campaign=campaign, strategy=name, scored=scored,
        bundle_all=not scored or get_strategy(name).bundle_all,
        attributes={a.pk: a for a in attributes},
        position={a.pk: i for i, a in enumerate(attributes)},  # Meta ordering: order, id
        costs={a.pk: cost_of(a, pseudo_count=policy.pseudo_count).estimate_s * speed for a in attributes},
        budget=budget,
        caps={a.pk: a.cap for a in attributes if budget is not None and _has_cap(a)},
    )


def _askable(plan: Plan, *, room: float) -> list[int]:
    """Attribute ids not retired, within their cap, and each alone within ``room``."""
    return [aid for aid in plan.attributes
            if plan.costs[aid] <= room + EPS and fits(budget=None, caps=plan.caps, costs={aid: plan.costs[aid]})]


def bundle_fit(chosen: Sequence[int], *, costs: dict[int, float], budget: Budget | None,
               caps: dict[int, AttributeCap]) -> list[int]:
    """``chosen`` without attributes over their cap, then without the most expensive until the budget fits."""
    kept = [aid for aid in chosen if fits(budget=None, caps=caps, costs={aid: costs[aid]})]
    while kept and not fits(budget=budget, caps=caps, costs={aid: costs[aid] for aid in kept}):
        kept.remove(max(kept, key=lambda aid: (costs[aid], aid)))
    return kept


def _open_work_exists(*, campaign: Campaign, annotator, attribute_ids: list[int]) -> bool:
    """Whether any slot of these attributes still wants an answer this annotator could give."""
    return (Slot.objects.alias(fill=F("n_done") + F("n_open"))
            .filter(campaign=campaign, attribute_id__in=attribute_ids, fill__lt=campaign.overlap,
                    target__is_gold=False).filter(~Exists(_taken(annotator))).exists())


def _bundle(plan: Plan, slots: list[OpenSlot]) -> list[int]:
    """The attributes of one target to ask, best first (every one for ``all``)."""
    ids = [slot.attribute_id for slot in slots]
    if plan.bundle_all:
        return ids
    scores = np.array([slot.score if slot.score > NEVER else -np.inf for slot in slots], dtype=np.float64)
    costs = np.array([plan.costs[aid] for aid in ids], dtype=np.float64)
    picked = bundle_target(scores, costs, time_limit_s=plan.campaign.task_time_limit_s, bundle_all=False)
    return [ids[i] for i in picked]


@transaction.atomic(savepoint=False)
def task_issue_cost_aware(*, campaign: Campaign, annotator) -> Assignment | None:
    """Issue the best affordable bundle of one target to ``annotator``, or None when nothing is left.

    Raises ``ConflictError`` (reason ``budget_exhausted``) when work is left
    but the budget cannot pay for any of it.
    """
    campaign_assert_active(campaign=campaign)
    plan = plan_make(campaign=campaign, annotator=annotator)
    if plan is None or not plan.attributes:
        return None
    room = plan.room
    askable = _askable(plan, room=room)
    if len(askable) < len(plan.attributes):
        unaffordable = [aid for aid in plan.attributes if aid not in askable]
        if not askable and _open_work_exists(campaign=campaign, annotator=annotator, attribute_ids=unaffordable):
            raise budget_exhausted_error(budget=plan.budget, needed_s=min(plan.costs[a] for a in unaffordable))
    if not askable:
        return None

    target: Target | None = None
    chosen: list[int] = []
    # Through the default issuer's module, so whatever gate it uses (tests replace it), this one uses too.
    gold = default_issuer.quality_gate(campaign=campaign, annotator=annotator)
    if gold is not None:
        # Every annotator answers a gold target, so the overlap does not apply; wait for its lock.
        gold = (Target.objects.select_for_update(of=("self",), no_key=True).select_related("item", "prompt")
                .get(pk=gold.pk))
        slots = _slots_with_room(target_id=gold.pk, annotator=annotator, attribute_ids=askable, overlap=None)
        chosen = bundle_fit([s.attribute_id for s in slots], costs=plan.costs, budget=plan.budget, caps=plan.caps)
        target = gold if chosen else None
    # Scored strategies: fewest answers first, the best stored score within a fill level.
    min_score = NEVER if plan.scored else None
    passed: list[int] = []
    budget_blocked = False  # a target had open work the budget could not pay for
    while target is None and len(passed) <= MAX_STALE_CANDIDATES:
        first = candidate_target(campaign=campaign, annotator=annotator, attribute_ids=askable, passed=passed,
                                 min_score=min_score)
        if first is None and connection.features.has_select_for_update:
            # Every open target is being issued by someone else this instant: wait for one.
            first = candidate_target(campaign=campaign, annotator=annotator, attribute_ids=askable, passed=passed,
                                     min_score=min_score, skip_locked=False)
        if first is None:
            break
        slots = _slots_with_room(target_id=first.pk, annotator=annotator, attribute_ids=askable,
                                 overlap=campaign.overlap)
        bundle = _bundle(plan, slots)
        chosen = bundle_fit(bundle, costs=plan.costs, budget=plan.budget, caps=plan.caps)
        if chosen:
            target = first
        else:
            budget_blocked = budget_blocked or bool(bundle)
            passed.append(first.pk)
    if target is None:
        if len(askable) < len(plan.attributes) or budget_blocked:
            if _open_work_exists(campaign=campaign, annotator=annotator, attribute_ids=list(plan.attributes)):
                raise budget_exhausted_error(budget=plan.budget, needed_s=min(plan.costs.values()))
        return None

    budget = None
    if plan.budget is not None:
        # Locked last (the ledger's lock order); another request may have reserved since the read.
        budget = budget_lock(campaign_id=campaign.pk)
        caps = caps_read(budget=budget, attribute_ids=chosen)
        chosen = bundle_fit(chosen, costs=plan.costs, budget=budget, caps=caps)
        if not chosen:
            raise budget_exhausted_error(budget=budget, needed_s=min(plan.costs.values()))
    chosen.sort(key=lambda aid: plan.position[aid])
    costs = {aid: plan.costs[aid] for aid in chosen}
    with planned_costs(costs, budget=budget):
        return assignment_create(campaign=campaign, annotator=annotator, target=target,
                                 attributes=[plan.attributes[aid] for aid in chosen], now=timezone.now(),
                                 estimated_cost_s=planned_total(costs))
