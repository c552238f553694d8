"""Cost estimates in the database and the budget ledger through issue, submit, skip, expiry and invalidation."""
from __future__ import annotations

import math
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import Assignment, Slot
from annotator.services.assignments import assignment_skip, assignment_submit, leases_expire
from annotator.services.next_task import task_next
from annotator.services.reviews import review_submit
from elicitation.costs import cost_estimate
from elicitation.models import AttributeCap, AttributeCostEstimate, Budget, LedgerEntry
from elicitation.selectors.budgets import budget_summary, spend_series
from elicitation.selectors.costs import attribute_costs
from elicitation.services.costs import cost_estimates_refresh
from elicitation.services.ledger import budget_totals_reconcile
from tests import factories as f

pytestmark = pytest.mark.django_db

NEXT = "/api/tasks/next"


@pytest.fixture
def campaign(db):
    """Three yes/no attributes with prior costs 10, 20 and 40 s; all asked in one task (strategy ``all``)."""
    campaign = f.campaign_make(name="ledger", presets=[], overlap=2, task_time_limit_s=1000)
    for key, cost in (("cheap", 10.0), ("middle", 20.0), ("dear", 40.0)):
        f.attribute_make(campaign=campaign, key=key, kind="binary", options=["yes", "no", "unsure"],
                         prior_cost_s=cost)
    return campaign


def ledger(campaign) -> list[tuple[str, str, float]]:
    return sorted((e.kind, e.attribute.key if e.attribute else None, e.seconds)
                  for e in LedgerEntry.objects.filter(campaign=campaign).select_related("attribute"))


def totals(campaign) -> tuple[float, float]:
    budget = Budget.objects.get(campaign=campaign)
    return budget.charged_s, budget.reserved_s


def submit(assignment, annotator, ms: dict[str, int]):
    keys = list(assignment.attributes.values_list("key", flat=True))
    return assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission_id=uuid.uuid4(),
                             responses={key: {"value": True} for key in keys}, active_ms=ms)


# ---------------------------------------------------------------- cost estimates
def test_cost_estimate_from_prior_and_measurements(campaign):
    annotator = f.user_make()
    cheap = campaign.attributes.get(key="cheap")
    items = [f.item_make(campaign=campaign) for _ in range(5)]
    for item in items:
        f.response_make(annotator=annotator, target=item.target, attribute=cheap, value={"value": True},
                        active_ms=40_000)
    # No measurement counted yet: the estimate is the prior.
    assert attribute_costs(campaign=campaign)[cheap.pk].estimate_s == pytest.approx(10.0)

    out = cost_estimates_refresh(campaign=campaign)

    # Five measurements of 40 s against a prior of 10 s worth five: the geometric mean sqrt(10 x 40).
    assert out["cheap"] == {"prior_s": 10.0, "estimate_s": pytest.approx(20.0), "measured_median_s": 40.0, "n": 5}
    assert out["dear"] == {"prior_s": 40.0, "estimate_s": pytest.approx(40.0), "measured_median_s": None, "n": 0}
    cost = attribute_costs(campaign=campaign)[cheap.pk]
    assert (cost.prior_s, cost.estimate_s, cost.n, cost.measured_median_s) == (10.0, pytest.approx(20.0), 5, 40.0)
    # The pseudo-count is a campaign setting, applied on read.
    Budget.objects.create(campaign=campaign, pseudo_count=0.0)
    assert attribute_costs(campaign=campaign)[cheap.pk].estimate_s == pytest.approx(40.0)


def test_submits_update_the_estimate_incrementally_like_a_full_refresh(campaign, django_capture_on_commit_callbacks):
    annotator = f.user_make()
    times = {"cheap": 12_000, "middle": 30_000, "dear": 90_000}
    for _ in range(3):
        f.item_make(campaign=campaign)
    def n_dear() -> int:
        return AttributeCostEstimate.objects.filter(attribute__key="dear").values_list("n", flat=True).first() or 0

    for round_ in range(3):
        assignment = task_next(campaign=campaign, annotator=annotator)
        with django_capture_on_commit_callbacks(execute=True):
            submit(assignment, annotator, times)
            assert n_dear() == round_  # added once the submit committed, not under its locks
        assert n_dear() == round_ + 1
    incremental = {c.key: c.estimate_s for c in attribute_costs(campaign=campaign).values()}
    for key, ms in times.items():
        expected = cost_estimate(prior_s=campaign.attributes.get(key=key).prior_cost_s, measured_s=[ms / 1000] * 3,
                                 pseudo_count=5.0).estimate_s
        assert incremental[key] == pytest.approx(expected, rel=1e-9)
    assert AttributeCostEstimate.objects.get(attribute__key="dear").n == 3
    cost_estimates_refresh(campaign=campaign)
    assert {c.key: c.estimate_s for c in attribute_costs(campaign=campaign).values()} == pytest.approx(incremental)


# ---------------------------------------------------------------- ledger transitions
def test_issue_reserves_and_submit_charges_the_capped_measured_time(campaign, django_capture_on_commit_callbacks):
    Budget.objects.create(campaign=campaign, limit_s=1000.0, charge_cap_multiple=3.0)
    f.item_make(campaign=campaign)
    annotator = f.user_make()

    assignment = task_next(campaign=campaign, annotator=annotator)

    assert ledger(campaign) == [("reserve", "cheap", 10.0), ("reserve", "dear", 40.0), ("reserve", "middle", 20.0)]
    assert totals(campaign) == (0.0, 70.0)
    assert Assignment.objects.get(pk=assignment.pk).estimated_cost_s == 70.0

    # cheap: 12 s as measured; middle: an idle tab's 600 s is capped at 3 x 20 s; dear: no timer, its estimate.
    with django_capture_on_commit_callbacks(execute=True):
        assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission_id=uuid.uuid4(),
                          responses={"cheap": {"value": True}, "middle": {"value": False}, "dear": {"skipped": True}},
                          active_ms={"cheap": 12_000, "middle": 600_000})

    charges = {e.attribute.key: (e.seconds, e.measured_s, e.settled_s)
               for e in LedgerEntry.objects.filter(kind="charge")}
    # Each charge settles its attribute's reservation: no release rows for what was answered.
    assert charges == {"cheap": (12.0, 12.0, 10.0), "middle": (60.0, 600.0, 20.0), "dear": (40.0, 40.0, 40.0)}
    assert not LedgerEntry.objects.filter(kind="release").exists()
    assert totals(campaign) == (112.0, 0.0)
    # The raw times feed the cost model (the browser's timer already drops idle gaps).
    assert AttributeCostEstimate.objects.get(attribute__key="middle").sum_log_s == pytest.approx(math.log(600))
    assert not AttributeCostEstimate.objects.filter(attribute__key="dear").exists()


def test_skip_and_expiry_release_the_reservation(campaign):
    Budget.objects.create(campaign=campaign, limit_s=1000.0)
    for _ in range(2):
        f.item_make(campaign=campaign)
    first, second = f.user_make(), f.user_make()

    skipped = task_next(campaign=campaign, annotator=first)
    expiring = task_next(campaign=campaign, annotator=second)
    assert totals(campaign) == (0.0, 140.0)

    assignment_skip(assignment_id=skipped.pk, annotator=first, reason="unclear")
    assert totals(campaign) == (0.0, 70.0)
    assert LedgerEntry.objects.filter(assignment=skipped, kind="release").count() == 3

    Assignment.objects.filter(pk=expiring.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases_expire(campaign=campaign) == 1
    assert totals(campaign) == (0.0, 0.0)
    assert sum(LedgerEntry.objects.filter(assignment=expiring, kind="release").values_list("seconds", flat=True)) == 70
    # Skipping again (or expiring twice) releases nothing more.
    assignment_skip(assignment_id=skipped.pk, annotator=first)
    assert LedgerEntry.objects.filter(kind="release").count() == 6


def test_a_late_submission_is_charged_within_what_is_left(campaign):
    Budget.objects.create(campaign=campaign, limit_s=100.0)
    f.item_make(campaign=campaign)
    annotator = f.user_make()
    assignment = task_next(campaign=campaign, annotator=annotator)
    Assignment.objects.filter(pk=assignment.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    leases_expire(campaign=campaign)
    assert totals(campaign) == (0.0, 0.0)

    # Nobody took the place, so the work is welcome; it is charged but never past the limit.
    submit(assignment, annotator, {"cheap": 30_000, "middle": 30_000, "dear": 60_000})

    charges = {e.attribute.key: (e.seconds, e.measured_s) for e in LedgerEntry.objects.filter(kind="charge")}
    assert charges == {"cheap": (30.0, 30.0), "middle": (30.0, 30.0), "dear": (40.0, 60.0)}
    assert totals(campaign) == (100.0, 0.0)


def test_invalidation_keeps_the_entries(campaign, inspector_user):
    Budget.objects.create(campaign=campaign, limit_s=1000.0)
    f.item_make(campaign=campaign)
    annotator = f.user_make()
    assignment = task_next(campaign=campaign, annotator=annotator)
    submit(assignment, annotator, {"cheap": 5_000, "middle": 5_000, "dear": 5_000})
    before = ledger(campaign)

    review_submit(assignment=assignment, inspector=inspector_user, verdict="invalidated", reason="random clicks")

    assert Assignment.objects.get(pk=assignment.pk).status == "invalidated"
    assert ledger(campaign) == before
    assert totals(campaign) == (15.0, 0.0)


def test_a_submit_settles_what_it_answers_and_releases_what_it_leaves(campaign):
    campaign.attributes.filter(key="dear").update(required=False)
    budget = Budget.objects.create(campaign=campaign, limit_s=1000.0)
    f.item_make(campaign=campaign)
    annotator = f.user_make()
    assignment = task_next(campaign=campaign, annotator=annotator)

    assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission_id=uuid.uuid4(),
                      responses={"cheap": {"value": True}, "middle": {"value": False}},
                      active_ms={"cheap": 11_000, "middle": 25_000})

    rows = {(e.kind, e.attribute.key): (e.seconds, e.settled_s)
            for e in LedgerEntry.objects.filter(campaign=campaign, kind__in=["charge", "release"])}
    assert rows == {("charge", "cheap"): (11.0, 10.0), ("charge", "middle"): (25.0, 20.0),
                    ("release", "dear"): (40.0, 0.0)}
    assert totals(campaign) == (36.0, 0.0)
    # Every reading of the ledger agrees: reconcile, the spend series and an unlimited campaign's sums.
    Budget.objects.filter(pk=budget.pk).update(charged_s=0, reserved_s=999)
    budget_totals_reconcile(campaign=campaign)
    assert totals(campaign) == (36.0, 0.0)
    series = spend_series(campaign=campaign)
    assert (series["charged"][-1], series["reserved"][-1]) == (36.0, 0.0)
    budget.delete()
    summary = budget_summary(campaign=campaign)
    assert (summary.charged_s, summary.reserved_s) == (36.0, 0.0)


def test_reconcile_rebuilds_the_totals_from_the_ledger(campaign):
    budget = Budget.objects.create(campaign=campaign, limit_s=1000.0)
    cap = AttributeCap.objects.create(budget=budget, attribute=campaign.attributes.get(key="dear"), limit_s=500)
    f.item_make(campaign=campaign)
    f.item_make(campaign=campaign)
    annotator = f.user_make()
    # Measured as the priors say, so the estimates (and the second reservation) stay where they were.
    submit(task_next(campaign=campaign, annotator=annotator), annotator,
           {"cheap": 10_000, "middle": 20_000, "dear": 40_000})
    task_next(campaign=campaign, annotator=annotator)
    cap.refresh_from_db()
    assert (cap.charged_s, cap.reserved_s) == (40.0, 40.0)
    Budget.objects.filter(pk=budget.pk).update(charged_s=0, reserved_s=999)
    AttributeCap.objects.filter(pk=cap.pk).update(charged_s=0, reserved_s=0)

    budget_totals_reconcile(campaign=campaign)

    assert totals(campaign) == (70.0, 70.0)
    cap.refresh_from_db()
    assert (cap.charged_s, cap.reserved_s) == (40.0, 40.0)


# ---------------------------------------------------------------- refusals and cheaper bundles
def test_a_cheaper_bundle_is_issued_before_refusing(campaign):
    Budget.objects.create(campaign=campaign, limit_s=35.0)
    f.item_make(campaign=campaign)
    annotator = f.user_make()

    assignment = task_next(campaign=campaign, annotator=annotator)

    # 70 s do not fit in 35 s: "dear" (40 s) goes; 30 s fit.
    assert list(assignment.attributes.order_by("order").values_list("key", flat=True)) == ["cheap", "middle"]
    assert totals(campaign) == (0.0, 30.0)
    assert Slot.objects.get(target=assignment.target, attribute__key="dear").n_open == 0


def test_budget_exhausted_is_a_409_in_words_and_changes_nothing(campaign, client_for):
    Budget.objects.create(campaign=campaign, limit_s=100.0, charged_s=95.0)
    f.item_make(campaign=campaign)
    annotator = f.user_make()

    response = client_for(annotator).post(NEXT, {"campaign": campaign.pk}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["extra"] == {"field": "campaign", "rule": "budget_exhausted", "reason": "budget_exhausted"}
    assert body["message"].startswith("The annotation budget of this campaign is nearly used up (5 s left")
    assert Assignment.objects.count() == 0
    assert LedgerEntry.objects.count() == 0
    assert totals(campaign) == (95.0, 0.0)
    assert list(Slot.objects.values_list("n_open", "n_done")) == [(0, 0)] * 3


def test_an_exhausted_budget_with_nothing_left_to_do_is_just_nothing_left(campaign, client_for):
    Budget.objects.create(campaign=campaign, limit_s=100.0, charged_s=100.0)
    annotator = f.user_make()
    assert client_for(annotator).post(NEXT, {"campaign": campaign.pk}, format="json").status_code == 204


def test_caps_and_retired_attributes_are_never_asked(campaign):
    budget = Budget.objects.create(campaign=campaign)  # unlimited, but with caps
    AttributeCap.objects.create(budget=budget, attribute=campaign.attributes.get(key="dear"), retired=True)
    AttributeCap.objects.create(budget=budget, attribute=campaign.attributes.get(key="middle"), limit_s=30.0)
    for _ in range(3):
        f.item_make(campaign=campaign)
    users = [f.user_make() for _ in range(3)]

    asked = [sorted(task_next(campaign=campaign, annotator=u).attributes.values_list("key", flat=True))
             for u in users]

    # "middle" fits its 30 s cap once (20 s reserved), not twice.
    assert asked == [["cheap", "middle"], ["cheap"], ["cheap"]]
    assert AttributeCap.objects.get(attribute__key="middle").reserved_s == 20.0


def test_unlimited_campaign_still_keeps_a_ledger(campaign):
    f.item_make(campaign=campaign)
    annotator = f.user_make()
    assignment = task_next(campaign=campaign, annotator=annotator)
    submit(assignment, annotator, {"cheap": 1_000, "middle": 2_000, "dear": 3_000})
    assert not Budget.objects.exists()
    assert [(key, s) for k, key, s in ledger(campaign) if k == "charge"] == [("cheap", 1.0), ("dear", 3.0),
                                                                             ("middle", 2.0)]
