"""Each strategy picked through the cost-aware issuer on a small case; stored scores; the fallback without a model."""
from __future__ import annotations

import numpy as np
import pytest

from annotator.models import Slot
from annotator.services.next_task import task_next
from elicitation.models import ScoreState
from elicitation.services import scores as scores_service
from elicitation.services.scores import NEVER, scores_recompute
from elicitation.strategies import Candidates, ModelOutputs, candidate_scores
from tests import factories as f

pytestmark = pytest.mark.django_db


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def case(db, monkeypatch):
    """Two items; concepts ``a`` (10 s) and ``b`` (20 s), the coarse ``good`` (50 s); overlap 1; 30 s per task.

    The model (a hand-made ModelOutputs, as rewardlab's ``active_model_outputs`` returns it) is sure of
    ``a`` on item 2 and unsure of it on item 1; ``b`` is worth nothing (its attribute value is negative).
    """
    campaign = f.campaign_make(name="issuer", presets=[], overlap=1, task_time_limit_s=30.0)
    attrs = {
        "a": f.attribute_make(campaign=campaign, key="a", kind="binary", prior_cost_s=10.0),
        "b": f.attribute_make(campaign=campaign, key="b", kind="binary", prior_cost_s=20.0),
        "good": f.attribute_make(campaign=campaign, key="good", kind="binary", prior_cost_s=50.0, is_coarse=True),
    }
    items = [f.item_make(campaign=campaign) for _ in range(2)]
    concept = np.array([[0.5, 0.7], [0.99, 0.4]])
    weights, intercept = np.array([2.0, -1.0]), -0.5
    raw = {
        "version": 42, "target_ids": np.array([i.target.pk for i in items]), "concept_keys": np.array(["a", "b"]),
        "concept_proba": concept, "coarse_proba": sig(intercept + concept @ weights),
        "aggregator_weights": weights, "aggregator_intercept": intercept,
        "attribute_value": np.array([0.1, -0.02]), "concept_samples": None,
    }
    state = {"raw": raw}
    monkeypatch.setattr(scores_service, "_active_outputs", lambda campaign: state["raw"])
    return {"campaign": campaign, "attrs": attrs, "items": items, "raw": raw, "state": state}


def policy(case, name: str) -> None:
    campaign = case["campaign"]
    campaign.policy = name
    campaign.save(update_fields=["policy"])
    scores_recompute(campaign=campaign, version_id=42)


def asked(assignment) -> tuple[int, list[str]]:
    return assignment.target_id, list(assignment.attributes.order_by("order").values_list("key", flat=True))


def expected_scores(case, name: str, seed: int = 42) -> dict[tuple[int, str], float]:
    """What the pure strategy gives for every slot, in the same candidate layout."""
    raw = case["raw"]
    slots = list(Slot.objects.filter(campaign=case["campaign"]).select_related("attribute").order_by("id"))
    row = {t: i for i, t in enumerate(raw["target_ids"])}
    cands = Candidates(
        target_index=np.array([row[s.target_id] for s in slots]),
        attribute_index=np.array([{"a": 0, "b": 1}.get(s.attribute.key, 0) for s in slots]),
        is_coarse=np.array([s.attribute.is_coarse for s in slots]),
        cost=np.array([s.attribute.prior_cost_s for s in slots]))
    outputs = ModelOutputs(concept_proba=np.vstack([raw["concept_proba"], [[0.5, 0.5]]]),
                           coarse_proba=np.append(raw["coarse_proba"], sig(-0.5 + 0.5 * 2 - 0.5)),
                           aggregator_weights=raw["aggregator_weights"],
                           aggregator_intercept=raw["aggregator_intercept"], attribute_value=raw["attribute_value"])
    scores, used = candidate_scores(name, cands, outputs, np.random.default_rng([case["campaign"].pk, seed]))
    assert used == name
    return {(s.target_id, s.attribute.key): (v if np.isfinite(v) else NEVER) for s, v in zip(slots, scores)}


def stored_scores(case) -> dict[tuple[int, str], float]:
    return {(s.target_id, s.attribute.key): s.score
            for s in Slot.objects.filter(campaign=case["campaign"]).select_related("attribute")}


def test_voi_per_cost_scores_are_stored_and_the_best_bundle_is_issued(case):
    policy(case, "voi_per_cost")
    one, two = (i.target.pk for i in case["items"])

    assert stored_scores(case) == pytest.approx(expected_scores(case, "voi_per_cost"), rel=1e-12)
    assert set(Slot.objects.values_list("score_version", flat=True)) == {42}
    state = ScoreState.objects.get(campaign=case["campaign"])
    assert (state.strategy, state.used_strategy, state.model_version, state.n_slots) == (
        "voi_per_cost", "voi_per_cost", 42, 6)

    # Per second, the coarse label of the uncertain item 1 (p = 0.45) is worth most; alone it exceeds the
    # 30 s task, so it goes alone. Then item 2's coarse label, then the concepts (a + b = 30 s fit).
    ranked = sorted(stored_scores(case).items(), key=lambda kv: -kv[1])
    assert [key for key, _ in ranked[:3]] == [(one, "good"), (two, "good"), (one, "a")]
    issued = [task_next(campaign=case["campaign"], annotator=f.user_make()) for _ in range(5)]
    assert [asked(a) for a in issued[:4]] == [(one, ["good"]), (two, ["good"]), (one, ["a", "b"]), (two, ["a", "b"])]
    assert issued[4] is None


def test_scored_targets_are_found_by_their_emptiest_best_slot(case):
    """With overlap 2 the issuer finds the best-scored slot among those with the fewest answers.

    Item 1's coarse label scores best, but once somebody holds it the next annotator is sent to item 2's
    unanswered one, not to a second copy of it. The bundle is then made of the target's open attributes by
    score, as before.
    """
    campaign = case["campaign"]
    campaign.overlap = 2
    campaign.save(update_fields=["overlap"])
    policy(case, "voi_per_cost")
    one, two = (i.target.pk for i in case["items"])
    issued = [task_next(campaign=campaign, annotator=f.user_make()) for _ in range(4)]
    assert asked(issued[0]) == (one, ["good"])
    assert asked(issued[1]) == (two, ["good"])   # not item 1's coarse label again, though it scores higher
    # Both coarse labels are held: item 1's concept a is now the best unanswered slot. Its target's bundle
    # takes the best-scored open attribute first, the coarse label's second place (too long to add a or b).
    assert asked(issued[2]) == (one, ["good"])
    assert asked(issued[3]) == (one, ["a", "b"])


def test_uncertainty_per_cost_asks_the_most_uncertain_concept_per_second(case):
    policy(case, "uncertainty_per_cost")
    one, two = (i.target.pk for i in case["items"])
    assert stored_scores(case) == pytest.approx(expected_scores(case, "uncertainty_per_cost"), rel=1e-12)
    # H(0.5) / 10 s on item 1's a beats everything; a + b = 30 s fit in the task.
    assert asked(task_next(campaign=case["campaign"], annotator=f.user_make())) == (one, ["a", "b"])


def test_attribute_value_never_asks_a_retired_attribute(case):
    policy(case, "attribute_value")
    one, two = (i.target.pk for i in case["items"])
    stored = stored_scores(case)
    assert stored[(one, "b")] == NEVER and stored[(two, "b")] == NEVER  # stored, so the issuer skips them
    users = [f.user_make() for _ in range(5)]

    issued = [task_next(campaign=case["campaign"], annotator=u) for u in users]

    # a (0.1 AUC / 10 s) before good (0.1 / 50 s); a and good never fit one 30 s task; b is never asked.
    assert sorted(asked(a)[1][0] for a in issued[:4]) == ["a", "a", "good", "good"]
    assert all(len(asked(a)[1]) == 1 for a in issued[:4])
    assert [asked(a)[1] for a in issued[:2]] == [["a"], ["a"]]
    assert issued[4] is None
    assert Slot.objects.get(target_id=one, attribute__key="b").n_open == 0


def test_coarse_asks_only_the_coarse_attribute(case):
    policy(case, "coarse")
    users = [f.user_make() for _ in range(3)]
    issued = [task_next(campaign=case["campaign"], annotator=u) for u in users]
    assert [asked(a)[1] for a in issued[:2]] == [["good"], ["good"]]
    assert {asked(a)[0] for a in issued[:2]} == {i.target.pk for i in case["items"]}
    assert issued[2] is None


def test_all_bundles_every_remaining_attribute(case):
    policy(case, "all")
    first = task_next(campaign=case["campaign"], annotator=f.user_make())
    # The papers' practice: every active attribute of the target, whatever the time limit.
    assert asked(first) == (case["items"][0].target.pk, ["a", "b", "good"])


def test_random_picks_the_best_random_score(case):
    policy(case, "random")
    stored = stored_scores(case)
    # random needs no model, so its generator is seeded with the campaign and 0 (no model version).
    assert stored == pytest.approx(expected_scores(case, "random", seed=0), rel=1e-12)
    target, keys = asked(task_next(campaign=case["campaign"], annotator=f.user_make()))
    best = max(stored, key=stored.get)
    assert target == best[0] and best[1] in keys


def test_without_a_model_every_strategy_falls_back_to_all(case):
    case["state"]["raw"] = None
    policy(case, "voi_per_cost")
    state = ScoreState.objects.get(campaign=case["campaign"])
    assert (state.strategy, state.used_strategy, state.model_version) == ("voi_per_cost", "all", None)
    assert set(stored_scores(case).values()) == {0.0}
    assert asked(task_next(campaign=case["campaign"], annotator=f.user_make())) == (
        case["items"][0].target.pk, ["a", "b", "good"])


def test_a_policy_without_stored_scores_is_issued_as_all_and_asks_for_them(case, django_capture_on_commit_callbacks):
    campaign = case["campaign"]
    campaign.policy = "voi_per_cost"
    campaign.save(update_fields=["policy"])
    assert not ScoreState.objects.exists()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = task_next(campaign=campaign, annotator=f.user_make())

    assert asked(first)[1] == ["a", "b", "good"]
    assert len(callbacks) == 1
    # The recompute ran (eager in tests) with the model: the next request reads stored scores.
    assert ScoreState.objects.get(campaign=campaign).used_strategy == "voi_per_cost"


def test_new_targets_and_attributes_the_model_does_not_know(case):
    campaign = case["campaign"]
    f.attribute_make(campaign=campaign, key="notes", kind="likert", likert_points=5, prior_cost_s=5.0)
    late = f.item_make(campaign=campaign)
    policy(case, "uncertainty_per_cost")
    stored = stored_scores(case)
    # Unknown to the model: an item added after training is complete ignorance (entropy 1 bit per concept) ...
    assert stored[(late.target.pk, "a")] == pytest.approx(1.0 / 10.0)
    # ... and an attribute it does not predict scores 0: after the informative ones, in a bundle if time allows.
    assert stored[(late.target.pk, "notes")] == 0.0


def test_only_the_frontier_is_stored_and_what_leaves_it_goes_back_to_zero(case, settings):
    settings.ELICITATION_SCORE_FRONTIER = 2
    one, two = (i.target.pk for i in case["items"])
    policy(case, "voi_per_cost")
    expected = expected_scores(case, "voi_per_cost")
    stored = stored_scores(case)
    # The two best (both coarse labels) are stored; every other slot stays at 0.
    assert {k: v for k, v in stored.items() if v} == pytest.approx(
        {(one, "good"): expected[(one, "good")], (two, "good"): expected[(two, "good")]})
    assert sorted(v for v in stored.values() if not v) == [0.0] * 4

    # A new model puts all its weight on concept a, about which it is unsure on both items: learning a
    # settles the coarse prediction, so the a slots enter the frontier and the coarse ones go back to 0.
    raw = case["raw"]
    case["state"]["raw"] = {**raw, "version": 43, "coarse_proba": np.array([0.5, 0.71]),
                            "aggregator_intercept": -4.5, "aggregator_weights": np.array([9.0, 0.0]),
                            "concept_proba": np.array([[0.5, 0.5], [0.6, 0.5]])}
    scores_recompute(campaign=case["campaign"], version_id=43)
    stored = stored_scores(case)
    top = sorted(stored, key=stored.get, reverse=True)[:2]
    assert set(top) == {(one, "a"), (two, "a")}
    assert stored[(one, "good")] == 0.0 and stored[(two, "good")] == 0.0
    assert Slot.objects.get(target_id=one, attribute__key="a").score_version == 43

    # Never-asked slots are stored whatever the frontier, and only once.
    policy(case, "attribute_value")
    assert stored_scores(case)[(one, "b")] == NEVER and stored_scores(case)[(two, "b")] == NEVER
