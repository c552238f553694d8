"""The task page on item targets: points, keywords, Likert, drafts, prompt shown as text."""
from __future__ import annotations

import pytest

from annotator.models import Assignment, Response
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE_PROMPT = "a <b>bold</b> cat <script>window.__pwned = 1</script> on a red sofa"


@pytest.fixture
def richhf(db, paint_scene):
    campaign = f.campaign_make(name="richhf-ui", presets=["richhf"], point_radius_frac=0.05,
                               instructions="Mark **every** artifact.")
    prompt = f.prompt_make(text=HOSTILE_PROMPT)
    items = [f.item_make(campaign=campaign, image=paint_scene(f.image_make(prompt=prompt, width=640, height=480))),
             f.item_make(campaign=campaign, image=paint_scene(f.image_make(prompt=prompt, width=300, height=500), 1))]
    return campaign, items


def task_id(page) -> int:
    return int(page.get_attribute("article.task", "data-assignment"))


def wait_for_next_task(page, previous: int) -> None:
    page.wait_for_function(
        "prev => { const a = document.querySelector('article.task'); "
        "return document.querySelector('.end-card') || (a && Number(a.dataset.assignment) !== prev); }",
        arg=previous)


def click_image(page, fx: float, fy: float) -> tuple[float, float, dict]:
    """Click at a fraction of the displayed image; returns the offsets in CSS pixels and the box."""
    box = page.locator(".stage-img").bounding_box()
    dx, dy = box["width"] * fx, box["height"] * fy
    page.mouse.click(box["x"] + dx, box["y"] + dy)
    return dx, dy, box


def test_points_keywords_and_likert_by_keyboard_are_saved(page, open_task, annotator_user, richhf, shoot):
    campaign, items = richhf
    open_task(page, annotator_user, campaign)
    first = task_id(page)

    # The prompt is shown as text: no <b> element, no script ran.
    assert page.inner_text("#prompt-text") == HOSTILE_PROMPT
    assert page.locator(".prompt-card b, .prompt-card script").count() == 0
    assert page.evaluate("window.__pwned") is None
    # Only the requested attributes, in order, each with a timer; both points share one canvas.
    sections = page.locator("section.question")
    assert [sections.nth(i).get_attribute("data-keys") for i in range(sections.count())] == [
        "artifact_points misalignment_points", "misaligned_keywords", "plausibility", "alignment",
        "aesthetics", "overall"]
    assert page.locator(".q-timer").count() == 7
    assert page.locator(".stage-img").count() == 1

    # Red points (the default label), then blue after pressing b.
    red1 = click_image(page, 0.25, 0.30)
    red2 = click_image(page, 0.80, 0.15)
    page.keyboard.press("b")
    blue = click_image(page, 0.60, 0.70)
    assert page.locator(".layer-artifact .pt").count() == 2
    assert page.locator(".layer-misalignment .pt").count() == 1
    # Each point carries its disk of radius point_radius_frac x displayed height.
    disk_radius_px = page.evaluate(
        "() => { const svg = document.querySelector('.points-overlay');"
        " const disk = svg.querySelector('.layer-misalignment .disk');"
        " return disk.r.baseVal.value * svg.getBoundingClientRect().height / svg.viewBox.baseVal.height; }")
    assert disk_radius_px == pytest.approx(0.05 * blue[2]["height"], abs=0.01)
    # Clicking a point removes it; undo (u) brings it back, Ctrl+Z undoes the step before (the blue point).
    page.locator(".layer-artifact .marker").nth(1).click()
    assert page.locator(".layer-artifact .pt").count() == 1
    page.keyboard.press("u")
    assert page.locator(".layer-artifact .pt").count() == 2
    page.keyboard.press("Control+z")
    assert page.locator(".layer-misalignment .pt").count() == 0
    assert page.locator(".layer-artifact .pt").count() == 2
    blue = click_image(page, 0.60, 0.70)
    page.keyboard.press("r")
    assert page.get_attribute(".label-btn.label-artifact", "aria-checked") == "true"
    shoot(page, "widget_points_canvas", ".media")
    shoot(page, "widget_points_tools", "section.kind-points")

    # Flag two prompt words.
    words = [t["text"] for t in items[0].image.prompt.tokens]
    bold, cat = words.index("bold"), words.index("cat")
    page.click(f'section.kind-keywords .token[data-index="{bold}"]')
    page.click(f'section.kind-keywords .token[data-index="{cat}"]')
    assert page.locator("section.kind-keywords .token.flagged").count() == 2
    shoot(page, "widget_keywords", "section.kind-keywords")

    # Likert by keys: each answer moves the current section on; then Enter submits.
    page.locator("section.kind-likert .q-head").first.click()
    for key in "4352":
        page.keyboard.press(key)
    assert page.locator("section.question.answered").count() == 6
    shoot(page, "widget_likert5", "section.kind-likert")
    shoot(page, "task_richhf_item")
    page.keyboard.press("Enter")
    wait_for_next_task(page, first)

    assignment = Assignment.objects.get(pk=first)
    assert assignment.status == Assignment.Status.SUBMITTED
    values = {r.attribute.key: r.value for r in Response.objects.filter(assignment=assignment)}
    assert values["misaligned_keywords"] == {"tokens": [bold, cat]}
    assert values["plausibility"] == {"value": 4}
    assert values["alignment"] == {"value": 3}
    assert values["aesthetics"] == {"value": 5}
    assert values["overall"] == {"value": 2}
    red_points = values["artifact_points"]["points"]
    blue_points = values["misalignment_points"]["points"]
    assert values["artifact_points"]["none"] is False and values["misalignment_points"]["none"] is False
    assert [p["label"] for p in red_points] == ["artifact", "artifact"]
    assert [p["label"] for p in blue_points] == ["misalignment"]
    # Normalised coordinates land within one displayed pixel of the clicks.
    for (dx, dy, box), point in ((red1, red_points[0]), (red2, red_points[1]), (blue, blue_points[0])):
        assert abs(point["x"] * box["width"] - dx) <= 1
        assert abs(point["y"] * box["height"] - dy) <= 1
    active = {r.attribute.key: r.active_ms for r in Response.objects.filter(assignment=assignment)}
    assert set(active) == {"artifact_points", "misalignment_points", "misaligned_keywords", "plausibility",
                           "alignment", "aesthetics", "overall"}
    assert all(isinstance(ms, int) and ms >= 0 for ms in active.values())


def test_nothing_to_mark_and_points_on_a_scaled_image(page, open_task, annotator_user, richhf):
    campaign, items = richhf
    # The second image (300x500) is shown scaled; coordinates stay fractions of the image.
    open_task(page, annotator_user, campaign)
    first = task_id(page)
    page.set_viewport_size({"width": 1000, "height": 700})
    point = click_image(page, 0.5, 0.5)
    page.keyboard.press("b")
    page.keyboard.press("n")  # nothing misaligned
    assert page.is_checked("#none-misalignment_points")
    page.locator("section.kind-likert .q-head").first.click()
    for key in "1234":
        page.keyboard.press(key)
    page.click("#submit-btn")
    wait_for_next_task(page, first)

    values = {r.attribute.key: r.value for r in Response.objects.filter(assignment_id=first)}
    assert values["misalignment_points"] == {"points": [], "none": True}
    assert values["misaligned_keywords"] == {"tokens": []}
    (saved,) = values["artifact_points"]["points"]
    dx, dy, box = point
    assert abs(saved["x"] * box["width"] - dx) <= 1 and abs(saved["y"] * box["height"] - dy) <= 1


def test_unanswered_questions_block_the_submit_inline(page, open_task, annotator_user, richhf):
    campaign, _ = richhf
    open_task(page, annotator_user, campaign)
    first = task_id(page)

    page.click("#submit-btn")

    assert page.inner_text("#submit-problems") == "5 questions need attention before you can submit."
    assert page.inner_text("section.kind-points .q-problems") == "Please answer this question."
    assert "current" in page.get_attribute("section.kind-points", "class")
    assert Response.objects.count() == 0
    assert Assignment.objects.get(pk=first).status == Assignment.Status.ISSUED


def test_reload_restores_the_draft(page, open_task, annotator_user, richhf):
    campaign, _ = richhf
    open_task(page, annotator_user, campaign)
    first = task_id(page)
    click_image(page, 0.4, 0.4)
    page.keyboard.press("b")
    click_image(page, 0.1, 0.9)
    page.locator("section.kind-keywords .token").nth(2).click()
    page.locator("section.kind-likert .q-head").nth(1).click()
    with page.expect_response(lambda r: r.url.endswith(f"/api/assignments/{first}/draft")
                              and r.request.method == "PUT") as saved:
        page.keyboard.press("5")  # alignment
    assert saved.value.status == 200
    page.wait_for_function("() => document.querySelector('[data-progress=saved]').textContent.startsWith('draft saved')")
    # Hiding the page saves at once, without waiting for the next autosave.
    page.locator("section.kind-keywords .token").nth(4).click()
    with page.expect_response(lambda r: r.url.endswith(f"/api/assignments/{first}/draft")
                              and r.request.method == "PUT") as hidden:
        page.evaluate("() => { Object.defineProperty(document, 'visibilityState', "
                      "{ value: 'hidden', configurable: true });"
                      " document.dispatchEvent(new Event('visibilitychange')); }")
    assert hidden.value.status == 200
    draft = Assignment.objects.get(pk=first).draft
    submission_id = page.evaluate(f"localStorage.getItem('annotator:submission:{first}')")

    page.reload()
    page.wait_for_selector("article.task")

    assert task_id(page) == first
    assert draft["responses"]["alignment"] == {"value": 5}
    assert draft["responses"]["misaligned_keywords"] == {"tokens": [2, 4]}
    assert set(draft["active_ms"]) == {"artifact_points", "misalignment_points", "misaligned_keywords",
                                       "plausibility", "alignment", "aesthetics", "overall"}
    assert page.locator(".layer-artifact .pt").count() == 1
    assert page.locator(".layer-misalignment .pt").count() == 1
    assert page.eval_on_selector_all("section.kind-keywords .token.flagged", "els => els.map(e => e.dataset.index)") == ["2", "4"]
    assert page.inner_text('[data-progress="saved"]') == "draft restored"
    assert page.get_attribute('section[data-keys="alignment"] .likert-option.selected', "data-value") == "5"
    assert page.evaluate(f"localStorage.getItem('annotator:submission:{first}')") == submission_id
