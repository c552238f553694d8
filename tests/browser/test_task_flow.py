"""Task flow in the browser: keyboard-only tasks, idempotent submit, retries, refusals, skip, timer rules."""
from __future__ import annotations

import json

import pytest

from annotator.models import Assignment, Campaign, Response
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def task_id(page) -> int:
    return int(page.get_attribute("article.task", "data-assignment"))


def wait_for_next_task(page, previous: int) -> None:
    page.wait_for_function(
        "prev => { const a = document.querySelector('article.task'); "
        "return document.querySelector('.end-card') || (a && Number(a.dataset.assignment) !== prev); }",
        arg=previous)


@pytest.fixture
def likert_campaign(db, paint_scene):
    """Two items, one 5-point question each: the smallest complete task."""
    campaign = f.campaign_make(name="likert-ui", presets=[])
    f.attribute_make(campaign=campaign, key="overall", kind="likert", likert_points=5,
                     anchors=["very poor", "poor", "fair", "good", "excellent"], question="Overall quality?")
    items = [f.item_make(campaign=campaign, image=paint_scene(f.image_make(width=320, height=240), i)) for i in range(2)]
    return campaign, items


def test_collins_binary_task_is_keyboard_completable(page, open_task, annotator_user, paint_scene, shoot):
    campaign = f.campaign_make(name="collins-ui", presets=["collins"])
    f.item_make(campaign=campaign, image=paint_scene(f.image_make(width=512, height=512), 2))
    open_task(page, annotator_user, campaign)
    first = task_id(page)
    keys = [a.key for a in campaign.attributes.order_by("order", "id")]
    assert page.eval_on_selector_all("section.question", "els => els.map(e => e.dataset.keys)") == keys

    answers = "ynsynsynsynsyn"
    for key in answers[:-1]:
        page.keyboard.press(key)
    shoot(page, "widget_binary", "section.kind-binary")
    page.keyboard.press(answers[-1])
    shoot(page, "task_collins_item")
    # Every section answered: focus sits on Submit and Enter sends it.
    assert page.evaluate("document.activeElement.id") == "submit-btn"
    page.keyboard.press("Enter")
    wait_for_next_task(page, first)

    values = {r.attribute.key: r.value for r in Response.objects.filter(assignment_id=first)}
    expected = {"y": {"value": True}, "n": {"value": False}, "s": {"skipped": True}}
    assert values == {key: expected[answer] for key, answer in zip(keys, answers)}


def test_prompt_annotation_category_and_exclusive_none(page, open_task, annotator_user, shoot):
    campaign = f.campaign_make(name="prompt-ui", presets=["imagereward"])
    target = f.prompt_target_make(campaign=campaign, prompt=f.prompt_make(text="a photo of <i>two</i> dogs"))
    open_task(page, annotator_user, campaign)
    first = task_id(page)
    assert page.inner_text("#prompt-text") == "a photo of <i>two</i> dogs"
    assert page.eval_on_selector_all("section.question", "els => els.map(e => e.dataset.keys)") == [
        "prompt_category", "prompt_flags"]

    page.keyboard.press("2")          # Animals; moves on to the flags
    page.keyboard.press("1")          # unclear_intent
    page.keyboard.press("3")          # violent
    page.keyboard.press("0")          # none of these: clears the others
    assert page.eval_on_selector_all("section.kind-choice input:checked", "els => els.map(e => e.value)") == ["none"]
    page.keyboard.press("0")          # untick none
    page.keyboard.press("2")          # pornographic
    page.click('section.kind-choice label:has-text("Discriminatory")')
    shoot(page, "widget_category", "section.kind-category")
    shoot(page, "widget_choice", "section.kind-choice")
    shoot(page, "task_prompt_annotation")
    page.locator("section.kind-choice .q-head").click()
    page.keyboard.press("Enter")
    wait_for_next_task(page, first)

    values = {r.attribute.key: r.value for r in Response.objects.filter(assignment_id=first)}
    assert values == {"prompt_category": {"value": "Animals"},
                      "prompt_flags": {"value": ["pornographic", "discriminatory"]}}
    assert Response.objects.filter(target=target).count() == 2


def test_double_click_submits_once(page, open_task, annotator_user, likert_campaign):
    campaign, _ = likert_campaign
    open_task(page, annotator_user, campaign)
    first = task_id(page)
    posts = []
    page.on("request", lambda r: posts.append(r.post_data) if r.url.endswith("/submit") else None)
    page.keyboard.press("4")

    page.dblclick("#submit-btn")
    wait_for_next_task(page, first)

    assert len(posts) == 1
    assert [r.value for r in Response.objects.filter(assignment_id=first)] == [{"value": 4}]
    assert page.inner_text('[data-progress="submitted"]') == "1"
    assert page.inner_text('[data-progress="session"]') == "1"


def test_lost_answer_is_retried_with_the_same_submission_id(page, open_task, annotator_user, likert_campaign):
    campaign, _ = likert_campaign
    open_task(page, annotator_user, campaign)
    first = task_id(page)
    sent = []

    def drop_first_answer(route):
        sent.append(json.loads(route.request.post_data))
        if len(sent) == 1:
            route.fetch()           # the server accepts it...
            route.abort("failed")   # ...but the answer never reaches the page
        else:
            route.continue_()

    page.route("**/api/assignments/*/submit", drop_first_answer)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_for_next_task(page, first)

    assert len(sent) == 2
    assert sent[0] == sent[1]
    assert sent[0]["submission_id"] == str(Assignment.objects.get(pk=first).submission_id)
    assert [r.value for r in Response.objects.filter(assignment_id=first)] == [{"value": 2}]
    assert Response.objects.count() == 1


def test_server_refusal_is_shown_and_nothing_is_saved(page, open_task, annotator_user, likert_campaign):
    campaign, _ = likert_campaign
    open_task(page, annotator_user, campaign)
    first = task_id(page)

    def tamper(route):
        body = json.loads(route.request.post_data)
        body["responses"]["overall"] = {"value": 9}
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/assignments/*/submit", tamper)
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_selector(".submit-problems.server")

    assert page.inner_text(".server-message") == "A rating is between 1 and 5."
    assert page.inner_text("section.kind-likert .q-problems") == "A rating is between 1 and 5."
    assert Response.objects.count() == 0
    assert Assignment.objects.get(pk=first).status == Assignment.Status.ISSUED
    assert page.is_enabled("#submit-btn")


def test_skip_moves_on(page, open_task, annotator_user, likert_campaign):
    campaign, _ = likert_campaign
    open_task(page, annotator_user, campaign)
    first = task_id(page)

    page.click("#skip-btn")
    page.select_option("#skip-reason", "The image does not load")
    page.click("#skip-confirm")
    wait_for_next_task(page, first)

    skipped = Assignment.objects.get(pk=first)
    assert (skipped.status, skipped.skip_reason) == (Assignment.Status.SKIPPED, "The image does not load")
    assert task_id(page) != first


def test_refusal_and_all_done_are_shown_in_words(page, open_task, login, live_server, annotator_user, shoot):
    paused = f.campaign_make(name="paused-ui", presets=[], status=Campaign.Status.PAUSED)
    empty = f.campaign_make(name="empty-ui", presets=[])

    open_task(page, annotator_user, paused)
    assert page.inner_text(".end-card h2") == "No task for you right now"
    assert page.inner_text(".end-card p") == "Campaign 'paused-ui' is paused: no tasks are issued."
    assert page.get_attribute(".end-card", "data-reason") == "campaign_inactive"
    shoot(page, "task_refused")

    page.goto(f"{live_server.url}/campaigns/{empty.pk}/annotate/")
    page.wait_for_selector(".end-card")
    assert page.inner_text(".end-card h2") == "All done"
    shoot(page, "task_all_done")


def test_active_time_pauses_when_idle_or_hidden(page, live_server):
    """timer.js with a fake clock: counts only visible time within 30 s of input, per attribute."""
    page.goto(f"{live_server.url}/accounts/login/")
    result = page.evaluate("""async () => {
        const { ActiveTimer } = await import('/static/annotator/timer.js');
        let now = 0;
        const t = new ActiveTimer({ now: () => now });
        t.setCurrent('a');
        now = 5000; t.tick();                       // no input yet: nothing counts
        t.input(); now = 15000; t.tick();           // 10 s after an input
        now = 60000; t.tick();                      // idle after 30 s: only 20 s more count
        t.input(); now = 62000; t.setCurrent('b');  // 2 s more on a, then b is current
        now = 64000; t.setVisible(false);           // 2 s on b, then hidden
        now = 90000; t.input(); t.tick();           // hidden: nothing
        t.setVisible(true); now = 91000;            // visible again, input 1 s ago
        const snap = t.snapshot(['a', 'b', 'c']);
        t.reset();
        return { snap, afterReset: t.snapshot(['a']) };
    }""")

    assert result == {"snap": {"a": 32000, "b": 3000, "c": 0}, "afterReset": {"a": 0}}
