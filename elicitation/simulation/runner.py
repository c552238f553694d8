"""Run simulated annotators through the services the API uses, retraining as the campaign goes.

One step of one annotator is what the browser does: ``task_next`` (the
configured issuer, the ledger hook reserving), answers drawn from the
ground truth by the ``AnswerModel``, ``assignment_submit`` (the hook
charging the measured time; consolidation runs eagerly on commit), then
rewardlab's ``consolidated_count`` with the new values, which starts a
retrain every ``retrain_every`` values (or, with ``retrain_every_s``, a
retrain each time the charged spend has grown by that many seconds, so that
strategies whose labels cost differently are read off the same grid of
cost). Celery runs eagerly, so the training run, the model's activation and
the ``scores_recompute`` it sends all happen in-process before the next step. Annotators take turns until the budget
refuses them (409 ``budget_exhausted``) or nothing is left.

After every finished retrain the curve gets a point: the budget's charged
seconds so far and the new model's held-out ROC-AUC against the ground-truth
coarse label.
"""
from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import numpy as np

from annotator.errors import ConflictError
from annotator.models import Campaign, Response
from annotator.services.assignments import assignment_submit
from annotator.services.next_task import task_next
from elicitation.models import Budget
from elicitation.simulation.answers import AnswerModel, answer_model_default
from elicitation.simulation.campaign import SimulationConfig, simulation_campaign_create

MAX_STEPS = 200_000  # a bound besides the budget


def _reward_kind(strategy: str) -> str:
    return "coarse" if strategy == "coarse" else "cbm"


def _point(campaign: Campaign, version) -> dict[str, Any] | None:
    auc = (version.metrics or {}).get("roc_auc")
    if auc is None:
        return None
    charged = Budget.objects.filter(campaign=campaign).values_list("charged_s", flat=True).first() or 0.0
    return {"cost": round(float(charged), 1), "auc": round(float(auc), 4), "version": version.pk,
            "n_train": version.n_train}


def _retrain_points(campaign: Campaign, started, kind: str) -> list[dict[str, Any]]:
    points = []
    for version in started:
        version.refresh_from_db()
        if version.kind == kind and version.status == "done":
            point = _point(campaign, version)
            if point is not None:
                points.append(point)
    return points


def simulation_run(*, config: SimulationConfig, name: str | None = None,
                   answers: AnswerModel | None = None) -> dict[str, Any]:
    """Build the campaign, run it until the budget is spent, return the result (the ``--json`` content)."""
    from rewardlab.models import ModelVersion
    from rewardlab.services.retrain import consolidated_count, retrain_start

    started_at = time.perf_counter()
    answers = answers or answer_model_default(unsure_scale=config.unsure_scale, noise=config.noise)
    name = name or f"simulation {config.strategy} seed {config.seed} {uuid.uuid4().hex[:6]}"
    campaign, users = simulation_campaign_create(config=config, name=name)
    build_s = time.perf_counter() - started_at
    rng = np.random.default_rng([config.seed, 7])
    speeds = dict(zip((u.pk for u in users), answers.speeds(len(users), rng)))
    truth = {item_target: meta["truth"] for item_target, meta in
             campaign.targets.filter(type="item").values_list("pk", "item__meta")}
    kind = _reward_kind(config.strategy)

    curve: list[dict[str, Any]] = []
    retrained_at_s = 0.0  # charged seconds at the last spend-driven retrain
    active = list(users)
    steps, refusals = 0, Counter()
    while active and steps < MAX_STEPS:
        for user in list(active):
            try:
                assignment = task_next(campaign=campaign, annotator=user)
            except ConflictError as exc:
                refusals[exc.extra.get("reason") or exc.extra.get("rule")] += 1
                active.remove(user)
                continue
            if assignment is None:
                active.remove(user)
                continue
            keys = list(assignment.attributes.order_by("order", "id").values_list("key", flat=True))
            answer_truth = truth[assignment.target_id]
            responses = {key: answers.answer(key, answer_truth[key], rng) for key in keys}
            active_ms = {key: int(round(1000 * answers.seconds(key, speeds[user.pk], rng))) for key in keys}
            assignment_submit(assignment_id=assignment.pk, annotator=user, submission_id=uuid.uuid4(),
                              responses=responses, active_ms=active_ms)
            steps += 1
            if config.retrain_every_s > 0:
                charged = Budget.objects.filter(campaign=campaign).values_list("charged_s", flat=True).get()
                if charged - retrained_at_s >= config.retrain_every_s:
                    retrained_at_s = charged
                    curve += _retrain_points(campaign, retrain_start(campaign=campaign, trigger="simulation"), kind)
            else:
                curve += _retrain_points(campaign, consolidated_count(campaign_id=campaign.pk, n_changed=len(keys)),
                                         kind)
    # What was bought since the last retrain counts too.
    curve += _retrain_points(campaign, retrain_start(campaign=campaign, trigger="simulation"), kind)

    budget = Budget.objects.get(campaign=campaign)
    bought = Counter(Response.objects.filter(assignment__campaign=campaign, assignment__source="api")
                     .values_list("attribute__key", flat=True))
    usable = Counter(Response.objects.filter(assignment__campaign=campaign, assignment__source="api")
                     .exclude(value__has_key="skipped").values_list("attribute__key", flat=True))
    final = (ModelVersion.objects.filter(campaign=campaign, kind=kind, active=True).first())
    weights = (final.metrics or {}).get("aggregator_weights", {}) if final is not None else {}
    return {
        "strategy": config.strategy, "seed": config.seed, "budget_s": config.budget_s,
        "campaign": campaign.pk, "reward_model": kind,
        "charged_s": round(budget.charged_s, 1), "reserved_s": round(budget.reserved_s, 1),
        "tasks": steps, "refusals": dict(refusals),
        "retrains": ModelVersion.objects.filter(campaign=campaign).count(),
        "curve": curve,
        "labels": dict(sorted(bought.items())), "labels_usable": dict(sorted(usable.items())),
        "final_auc": curve[-1]["auc"] if curve else None,
        "aggregator_weights": {k: round(float(v), 4) for k, v in weights.items()},
        "config": config.as_dict(),
        "build_s": round(build_s, 1), "wall_s": round(time.perf_counter() - started_at, 1),
    }
