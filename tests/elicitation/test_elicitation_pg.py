"""The budget and the cost-aware issuer under real concurrency (PostgreSQL only).

Run with ``DATABASE_URL=postgres://... pytest -m postgres``; on SQLite these
are skipped (SQLite serializes write transactions, so there is nothing to race).
"""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotator.models import Assignment, AssignmentSlot, Slot
from elicitation.models import Budget, LedgerEntry
from elicitation.services.ledger import budget_totals_reconcile
from elicitation.services.scores import scores_recompute
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


def next_task(user, campaign):
    client = APIClient()
    client.force_authenticate(user=user)
    response = client.post("/api/tasks/next", {"campaign": campaign.pk}, format="json")
    return response.status_code, response.json() if response.status_code in (200, 409) else None


def test_64_requests_at_the_edge_of_the_budget_never_overspend():
    # One 30 s attribute per item; 1,000 s left fit 33 tasks, not 64.
    campaign = f.campaign_make(name="edge", presets=[], overlap=1)
    f.attribute_make(campaign=campaign, key="q", kind="binary", prior_cost_s=30.0)
    for _ in range(80):
        f.item_make(campaign=campaign)
    Budget.objects.create(campaign=campaign, limit_s=1000.0, charged_s=0.0)
    users = [f.user_make() for _ in range(64)]

    results = run_together(64, lambda i: next_task(users[i], campaign))

    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 33, 409: 31}
    assert {body["extra"]["reason"] for status, body in results if status == 409} == {"budget_exhausted"}
    budget = Budget.objects.get(campaign=campaign)
    assert budget.charged_s == 0.0
    assert budget.reserved_s == pytest.approx(990.0)
    assert budget.charged_s + budget.reserved_s <= budget.limit_s
    assert Assignment.objects.filter(campaign=campaign).count() == 33
    assert sum(LedgerEntry.objects.filter(kind="reserve").values_list("seconds", flat=True)) == pytest.approx(990.0)
    # The running totals agree with the ledger.
    budget_totals_reconcile(campaign=campaign)
    assert Budget.objects.get(campaign=campaign).reserved_s == pytest.approx(990.0)


def test_32_requests_never_over_assign_a_target_with_stored_scores(monkeypatch):
    import numpy as np

    from elicitation.services import scores as service

    campaign = f.campaign_make(name="race", presets=["collins"], overlap=3, policy="uncertainty_per_cost",
                               task_time_limit_s=60.0)
    items = [f.item_make(campaign=campaign) for _ in range(10)]
    keys = list(campaign.attributes.filter(is_coarse=False).values_list("key", flat=True))
    rng = np.random.default_rng(0)
    concept = rng.uniform(0.05, 0.95, size=(10, len(keys)))
    raw = {"version": 7, "target_ids": np.array([i.target.pk for i in items]), "concept_keys": np.array(keys),
           "concept_proba": concept, "coarse_proba": rng.uniform(0.05, 0.95, size=10),
           "aggregator_weights": np.ones(len(keys)), "aggregator_intercept": 0.0, "attribute_value": None,
           "concept_samples": None}
    monkeypatch.setattr(service, "_active_outputs", lambda campaign: raw)
    scores_recompute(campaign=campaign, version_id=7)
    Budget.objects.create(campaign=campaign, limit_s=None)  # unlimited, but locked and ledgered
    users = [f.user_make() for _ in range(32)]

    results = run_together(32, lambda i: next_task(users[i], campaign))

    assert all(status == 200 for status, _ in results), results
    live = Counter(AssignmentSlot.objects.filter(assignment__status="issued").values_list("target_id", "attribute_id"))
    assert max(live.values()) <= 3
    for slot in Slot.objects.filter(campaign=campaign):
        assert slot.n_open == live[(slot.target_id, slot.attribute_id)]
    assert Assignment.objects.values("annotator").distinct().count() == 32
    budget = Budget.objects.get(campaign=campaign)
    assert budget.reserved_s == pytest.approx(
        sum(LedgerEntry.objects.filter(kind="reserve").values_list("seconds", flat=True)))
