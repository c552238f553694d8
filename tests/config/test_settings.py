"""Settings come from the environment; production refuses to start without a secret."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check(env_extra: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_DEBUG")}
    env.update({"VAR_DIR": str(tmp_path), **env_extra})
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_production_without_secret_key_stops_with_a_clear_message(tmp_path):
    result = _check({"DJANGO_DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_with_secret_key_starts(tmp_path):
    result = _check({"DJANGO_DEBUG": "false", "SECRET_KEY": "x" * 60}, tmp_path)
    assert result.returncode == 0, result.stderr


def test_embedded_defaults(settings):
    # PostgreSQL runs through config.postgresql: Django's backend with the bind-parameter limit.
    assert settings.DATABASES["default"]["ENGINE"] in ("django.db.backends.sqlite3", "config.postgresql")
    from config.celery import app

    assert app.conf.task_queues and app.conf.task_acks_late
