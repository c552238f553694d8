"""Login, home and campaign overview as a browser sees them."""
from __future__ import annotations

import pytest

from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INSTRUCTIONS = """Look at the image and the prompt, then answer **every** question.

- Red points: *artifacts* and implausible parts.
- Blue points: parts that do not match the prompt.

<script>window.__pwned = 1</script>
"""


def test_login_home_and_overview(page, live_server, login, annotator_user, researcher_user, paint_scene, shoot):
    campaign = f.campaign_make(name="RichHF pilot", presets=["richhf"], instructions=INSTRUCTIONS)
    f.campaign_make(name="Side-by-side", presets=["sxs"])
    for i in range(3):
        f.item_make(campaign=campaign, image=paint_scene(f.image_make(width=256, height=256), i))

    page.goto(f"{live_server.url}/")
    assert page.url == f"{live_server.url}/accounts/login/?next=/"
    shoot(page, "page_login")

    login(page, annotator_user)
    assert page.locator(".campaign h2").all_inner_texts() == ["RichHF pilot", "Side-by-side"]
    assert page.inner_text(".campaign .prose strong") == "every"
    assert page.evaluate("window.__pwned") is None
    assert page.locator("a:has-text('Overview')").count() == 0
    shoot(page, "page_home_annotator")
    with page.expect_navigation():
        page.click(".campaign:has-text('RichHF pilot') a:has-text('Start')")
    page.wait_for_selector("article.task")
    assert page.url == f"{live_server.url}/campaigns/{campaign.pk}/annotate/"

    page.context.clear_cookies()
    login(page, researcher_user)
    assert page.locator(".campaign:has-text('RichHF pilot') a:has-text('Dashboard')").get_attribute("href") == (
        f"/campaigns/{campaign.pk}/dashboard/")
    shoot(page, "page_home_researcher")
    page.click(".campaign:has-text('RichHF pilot') a:has-text('Overview')")
    page.wait_for_selector(".thumbs")
    assert page.locator(".thumb").count() == 3
    assert page.locator("table.attributes tbody tr").count() == 7
    shoot(page, "page_campaign_overview")
