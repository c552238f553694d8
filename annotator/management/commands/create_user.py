"""``manage.py create_user NAME --role annotator|inspector|researcher [--password P] [--print-token]``.

Re-running keeps the user and its API token; with ``--print-token`` the
token is alone on the last line of the output (``| tail -n 1``).
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotator.errors import ApplicationError
from annotator.roles import ROLES
from annotator.services.users import user_create


class Command(BaseCommand):
    help = "Create a user in a role (or keep the existing one); optionally print its API token."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password", default=None,
                            help="Set this password (without it a new user can only use its token).")
        parser.add_argument("--print-token", action="store_true", help="Print the API token on the last line.")

    def handle(self, *args, **opts) -> None:
        try:
            user, token, created = user_create(username=opts["username"], role=opts["role"],
                                               password=opts["password"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{'Created' if created else 'Kept'} user {user.username!r} (role {opts['role']}, id {user.pk}).")
        if opts["print_token"]:
            self.stdout.write(token.key)
