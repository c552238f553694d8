"""Row locks under real concurrency (PostgreSQL only): no over-assignment, one saved submission.

Run with ``DATABASE_URL=postgres://... pytest -m postgres``; on SQLite these
are skipped (SQLite serializes write transactions, so there is nothing to race).
"""
from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator.models import Assignment, AssignmentSlot, Response, Slot
from tests import factories as f

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]


def run_together(n: int, work) -> list:
    """Call ``work(i)`` in n threads released at once; each thread closes its own connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # reported by the assertions below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def test_concurrent_next_never_over_assigns():
    campaign = f.campaign_make(presets=["richhf"], overlap=3)
    for _ in range(10):
        f.item_make(campaign=campaign)
    users = [f.user_make() for _ in range(32)]

    statuses = run_together(32, lambda i: client_of(users[i]).post(
        "/api/tasks/next", {"campaign": campaign.pk}, format="json").status_code)

    # 10 targets x overlap 3 = 30 places: 30 annotators get one, two get none.
    assert sorted(statuses) == [200] * 30 + [204] * 2
    live = Counter(AssignmentSlot.objects.filter(assignment__status="issued")
                   .values_list("target_id", "attribute_id"))
    slots = {(s.target_id, s.attribute_id): s for s in Slot.objects.filter(campaign=campaign)}
    assert max(live.values()) <= 3
    assert len(live) == 70
    for key, slot in slots.items():
        assert slot.n_open == live[key]
        assert slot.n_done == 0
    assert Assignment.objects.count() == 30
    assert Assignment.objects.values("annotator").distinct().count() == 30


def test_same_annotator_double_start_gets_one_lease():
    campaign = f.campaign_make(presets=["tia2"], overlap=3)
    for _ in range(5):
        f.item_make(campaign=campaign)
    user = f.user_make()

    bodies = run_together(8, lambda i: client_of(user).post(
        "/api/tasks/next", {"campaign": campaign.pk}, format="json").json())

    assert len({body["assignment"]["id"] for body in bodies}) == 1
    assert Assignment.objects.count() == 1
    assert sum(Slot.objects.values_list("n_open", flat=True)) == 1


def test_concurrent_resubmission_saves_one_set():
    campaign = f.campaign_make(presets=["richhf"], overlap=3)
    item = f.item_make(campaign=campaign)
    user = f.user_make()
    assignment = f.assignment_make(annotator=user, target=item.target)
    sid = str(uuid.uuid4())
    n_tokens = len(item.image.prompt.tokens)
    responses = {
        "artifact_points": {"points": [{"x": 0.5, "y": 0.5, "label": "artifact"}], "none": False},
        "misalignment_points": {"none": True}, "misaligned_keywords": {"tokens": [n_tokens - 1]},
        "plausibility": {"value": 1}, "alignment": {"value": 2}, "aesthetics": {"value": 3}, "overall": {"value": 4},
    }

    answers = run_together(16, lambda i: client_of(user).post(
        f"/api/assignments/{assignment.pk}/submit", {"submission_id": sid, "responses": responses}, format="json"))

    assert sorted(answer.status_code for answer in answers) == [200] * 15 + [201]
    assert len({str(answer.json()) for answer in answers}) == 1
    assert Response.objects.count() == 7
    assert list(Slot.objects.values_list("n_open", "n_done")) == [(0, 1)] * 7
    assert Assignment.objects.get().status == "submitted"


def test_hot_path_statements_are_prepared_on_the_server():
    """Parameters go to the server and repeated statements are prepared there (config/settings.py).

    Six next -> submit cycles on one connection: the candidate query and the
    token lookup have run more than the threshold (five) and are in
    ``pg_prepared_statements``; the results are the ORM's as ever.
    """
    campaign = f.campaign_make(presets=["tia2"], overlap=1)
    for _ in range(8):
        f.item_make(campaign=campaign)
    user = f.user_make()
    token = Token.objects.create(user=user)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True

    for _ in range(6):
        issued = client.post("/api/tasks/next", {"campaign": campaign.pk}, format="json")
        assert issued.status_code == 200
        assignment = issued.json()["assignment"]
        answers = {a["key"]: {"skipped": True} for a in assignment["attributes"]}
        saved = client.post(f"/api/assignments/{assignment['id']}/submit",
                            {"submission_id": str(uuid.uuid4()), "responses": answers}, format="json")
        assert saved.status_code == 201, saved.json()

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("NOT EXISTS" in s and "LIMIT 1" in s and "SKIP LOCKED" in s for s in prepared), prepared
    assert any("authtoken_token" in s for s in prepared), prepared
    assert Response.objects.filter(annotator=user).count() == 6 * len(assignment["attributes"])


def test_bulk_writes_stay_under_the_bind_parameter_limit():
    """Server-side binding caps a statement at 65,535 parameters (config/postgresql): bulk writes batch under it.

    Deleting 70,000 prompts (a Prompt has dependants, so the collector deletes
    by primary key) put all 70,000 ids into one statement and failed before
    the backend declared the limit.
    """
    from annotator.models import Prompt

    assert connection.features.max_query_params == 2**16 - 1
    assert connection.ops.bulk_batch_size(["a", "b", "c"], range(100_000)) == 21_845
    n = 70_000
    Prompt.objects.bulk_create([Prompt(text=f"prompt {i}", text_sha256=f"{i:064x}") for i in range(n)])
    assert Prompt.objects.count() == n
    Prompt.objects.all().delete()
    assert not Prompt.objects.exists()
