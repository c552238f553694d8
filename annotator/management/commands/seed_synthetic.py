"""``manage.py seed_synthetic CAMPAIGN --prompts N --images-per-prompt K --seed S [--tree linear]``.

Fills a campaign with the controlled synthetic dataset of
``rewardlab.synthetic`` (creating the campaign with ``--presets`` if it does
not exist) through the ordinary import service, so synthetic items are
validated, deduplicated, grouped and paired exactly like real ones.

Where the ground truth lives (what simulation, training and evaluation read):

- ``Item.meta["truth"]``: the generator's answer for every item-level preset
  attribute of that image (``rewardlab.synthetic.compute_truth``), beside the
  manifest's ``meta`` (prompt_index, image_index, prompt_category, size).
- ``Item.split``: ``heldout`` for the items of ``--heldout-frac`` of the
  prompts (chosen with ``--seed``; by prompt text, never by image), else
  ``train``.
- ``settings.VAR_DIR / "synthetic" / "<campaign id>-<seed>/"``: the dataset
  as written (``images/``, ``manifest.jsonl``, ``ground_truth.jsonl`` with
  the full per-image record: truth, defects, spec, style, layout;
  ``dataset.json``) and ``seed_info.json``: the campaign, the options, the
  decision tree and the held-out prompts.

Re-running with the same arguments imports nothing new (every line is a
duplicate) and leaves the splits as they were.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotator.errors import ApplicationError
from annotator.management.commands.create_campaign import split_presets
from annotator.management.commands.import_items import write_report
from annotator.models import Campaign
from annotator.services.campaigns import campaign_create, campaign_get
from annotator.services.imports import items_import_records, manifest_read
from rewardlab.synthetic.truth import TREES

DEFAULT_PRESETS = "richhf,imagereward,collins"


def synthetic_dir(campaign: Campaign, seed: int) -> Path:
    """Where ``seed_synthetic`` keeps the dataset and ``seed_info.json`` of one (campaign, seed)."""
    return Path(settings.VAR_DIR) / "synthetic" / f"{campaign.pk}-{seed}"


def heldout_prompts(prompts: list[str], *, fraction: float, seed: int) -> set[str]:
    """About ``fraction`` of the distinct prompts (at least one when there are two or more), seeded."""
    distinct = list(dict.fromkeys(prompts))
    n = round(fraction * len(distinct))
    if fraction > 0 and len(distinct) >= 2:
        n = max(1, n)
    n = min(n, len(distinct) - 1) if len(distinct) >= 2 else 0
    return set(random.Random(f"heldout-{seed}").sample(distinct, n))


class Command(BaseCommand):
    help = "Build a campaign's items from the synthetic generator (with ground truth) and import them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign", help="Campaign name or id (created by name if missing).")
        parser.add_argument("--prompts", type=int, required=True)
        parser.add_argument("--images-per-prompt", type=int, required=True)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--tree", default="linear", choices=sorted(TREES), help="Decision tree of overall_good.")
        parser.add_argument("--presets", default=DEFAULT_PRESETS, help="Presets of a newly created campaign.")
        parser.add_argument("--size", type=int, default=512, help="Image side in pixels.")
        parser.add_argument("--defect-rate", type=float, default=1.0)
        parser.add_argument("--heldout-frac", type=float, default=0.2, help="Share of prompts held out.")

    def handle(self, *args, **opts) -> None:
        from rewardlab.synthetic import generate, write_dataset

        if opts["prompts"] < 1 or opts["images_per_prompt"] < 1:
            raise CommandError("--prompts and --images-per-prompt must be at least 1.")
        if not 0 <= opts["heldout_frac"] < 1:
            raise CommandError("--heldout-frac must be in [0, 1).")
        try:
            try:
                campaign = campaign_get(ref=opts["campaign"])
            except ApplicationError:
                campaign, _ = campaign_create(name=opts["campaign"], presets=split_presets(opts["presets"]))
            images = generate(opts["prompts"], opts["images_per_prompt"], opts["seed"], size=opts["size"],
                              tree=opts["tree"], defect_rate=opts["defect_rate"])
        except (ApplicationError, ValueError, KeyError) as exc:
            raise CommandError(getattr(exc, "message", None) or str(exc)) from exc

        out_dir = synthetic_dir(campaign, opts["seed"])
        manifest = write_dataset(out_dir, images, workers=min(4, os.cpu_count() or 1))
        truth = {}
        with open(out_dir / "ground_truth.jsonl", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                truth[row["external_id"]] = row["truth"]
        records, refused = manifest_read(manifest_path=manifest)
        if refused:  # the generator wrote a line the importer cannot read: a bug, not bad data
            raise CommandError(f"unreadable manifest lines: {refused}")
        heldout = heldout_prompts([r.prompt for r in records], fraction=opts["heldout_frac"], seed=opts["seed"])
        for record in records:
            record.meta = {**record.meta, "truth": truth[record.external_id]}
            record.split = "heldout" if record.prompt in heldout else "train"
        report = items_import_records(campaign=campaign, records=records, base_dir=out_dir)

        info = {
            "campaign_id": campaign.pk, "campaign": campaign.name, "seed": opts["seed"],
            "prompts": opts["prompts"], "images_per_prompt": opts["images_per_prompt"], "tree": opts["tree"],
            "size": opts["size"], "defect_rate": opts["defect_rate"], "heldout_frac": opts["heldout_frac"],
            "heldout_prompts": sorted(heldout), "manifest": "manifest.jsonl", "ground_truth": "ground_truth.jsonl",
            "item_meta_truth_key": "truth",
        }
        (out_dir / "seed_info.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        write_report(self, report)
        self.stdout.write(f"campaign {campaign.pk} ({campaign.name}); dataset in {out_dir}")
