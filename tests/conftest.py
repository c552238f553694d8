"""Shared fixtures: users in each role, a campaign with presets, API clients."""
from __future__ import annotations

import pytest


@pytest.fixture
def make_user(db):
    from annotator.services.users import user_create

    def make(username: str, role: str = "annotator", password: str = "pw-123456"):
        user, _, _ = user_create(username=username, role=role, password=password)
        return user

    return make


@pytest.fixture
def annotator_user(make_user):
    return make_user("ann1", "annotator")


@pytest.fixture
def other_annotator(make_user):
    return make_user("ann2", "annotator")


@pytest.fixture
def inspector_user(make_user):
    return make_user("insp", "inspector")


@pytest.fixture
def researcher_user(make_user):
    return make_user("res", "researcher")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for():
    """An API client logged in (token auth) as the given user."""

    from rest_framework.test import APIClient

    def make(user) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Each test writes media and exports under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORTS_ROOT = tmp_path / "exports"
    settings.ARTIFACTS_ROOT = tmp_path / "artifacts"


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Tasks run inline unless a test asks for the real worker (marker ``integration``)."""
    from config.celery import app

    app.conf.task_always_eager = request.node.get_closest_marker("integration") is None
    yield


def _database_url_for_worker() -> str:
    """The URL of the test database, for a worker process started by a test."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real ``celery worker`` process on the real broker, reading the test database.

    Tests that use it must commit their data (``django_db(transaction=True)``)
    and be marked ``integration`` so tasks are sent, not run inline.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    with django_db_blocker.unblock():
        db_url = _database_url_for_worker()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "VAR_DIR": str(settings.VAR_DIR),
        "MEDIA_ROOT": str(tmp_path_factory.mktemp("worker-media")),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = Path(tmp_path_factory.mktemp("worker")) / "worker.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", "default,training",
         "--loglevel", "INFO", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    proc.log_path = log_path
    proc.media_root = env["MEDIA_ROOT"]
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Test users' passwords are never attacked; PBKDF2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
