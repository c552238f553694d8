"""A training run through the real broker and a real Celery worker process (marker ``integration``)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from rewardlab.models import ModelVersion
from rewardlab.selectors.models import active_model_outputs
from rewardlab.services.training import training_run_start
from rewardlab.tasks import train
from tests.rewardlab.campaigns import FAST_CONFIG, labelled_campaign

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
