"""Score every (target, attribute) slot of a campaign with its strategy and store it in ``Slot.score``.

Runs after every retrain (task ``elicitation.tasks.scores_recompute``, sent by
rewardlab when a CBM becomes active) so ``/api/tasks/next`` only has to read
the best stored scores. Scoring is the pure strategy code
(``elicitation.strategies``) over the active model's cached predictions
(``rewardlab.selectors.models.active_model_outputs``) and the current cost
estimates; without a model every strategy falls back to ``all``.

Rows of the candidates:

- a target the model has not seen (added after its training run) gets the
  prediction of complete ignorance, 0.5 for every concept;
- an attribute the model does not predict (not a concept, not the coarse
  label: points, rankings, prompt questions) scores 0, which puts it after
  every attribute the model finds informative, but in a bundle where time allows;
- a candidate a strategy never asks (score -inf: ``coarse`` for the
  fine-grained attributes, ``attribute_value`` for retired ones) is stored as
  ``NEVER`` and filtered out by the issuer.

Every open slot is scored; only the best ``ELICITATION_SCORE_FRONTIER``
(default 5,000) are written, with the rows that leave that frontier (back to
0) or enter or leave the never-asked set. Every index of Slot (five) costs
an insertion per row updated: rewriting all 140,000 slots of 10,000 items x
14 attributes took 5-7 s on PostgreSQL here (with the eight indexes Slot had
then), the frontier well under one. The issuer reads only the top of the order anyway, and a retrain (every
few dozen answers) comes long before 5,000 slots are filled. Outside the
frontier every stored score is 0 or NEVER, so nothing stale jumps ahead; ties
go by slot id. The write is one statement per chunk of ids (``UPDATE ... FROM
unnest(...)`` on PostgreSQL, ``executemany`` elsewhere), rows locked in id
order, the order every other Slot writer uses.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from scipy.special import expit

from annotator.models import Attribute, Campaign, Slot
from elicitation.models import ScoreState
from elicitation.selectors.costs import attribute_costs, policy_settings
from elicitation.strategies import Candidates, ModelOutputs, candidate_scores, get_strategy

logger = logging.getLogger(__name__)

#: Stored for candidates a strategy never asks (finite, so every database orders it).
NEVER = -1e30
WRITE_CHUNK = 20_000
#: The best this many open slots are stored per recompute (``settings.ELICITATION_SCORE_FRONTIER``).
DEFAULT_FRONTIER = 5_000
#: Strategies the issuer serves in fill order: nothing to store for them.
FILL_ORDER = ("all", "coarse")


def model_outputs_from(raw: dict[str, Any] | None) -> tuple[ModelOutputs | None, np.ndarray, list[str]]:
    """The strategies' ``ModelOutputs`` from rewardlab's arrays, plus one extra row of ignorance (0.5).

    Returns ``(outputs, target_ids, concept_keys)``; the extra row is ``len(target_ids)``.
    """
    if raw is None or len(raw.get("concept_keys", ())) == 0:
        return None, np.zeros(0, dtype=np.int64), []
    keys = [str(k) for k in raw["concept_keys"]]
    concept = np.asarray(raw["concept_proba"], dtype=np.float64)
    weights = np.asarray(raw["aggregator_weights"], dtype=np.float64)
    intercept = float(raw["aggregator_intercept"])
    unknown = np.full((1, concept.shape[1]), 0.5)
    unknown_coarse = expit(intercept + unknown[0] @ weights)
    samples = raw.get("concept_samples")
    if samples is not None:
        samples = np.concatenate([np.asarray(samples, dtype=np.float64),
                                  np.full((samples.shape[0], 1, samples.shape[2]), 0.5)], axis=1)
    value = raw.get("attribute_value")
    if value is not None:
        value = np.asarray(value, dtype=np.float64)
        if np.isnan(value).all():
            value = None
        elif np.isnan(value).any():
            # Undefined (no held-out AUC for it yet): kept in play at the best known value.
            value = np.where(np.isnan(value), np.nanmax(value), value)
    outputs = ModelOutputs(
        concept_proba=np.vstack([concept, unknown]),
        coarse_proba=np.append(np.asarray(raw["coarse_proba"], dtype=np.float64), unknown_coarse),
        aggregator_weights=weights, aggregator_intercept=intercept, concept_samples=samples,
        attribute_value=value, version=raw.get("version"),
    )
    return outputs, np.asarray(raw["target_ids"], dtype=np.int64), keys


def _active_outputs(campaign: Campaign) -> dict[str, Any] | None:
    from rewardlab.selectors.models import active_model_outputs

    return active_model_outputs(campaign=campaign)


def slot_scores_compute(*, campaign: Campaign, raw_outputs: dict[str, Any] | None, strategy: str,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """``(slot ids, scores, strategy used)`` for every open slot of the campaign's active attributes."""
    attributes = {a.pk: a for a in Attribute.objects.filter(campaign=campaign, active=True)}
    # Only slots with room: a full one is never a candidate (one that reopens after a skip, expiry or
    # invalidation keeps its last score until the next recompute). Late in a campaign this is most of them.
    rows = np.array(list(Slot.objects.alias(fill=F("n_done") + F("n_open"))
                         .filter(campaign=campaign, attribute_id__in=list(attributes), fill__lt=campaign.overlap)
                         .order_by("id").values_list("id", "target_id", "attribute_id")),
                    dtype=np.int64).reshape(-1, 3)
    slot_ids, target_ids, attribute_ids = rows[:, 0], rows[:, 1], rows[:, 2]
    if not len(slot_ids):
        return slot_ids, np.zeros(0), strategy
    outputs, model_targets, keys = model_outputs_from(raw_outputs)

    target_index = np.full(len(target_ids), len(model_targets), dtype=np.int64)  # the row of ignorance
    if len(model_targets):
        order = np.argsort(model_targets, kind="stable")
        position = np.minimum(np.searchsorted(model_targets[order], target_ids), len(order) - 1)
        seen = model_targets[order[position]] == target_ids
        target_index[seen] = order[position[seen]]
    column = {aid: keys.index(a.key) if a.key in keys else -1 for aid, a in attributes.items()}
    coarse_ids = np.array([aid for aid, a in attributes.items() if a.is_coarse], dtype=np.int64)
    attribute_index = np.vectorize(column.get, otypes=[np.int64])(attribute_ids)
    is_coarse = np.isin(attribute_ids, coarse_ids)
    unknown_attribute = (attribute_index < 0) & ~is_coarse

    costs = attribute_costs(campaign=campaign, attribute_ids=list(attributes),
                            policy=policy_settings(campaign=campaign))
    cost = np.vectorize(lambda aid: costs[aid].estimate_s, otypes=[np.float64])(attribute_ids)
    candidates = Candidates(target_index=target_index, attribute_index=np.maximum(attribute_index, 0),
                            is_coarse=is_coarse, cost=cost)
    rng = np.random.default_rng([int(campaign.pk), int(seed)])
    try:
        scores, used = candidate_scores(strategy, candidates, outputs, rng)
    except (KeyError, ValueError) as exc:
        # An unknown policy name, or a model without what the strategy needs: the papers' baseline.
        logger.warning("strategy %r cannot score campaign %s (%s); using 'all'", strategy, campaign.pk, exc)
        scores, used = candidate_scores("all", candidates, None, rng)
    scores = np.asarray(scores, dtype=np.float64).copy()
    if outputs is not None:
        scores[unknown_attribute & np.isfinite(scores)] = 0.0
    scores[~np.isfinite(scores)] = NEVER
    return slot_ids, scores, used


def frontier_size() -> int:
    """How many of the best scores are stored per recompute (0: every one)."""
    return int(getattr(settings, "ELICITATION_SCORE_FRONTIER", DEFAULT_FRONTIER))


def slot_scores_changes(*, campaign: Campaign, slot_ids: np.ndarray, scores: np.ndarray,
                        frontier: int) -> dict[int, float]:
    """The Slot rows to rewrite: the new frontier, and whatever leaves the frontier or the never-asked set.

    Invariant kept between recomputes: outside the frontier a slot's stored
    score is 0 (the default) or ``NEVER``, so the frontier's scores (all >= 0
    for every registered strategy) come first and nothing stale jumps ahead.
    """
    finite = np.flatnonzero(scores > NEVER)
    if frontier and len(finite) > frontier:
        finite = finite[np.argsort(-scores[finite], kind="stable")[:frontier]]
    changes = {int(slot_ids[i]): float(scores[i]) for i in finite}
    never = {int(x) for x in slot_ids[scores <= NEVER]}
    stored = Slot.objects.filter(campaign=campaign)
    old_never = set(stored.filter(score__lte=NEVER).values_list("id", flat=True))
    for slot_id in stored.filter(score__gt=0).values_list("id", flat=True):
        changes.setdefault(slot_id, NEVER if slot_id in never else 0.0)
    for slot_id in never - old_never:
        changes[slot_id] = NEVER
    for slot_id in old_never - never:
        changes.setdefault(slot_id, 0.0)
    return changes


def slot_scores_write(*, changes: dict[int, float], version: int) -> None:
    """Store scores in ``Slot.score`` / ``Slot.score_version``, chunk by chunk, rows locked in id order."""
    table = connection.ops.quote_name(Slot._meta.db_table)
    ids = sorted(changes)
    for start in range(0, len(ids), WRITE_CHUNK):
        chunk_ids = ids[start:start + WRITE_CHUNK]
        chunk_scores = [changes[i] for i in chunk_ids]
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Derived data, recomputed after every retrain: not worth waiting for the WAL flush.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [chunk_ids])
                cursor.execute(
                    f"UPDATE {table} AS s SET score = v.score, score_version = %s "
                    f"FROM unnest(%s::bigint[], %s::double precision[]) AS v(id, score) WHERE s.id = v.id",
                    [version, chunk_ids, chunk_scores])
            else:
                cursor.executemany(f"UPDATE {table} SET score = %s, score_version = %s WHERE id = %s",
                                   [(score, version, i) for i, score in zip(chunk_ids, chunk_scores)])
    if ids and connection.vendor == "postgresql":
        # The planner must know the new score distribution to walk slot_fill_score_order for the top candidate
        # (with stale statistics it sorted 140,000 rows: 1 s instead of 0.2 ms). A sample, not a scan.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")


def scores_recompute(*, campaign: Campaign, version_id: int | None = None) -> ScoreState:
    """Score every slot with the campaign's policy and the active model; idempotent.

    ``version_id`` is the model version rewardlab announced; the active one is
    used whatever it says (a newer one may have been activated since).
    """
    started = time.perf_counter()
    strategy = campaign.policy
    try:
        needs_model = get_strategy(strategy).needs_model
    except KeyError:
        needs_model = False
    raw = _active_outputs(campaign) if needs_model else None
    model_version = int(raw["version"]) if raw is not None and raw.get("version") is not None else None
    slot_ids, scores, used = slot_scores_compute(campaign=campaign, raw_outputs=raw, strategy=strategy,
                                                 seed=model_version or 0)
    if used not in FILL_ORDER:
        changes = slot_scores_changes(campaign=campaign, slot_ids=slot_ids, scores=scores, frontier=frontier_size())
        slot_scores_write(changes=changes, version=model_version or 0)
    duration_ms = (time.perf_counter() - started) * 1000.0
    state, _ = ScoreState.objects.update_or_create(campaign=campaign, defaults={
        "strategy": strategy, "used_strategy": used, "model_version": model_version, "n_slots": len(slot_ids),
        "duration_ms": duration_ms, "computed_at": timezone.now()})
    if version_id is not None and model_version is not None and version_id != model_version:
        logger.info("scores of campaign %s use model %s (announced %s)", campaign.pk, model_version, version_id)
    return state
