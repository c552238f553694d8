"""The task page on groups (ranking) and pairs (side-by-side)."""
from __future__ import annotations

import pytest

from annotator.models import Assignment, Item, Response
from annotator.presets import SXS_CHOICES_3WAY
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ranking_task(db, annotator_user, paint_scene):
    """A group of five images; the annotator rated image 1 at 6 and image 2 at 3 (7-point overall)."""
    campaign = f.campaign_make(name="ranking-ui", presets=[])
    rating = f.attribute_make(campaign=campaign, key="ir_overall", kind="likert", likert_points=7, active=False,
                              question="Overall rating.", ensure_slots=False)
    f.attribute_make(campaign=campaign, key="ranking", kind="ranking", target_type="group",
                     question="Rank the images from best (level 1) to worst (level 5); at most two per level.",
                     config={"levels": 5, "max_per_level": 2, "rating_attribute": "ir_overall"})
    prompt = f.prompt_make(text="a red cube beside a blue sphere under a yellow sun")
    group = f.group_make(campaign=campaign, prompt=prompt, with_items=True,
                         images=[f.image_make(prompt=prompt, width=512, height=512) for _ in range(5)])
    images = [member.image for member in group.members.order_by("position")]
    for i, image in enumerate(images):
        paint_scene(image, i)
    for image, k in ((images[0], 6), (images[1], 3)):
        item = Item.objects.get(campaign=campaign, image=image)
        f.response_make(annotator=annotator_user, target=item.target, attribute=rating, value={"value": k})
    return campaign, [image.pk for image in images]


def tile(image_id: int) -> str:
    return f'.tile[data-image-id="{image_id}"]'


def level(n: int) -> str:
    return f'.rank-level[data-level="{n}"]'


def level_ids(page, n: int) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all(f"{level(n)} .tile", "els => els.map(e => e.dataset.imageId)")]


def test_ranking_by_drag_and_keys_with_level_limit_and_rating_conflict(page, open_task, annotator_user,
                                                                      ranking_task, shoot):
    campaign, ids = ranking_task
    open_task(page, annotator_user, campaign)
    assignment_id = int(page.get_attribute("article.task", "data-assignment"))
    assert page.locator(".rank-pool .tile").count() == 5
    assert page.inner_text(f"{tile(ids[0])} .tile-rating") == "rated 6"
    shoot(page, "widget_ranking_start", "section.kind-ranking")

    # Image 2 (rated 3) above image 1 (rated 6): the contradiction is listed.
    page.drag_and_drop(tile(ids[1]), level(1))
    page.drag_and_drop(tile(ids[0]), level(2))
    assert page.inner_text(".rank-conflicts li") == "Image 1 (rated 6) is ranked below image 2 (rated 3)."
    assert "conflict" in page.get_attribute(tile(ids[0]), "class")

    # Level 1 takes a second image, then refuses a third while it is dragged over it.
    page.drag_and_drop(tile(ids[2]), level(1))
    page.hover(tile(ids[3]))
    page.mouse.down()
    box = page.locator(level(1)).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
    page.mouse.move(box["x"] + box["width"] / 2 + 3, box["y"] + box["height"] / 2 + 3, steps=2)
    assert "drop-refused" in page.get_attribute(level(1), "class")
    shoot(page, "widget_ranking_refused", "section.kind-ranking")
    page.mouse.up()
    assert level_ids(page, 1) == [ids[1], ids[2]]
    assert page.locator(f".rank-pool {tile(ids[3])}").count() == 1
    assert page.inner_text(".rank-message") == "Level 1 already holds 2 images: move one out first."

    # Keyboard: select image 4 and press 3; the next unplaced image is selected, press 5.
    page.click(tile(ids[3]))
    page.keyboard.press("3")
    assert "selected" in page.get_attribute(tile(ids[4]), "class")
    page.keyboard.press("5")
    assert level_ids(page, 3) == [ids[3]] and level_ids(page, 5) == [ids[4]]
    # The keyboard cannot overfill a level either.
    page.focus(tile(ids[3]))
    page.keyboard.press("Enter")
    page.keyboard.press("1")
    assert level_ids(page, 1) == [ids[1], ids[2]] and level_ids(page, 3) == [ids[3]]
    page.keyboard.press("Escape")

    # The contradiction blocks the submission.
    page.click("#submit-btn")
    assert page.inner_text("section.kind-ranking .q-problems") == (
        "The ranking contradicts your ratings in 1 pair: fix it before submitting.")
    shoot(page, "task_ranking_conflict")
    assert Response.objects.filter(assignment_id=assignment_id).count() == 0

    # Move image 2 down to level 3 beside image 4: consistent now; Enter submits.
    page.click(tile(ids[1]))
    page.keyboard.press("3")
    assert page.locator(".rank-conflicts li").count() == 0
    page.keyboard.press("Enter")
    page.wait_for_selector(".end-card")

    (response,) = Response.objects.filter(assignment_id=assignment_id)
    assert response.value == {"levels": [[ids[2]], [ids[0]], [ids[1], ids[3]], [], [ids[4]]]}
    assert Assignment.objects.get(pk=assignment_id).status == Assignment.Status.SUBMITTED
    assert page.inner_text(".end-card h2") == "All done"


def test_side_by_side_five_way_by_keyboard(page, open_task, annotator_user, paint_scene, shoot):
    campaign = f.campaign_make(name="sxs-ui", presets=["sxs"])
    prompt = f.prompt_make(text="a red cube beside a blue sphere, photo")
    pair = f.pair_make(campaign=campaign, image_a=f.image_make(prompt=prompt, width=640, height=512),
                       image_b=f.image_make(prompt=prompt, width=640, height=512))
    paint_scene(pair.image_a, 0)
    paint_scene(pair.image_b, 2)
    open_task(page, annotator_user, campaign)
    assignment = Assignment.objects.get(annotator=annotator_user)
    shown = assignment.display["images"]
    a_src = page.get_attribute('.sxs-side[data-side="A"] img', "src")
    assert a_src == (pair.image_a if shown[0] == pair.image_a_id else pair.image_b).file.url

    page.keyboard.press("2")  # A > B
    assert page.get_attribute('.sxs-option[data-choice="A>B"]', "aria-checked") == "true"
    assert "preferred" in page.get_attribute('.sxs-side[data-side="A"]', "class")
    shoot(page, "widget_sxs", "section.kind-sxs")
    shoot(page, "task_sxs")
    page.keyboard.press("Enter")
    page.wait_for_selector(".end-card")

    (response,) = Response.objects.filter(assignment=assignment)
    assert response.value == {"choice": "A>B", "a": shown[0], "b": shown[1]}


def test_side_by_side_three_way(page, open_task, annotator_user, paint_scene, shoot):
    campaign = f.campaign_make(name="sxs3-ui", presets=[])
    f.attribute_make(campaign=campaign, key="sxs3", kind="sxs", target_type="pair", question="Which is better?",
                     options=SXS_CHOICES_3WAY, config={"mode": "3way"})
    prompt = f.prompt_make(text="a blue sphere left of a red cube")
    pair = f.pair_make(campaign=campaign, image_a=f.image_make(prompt=prompt, width=512, height=512),
                       image_b=f.image_make(prompt=prompt, width=512, height=512))
    paint_scene(pair.image_a, 1)
    paint_scene(pair.image_b, 3)
    open_task(page, annotator_user, campaign)
    assignment = Assignment.objects.get(annotator=annotator_user)

    assert page.eval_on_selector_all(".sxs-option", "els => els.map(e => e.dataset.choice)") == ["A", "B", "unsure"]
    page.keyboard.press("u")
    page.keyboard.press("b")
    shoot(page, "widget_sxs_3way", "section.kind-sxs")
    page.click("#submit-btn")
    page.wait_for_selector(".end-card")

    (response,) = Response.objects.filter(assignment=assignment)
    shown = assignment.display["images"]
    assert response.value == {"choice": "B", "a": shown[0], "b": shown[1]}
