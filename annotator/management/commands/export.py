"""``python manage.py export CAMPAIGN --out DIR [--formats jsonl,parquet,heatmaps,pairs]``.

Writes the dataset export into DIR (see ``annotator/exporters/README.md``)
with a progress bar over the rows read, then prints the manifest's counts.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotator.errors import ApplicationError
from annotator.exporters import exporter_names
from annotator.services.campaigns import campaign_get
from annotator.services.exports import CHUNK_SIZE, dataset_export


class Command(BaseCommand):
    help = "Export a campaign's consolidated dataset (by name or id) into a directory."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        parser.add_argument("--out", required=True, help="Directory to write (must be empty, or --overwrite).")
        parser.add_argument("--formats", default="",
                            help=f"Comma-separated, any of {','.join(exporter_names())} (default: all).")
        parser.add_argument("--overwrite", action="store_true", help="Replace an earlier export in --out.")
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="Rows read per query.")
        parser.add_argument("--no-npz", action="store_true",
                            help="heatmaps: PNGs only, no NPZ shards of uint8 arrays (about half the CPU).")
        parser.add_argument("--items-per-shard", type=int, default=None, help="heatmaps: items per NPZ shard.")
        parser.add_argument("--workers", type=int, default=None,
                            help="heatmaps: processes writing NPZ shards (default: one per CPU; 0 = none).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument("--json", action="store_true", help="Print the manifest's counts as JSON.")

    def handle(self, *args, **opts) -> None:
        formats = [f.strip() for f in opts["formats"].split(",") if f.strip()]
        options = {"npz": not opts["no_npz"], "workers": opts["workers"]}
        if opts["items_per_shard"]:
            options["items_per_shard"] = opts["items_per_shard"]
        bar = tqdm(total=0, unit="row", desc="export", disable=opts["no_progress"])

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        def phase(name: str) -> None:
            # After the last row the bar stands at 100% while shards, agreement and checksums finish: say which.
            bar.set_description(f"export: {name}" if name != "rows" else "export")

        started = time.perf_counter()
        try:
            campaign = campaign_get(ref=opts["campaign"])
            manifest = dataset_export(campaign=campaign, out_dir=Path(opts["out"]), formats=formats,
                                      overwrite=opts["overwrite"], chunk_size=opts["chunk_size"],
                                      on_progress=progress, options=options, on_phase=phase)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finally:
            bar.close()
        seconds = round(time.perf_counter() - started, 2)
        if opts["json"]:
            self.stdout.write(json.dumps({"out": opts["out"], "seconds": seconds, "counts": manifest["counts"]},
                                         sort_keys=True))
            return
        counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
        self.stdout.write(self.style.SUCCESS(
            f"Exported {campaign.name} ({', '.join(manifest['formats'])}) to {opts['out']} in {seconds}s: {counts}"))
