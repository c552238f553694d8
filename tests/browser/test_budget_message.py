"""The annotator page tells, in words, that the campaign's budget is used up (409 budget_exhausted)."""
from __future__ import annotations

import pytest

from annotator.models import Assignment
from elicitation.models import Budget
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def budget_campaign(db, paint_scene):
    """Two items, one 30 s yes/no question each."""
    campaign = f.campaign_make(name="budget-ui", presets=[], overlap=1)
    f.attribute_make(campaign=campaign, key="bright", kind="binary", options=["yes", "no", "unsure"],
                     question="Is the image bright?", prior_cost_s=30.0)
    items = [f.item_make(campaign=campaign, image=paint_scene(f.image_make(width=320, height=240), i))
             for i in range(2)]
    return campaign, items


def test_an_exhausted_budget_is_explained_on_the_task_page(page, open_task, annotator_user, budget_campaign, shoot):
    campaign, _ = budget_campaign
    Budget.objects.create(campaign=campaign, limit_s=100.0, charged_s=90.0)

    open_task(page, annotator_user, campaign)

    assert page.inner_text(".end-card h2") == "No task for you right now"
    assert page.get_attribute(".end-card", "data-reason") == "budget_exhausted"
    message = page.inner_text(".end-card p")
    assert message.startswith("The annotation budget of this campaign is nearly used up (10 s left")
    assert message.endswith("Thank you for your work!")
    assert Assignment.objects.count() == 0
    shoot(page, "task_budget_exhausted")


def test_the_message_follows_the_last_task_the_budget_paid_for(page, open_task, annotator_user, budget_campaign):
    campaign, _ = budget_campaign
    Budget.objects.create(campaign=campaign, limit_s=60.0)
    open_task(page, annotator_user, campaign)
    first = int(page.get_attribute("article.task", "data-assignment"))
    # Meanwhile others spent nearly all the rest: this task is paid for (its charge is capped at what is
    # left, 9 s), the next one cannot be, even at the lower estimate this quick answer teaches the cost model.
    Budget.objects.filter(campaign=campaign).update(charged_s=51.0)

    page.keyboard.press("y")
    page.keyboard.press("Enter")
    page.wait_for_selector(".end-card")

    assert Assignment.objects.get(pk=first).status == "submitted"
    assert page.get_attribute(".end-card", "data-reason") == "budget_exhausted"
    assert "budget of this campaign is" in page.inner_text(".end-card p")
    budget = Budget.objects.get(campaign=campaign)
    assert budget.reserved_s == 0.0 and budget.charged_s + budget.reserved_s <= budget.limit_s
