"""A short simulated campaign end to end: issuer, ledger, consolidation, retrains, scores, the JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command

from annotator.models import Assignment, Response, Slot
from elicitation.models import Budget, LedgerEntry, ScoreState
from elicitation.simulation.answers import TRUE_COST_S, UNSURE_TABLE1, answer_model_default

pytestmark = pytest.mark.django_db(transaction=True)


def test_answer_model_draws_unsure_noise_and_time():
    model = answer_model_default(unsure_scale=0.3, noise=0.05)
    rng = np.random.default_rng(0)
    answers = [model.answer("funny", True, rng) for _ in range(4000)]
    unsure = sum("skipped" in a for a in answers) / len(answers)
    wrong = sum(a.get("value") is False for a in answers) / sum("value" in a for a in answers)
    assert unsure == pytest.approx(0.3 * UNSURE_TABLE1["funny"], abs=0.03)
    assert wrong == pytest.approx(0.05, abs=0.015)
    times = [model.seconds("distorted", 1.0, rng) for _ in range(4000)]
    # lognormal(0, 0.35) noise around Table 2's 56.1 s: the median is the table's value.
    assert np.median(times) == pytest.approx(TRUE_COST_S["distorted"], rel=0.05)


def _simulate(settings, tmp_path, *flags: str) -> dict:
    """``manage.py simulate --in-place`` on 16 prompts x 4 small images, seed 3; its JSON."""
    settings.VAR_DIR = tmp_path / "var"
    out = tmp_path / "sim.json"
    call_command("simulate", "--in-place", "--seed", "3", "--prompts", "16", "--images-per-prompt", "4",
                 "--size", "64", *flags, "--json", str(out))
    return json.loads(out.read_text())


def test_simulate_command_runs_a_small_campaign(settings, tmp_path):
    result = _simulate(settings, tmp_path, "--strategy", "voi_per_cost", "--budget", "4000", "--annotators", "3",
                       "--retrain-every", "30")

    assert result["strategy"] == "voi_per_cost" and result["reward_model"] == "cbm"
    budget = Budget.objects.get(campaign_id=result["campaign"])
    # Spent to the limit and never over it; everything reserved was charged or released.
    assert result["charged_s"] == pytest.approx(budget.charged_s, abs=0.1)
    assert budget.limit_s - 200 < budget.charged_s <= budget.limit_s
    assert budget.reserved_s == 0.0
    assert sum(LedgerEntry.objects.filter(campaign_id=result["campaign"], kind="charge")
               .values_list("seconds", flat=True)) == pytest.approx(budget.charged_s, abs=0.01)
    assert result["refusals"] == {"budget_exhausted": 3}
    # Retrains happened and each left a point on the curve, cost increasing, AUC a probability.
    assert result["retrains"] >= 2 and len(result["curve"]) >= 2
    costs = [p["cost"] for p in result["curve"]]
    assert costs == sorted(costs) and costs[-1] == pytest.approx(budget.charged_s, abs=0.1)
    assert all(0.0 <= p["auc"] <= 1.0 for p in result["curve"])
    # After the first model the scores are the strategy's own, not the fallback.
    state = ScoreState.objects.get(campaign_id=result["campaign"])
    assert state.used_strategy == "voi_per_cost" and state.model_version is not None
    # Labels bought: everything the annotators answered through the API, none on held-out items.
    answered = Response.objects.filter(assignment__campaign_id=result["campaign"], assignment__source="api")
    assert sum(result["labels"].values()) == answered.count()
    assert not answered.filter(target__item__split="heldout").exists()
    assert not Slot.objects.filter(campaign_id=result["campaign"], target__item__split="heldout").exists()
    assert set(result["aggregator_weights"]) == {
        "distorted", "photorealistic", "bright", "captivating", "chaotic", "visually_compelling", "disturbing",
        "funny", "blurry", "align_objects", "align_attributes", "align_actions", "align_relations"}
    assert Assignment.objects.filter(campaign_id=result["campaign"], status="issued").count() == 0


def test_simulated_campaign_trains_its_cbm_in_the_mode_asked(settings, tmp_path):
    from elicitation.simulation.campaign import SimulationConfig, simulation_campaign_create
    from rewardlab.services.training import model_settings_get, training_config_resolve

    settings.VAR_DIR = tmp_path / "var"
    config = SimulationConfig(strategy="voi_per_cost", budget_s=100.0, seed=5, prompts=4, images_per_prompt=2,
                              size=32, annotators=1, cbm_mode="joint")
    campaign, _ = simulation_campaign_create(config=config, name="joint-sim")
    row = model_settings_get(campaign=campaign)
    assert row.training_config["cbm"]["mode"] == "joint"
    assert "mode" not in row.training_config["coarse"]  # the coarse model has no such setting
    assert training_config_resolve(campaign=campaign, kind="cbm")["params"]["mode"] == "joint"


def test_simulation_can_retrain_on_a_grid_of_spend(settings, tmp_path):
    """--retrain-every-s: a model each time the charged spend grew by that much, whatever the labels cost."""
    from rewardlab.models import CampaignModelSettings

    result = _simulate(settings, tmp_path, "--strategy", "coarse", "--budget", "2000", "--annotators", "2",
                       "--retrain-every-s", "500")
    assert result["config"]["retrain_every_s"] == 500.0
    costs = [p["cost"] for p in result["curve"]]
    # One retrain per 500 s step (the first may fail while one class is missing), and the last one at the end.
    assert len(costs) >= 2
    assert all(later - earlier >= 500 - 1e-6 for earlier, later in zip(costs[:-2], costs[1:-1]))
    assert costs[-1] == pytest.approx(result["charged_s"], abs=0.1)
    # Spend, not values, drove the retrains: the value counter was never fed.
    assert CampaignModelSettings.objects.get(campaign_id=result["campaign"]).n_new_values == 0
