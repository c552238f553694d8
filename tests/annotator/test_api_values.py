"""Value shapes per attribute kind (DESIGN §4): what is saved, and every refusal rule.

Each refusal asserts the exact field and rule and that nothing changed: no
Response row, the assignment still issued without a submission id, the slot
counters as before.
"""
from __future__ import annotations

import uuid

import pytest

from annotator.errors import ApplicationError
from annotator.models import Assignment, Attribute, Response, Slot, Target
from annotator.validation import ValueContext, value_validate
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, annotator_user):
    """Every kind: richhf + imagereward + tia2 + sxs, all optional so one attribute can be sent alone."""
    campaign = f.campaign_make(name="values", presets=["richhf", "imagereward", "tia2", "sxs"])
    campaign.attributes.update(required=False)
    prompt = f.prompt_make(text="a red cube on top of a blue sphere")  # 9 tokens
    item = f.item_make(campaign=campaign, prompt=prompt)
    group = f.group_make(campaign=campaign, n_images=4, prompt=prompt, with_items=True)
    pair = f.pair_make(campaign=campaign, prompt=prompt)
    prompt_target = f.prompt_target_make(campaign=campaign, prompt=prompt)
    group_images = list(group.members.order_by("position").values_list("image_id", flat=True))
    # The pair is shown B first: the stored value must name the image shown as A.
    pair_display = [pair.image_b_id, pair.image_a_id]
    assignments = {
        "item": f.assignment_make(annotator=annotator_user, target=item.target),
        "group": f.assignment_make(annotator=annotator_user, target=group.target),
        "pair": f.assignment_make(annotator=annotator_user, target=pair.target,
                                  display={"images": pair_display}),
        "prompt": f.assignment_make(annotator=annotator_user, target=prompt_target),
    }
    return {"campaign": campaign, "assignments": assignments, "group_images": group_images,
            "pair_display": pair_display, "user": annotator_user}


def target_of(key: str) -> str:
    return {"ranking": "group", "sxs": "pair", "prompt_category": "prompt", "prompt_flags": "prompt"}.get(key, "item")


def submit(client, assignment: Assignment, responses, active_ms=None):
    body = {"submission_id": str(uuid.uuid4()), "responses": responses}
    if active_ms is not None:
        body["active_ms"] = active_ms
    return client.post(f"/api/assignments/{assignment.pk}/submit", body, format="json")


def snapshot(assignment: Assignment):
    assignment.refresh_from_db()
    return (Response.objects.count(), assignment.status, assignment.submission_id,
            list(Slot.objects.order_by("id").values_list("n_open", "n_done")))


VALID = [
    ("aligned", {"value": True}, {"value": True}),
    ("aligned", {"value": False}, {"value": False}),
    ("aligned", {"skipped": True}, {"skipped": True}),
    ("overall", {"value": 1}, {"value": 1}),
    ("overall", {"value": 5}, {"value": 5}),
    ("ir_overall", {"value": 7}, {"value": 7}),
    ("ir_issues", {"value": ["fuzzy", "body_problem"]}, {"value": ["body_problem", "fuzzy"]}),
    ("ir_issues", {"value": ["none"]}, {"value": ["none"]}),
    ("prompt_flags", {"value": ["violent"]}, {"value": ["violent"]}),
    ("prompt_category", {"value": "Animals"}, {"value": "Animals"}),
    ("artifact_points", {"points": [{"x": 0, "y": 1, "label": "artifact"}, {"x": 0.25, "y": 0.5, "label": "artifact"}],
                         "none": False},
     {"points": [{"x": 0.0, "y": 1.0, "label": "artifact"}, {"x": 0.25, "y": 0.5, "label": "artifact"}],
      "none": False}),
    ("artifact_points", {"points": [{"x": 0.5, "y": 0.5}]},
     {"points": [{"x": 0.5, "y": 0.5, "label": "artifact"}], "none": False}),
    ("misalignment_points", {"points": [], "none": True}, {"points": [], "none": True}),
    ("misalignment_points", {"none": True}, {"points": [], "none": True}),
    ("misaligned_keywords", {"tokens": [8, 0, 3]}, {"tokens": [0, 3, 8]}),
    ("misaligned_keywords", {"tokens": []}, {"tokens": []}),
    ("sxs", {"choice": "A>>B"}, "SXS"),
    ("sxs", {"choice": "unsure"}, "SXS"),
]


@pytest.mark.parametrize("key,value,expected", VALID, ids=[f"{v[0]}-{i}" for i, v in enumerate(VALID)])
def test_valid_values_are_saved_exactly(world, client_for, key, value, expected):
    assignment = world["assignments"][target_of(key)]
    if expected == "SXS":
        a, b = world["pair_display"]
        expected = {**value, "a": a, "b": b}

    response = submit(client_for(world["user"]), assignment, {key: value}, {key: 2500})

    assert response.status_code == 201, response.json()
    saved = Response.objects.get()
    assert (saved.attribute.key, saved.value, saved.active_ms) == (key, expected, 2500)
    assert response.json()["responses"] == [{"attribute": key, "value": expected, "active_ms": 2500}]


def test_valid_ranking_is_saved_exactly(world, client_for):
    i1, i2, i3, i4 = world["group_images"]
    levels = [[i3], [i1, i4], [], [i2], []]

    response = submit(client_for(world["user"]), world["assignments"]["group"], {"ranking": {"levels": levels}})

    assert response.status_code == 201, response.json()
    assert Response.objects.get().value == {"levels": levels}


def test_sxs_three_way(world, client_for):
    sxs = Attribute.objects.get(campaign=world["campaign"], key="sxs")
    sxs.options, sxs.config = ["A", "B", "unsure"], {"mode": "3way"}
    sxs.save()
    a, b = world["pair_display"]

    refused = submit(client_for(world["user"]), world["assignments"]["pair"], {"sxs": {"choice": "A>B"}})
    accepted = submit(client_for(world["user"]), world["assignments"]["pair"], {"sxs": {"choice": "B"}})

    assert refused.json()["extra"] == {"field": "responses.sxs.choice", "rule": "unknown_option"}
    assert accepted.status_code == 201
    assert Response.objects.get().value == {"choice": "B", "a": a, "b": b}


def many_points(n: int) -> dict:
    return {"points": [{"x": i / 100, "y": 0.5, "label": "artifact"} for i in range(n)], "none": False}


REFUSED = [
    # (responses, active_ms, field, rule)
    ({"artifact_points": {"points": [{"x": 0.1, "y": 0.1}] * 3 + [{"x": 1.5, "y": 0.1}], "none": False}}, None,
     "responses.artifact_points.points[3].x", "range"),
    ({"artifact_points": {"points": [{"x": 0.1, "y": -0.01}], "none": False}}, None,
     "responses.artifact_points.points[0].y", "range"),
    ({"overall": {"value": 6}}, None, "responses.overall.value", "range"),
    ({"overall": {"value": 0}}, None, "responses.overall.value", "range"),
    ({"ir_overall": {"value": 8}}, None, "responses.ir_overall.value", "range"),
    ({"artifact_points": many_points(51)}, None, "responses.artifact_points.points", "max_points"),
    ({"artifact_points": {"points": [{"x": 0.1, "y": 0.1, "label": "misalignment"}], "none": False}}, None,
     "responses.artifact_points.points[0].label", "unknown_label"),
    ({"misaligned_keywords": {"tokens": [1, 9]}}, None, "responses.misaligned_keywords.tokens[1]", "token_index"),
    ({"misaligned_keywords": {"tokens": [-1]}}, None, "responses.misaligned_keywords.tokens[0]", "token_index"),
    ({"misaligned_keywords": {"tokens": [2, 2]}}, None, "responses.misaligned_keywords.tokens[1]",
     "token_repeated"),
    ({"ir_issues": {"value": ["fuzzy", "blurry"]}}, None, "responses.ir_issues.value[1]", "unknown_option"),
    ({"prompt_category": {"value": "Dinosaurs"}}, None, "responses.prompt_category.value", "unknown_option"),
    ({"sxs": {"choice": "A>>>B"}}, None, "responses.sxs.choice", "unknown_option"),
    ({"ir_issues": {"value": ["none", "fuzzy"]}}, None, "responses.ir_issues.value", "none_exclusive"),
    ({"artifact_points": {"points": [{"x": 0.1, "y": 0.1}], "none": True}}, None,
     "responses.artifact_points.none", "none_exclusive"),
    ({"artifact_points": {"points": [], "none": False}}, None, "responses.artifact_points.points", "empty_points"),
    ({"ir_issues": {"value": []}}, None, "responses.ir_issues.value", "required"),
    ({"nonsense": {"value": 1}}, None, "responses.nonsense", "unknown_attribute"),
    ({"sxs": {"choice": "A>B"}}, None, "responses.sxs", "not_requested"),
    ({}, None, "responses", "required"),
    ({"overall": {"value": "5"}}, None, "responses.overall.value", "type"),
    ({"overall": {"value": 4.0}}, None, "responses.overall.value", "type"),
    ({"overall": {"value": True}}, None, "responses.overall.value", "type"),
    ({"overall": 4}, None, "responses.overall", "type"),
    ({"overall": {"value": 4, "note": "x"}}, None, "responses.overall.note", "type"),
    ({"aligned": {"value": 1}}, None, "responses.aligned.value", "type"),
    ({"aligned": {"skipped": False}}, None, "responses.aligned.skipped", "type"),
    ({"aligned": {"value": True, "skipped": True}}, None, "responses.aligned.skipped", "type"),
    ({"artifact_points": {"points": [{"x": "0.1", "y": 0.1}], "none": False}}, None,
     "responses.artifact_points.points[0].x", "type"),
    ({"artifact_points": {"points": {"x": 0.1}, "none": False}}, None, "responses.artifact_points.points", "type"),
    ({"misaligned_keywords": {"tokens": ["cube"]}}, None, "responses.misaligned_keywords.tokens[0]", "type"),
    ({"overall": {"value": 3}}, {"overall": -1}, "active_ms.overall", "active_ms"),
    ({"overall": {"value": 3}}, {"overall": 1.5}, "active_ms.overall", "active_ms"),
    ({"overall": {"value": 3}}, {"overall": "10"}, "active_ms.overall", "active_ms"),
    ({"overall": {"value": 3}}, [100], "active_ms", "active_ms"),
]


@pytest.mark.parametrize("responses,active_ms,field,rule", REFUSED, ids=[f"{r[3]}-{i}" for i, r in enumerate(REFUSED)])
def test_refusals_name_field_and_rule_and_save_nothing(world, client_for, responses, active_ms, field, rule):
    first_key = next(iter(responses), "overall")
    assignment = world["assignments"]["item" if rule == "not_requested" else target_of(first_key)]
    before = snapshot(assignment)

    response = submit(client_for(world["user"]), assignment, responses, active_ms)

    assert response.status_code == 400
    assert response.json()["extra"] == {"field": field, "rule": rule}
    assert response.json()["message"]
    assert snapshot(assignment) == before


def test_responses_must_be_an_object(world, client_for):
    assignment = world["assignments"]["item"]
    before = snapshot(assignment)

    response = submit(client_for(world["user"]), assignment, ["overall", 3])

    assert response.status_code == 400
    assert response.json()["extra"] == {"field": "responses", "rule": "type"}
    assert snapshot(assignment) == before


def test_missing_required_attribute_is_refused(world, client_for):
    Attribute.objects.filter(campaign=world["campaign"], key="alignment").update(required=True)
    assignment = world["assignments"]["item"]
    before = snapshot(assignment)

    response = submit(client_for(world["user"]), assignment, {"overall": {"value": 3}})

    assert response.status_code == 400
    assert response.json()["extra"] == {"field": "responses.alignment", "rule": "required"}
    assert snapshot(assignment) == before


def test_one_bad_value_refuses_the_whole_submission(world, client_for):
    assignment = world["assignments"]["item"]
    before = snapshot(assignment)

    response = submit(client_for(world["user"]), assignment,
                      {"overall": {"value": 3}, "alignment": {"value": 4}, "aesthetics": {"value": 9}})

    assert response.json()["extra"] == {"field": "responses.aesthetics.value", "rule": "range"}
    assert snapshot(assignment) == before


def test_bad_submission_id_is_refused(world, client_for):
    assignment = world["assignments"]["item"]
    before = snapshot(assignment)

    response = client_for(world["user"]).post(f"/api/assignments/{assignment.pk}/submit",
                                              {"submission_id": "nope", "responses": {"overall": {"value": 3}}},
                                              format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "submission_id"
    assert response.json()["extra"]["rule"] == "invalid"
    assert snapshot(assignment) == before


@pytest.mark.parametrize("levels_of,field,rule", [
    (lambda w, i: [[i[0]], [i[1]], [i[2]], [], []], "responses.ranking.levels", "ranking_missing_image"),
    (lambda w, i: [[i[0]], [i[1]], [i[2]], [i[3]], [i[0]]], "responses.ranking.levels[4][0]",
     "ranking_repeated_image"),
    (lambda w, i: [[i[0]], [i[1]], [i[2]], [i[3]], [w["pair_display"][0]]], "responses.ranking.levels[4][0]",
     "ranking_unknown_image"),
    (lambda w, i: [[i[0], i[1], i[2]], [i[3]], [], [], []], "responses.ranking.levels[0]", "level_capacity"),
    (lambda w, i: [[i[0]], [i[1]], [i[2]], [i[3]]], "responses.ranking.levels", "level_count"),
    (lambda w, i: [[i[0]], [i[1]], [i[2]], [str(i[3])], []], "responses.ranking.levels[3][0]", "type"),
    (lambda w, i: {"best": i}, "responses.ranking.levels", "type"),
], ids=["missing", "repeated", "unknown", "capacity", "count", "type-id", "type-levels"])
def test_ranking_refusals(world, client_for, levels_of, field, rule):
    assignment = world["assignments"]["group"]
    before = snapshot(assignment)

    response = submit(client_for(world["user"]), assignment,
                      {"ranking": {"levels": levels_of(world, world["group_images"])}})

    assert response.status_code == 400
    assert response.json()["extra"] == {"field": field, "rule": rule}
    assert snapshot(assignment) == before


def test_ranking_must_not_contradict_own_ratings(world, client_for, other_annotator):
    i1, i2, i3, i4 = world["group_images"]
    rating = Attribute.objects.get(campaign=world["campaign"], key="ir_overall")
    target = {image_id: Target.objects.get(item__image_id=image_id) for image_id in (i1, i2, i3)}
    f.response_make(annotator=world["user"], target=target[i1], attribute=rating, value={"value": 3})
    f.response_make(annotator=world["user"], target=target[i2], attribute=rating, value={"value": 6})
    # Someone else's rating never constrains this annotator.
    f.response_make(annotator=other_annotator, target=target[i3], attribute=rating, value={"value": 7})
    assignment = world["assignments"]["group"]
    client = client_for(world["user"])
    before = snapshot(assignment)

    contradicting = submit(client, assignment, {"ranking": {"levels": [[i1], [i2], [i3], [i4], []]}})
    after_refusal = snapshot(assignment)
    # Same level is no contradiction; nor is ranking i3 (not rated by this annotator) anywhere.
    tied = submit(client, assignment, {"ranking": {"levels": [[i4], [i1, i2], [], [], [i3]]}})

    assert contradicting.status_code == 400
    assert contradicting.json()["extra"] == {"field": "responses.ranking.levels", "rule": "ranking_contradicts_ratings"}
    assert after_refusal == before
    assert tied.status_code == 201


def test_validator_is_pure_and_reusable():
    """The import path calls value_validate with a stand-in attribute and no database."""
    class Spec:
        key, kind, options, likert_points, config, required = "sxs", "sxs", ["A", "B", "unsure"], None, {}, True

    context = ValueContext(image_ids=(11, 12), prefix="rows[4].value")

    assert value_validate(attribute=Spec, value={"choice": "A"}, context=context) == {"choice": "A", "a": 11, "b": 12}
    with pytest.raises(ApplicationError) as refused:
        value_validate(attribute=Spec, value={"choice": "C"}, context=context)
    assert refused.value.extra == {"field": "rows[4].value.choice", "rule": "unknown_option"}
