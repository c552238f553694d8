"""One command from a fresh clone to a running demo campaign.

Migrates, builds a synthetic campaign (richhf, imagereward and collins
presets), creates a researcher and an annotator (printing their passwords),
then starts the web server on 127.0.0.1:8000 and a real Celery worker process
beside it. ``--no-serve`` does everything but serving (for tests).
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotator.models import Campaign

DEMO_CAMPAIGN = "demo"


class Command(BaseCommand):
    help = "Migrate, build the demo campaign, create users, and serve it with a Celery worker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="Do everything but start the servers.")
        parser.add_argument("--prompts", type=int, default=40)
        parser.add_argument("--images-per-prompt", type=int, default=4)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **opts) -> None:
        key_file = Path(settings.VAR_DIR) / "secret_key"
        if not key_file.exists() and not os.environ.get("SECRET_KEY"):
            key_file.write_text(secrets.token_urlsafe(50))
            key_file.chmod(0o600)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")

        if not Campaign.objects.filter(name=DEMO_CAMPAIGN, items__isnull=False).exists():
            self.stdout.write(f"Building the synthetic campaign ({opts['prompts']} prompts x "
                              f"{opts['images_per_prompt']} images)...")
            call_command("seed_synthetic", DEMO_CAMPAIGN, prompts=opts["prompts"],
                         images_per_prompt=opts["images_per_prompt"], seed=opts["seed"],
                         presets="richhf,imagereward,collins", stdout=self.stdout)
        campaign = Campaign.objects.get(name=DEMO_CAMPAIGN)

        passwords = {}
        for username, role in (("researcher", "researcher"), ("annotator", "annotator")):
            password = self._password_for(username)
            call_command("create_user", username, role=role, password=password, stdout=open(os.devnull, "w"))
            passwords[username] = password

        base = f"http://127.0.0.1:{opts['port']}"
        self.stdout.write(self.style.SUCCESS("\nThe demo is ready."))
        self.stdout.write(f"  researcher / {passwords['researcher']}")
        self.stdout.write(f"  annotator  / {passwords['annotator']}")
        self.stdout.write(f"  Annotate:   {base}/campaigns/{campaign.pk}/annotate/")
        self.stdout.write(f"  Overview:   {base}/campaigns/{campaign.pk}/")
        self.stdout.write(f"  Dashboard:  {base}/campaigns/{campaign.pk}/dashboard/")
        self.stdout.write(f"  Admin:      {base}/admin/")
        self.stdout.write(f"  API docs:   {base}/api/docs/")
        if opts["no_serve"]:
            return
        self._serve(opts["port"])

    def _password_for(self, username: str) -> str:
        """A password generated once and kept under var/ so re-running the demo prints the same one."""
        path = Path(settings.VAR_DIR) / f"demo_password_{username}"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(12))
            path.chmod(0o600)
        return path.read_text().strip()

    def _serve(self, port: int) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        python = sys.executable
        worker = subprocess.Popen(
            [python, "-m", "celery", "-A", "config", "worker", "-B", "-Q", "default,training",
             "--concurrency", "2", "--loglevel", "INFO",
             "--schedule", str(Path(settings.VAR_DIR) / "celerybeat-schedule")],
            env=env,
        )
        web = subprocess.Popen([python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env=env)
        self.stdout.write(f"Web server pid {web.pid}, Celery worker pid {worker.pid}. Ctrl-C stops both.")
        try:
            while web.poll() is None and worker.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            for proc in (web, worker):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in (web, worker):
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
