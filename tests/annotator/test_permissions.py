"""Who may call the annotation API: every endpoint x every kind of caller, and CSRF on session auth.

Annotators, inspectors and researchers may all annotate what they hold; none
of them sees anybody else's assignment through these endpoints (404, as if it
did not exist). Anonymous callers and users without a role are refused.
"""
from __future__ import annotations

import uuid

import pytest
from django.middleware.csrf import _get_new_csrf_string
from rest_framework.test import APIClient

from annotator.models import Assignment, Response, Slot
from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "pw-123456"


@pytest.fixture
def campaign(db):
    campaign = f.campaign_make(name="perm", presets=["tia2"])
    f.item_make(campaign=campaign)
    f.item_make(campaign=campaign)
    return campaign


def held(campaign, user) -> Assignment:
    """An assignment the user holds on a target nobody else holds."""
    target = campaign.targets.exclude(assignments__isnull=False).first()
    return f.assignment_make(annotator=user, target=target)


def call(client: APIClient, operation: str, assignment_id: int, campaign_id: int):
    url = f"/api/assignments/{assignment_id}"
    if operation == "next":
        return client.post("/api/tasks/next", {"campaign": campaign_id}, format="json")
    if operation == "get":
        return client.get(url)
    if operation == "draft":
        return client.put(f"{url}/draft", {"responses": {"aligned": {"value": True}}, "active_ms": {}}, format="json")
    if operation == "skip":
        return client.post(f"{url}/skip", {"reason": "x"}, format="json")
    return client.post(f"{url}/submit", {"submission_id": str(uuid.uuid4()),
                                          "responses": {"aligned": {"value": True}}}, format="json")


OPERATIONS = ["next", "get", "draft", "skip", "submit"]
OWN_STATUS = {"next": 200, "get": 200, "draft": 200, "skip": 200, "submit": 201}


def state():
    return (list(Assignment.objects.order_by("id").values_list("status", "draft", "submission_id")),
            Response.objects.count(), list(Slot.objects.order_by("id").values_list("n_open", "n_done")))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_anonymous_is_refused(campaign, annotator_user, operation):
    assignment = held(campaign, annotator_user)
    before = state()

    response = call(APIClient(), operation, assignment.pk, campaign.pk)

    # Session auth comes first in settings, so DRF answers 403 rather than 401.
    assert response.status_code == 403
    assert response.json()["extra"] == {"field": None, "rule": "not_authenticated"}
    assert state() == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_user_without_role_is_refused(campaign, annotator_user, client_for, operation):
    nobody = f.user_make(role=None)
    assignment = held(campaign, annotator_user)
    before = state()

    response = call(client_for(nobody), operation, assignment.pk, campaign.pk)

    assert response.status_code == 403
    assert response.json()["extra"] == {"field": None, "rule": "permission_denied"}
    assert state() == before


@pytest.mark.parametrize("role", ["annotator", "inspector", "researcher"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_role_may_work_on_its_own_assignment(campaign, make_user, client_for, role, operation):
    user = make_user(f"own-{role}", role)
    assignment = held(campaign, user)

    response = call(client_for(user), operation, assignment.pk, campaign.pk)

    assert response.status_code == OWN_STATUS[operation]
    if operation == "next":
        assert response.json()["assignment"]["id"] == assignment.pk


@pytest.mark.parametrize("role", ["annotator", "inspector", "researcher"])
@pytest.mark.parametrize("operation", ["get", "draft", "skip", "submit"])
def test_nobody_reaches_another_users_assignment(campaign, annotator_user, make_user, client_for, role, operation):
    other = make_user(f"other-{role}", role)
    assignment = held(campaign, annotator_user)
    before = state()

    response = call(client_for(other), operation, assignment.pk, campaign.pk)

    assert response.status_code == 404
    assert response.json()["extra"] == {"field": "assignment", "rule": "not_found"}
    assert state() == before


def test_missing_assignment_is_404(campaign, annotator_user, client_for):
    response = client_for(annotator_user).get("/api/assignments/999999")

    assert response.status_code == 404


def csrf_client(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.parametrize("operation", ["next", "draft", "skip", "submit"])
def test_session_writes_need_the_csrf_token(campaign, annotator_user, operation):
    assignment = held(campaign, annotator_user)
    client = csrf_client(annotator_user)
    before = state()

    refused = call(client, operation, assignment.pk, campaign.pk)

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]
    assert state() == before

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    client.credentials(HTTP_X_CSRFTOKEN=token)
    accepted = call(client, operation, assignment.pk, campaign.pk)

    assert accepted.status_code == OWN_STATUS[operation]


def test_session_reads_need_no_csrf_token(campaign, annotator_user):
    assignment = held(campaign, annotator_user)

    assert csrf_client(annotator_user).get(f"/api/assignments/{assignment.pk}").status_code == 200


def test_token_auth_needs_no_csrf_token(campaign, annotator_user):
    from rest_framework.authtoken.models import Token

    assignment = held(campaign, annotator_user)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=annotator_user).key}")

    response = call(client, "submit", assignment.pk, campaign.pk)

    assert response.status_code == 201
    assert Response.objects.get().value == {"value": True}


def test_token_auth_reads_roles_and_refuses_bad_or_inactive_tokens(campaign, annotator_user, researcher_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    def with_token(key: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    annotator_key = Token.objects.get(user=annotator_user).key
    researcher_key = Token.objects.get_or_create(user=researcher_user)[0].key
    assignment = held(campaign, annotator_user)
    with CaptureQueriesContext(connection) as queries:
        assert with_token(annotator_key).get(f"/api/assignments/{assignment.pk}").status_code == 200
    # The user and the role in one query: the memberships are read there and nowhere else.
    reads = [q["sql"] for q in queries.captured_queries if "auth_user_groups" in q["sql"]]
    assert len(reads) == 1 and "authtoken_token" in reads[0]
    # The role from the token query decides: researchers' pages stay closed to the annotator.
    export_url = f"/api/campaigns/{campaign.pk}/exports/{uuid.uuid4()}"
    assert with_token(annotator_key).get(export_url).status_code == 403
    assert with_token(researcher_key).get(export_url).status_code == 404  # let in; no such export

    refused = with_token("0" * 40).get(f"/api/assignments/{assignment.pk}")
    assert refused.status_code == 403 and "Invalid token" in refused.json()["message"]
    annotator_user.is_active = False
    annotator_user.save(update_fields=["is_active"])
    refused = with_token(annotator_key).get(f"/api/assignments/{assignment.pk}")
    assert refused.status_code == 403 and "inactive" in refused.json()["message"]
