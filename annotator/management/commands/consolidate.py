"""``python manage.py consolidate CAMPAIGN``: recompute a campaign's consolidated values.

Shows a progress bar over targets, then a summary (values written, rows
removed, heatmaps, time) and, per attribute, the campaign's agreement.
"""
from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from annotator.errors import ApplicationError
from annotator.selectors.consolidation import campaign_agreement
from annotator.services.campaigns import campaign_get
from annotator.services.consolidation import CHUNK_TARGETS, campaign_consolidate

# The headline numbers per kind, in the order a researcher reads them.
_HEADLINE = ("alpha", "fleiss_kappa", "unanimous_share", "mean_iou", "kendall_w", "mean_kendall_tau",
             "unsure_share", "token_agreement", "mean_spread")


class Command(BaseCommand):
    help = "Recompute every consolidated value of a campaign (by name or id) and report agreement."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        parser.add_argument("--workers", type=int, default=None,
                            help="Processes for heatmap work (default: one per CPU; 0 = none).")
        parser.add_argument("--chunk-size", type=int, default=CHUNK_TARGETS, help="Targets per transaction.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument("--no-agreement", action="store_true", help="Skip the agreement summary.")
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args, **opts) -> None:
        try:
            campaign = campaign_get(ref=opts["campaign"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        started = time.perf_counter()
        summary = campaign_consolidate(campaign=campaign, progress=not opts["no_progress"],
                                       chunk_size=opts["chunk_size"], workers=opts["workers"])
        summary["seconds"] = round(time.perf_counter() - started, 2)
        agreement = {} if opts["no_agreement"] else campaign_agreement(campaign=campaign)
        if opts["json"]:
            self.stdout.write(json.dumps({"campaign": campaign.name, **summary, "agreement": agreement},
                                         default=str))
            return
        self.stdout.write(self.style.SUCCESS(
            f"{campaign.name}: {summary['targets']} targets, {summary['values']} consolidated values "
            f"({summary['written']} written, {summary['deleted']} removed, {summary['heatmaps']} heatmaps) "
            f"in {summary['seconds']} s"))
        for key, stats in agreement.items():
            shown = ", ".join(f"{name}={stats[name]:.3f}" for name in _HEADLINE
                              if isinstance(stats.get(name), float))
            self.stdout.write(f"  {key} ({stats.get('kind')}, {stats.get('n_targets', 0)} targets): {shown or '-'}")
