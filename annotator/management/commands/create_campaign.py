"""``manage.py create_campaign NAME --presets richhf,collins``: prints the campaign id alone.

Re-running with the same name changes nothing and prints the same id, so
scripts can use it as ``CAMPAIGN=$(manage.py create_campaign demo ...)``.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotator.errors import ApplicationError
from annotator.presets import preset_names
from annotator.services.campaigns import campaign_create


def split_presets(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


class Command(BaseCommand):
    help = "Create a campaign with preset attributes (idempotent by name); prints its id."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--presets", default="",
                            help=f"Comma-separated preset names: {', '.join(preset_names())}.")
        parser.add_argument("--overlap", type=int, default=3, help="Responses wanted per target and attribute.")
        parser.add_argument("--radius-frac", type=float, default=0.05,
                            help="Point disk radius as a fraction of the image height.")
        parser.add_argument("--policy", default="all", help="Elicitation strategy name.")
        parser.add_argument("--instructions-file", default=None, help="Markdown instructions for annotators.")

    def handle(self, *args, **opts) -> None:
        instructions = ""
        if opts["instructions_file"]:
            with open(opts["instructions_file"], encoding="utf-8") as fh:
                instructions = fh.read()
        try:
            campaign, _ = campaign_create(name=opts["name"], presets=split_presets(opts["presets"]),
                                          overlap=opts["overlap"], point_radius_frac=opts["radius_frac"],
                                          instructions=instructions, policy=opts["policy"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(str(campaign.pk))
