"""Build a simulated campaign: synthetic items with ground truth, a held-out split, a budget, model settings.

The items come from ``rewardlab.synthetic`` (the dataset ``seed_synthetic``
writes), imported through annotator's ordinary import service with the
ground truth in ``Item.meta["truth"]``. The campaign has the ``collins``
preset: 13 yes/no attributes and the coarse ``overall_good``; its reward
model is trained on the image embedding only (Collins Experiment 2).

The held-out prompts (``heldout_frac``, split by prompt) are the evaluation
set: they are never issued (their slots are removed) and their coarse label
comes free of the budget from a "held-out expert" who answers with the
ground truth (imported, so the ledger never sees it). rewardlab's own
held-out metrics (``roc_auc``, and ``attribute_value`` which the strategy of
that name reads) are therefore measured against the ground truth.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from annotator.management.commands.seed_synthetic import heldout_prompts
from annotator.models import Campaign, Item, Slot
from annotator.services.campaigns import campaign_create
from annotator.services.imports import items_import_records, manifest_read
from annotator.services.response_import import responses_import
from annotator.services.users import user_create
from elicitation.models import Budget

#: Small networks keep dozens of retrains per simulation within seconds each.
DEFAULT_TRAINING: dict[str, Any] = {"hidden": [64], "epochs": 30, "min_steps": 300, "batch_size": 64, "lr": 1e-3,
                                     "device": "cpu"}
COARSE_KEY = "overall_good"
EXPERT = "heldout-expert"


@dataclass
class SimulationConfig:
    strategy: str
    budget_s: float
    seed: int = 0
    annotators: int = 8
    retrain_every: int = 50
    #: When positive, retrain each time this many more seconds were charged, instead of every ``retrain_every``
    #: values: strategies whose labels cost differently are then compared on the same grid of cost.
    retrain_every_s: float = 0.0
    prompts: int = 150
    images_per_prompt: int = 4
    size: int = 128
    heldout_frac: float = 0.2
    overlap: int = 1
    tree: str = "linear"
    task_time_limit_s: float = 90.0
    unsure_scale: float = 0.3
    noise: float = 0.05
    training: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TRAINING))
    #: How the CBM is trained (``ConceptBottleneckRewardModel.mode``): "sequential" as Collins et al., or
    #: "joint", where coarse labels also train the trunk and the concept heads.
    cbm_mode: str = "sequential"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def dataset_dir_for(config: SimulationConfig) -> Path:
    name = f"sim-{config.seed}-{config.prompts}x{config.images_per_prompt}-{config.size}-{config.tree}"
    return Path(settings.VAR_DIR) / "synthetic" / name


def dataset_prepare(config: SimulationConfig) -> Path:
    """Render the seed's dataset once (later campaigns of the same seed reuse the files and the images)."""
    from rewardlab.synthetic import generate, write_dataset

    out = dataset_dir_for(config)
    manifest = out / "manifest.jsonl"
    if not manifest.exists():
        images = generate(config.prompts, config.images_per_prompt, config.seed, size=config.size, tree=config.tree)
        write_dataset(out, images, workers=min(4, os.cpu_count() or 1))
    return manifest


def simulation_campaign_create(*, config: SimulationConfig, name: str) -> tuple[Campaign, list]:
    """The campaign, filled and configured, and its simulated annotators (users)."""
    from rewardlab.services.training import model_settings_get

    manifest = dataset_prepare(config)
    truth = {}
    with open(manifest.parent / "ground_truth.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            truth[row["external_id"]] = row["truth"]
    campaign, created = campaign_create(name=name, presets=["collins"], overlap=config.overlap,
                                        policy=config.strategy)
    if not created:
        raise ValueError(f"campaign {name!r} exists already")
    Campaign.objects.filter(pk=campaign.pk).update(task_time_limit_s=config.task_time_limit_s)
    campaign.refresh_from_db()

    records, refused = manifest_read(manifest_path=manifest)
    if refused:
        raise ValueError(f"unreadable manifest lines: {refused}")
    heldout = heldout_prompts([r.prompt for r in records], fraction=config.heldout_frac, seed=config.seed)
    for record in records:
        record.meta = {**record.meta, "truth": truth[record.external_id]}
        record.split = "heldout" if record.prompt in heldout else "train"
    items_import_records(campaign=campaign, records=records, base_dir=manifest.parent)

    expert_lines = [json.dumps({"annotator": EXPERT, "target": {"item": external_id}, "attribute": COARSE_KEY,
                                "value": {"value": bool(truth[external_id][COARSE_KEY])}})
                    for external_id in Item.objects.filter(campaign=campaign, split="heldout")
                    .values_list("external_id", flat=True)]
    responses_import(campaign=campaign, lines=expert_lines, strict=True)
    Slot.objects.filter(campaign=campaign, target__item__split="heldout").delete()

    Budget.objects.create(campaign=campaign, limit_s=config.budget_s)
    row = model_settings_get(campaign=campaign)
    row.image_encoder, row.text_encoder = "pixelstats", ""
    row.retrain_every = config.retrain_every
    row.retrain_kinds = ["coarse"] if config.strategy == "coarse" else ["cbm"]
    row.training_config = {"cbm": {**config.training, "mode": config.cbm_mode}, "coarse": dict(config.training)}
    row.save()
    users = [user_create(username=f"sim-{campaign.pk}-{i}", role="annotator")[0] for i in range(config.annotators)]
    return campaign, users
