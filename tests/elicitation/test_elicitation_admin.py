"""Budget, caps, ledger and cost estimates in Django admin; the dashboard panel; the figures' permissions."""
from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image as PILImage

from annotator.services.assignments import assignment_submit
from annotator.services.next_task import task_next
from elicitation.models import AttributeCap, Budget, LedgerEntry
from elicitation.services.costs import cost_estimates_refresh
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def spent(db, django_capture_on_commit_callbacks):
    """A campaign with a budget, one cap, and one submitted and one live assignment."""
    campaign = f.campaign_make(name="admin-budget", presets=[], overlap=1)
    for key, cost in (("cheap", 10.0), ("dear", 40.0)):
        f.attribute_make(campaign=campaign, key=key, kind="binary", prior_cost_s=cost)
    budget = Budget.objects.create(campaign=campaign, limit_s=3600.0, hourly_rate=12.0, currency="EUR")
    AttributeCap.objects.create(budget=budget, attribute=campaign.attributes.get(key="dear"), limit_s=500.0)
    for _ in range(2):
        f.item_make(campaign=campaign)
    annotator = f.user_make()
    first = task_next(campaign=campaign, annotator=annotator)
    with django_capture_on_commit_callbacks(execute=True):  # the measured times count after the commit
        assignment_submit(assignment_id=first.pk, annotator=annotator, submission_id=uuid.uuid4(),
                          responses={"cheap": {"value": True}, "dear": {"value": False}},
                          active_ms={"cheap": 20_000, "dear": 40_000})
    task_next(campaign=campaign, annotator=annotator)
    cost_estimates_refresh(campaign=campaign)
    return campaign, budget


def test_budget_change_page_shows_spend_caps_and_costs(spent, researcher_user, client):
    campaign, budget = spent
    client.force_login(researcher_user)
    html = client.get(f"/admin/elicitation/budget/{budget.pk}/change/").content.decode()
    assert f'src="/elicitation/campaigns/{campaign.pk}/spend.png"' in html
    # 20 s + 40 s charged, the second task's estimates reserved: cheap 10 -> (5 ln 10 + ln 20) / 6, dear stays 40.
    budget.refresh_from_db()
    assert budget.charged_s == 60.0
    assert budget.reserved_s == pytest.approx(round(10 * 2 ** (1 / 6), 3) + 40.0)
    assert "<td>cheap</td><td>10.0 s</td><td>20.0 s</td><td>11.2 s</td><td>1</td>" in html
    assert "<td>dear</td><td>40.0 s</td><td>40.0 s</td><td>40.0 s</td><td>1</td>" in html
    assert "0.20 / 12.00 EUR" in html  # 60 s at 12 EUR an hour, of 3,600 s
    assert 'name="caps-0-limit_s" value="500.0"' in html

    listing = client.get("/admin/elicitation/budget/").content.decode()
    assert "admin-budget" in listing and "3,600.0 s" in listing


def test_caps_are_edited_inline(spent, researcher_user, client):
    campaign, budget = spent
    client.force_login(researcher_user)
    cap = AttributeCap.objects.get()
    cheap = campaign.attributes.get(key="cheap")
    data = {
        "limit_s": "7200", "hourly_rate": "12", "currency": "EUR", "pseudo_count": "5", "charge_cap_multiple": "3",
        "caps-TOTAL_FORMS": "2", "caps-INITIAL_FORMS": "1", "caps-MIN_NUM_FORMS": "0", "caps-MAX_NUM_FORMS": "1000",
        "caps-0-id": str(cap.pk), "caps-0-budget": str(budget.pk), "caps-0-attribute": str(cap.attribute_id),
        "caps-0-limit_s": "", "caps-0-retired": "on",
        "caps-1-budget": str(budget.pk), "caps-1-attribute": str(cheap.pk), "caps-1-limit_s": "100",
    }
    response = client.post(f"/admin/elicitation/budget/{budget.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    budget.refresh_from_db()
    assert budget.limit_s == 7200.0 and budget.charged_s == 60.0
    assert {(c.attribute.key, c.limit_s, c.retired) for c in AttributeCap.objects.select_related("attribute")} == {
        ("dear", None, True), ("cheap", 100.0, False)}


def test_ledger_is_read_only_with_totals(spent, researcher_user, client):
    campaign, _ = spent
    client.force_login(researcher_user)
    html = client.get("/admin/elicitation/ledgerentry/").content.decode()
    assert 'id="ledger-totals"' in html
    assert '<tr data-kind="charge"><td>charge</td><td>2</td><td>60.0</td><td>0.02</td></tr>' in html
    # The charges settled the first task's reservation (no release rows); the second task's is outstanding.
    assert '<tr data-kind="release"><td>release</td><td>0</td><td>0.0</td><td>0.00</td></tr>' in html
    outstanding = Budget.objects.get(campaign=campaign).reserved_s
    assert "settled (s)" in html.lower()  # each charge's settlement is listed beside its seconds
    assert f'<tr data-kind="outstanding"><td>reserved, not yet released or settled</td><td></td><td>{outstanding:.1f}</td>' \
        in html
    filtered = client.get("/admin/elicitation/ledgerentry/?kind__exact=charge").content.decode()
    assert '<tr data-kind="reserve"><td>reserve</td><td>0</td><td>0.0</td>' in filtered
    entry = LedgerEntry.objects.first()
    assert client.get("/admin/elicitation/ledgerentry/add/").status_code == 403
    assert client.post(f"/admin/elicitation/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
    assert client.get("/admin/elicitation/attributecostestimate/").status_code == 200


def test_dashboard_panel_and_figures(spent, researcher_user, annotator_user, client):
    campaign, _ = spent
    client.force_login(researcher_user)
    html = client.get(f"/campaigns/{campaign.pk}/dashboard/").content.decode()
    assert 'aria-label="Budget and elicitation"' in html
    assert 'data-elicitation="costs"' in html and '<tr data-key="dear">' in html
    assert "charged 60 s (0.20 EUR)" in html
    assert "No concept-bottleneck model yet" in html
    png = client.get(f"/elicitation/campaigns/{campaign.pk}/spend.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert PILImage.open(io.BytesIO(png.content)).format == "PNG"

    client.force_login(annotator_user)
    assert client.get(f"/elicitation/campaigns/{campaign.pk}/spend.png").status_code == 403
    client.logout()
    assert client.get(f"/elicitation/campaigns/{campaign.pk}/spend.png").status_code == 302


def test_retirement_proposals_on_the_panel(spent, monkeypatch):
    from elicitation import dashboard
    from rewardlab.selectors import models as rewardlab_models

    campaign, _ = spent
    monkeypatch.setattr(rewardlab_models, "attribute_values", lambda *, campaign: {"cheap": 0.04, "dear": -0.01})
    panel = dashboard.budget_panel(campaign)
    assert panel["context"]["proposals"] == ["dear"]
    assert [(r["key"], r["retire"]) for r in panel["context"]["values"]] == [("cheap", False), ("dear", True)]


def test_spend_figure_shows_spend_that_all_fell_in_one_bucket():
    """A campaign's first minutes: every entry in one time bucket still draws a visible point."""
    from datetime import datetime, timezone

    import numpy as np

    from elicitation.plots import spend_png

    png = spend_png(t=[datetime(2026, 12, 6, 15, 31, tzinfo=timezone.utc)], charged=[1821.0], reserved=[0.0],
                    limit_s=None)
    pixels = np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB")).astype(int)
    blue = (np.abs(pixels - (31, 119, 180)) < 30).all(axis=-1)  # matplotlib's tab:blue
    assert blue[:, pixels.shape[1] // 3:].sum() > 20  # beyond the legend (upper left): the point itself
