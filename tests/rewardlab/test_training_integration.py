"""A training run through the real broker and a real Celery worker process (marker ``integration``)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from annotator.services.consolidation import consolidated_recompute
from rewardlab.models import CampaignModelSettings, ModelVersion
from rewardlab.selectors.models import active_model_outputs
from rewardlab.services.training import training_run_start
from rewardlab.tasks import train
from tests import factories as f
from tests.rewardlab.campaigns import FAST_CONFIG, FAST_PARAMS, labelled_campaign

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Generous: the worker imports torch on its first run; the test waits for the result, not for a time.
DEADLINE_S = 300


def _wait_finished(version_id: int, worker) -> ModelVersion:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        version = ModelVersion.objects.get(pk=version_id)
        if version.status in ("done", "failed"):
            return version
        assert worker.poll() is None, worker.log_path.read_text()[-4000:]
        time.sleep(0.5)
    raise AssertionError(f"run {version_id} did not finish; worker log:\n{worker.log_path.read_text()[-4000:]}")


def test_training_run_through_a_real_worker(celery_worker_process, settings):
    # The worker reads images from its own MEDIA_ROOT: create them there.
    settings.MEDIA_ROOT = Path(celery_worker_process.media_root)
    # Building the campaign consolidates 96 values; told to rewardlab, they would start a retrain of their own.
    settings.REWARDLAB_NOTIFY = False
    data = labelled_campaign(n_prompts=6, heldout_prompts=(0, 1))
    campaign = data["campaign"]
    # No transaction around the start: the run commits at once and the message goes to the broker.
    version = training_run_start(campaign=campaign, kind="cbm", config=FAST_CONFIG)
    assert version.status == "queued"
    try:
        done = _wait_finished(version.pk, celery_worker_process)
        assert done.status == "done", done.error
        assert done.active and done.device == "cpu" and done.n_train == 16
        assert done.progress["phase"] == "done" and done.progress["epoch"] == done.metrics["n_epochs"]
        assert set(done.metrics["per_concept_auc"]) == {"bright", "chaotic", "aesthetics"}
        artifacts = Path(done.artifact_dir)
        assert (artifacts / "model" / "weights.safetensors").exists() and (artifacts / "outputs.npz").exists()
        outputs = active_model_outputs(campaign=campaign)
        assert outputs["version"] == done.pk and outputs["concept_proba"].shape == (24, 3)

        # A second delivery of the finished run, through the broker, does nothing.
        again = train.delay(done.pk).get(timeout=DEADLINE_S)
        assert again == {"run_id": done.pk, "state": "finished", "status": "done"}
        after = ModelVersion.objects.get(pk=done.pk)
        assert (after.finished_at, after.metrics, after.duration_s) == (done.finished_at, done.metrics,
                                                                       done.duration_s)
        assert ModelVersion.objects.filter(campaign=campaign).count() == 1
    finally:
        # The worker writes under its own ARTIFACTS_ROOT (VAR_DIR/artifacts): leave nothing behind.
        version.refresh_from_db()
        if version.artifact_dir:
            shutil.rmtree(version.artifact_dir, ignore_errors=True)


def test_new_consolidated_values_retrain_through_the_real_chain(celery_worker_process, settings):
    """annotator consolidates -> consolidated_changed (by name) -> counter -> retrain -> train, all on the worker."""
    settings.MEDIA_ROOT = Path(celery_worker_process.media_root)
    settings.REWARDLAB_NOTIFY = False
    data = labelled_campaign(n_prompts=6, heldout_prompts=(0, 1))
    campaign, bright = data["campaign"], data["attributes"]["bright"]
    CampaignModelSettings.objects.create(campaign=campaign, retrain_every=5, retrain_kinds=["cbm"],
                                         training_config={"cbm": FAST_PARAMS})
    settings.REWARDLAB_NOTIFY = True
    second = f.user_make()
    # Five targets get a second "bright" answer: five changed values, five messages of one each.
    for key in ((2, 0), (3, 0), (4, 0), (5, 0), (5, 1)):
        target = data["items"][key].target
        f.response_make(annotator=second, target=target, attribute=bright, value={"value": True})
        consolidated_recompute(target_id=target.pk)
    deadline = time.monotonic() + DEADLINE_S
    while not ModelVersion.objects.filter(campaign=campaign).exists():
        assert time.monotonic() < deadline, celery_worker_process.log_path.read_text()[-4000:]
        assert celery_worker_process.poll() is None
        time.sleep(0.5)
    version = ModelVersion.objects.get(campaign=campaign)
    try:
        done = _wait_finished(version.pk, celery_worker_process)
        assert (done.status, done.trigger, done.active) == ("done", "retrain", True), done.error
        row = CampaignModelSettings.objects.get(campaign=campaign)
        assert row.n_new_values == 0 and row.last_retrain_at is not None
    finally:
        version.refresh_from_db()
        if version.artifact_dir:
            shutil.rmtree(version.artifact_dir, ignore_errors=True)
