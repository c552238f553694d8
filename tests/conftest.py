"""Shared fixtures: users in each role, a campaign with presets, API clients."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient


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
    return APIClient()


@pytest.fixture
def client_for():
    """An API client logged in (token auth) as the given user."""

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
