"""Mark gold targets and store their reference answers (ImageReward A.2 qualification).

    python manage.py gold CAMPAIGN --from-truth N [--seed S]
        N items of a synthetic campaign become gold, answers from Item.meta["truth"];
    python manage.py gold CAMPAIGN --file gold.jsonl
        one {"target": {"item": external_id} | {"group": name} | {"pair": [ext, ext]} |
        {"prompt": text} | {"id": target id}, "attribute": key, "value": {...}} per line.

Values are checked like submissions; bad lines are reported and the rest stored.
Re-running either form changes nothing.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotator.errors import ApplicationError
from annotator.services.campaigns import campaign_get
from annotator.services.quality import gold_from_truth, gold_import


class Command(BaseCommand):
    help = "Mark gold targets with reference answers: from the synthetic truth or from a JSONL file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--from-truth", type=int, metavar="N", help="Make N items with a ground truth gold.")
        source.add_argument("--file", help="JSONL file of gold answers.")
        parser.add_argument("--seed", type=int, default=0, help="Which items --from-truth picks (seeded).")

    def handle(self, *args, **opts) -> None:
        try:
            campaign = campaign_get(ref=opts["campaign"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if opts["from_truth"] is not None:
            if opts["from_truth"] < 0:
                raise CommandError("N must be zero or more.")
            report = gold_from_truth(campaign=campaign, n=opts["from_truth"], seed=opts["seed"])
        else:
            try:
                with open(opts["file"], encoding="utf-8") as lines:
                    report = gold_import(campaign=campaign, lines=lines)
            except OSError as exc:
                raise CommandError(f"Cannot read {opts['file']}: {exc}") from exc
        self.stdout.write(f"{campaign.name}: {report.summary()}")
