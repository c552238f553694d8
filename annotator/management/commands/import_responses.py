"""``manage.py import_responses CAMPAIGN FILE [--strict]``: import raw responses (JSONL).

The line format is described in ``annotator.services.response_import``.
Refused lines are listed with their line number, field and rule, then a
one-line summary. Exit status: 1 when ``--strict`` refused the file (nothing
imported), 0 otherwise (refused lines of a non-strict import are reported,
not fatal). Running the same file again imports nothing new.
"""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.errors import ApplicationError
from annotator.services.campaigns import campaign_get
from annotator.services.response_import import responses_import_file


class Command(BaseCommand):
    help = "Import raw responses (JSONL, one response per line) into a campaign (by name or id)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        parser.add_argument("file", type=Path, help="JSONL file, one response per line.")
        parser.add_argument("--strict", action="store_true", help="Import nothing if any line is refused.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **opts) -> None:
        if not opts["file"].is_file():
            raise CommandError(f"No file {opts['file']}.")
        try:
            campaign = campaign_get(ref=opts["campaign"])
            report = responses_import_file(campaign=campaign, path=opts["file"], strict=opts["strict"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict(), sort_keys=True))
        else:
            for error in report.errors:
                self.stdout.write(str(error))
            self.stdout.write(report.summary())
        if report.rolled_back:
            raise CommandError(f"--strict: {len(report.errors)} line(s) refused, nothing imported.", returncode=1)
