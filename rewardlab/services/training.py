"""Training runs: start, execute (on a training worker), activate, reap (DESIGN §6).

A run is a ``ModelVersion`` row that goes queued -> running -> done | failed.
``training_run_start`` records the full config and sends the Celery task
``rewardlab.tasks.train`` after commit; ``training_run_execute`` claims the
row atomically, so a second delivery of the same run (acks_late redelivery,
a retry) does nothing while it runs and nothing once it finished. A run
whose worker died stops its heartbeat (``updated_at``): it is taken over by
a redelivery after ``REWARDLAB_RUN_STALE_S`` and failed by the periodic
reaper after twice that.

The long work (embeddings, fit, metrics, artifacts) runs outside any
transaction; only the final write and the activation are atomic, and the
previous active version stays active when a run fails.
"""
from __future__ import annotations

import logging
import time
import traceback
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError
from annotator.models import Campaign
from rewardlab.models import CampaignModelSettings, ModelVersion

logger = logging.getLogger(__name__)

SCORES_TASK = "elicitation.tasks.scores_recompute"
DEFAULT_RETRAIN_EVERY = 50
DEFAULT_RUN_STALE_S = 300.0
DEFAULT_QUEUED_STALE_S = 6 * 3600.0
#: Seconds between two progress writes of a run (the heartbeat).
PROGRESS_INTERVAL_S = 1.0


def run_stale_s() -> float:
    return float(getattr(settings, "REWARDLAB_RUN_STALE_S", DEFAULT_RUN_STALE_S))


# ---------------------------------------------------------------- settings and config
def model_settings_get(*, campaign: Campaign) -> CampaignModelSettings:
    """The campaign's model settings row (created with the defaults on first use)."""
    row, _ = CampaignModelSettings.objects.get_or_create(campaign=campaign)
    return row


def retrain_every(row: CampaignModelSettings) -> int:
    return int(row.retrain_every or getattr(settings, "REWARDLAB_RETRAIN_EVERY", DEFAULT_RETRAIN_EVERY))


def training_config_resolve(*, campaign: Campaign, kind: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The complete config of a run: campaign settings, then site defaults, then ``config``.

    ``config["params"]`` are the model's hyperparameters (merged over the
    campaign's ``training_config[kind]`` and ``settings.REWARDLAB_MODEL_PARAMS[kind]``);
    every other key is a run option: encoders, split, device, concepts.
    """
    from rewardlab.ml.encoders import ENCODERS

    if kind not in ModelVersion.Kind.values:
        raise ApplicationError(f"Unknown model kind {kind!r}.", field="kind", rule="choice")
    row = model_settings_get(campaign=campaign)
    config = dict(config or {})
    params = {**(getattr(settings, "REWARDLAB_MODEL_PARAMS", {}) or {}).get(kind, {}),
              **(row.training_config or {}).get(kind, {}), **(config.pop("params", None) or {})}
    resolved = {
        "kind": kind,
        "image_encoder": row.image_encoder,
        "text_encoder": row.text_encoder,
        "encoder_options": row.encoder_options or {},
        "heldout_frac": row.heldout_frac,
        "binarize_threshold": row.binarize_threshold,
        "seed": 0,
        "split_seed": 0,
        "device": getattr(settings, "REWARDLAB_DEVICE", "auto"),
        "mc_samples": 16,
        "complete_only": False,
        **config,
        "params": params,
    }
    for role in ("image_encoder", "text_encoder"):
        name = resolved.get(role) or ""
        if name and name not in ENCODERS:
            raise ApplicationError(f"Unknown encoder {name!r}.", field=role, rule="choice")
    if not resolved.get("image_encoder"):
        raise ApplicationError("A model needs an image encoder.", field="image_encoder", rule="required")
    return resolved


# ---------------------------------------------------------------- start
def _send_train(run_id: int) -> None:
    from rewardlab.tasks import train

    train.delay(run_id)


def training_run_start(*, campaign: Campaign, kind: str, config: dict[str, Any] | None = None,
                       trigger: str = "manual") -> ModelVersion:
    """Record a queued run and send ``rewardlab.tasks.train`` for it once the transaction commits."""
    resolved = training_config_resolve(campaign=campaign, kind=kind, config=config)
    version = ModelVersion.objects.create(campaign=campaign, kind=kind, config=resolved, trigger=trigger,
                                          progress={"phase": "queued"})
    transaction.on_commit(lambda: _send_train(version.pk))
    return version


# ---------------------------------------------------------------- execute
class _ProgressWriter:
    """Writes ``ModelVersion.progress`` at most every PROGRESS_INTERVAL_S (and on every phase change)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.phase = None
        self.last_write = 0.0
        self.training: dict[str, Any] = {}

    def __call__(self, phase: str, fields: dict[str, Any]) -> None:
        if phase == "training":
            self.training.update(fields)
        now = time.monotonic()
        if phase == self.phase and now - self.last_write < PROGRESS_INTERVAL_S:
            return
        self.phase, self.last_write = phase, now
        payload = {"phase": phase, **(self.training if phase == "training" else fields)}
        ModelVersion.objects.filter(pk=self.run_id).update(progress=payload, updated_at=timezone.now())


def _claim(run_id: int) -> tuple[ModelVersion | None, str]:
    """Move a run to ``running`` for this worker: "claimed", or why not ("missing", "finished", "busy")."""
    now = timezone.now()
    claimed = ModelVersion.objects.filter(pk=run_id, status=ModelVersion.Status.QUEUED).update(
        status=ModelVersion.Status.RUNNING, started_at=now, updated_at=now, progress={"phase": "starting"})
    version = ModelVersion.objects.filter(pk=run_id).select_related("campaign").first()
    if version is None:
        return None, "missing"
    if claimed:
        return version, "claimed"
    if version.status in (ModelVersion.Status.DONE, ModelVersion.Status.FAILED):
        return version, "finished"
    if version.updated_at < now - timedelta(seconds=run_stale_s()):
        # The worker that ran it stopped beating; the compare-and-set on updated_at
        # lets exactly one redelivery take over.
        taken = ModelVersion.objects.filter(pk=run_id, status=ModelVersion.Status.RUNNING,
                                            updated_at=version.updated_at).update(
            started_at=now, updated_at=now, progress={"phase": "restarting"})
        if taken:
            version.refresh_from_db()
            return version, "claimed"
    return version, "busy"


def training_run_execute(*, run_id: int) -> tuple[ModelVersion | None, str]:
    """Train the queued run ``run_id``; returns the version and "done", "failed" or why nothing was done.

    Idempotent: a finished run is left alone ("finished"), a run another
    worker is executing is left alone ("busy").
    """
    from rewardlab.services.fitting import FITTERS, FeatureSpec, artifact_dir_for, artifacts_write, features_prepare

    version, state = _claim(run_id)
    if state != "claimed":
        logger.info("training run %s not executed: %s", run_id, state)
        return version, state
    started = time.monotonic()
    progress = _ProgressWriter(version.pk)
    try:
        features = FeatureSpec.from_config(version.config)
        features_prepare(campaign=version.campaign, features=features, progress=progress)
        result = FITTERS[version.kind](campaign=version.campaign, config=version.config, features=features,
                                       progress=progress)
        progress("saving", {})
        directory = artifact_dir_for(campaign_id=version.campaign_id, version_id=version.pk)
        artifacts_write(result=result, directory=directory)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the run; the old model stays active
        _fail(version, exc, time.monotonic() - started)
        return version, "failed"
    _finish(version, result, directory, time.monotonic() - started, progress.training)
    version.refresh_from_db()
    return version, "done"


def _fail(version: ModelVersion, exc: BaseException, duration_s: float) -> None:
    from rewardlab.services.fitting import TrainingDataError

    if isinstance(exc, TrainingDataError):
        error = f"{exc}"
    else:
        logger.exception("training run %s failed", version.pk)
        error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.FAILED, error=error[:20000], duration_s=duration_s, finished_at=timezone.now(),
        updated_at=timezone.now(), progress={"phase": "failed"})


def _finish(version: ModelVersion, result, directory, duration_s: float, training: dict[str, Any]) -> None:
    with transaction.atomic():
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.DONE, metrics=result.metrics, n_train=result.n_train,
            cost_spent_s=result.cost_spent_s, data_snapshot=result.snapshot, device=result.device,
            duration_s=duration_s, artifact_dir=str(directory), error="", finished_at=timezone.now(),
            updated_at=timezone.now(), progress={"phase": "done", **training})
        version.refresh_from_db()
        model_version_activate(version=version)


# ---------------------------------------------------------------- activate
def _scores_recompute_send(campaign_id: int, version_id: int) -> None:
    """Tell elicitation (by task name: rewardlab never imports it) that the active CBM changed."""
    if current_app.conf.task_always_eager:
        # send_task ignores eager mode and would queue a real message; run it
        # inline where elicitation registered it, else there is nobody to tell.
        task = current_app.tasks.get(SCORES_TASK)
        if task is not None:
            try:
                task.apply(args=[campaign_id, version_id])
            except Exception:  # noqa: BLE001 - a scoring failure must not undo a trained model
                logger.exception("eager %s failed", SCORES_TASK)
        return
    current_app.send_task(SCORES_TASK, args=[campaign_id, version_id])


def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make a finished version the active one of its (campaign, kind); the previous one is deactivated.

    For a CBM, elicitation's ``scores_recompute`` is sent after commit.
    """
    if version.status != ModelVersion.Status.DONE:
        raise ConflictError("Only a finished training run can be activated.", field="status", rule="not_done")
    with transaction.atomic():
        # Deactivate first: the partial unique constraint allows one active row per (campaign, kind).
        ModelVersion.objects.filter(campaign_id=version.campaign_id, kind=version.kind, active=True).exclude(
            pk=version.pk).update(active=False)
        ModelVersion.objects.filter(pk=version.pk).update(active=True)
        version.active = True
        if version.kind == ModelVersion.Kind.CBM:
            campaign_id, version_id = version.campaign_id, version.pk
            transaction.on_commit(lambda: _scores_recompute_send(campaign_id, version_id), robust=True)
    return version


# ---------------------------------------------------------------- reap
def training_runs_reap() -> dict[str, int]:
    """Fail runs whose worker died (no heartbeat for twice the stale time) or that never started."""
    now = timezone.now()
    dead = ModelVersion.objects.filter(status=ModelVersion.Status.RUNNING,
                                       updated_at__lt=now - timedelta(seconds=2 * run_stale_s())).update(
        status=ModelVersion.Status.FAILED, error="The training worker stopped (no heartbeat).", finished_at=now,
        updated_at=now, progress={"phase": "failed"})
    queued_stale = float(getattr(settings, "REWARDLAB_QUEUED_STALE_S", DEFAULT_QUEUED_STALE_S))
    lost = ModelVersion.objects.filter(status=ModelVersion.Status.QUEUED,
                                       created_at__lt=now - timedelta(seconds=queued_stale)).update(
        status=ModelVersion.Status.FAILED, error="No training worker picked the run up.", finished_at=now,
        updated_at=now, progress={"phase": "failed"})
    return {"dead": dead, "never_started": lost}
