"""``manage.py import_items CAMPAIGN MANIFEST [--strict]``: import images and prompts.

MANIFEST is JSONL or CSV (see ``annotator.services.imports``). Refused lines
are listed with their line number and reason, then a one-line summary.
Exit status: 1 when ``--strict`` refused the manifest (nothing imported),
0 otherwise (refused lines of a non-strict import are reported, not fatal).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.errors import ApplicationError
from annotator.services.campaigns import campaign_get
from annotator.services.imports import ImportReport, items_import


def write_report(command: BaseCommand, report: ImportReport) -> None:
    for refusal in report.refused:
        command.stdout.write(f"line {refusal.line}: {refusal.reason}: {refusal.detail}")
    command.stdout.write(report.summary())


class Command(BaseCommand):
    help = "Import a JSONL or CSV manifest of prompts and images into a campaign (by name or id)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        parser.add_argument("manifest", type=Path)
        parser.add_argument("--strict", action="store_true", help="Import nothing if any line is refused.")
        parser.add_argument("--progress", action=argparse.BooleanOptionalAction,
                            default=None, help="Show a progress bar (default: when stderr is a terminal).")

    def handle(self, *args, **opts) -> None:
        progress = opts["progress"] if opts["progress"] is not None else sys.stderr.isatty()
        try:
            campaign = campaign_get(ref=opts["campaign"])
            report = items_import(campaign=campaign, manifest_path=opts["manifest"], strict=opts["strict"],
                                  progress=progress)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        write_report(self, report)
        if report.rolled_back:
            raise CommandError(f"--strict: {len(report.refused)} line(s) refused, nothing imported.", returncode=1)
