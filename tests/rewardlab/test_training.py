"""Training data, training runs in-process (eager Celery), the registry, idempotency and retrain triggers."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from annotator.errors import ConflictError
from annotator.models import Consolidated, Item
from annotator.services.consolidation import campaign_consolidate
from rewardlab.models import CampaignModelSettings, EmbeddingCache, ModelVersion
from rewardlab.selectors.models import active_model_outputs, attribute_values
from rewardlab.selectors.training_data import (concept_data, item_table, preference_pairs, prompt_hash_heldout)
from rewardlab.services.embeddings import embeddings_compute
from rewardlab.services.training import model_version_activate, training_run_execute, training_run_start
from rewardlab.tasks import consolidated_changed, retrain_check
from tests import factories as f
from tests.rewardlab.campaigns import ACTIVE_MS, FAST_CONFIG, labelled_campaign, truth

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(db):
    return labelled_campaign()


def _train(capture, campaign, kind="cbm", config=FAST_CONFIG) -> ModelVersion:
    with capture(execute=True):
        version = training_run_start(campaign=campaign, kind=kind, config=config)
    version.refresh_from_db()
    return version


# ---------------------------------------------------------------- training data
def test_concept_and_coarse_labels_come_from_consolidated_values(labelled):
    campaign, items = labelled["campaign"], labelled["items"]
    data = concept_data(campaign=campaign)
    assert data.concept_keys == ["bright", "chaotic", "aesthetics"]
    assert data.coarse_key == "overall_good"
    row = {int(t): i for i, t in enumerate(data.items.target_ids)}
    for (p, k), item in items.items():
        t = truth(p, k)
        i = row[item.target.pk]
        # aesthetics: 4 of 5 -> (4-1)/4 = 0.75 >= 0.5; 2 of 5 -> 0.25 < 0.5
        assert data.C[i].tolist() == [float(t["bright"]), float(t["chaotic"]), float(t["bright"])]
        assert data.y[i] == float(t["good"])
    assert len(data.items) == 40 and data.labelled.all()


def test_unsure_only_is_unknown_and_likert_uses_its_threshold_or_the_campaign_default(labelled):
    campaign, attrs, items = labelled["campaign"], labelled["attributes"], labelled["items"]
    target = items[(2, 0)].target   # bright: aesthetics 4 -> score 0.75
    other = items[(2, 1)].target    # dark: aesthetics 2 -> score 0.25
    Consolidated.objects.filter(target=target, attribute=attrs["chaotic"]).update(
        value={"value": False, "yes": 0, "no": 0, "unsure": 1}, score=0.5)
    Consolidated.objects.filter(target=other, attribute=attrs["bright"]).delete()
    attrs["aesthetics"].binarize_threshold = 0.8
    attrs["aesthetics"].save()
    data = concept_data(campaign=campaign)
    row = {int(t): i for i, t in enumerate(data.items.target_ids)}
    assert np.isnan(data.C[row[target.pk], 1])            # only "unsure": no label
    assert data.C[row[target.pk], 2] == 0.0                # 0.75 < 0.8
    assert np.isnan(data.C[row[other.pk], 0])              # nobody answered
    attrs["aesthetics"].binarize_threshold = None
    attrs["aesthetics"].save()
    assert concept_data(campaign=campaign, default_threshold=0.7).C[row[target.pk], 2] == 1.0  # 0.75 >= 0.7
    assert concept_data(campaign=campaign, default_threshold=0.8).C[row[target.pk], 2] == 0.0


def test_split_is_by_prompt_from_item_split(labelled):
    campaign, items = labelled["campaign"], labelled["items"]
    # One image of prompt 5 marked held out takes the whole prompt with it.
    Item.objects.filter(pk=items[(5, 2)].pk).update(split="heldout")
    table = item_table(campaign=campaign)
    held = {int(t) for t, h in zip(table.target_ids, table.heldout) if h}
    expected = {items[(p, k)].target.pk for p in (0, 1, 5) for k in range(4)}
    assert held == expected


def test_hash_split_never_separates_the_images_of_a_prompt(db):
    campaign = f.campaign_make(presets=["collins"], overlap=1)
    prompts = [f.prompt_make(text=f"hash split prompt {p}") for p in range(30)]
    for prompt in prompts:
        for _ in range(3):
            f.item_make(campaign=campaign, prompt=prompt)
    table = item_table(campaign=campaign, heldout_frac=0.3, seed=4)
    by_prompt: dict[int, set[bool]] = {}
    for pid, held in zip(table.prompt_ids, table.heldout):
        by_prompt.setdefault(int(pid), set()).add(bool(held))
    assert all(len(sides) == 1 for sides in by_prompt.values())
    expected = {p.pk: prompt_hash_heldout(p.pk, heldout_frac=0.3, seed=4) for p in prompts}
    assert {pid: sides.pop() for pid, sides in by_prompt.items()} == expected
    assert 0 < sum(expected.values()) < 30
    # stable for the same seed, different for another
    assert item_table(campaign=campaign, heldout_frac=0.3, seed=4).heldout.tolist() == table.heldout.tolist()
    assert item_table(campaign=campaign, heldout_frac=0.3, seed=5).heldout.tolist() != table.heldout.tolist()


def test_preference_pairs_from_ranking_and_side_by_side_majorities(db):
    campaign = f.campaign_make(presets=[], overlap=3)
    rank = f.attribute_make(campaign=campaign, key="rank", kind="ranking", target_type="group",
                            config={"levels": 5, "max_per_level": 2})
    sxs = f.attribute_make(campaign=campaign, key="sxs", kind="sxs", target_type="pair",
                           options=["A>>B", "A>B", "A=B", "B>A", "B>>A", "unsure"], config={"mode": "5way"})
    group = f.group_make(campaign=campaign, n_images=4)
    a, b, c, d = [m.image_id for m in group.members.all()]
    people = [f.user_make() for _ in range(3)]
    f.response_make(annotator=people[0], target=group.target, attribute=rank,
                    value={"levels": [[a], [b, c], [d], [], []]})
    f.response_make(annotator=people[1], target=group.target, attribute=rank,
                    value={"levels": [[b], [a], [c], [d], []]})
    won = f.pair_make(campaign=campaign)
    tied = f.pair_make(campaign=campaign)
    for who, choice in zip(people, ("A>B", "A>>B", "B>A")):
        f.response_make(annotator=who, target=won.target, attribute=sxs, value={"choice": choice})
    for who, choice in zip(people, ("A=B", "A=B", "unsure")):
        f.response_make(annotator=who, target=tied.target, attribute=sxs, value={"choice": choice})
    campaign_consolidate(campaign=campaign, workers=0)

    data = preference_pairs(campaign=campaign, heldout_frac=0.0)
    named = {(int(data.image_ids[i]), int(data.image_ids[j])) for i, j in data.pairs}
    # a-b split 1:1 (no pair); b-c: one tie and one b first -> b; the rest are unanimous.
    assert named == {(a, c), (a, d), (b, c), (b, d), (c, d), (won.image_a_id, won.image_b_id)}
    assert len(data) == 6 and not data.heldout.any()
    assert sorted(data.attribute_ids) == sorted([rank.pk, sxs.pk])


# ---------------------------------------------------------------- training runs
def test_training_run_end_to_end_activates_a_version_with_metrics_and_artifacts(
        labelled, django_capture_on_commit_callbacks, settings):
    campaign, items = labelled["campaign"], labelled["items"]
    version = _train(django_capture_on_commit_callbacks, campaign)
    assert version.status == "done", version.error
    assert version.active is True
    assert version.trigger == "manual"
    assert version.device == "cpu"
    assert version.duration_s > 0
    assert version.started_at <= version.finished_at
    # the ml fit reported every epoch; the last report stays on the version
    assert version.progress == {"phase": "done", "epoch": version.metrics["n_epochs"],
                                "n_epochs": version.metrics["n_epochs"], "loss": version.metrics["final_loss"]}
    # 8 prompts x 4 images train (prompts 0 and 1 are held out), 4 attributes answered once, 1 s each
    assert version.n_train == 32
    assert version.cost_spent_s == 32 * 4 * ACTIVE_MS / 1000
    train_ids = sorted(items[(p, k)].target.pk for p in range(2, 10) for k in range(4))
    held_ids = sorted(items[(p, k)].target.pk for p in range(2) for k in range(4))
    snap = version.data_snapshot
    assert snap["train_target_ids"] == train_ids and snap["heldout_target_ids"] == held_ids
    assert len(snap["sha256"]) == 64
    assert snap["features"]["image"].startswith("pixelstats:") and snap["features"]["text"].startswith("hashbow:")
    assert version.config["image_encoder"] == "pixelstats" and version.config["params"]["hidden"] == [16]

    m = version.metrics
    assert (m["n_heldout"], m["n_heldout_positive"]) == (8, 2)
    assert set(m["per_concept_auc"]) == set(m["attribute_value"]) == set(m["aggregator_weights"]) == {
        "bright", "chaotic", "aesthetics"}
    assert m["per_concept_auc"]["bright"] == 1.0  # light vs dark background: trivially readable
    assert 0.0 <= m["roc_auc"] <= 1.0 and 0.0 <= m["auprc"] <= 1.0
    assert m["coarse_key"] == "overall_good"

    directory = Path(version.artifact_dir)
    assert directory == Path(settings.ARTIFACTS_ROOT) / str(campaign.pk) / str(version.pk)
    assert (directory / "model" / "config.json").exists() and (directory / "model" / "weights.safetensors").exists()
    assert json.loads((directory / "metrics.json").read_text())["roc_auc"] == m["roc_auc"]
    # every image and prompt embedded once, with both encoders
    assert EmbeddingCache.objects.filter(encoder="pixelstats").count() == 40
    assert EmbeddingCache.objects.filter(encoder="hashbow").count() == 10

    outputs = active_model_outputs(campaign=campaign)
    assert outputs["version"] == version.pk
    assert list(outputs["concept_keys"]) == ["bright", "chaotic", "aesthetics"]
    assert sorted(outputs["target_ids"].tolist()) == sorted(train_ids + held_ids)
    assert outputs["concept_proba"].shape == (40, 3) and outputs["coarse_proba"].shape == (40,)
    assert outputs["concept_samples"].shape == (4, 40, 3)
    np.testing.assert_allclose(outputs["aggregator_weights"], [m["aggregator_weights"][k] for k in
                                                               ("bright", "chaotic", "aesthetics")])
    assert outputs["aggregator_intercept"] == pytest.approx(m["aggregator_intercept"])
    assert attribute_values(campaign=campaign) == m["attribute_value"]

    # A second run replaces the active version; the first stays as a record.
    second = _train(django_capture_on_commit_callbacks, campaign, config={**FAST_CONFIG, "seed": 1})
    assert second.status == "done" and second.active
    version.refresh_from_db()
    assert version.active is False and version.status == "done"
    assert active_model_outputs(campaign=campaign)["version"] == second.pk
    assert ModelVersion.objects.filter(campaign=campaign, kind="cbm", active=True).count() == 1
    # The embeddings were cached: the second run computed none.
    assert EmbeddingCache.objects.count() == 50


def test_coarse_and_pairwise_kinds(labelled, django_capture_on_commit_callbacks):
    campaign = labelled["campaign"]
    coarse = _train(django_capture_on_commit_callbacks, campaign, kind="coarse")
    assert coarse.status == "done" and coarse.active
    assert coarse.n_train == 32 and coarse.cost_spent_s == 32.0  # only the coarse answers
    assert "per_concept_auc" not in coarse.metrics and coarse.metrics["n_heldout"] == 8
    pairwise = _train(django_capture_on_commit_callbacks, campaign, kind="pairwise")
    assert pairwise.status == "failed" and not pairwise.active
    assert pairwise.error == "the campaign has no ranking or side-by-side preference pair to train on"
    coarse.refresh_from_db()
    assert coarse.active  # another kind's failure changes nothing


def test_executing_a_finished_run_again_does_nothing(labelled, django_capture_on_commit_callbacks):
    version = _train(django_capture_on_commit_callbacks, labelled["campaign"])
    weights = Path(version.artifact_dir) / "model" / "weights.safetensors"
    before = (weights.stat().st_mtime_ns, version.finished_at, version.metrics, version.duration_s)
    again, state = training_run_execute(run_id=version.pk)
    assert state == "finished"
    again.refresh_from_db()
    assert (weights.stat().st_mtime_ns, again.finished_at, again.metrics, again.duration_s) == before
    assert ModelVersion.objects.count() == 1
    # the task entry point says the same, also for a run that does not exist
    from rewardlab.tasks import train

    assert train.delay(version.pk).get()["state"] == "finished"
    assert train.delay(version.pk + 999).get()["state"] == "missing"


def test_a_live_run_is_not_executed_twice_and_a_stale_one_is_taken_over(labelled):
    version = training_run_start(campaign=labelled["campaign"], kind="cbm", config=FAST_CONFIG)
    ModelVersion.objects.filter(pk=version.pk).update(status="running", updated_at=timezone.now())
    assert training_run_execute(run_id=version.pk)[1] == "busy"
    assert ModelVersion.objects.get(pk=version.pk).status == "running"
    ModelVersion.objects.filter(pk=version.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    again, state = training_run_execute(run_id=version.pk)
    assert state == "done" and again.status == "done" and again.active


def test_a_failed_run_keeps_the_previous_active_version(labelled, django_capture_on_commit_callbacks):
    campaign = labelled["campaign"]
    good = _train(django_capture_on_commit_callbacks, campaign)
    # every training item now says "not good": the aggregator has one class only
    coarse = labelled["attributes"]["overall_good"]
    Consolidated.objects.filter(attribute=coarse).update(value={"value": False, "yes": 0, "no": 1, "unsure": 0},
                                                         score=0.0)
    bad = _train(django_capture_on_commit_callbacks, campaign)
    assert bad.status == "failed" and not bad.active and bad.finished_at is not None
    assert "needs both classes" in bad.error
    assert bad.artifact_dir == "" and bad.metrics == {}
    good.refresh_from_db()
    assert good.active
    assert active_model_outputs(campaign=campaign)["version"] == good.pk


def test_activate_refuses_an_unfinished_version_and_changes_nothing(labelled, django_capture_on_commit_callbacks):
    good = _train(django_capture_on_commit_callbacks, labelled["campaign"])
    queued = training_run_start(campaign=labelled["campaign"], kind="cbm")
    with pytest.raises(ConflictError) as refused:
        model_version_activate(version=queued)
    assert refused.value.extra == {"field": "status", "rule": "not_done"}
    assert list(ModelVersion.objects.filter(active=True).values_list("pk", flat=True)) == [good.pk]


def test_a_successful_cbm_run_tells_elicitation_after_commit(labelled, django_capture_on_commit_callbacks,
                                                            monkeypatch):
    from celery import current_app

    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=None, **kw: sent.append((name, args)))
    version = _train(django_capture_on_commit_callbacks, labelled["campaign"])
    assert sent == []  # eager mode: never a real message (elicitation registers no task here)
    current_app.conf.task_always_eager = False
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            model_version_activate(version=version)
        assert sent == []
        for callback in callbacks:
            callback()
    finally:
        current_app.conf.task_always_eager = True
    assert sent == [("elicitation.tasks.scores_recompute", [labelled["campaign"].pk, version.pk])]


def test_embeddings_compute_is_idempotent_and_reports_progress(labelled):
    calls = []
    first = embeddings_compute(campaign=labelled["campaign"], encoder="pixelstats",
                               progress_cb=lambda done, total: calls.append((done, total)))
    assert (first["images"], first["prompts"], first["computed"], first["cached"]) == (40, 0, 40, 0)
    assert calls[-1] == (40, 40)
    again = embeddings_compute(campaign=labelled["campaign"], encoder="hashbow")
    assert (again["images"], again["prompts"], again["computed"]) == (0, 10, 10)
    assert embeddings_compute(campaign=labelled["campaign"], encoder="pixelstats")["computed"] == 0
    assert EmbeddingCache.objects.count() == 50


# ---------------------------------------------------------------- retrain triggers
def test_retrain_starts_after_n_new_consolidated_values(labelled, django_capture_on_commit_callbacks):
    campaign = labelled["campaign"]
    CampaignModelSettings.objects.create(campaign=campaign, retrain_every=5, retrain_kinds=["cbm"],
                                         training_config={"cbm": FAST_CONFIG["params"]})
    assert consolidated_changed.delay(campaign.pk, 3).get() == []
    assert CampaignModelSettings.objects.get(campaign=campaign).n_new_values == 3
    assert not ModelVersion.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        started = consolidated_changed.delay(campaign.pk, 2).get()
    version = ModelVersion.objects.get()
    assert started == [version.pk]
    assert (version.status, version.trigger, version.active) == ("done", "retrain", True)
    row = CampaignModelSettings.objects.get(campaign=campaign)
    assert row.n_new_values == 0 and row.last_retrain_at is not None


def test_no_second_run_while_one_is_queued_and_the_count_carries_on(labelled):
    campaign = labelled["campaign"]
    CampaignModelSettings.objects.create(campaign=campaign, retrain_every=5, retrain_kinds=["cbm"])
    first = consolidated_changed.delay(campaign.pk, 5).get()   # no commit: the run stays queued
    assert len(first) == 1 and ModelVersion.objects.get().status == "queued"
    assert consolidated_changed.delay(campaign.pk, 7).get() == []
    assert ModelVersion.objects.count() == 1
    assert CampaignModelSettings.objects.get(campaign=campaign).n_new_values == 7


def test_retrain_kinds_follow_the_attributes_when_not_set(labelled):
    from rewardlab.services.retrain import retrain_kinds

    assert retrain_kinds(campaign=labelled["campaign"]) == ["cbm"]
    richhf = f.campaign_make(presets=["richhf"])
    assert retrain_kinds(campaign=richhf) == []   # no coarse attribute, no pairs
    both = f.campaign_make(presets=["collins", "sxs"], overlap=1)
    assert retrain_kinds(campaign=both) == []     # the attributes are there, the data not yet
    who = f.user_make()
    item, pair = f.item_make(campaign=both), f.pair_make(campaign=both)
    f.response_make(annotator=who, target=item.target, attribute=both.attributes.get(key="overall_good"),
                    value={"value": True})
    campaign_consolidate(campaign=both, workers=0)
    assert retrain_kinds(campaign=both) == ["cbm"]
    f.response_make(annotator=who, target=pair.target, attribute=both.attributes.get(key="sxs"),
                    value={"choice": "A>B"})
    campaign_consolidate(campaign=both, workers=0)
    assert retrain_kinds(campaign=both) == ["cbm", "pairwise"]


def test_periodic_check_retrains_campaigns_with_enough_new_values_and_reaps_dead_runs(labelled, settings):
    campaign = labelled["campaign"]
    settings.REWARDLAB_RETRAIN_EVERY = 100
    idle = f.campaign_make(presets=["collins"])
    dead = ModelVersion.objects.create(campaign=idle, kind="cbm", status="running")
    ModelVersion.objects.filter(pk=dead.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    # 160 consolidated values and no retrain yet; the idle campaign has none
    result = retrain_check.delay().get()
    version = ModelVersion.objects.get(campaign=campaign)
    assert result["started"] == {campaign.pk: [version.pk]}
    assert result["reaped"] == {"dead": 1, "never_started": 0}
    dead.refresh_from_db()
    assert dead.status == "failed" and "heartbeat" in dead.error
    # nothing new since that retrain: the next check starts nothing
    assert retrain_check.delay().get()["started"] == {}
    assert ModelVersion.objects.filter(campaign=campaign).count() == 1


# ---------------------------------------------------------------- dashboard panel, figures, admin
def test_dashboard_panel_and_figures_for_researchers_only(labelled, django_capture_on_commit_callbacks, client,
                                                          researcher_user, annotator_user):
    campaign = labelled["campaign"]
    version = _train(django_capture_on_commit_callbacks, campaign)
    client.force_login(researcher_user)
    page = client.get(f"/campaigns/{campaign.pk}/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Reward models" in html and f'data-version="{version.pk}"' in html
    assert "Active concept-bottleneck model" in html and "This panel failed" not in html
    urls = [f"/rewardlab/versions/{version.pk}/metrics.png", f"/rewardlab/versions/{version.pk}/weights.png",
            f"/rewardlab/campaigns/{campaign.pk}/learning_curve.png"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png", url
        assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    client.force_login(annotator_user)
    assert [client.get(url).status_code for url in urls] == [403, 403, 403]
    client.logout()
    assert all(client.get(url).status_code == 302 for url in urls)


def test_admin_lists_versions_and_retrains_now(labelled, django_capture_on_commit_callbacks, client,
                                               researcher_user):
    from django.contrib.auth import get_user_model

    campaign = labelled["campaign"]
    version = _train(django_capture_on_commit_callbacks, campaign)
    admin_user = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw-123456")
    client.force_login(admin_user)
    assert client.get("/admin/rewardlab/modelversion/").status_code == 200
    detail = client.get(f"/admin/rewardlab/modelversion/{version.pk}/change/")
    assert detail.status_code == 200 and "weights.safetensors" in detail.content.decode()
    assert client.get("/admin/rewardlab/embeddingcache/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/rewardlab/modelversion/", {"action": "retrain_now",
                                                                  "_selected_action": [version.pk]})
    assert response.status_code == 302
    newest = ModelVersion.objects.exclude(pk=version.pk).get()
    assert (newest.trigger, newest.status, newest.active) == ("admin", "done", True)
    assert newest.config == version.config
