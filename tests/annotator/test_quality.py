"""Quality control: gold matching, qualification, skip limit, review queue, invalidation and re-queue."""
from __future__ import annotations

import json
import random
import uuid
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from annotator import hooks
from annotator.matching import MatchContext, answer_matches, points_similarity
from annotator.models import (
    AnnotatorStanding, Assignment, Consolidated, GoldAnswer, Response, Review, Slot, Target,
)
from annotator.selectors.quality import assignment_agreements, standing_for
from annotator.services.quality import quality_gate
from annotator.services.reviews import assignment_agreement_refresh, gold_score_update, review_sample, review_submit
from tests import factories as f

NEXT = "/api/tasks/next"


def submit(client, assignment_id: int, responses: dict, active_ms: dict | None = None):
    return client.post(f"/api/assignments/{assignment_id}/submit",
                       {"submission_id": str(uuid.uuid4()), "responses": responses,
                        "active_ms": active_ms or {key: 1500 for key in responses}}, format="json")


def next_task(client, campaign):
    return client.post(NEXT, {"campaign": campaign.pk}, format="json")


@pytest.fixture
def events(monkeypatch):
    seen: list[tuple[str, int]] = []
    module = SimpleNamespace(on_assignment_event=lambda *, event, assignment, **info: seen.append((event, assignment.pk)))
    monkeypatch.setattr(hooks, "_hook_modules", lambda: (module,))
    return seen


# ---------------------------------------------------------------- matching rules (pure)
@pytest.mark.parametrize("kind, value, reference, expected", [
    ("binary", {"value": True}, {"value": True}, True),
    ("binary", {"value": False}, {"value": True}, False),
    ("binary", {"skipped": True}, {"value": True}, False),
    ("category", {"value": "Animals"}, {"value": "Animals"}, True),
    ("category", {"value": "Arts"}, {"value": "Animals"}, False),
    ("likert", {"value": 4}, {"value": 5}, True),
    ("likert", {"value": 3}, {"value": 5}, False),
    ("choice", {"value": ["fuzzy", "toxic"]}, {"value": ["fuzzy"]}, True),          # J = 1/2
    ("choice", {"value": ["fuzzy", "toxic", "violent"]}, {"value": ["fuzzy"]}, False),  # J = 1/3
    ("choice", {"value": ["none"]}, {"value": ["none"]}, True),
    ("choice", {"value": ["none"]}, {"value": ["fuzzy"]}, False),
    ("keywords", {"tokens": [1, 2]}, {"tokens": [2, 3]}, True),                      # F1 = 1/2
    ("keywords", {"tokens": [1]}, {"tokens": [2, 3]}, False),                        # F1 = 0
    ("keywords", {"tokens": []}, {"tokens": []}, True),
    ("ranking", {"levels": [[1], [2], [3], [4], []]}, {"levels": [[1], [2], [4], [3], []]}, True),   # tau 2/3
    ("ranking", {"levels": [[1], [2], [3], [4], []]}, {"levels": [[4], [3], [2], [1], []]}, False),  # tau -1
    ("sxs", {"choice": "A>>B", "a": 5, "b": 9}, {"choice": "A>B", "a": 5, "b": 9}, True),
    ("sxs", {"choice": "B>A", "a": 9, "b": 5}, {"choice": "A>B", "a": 5, "b": 9}, True),   # sides swapped
    ("sxs", {"choice": "A>B", "a": 9, "b": 5}, {"choice": "A>B", "a": 5, "b": 9}, False),
    ("sxs", {"choice": "unsure", "a": 9, "b": 5}, {"choice": "A=B", "a": 5, "b": 9}, False),
])
def test_answer_matches_per_kind(kind, value, reference, expected):
    assert answer_matches(kind, value, reference, MatchContext()) is expected


def test_points_match_by_disk_iou():
    context = MatchContext(image_width=100, image_height=100, radius_frac=0.1)
    point = {"x": 0.5, "y": 0.5, "label": "artifact"}
    assert points_similarity({"points": [point]}, {"points": [point]}, context) == 1.0
    # Same radius, centres 0.05 apart (half a radius): IoU about 0.52 -> match.
    near = {"points": [{"x": 0.55, "y": 0.5, "label": "artifact"}]}
    assert 0.45 < points_similarity({"points": [point]}, near, context) < 0.6
    assert answer_matches("points", {"points": [point]}, near, context) is True
    # Centres a full diameter apart: no overlap.
    far = {"points": [{"x": 0.7, "y": 0.5, "label": "artifact"}]}
    assert points_similarity({"points": [point]}, far, context) == 0.0
    assert answer_matches("points", {"points": [point]}, far, context) is False
    # Both marked nothing: a match; one marked something: none.
    assert answer_matches("points", {"points": [], "none": True}, {"points": [], "none": True}, context) is True
    assert answer_matches("points", {"points": [], "none": True}, {"points": [point]}, context) is False


# ---------------------------------------------------------------- the gate
@pytest.fixture
def gold_campaign(db):
    """TIA2 good/bad attribute, 2 gold items required, threshold 0.5, overlap 2, two ordinary items."""
    campaign = f.campaign_make(name="gold", presets=["tia2"], overlap=2, gold_tasks_required=2,
                               qualification_threshold=0.5)
    attribute = campaign.attributes.get(key="aligned")
    golds = [f.item_make(campaign=campaign, is_gold=True) for _ in range(2)]
    for item in golds:
        GoldAnswer.objects.create(target=item.target, attribute=attribute, value={"value": True})
    ordinary = [f.item_make(campaign=campaign) for _ in range(2)]
    return SimpleNamespace(campaign=campaign, attribute=attribute, golds=golds, ordinary=ordinary)


def test_gate_serves_gold_first_then_nothing_for_a_qualified_annotator(gold_campaign, annotator_user):
    campaign = gold_campaign.campaign
    assert quality_gate(campaign=campaign, annotator=annotator_user) == gold_campaign.golds[0].target
    AnnotatorStanding.objects.create(campaign=campaign, annotator=annotator_user, gold_answered=2,
                                     gold_score=0.5, qualified=True)
    assert quality_gate(campaign=campaign, annotator=annotator_user) is None


def test_gate_is_one_query_for_a_qualified_annotator(gold_campaign, annotator_user, django_assert_num_queries):
    AnnotatorStanding.objects.create(campaign=gold_campaign.campaign, annotator=annotator_user, gold_answered=2,
                                     gold_score=1.0, qualified=True)
    with django_assert_num_queries(1):
        assert quality_gate(campaign=gold_campaign.campaign, annotator=annotator_user) is None


def test_qualification_through_the_api(gold_campaign, annotator_user, client_for, events):
    """Two gold tasks first (one right, one wrong: 50% = the threshold), then ordinary work."""
    campaign = gold_campaign.campaign
    client = client_for(annotator_user)

    first = next_task(client, campaign).json()["assignment"]
    assert first["target"]["id"] == gold_campaign.golds[0].target.pk
    assert submit(client, first["id"], {"aligned": {"value": True}}).status_code == 201
    standing = AnnotatorStanding.objects.get(campaign=campaign, annotator=annotator_user)
    assert (standing.gold_answered, standing.gold_score, standing.qualified) == (1, 1.0, False)
    assert standing_for(campaign=campaign, annotator=annotator_user)["status"] == "qualifying"

    second = next_task(client, campaign).json()["assignment"]
    assert second["target"]["id"] == gold_campaign.golds[1].target.pk
    assert submit(client, second["id"], {"aligned": {"value": False}}).status_code == 201
    standing.refresh_from_db()
    assert (standing.gold_answered, standing.gold_score, standing.qualified) == (2, 0.5, True)
    shown = standing_for(campaign=campaign, annotator=annotator_user)
    assert shown["status"] == "qualified" and shown["qualified"] is True
    assert shown["message"] == "Qualified: 50% correct on 2 gold tasks (50% needed)."

    third = next_task(client, campaign).json()["assignment"]
    assert third["target"]["id"] == gold_campaign.ordinary[0].target.pk
    assert Assignment.objects.get(pk=third["id"]).is_gold is False


def test_not_qualified_is_refused_with_409_and_nothing_issued(gold_campaign, annotator_user, client_for, events):
    campaign = gold_campaign.campaign
    client = client_for(annotator_user)
    for _ in range(2):
        task = next_task(client, campaign).json()["assignment"]
        assert submit(client, task["id"], {"aligned": {"value": False}}).status_code == 201
    standing = AnnotatorStanding.objects.get(campaign=campaign, annotator=annotator_user)
    assert (standing.gold_answered, standing.gold_score, standing.qualified) == (2, 0.0, False)
    n_assignments, slots = Assignment.objects.count(), list(Slot.objects.values_list("n_open", "n_done"))

    refused = next_task(client, campaign)

    assert refused.status_code == 409
    body = refused.json()
    assert body["extra"]["reason"] == "not_qualified"
    assert body["extra"]["rule"] == "not_qualified"
    assert body["message"] == ("Your score on the qualification tasks is 0% of answers matching the reference "
                               "answers, below the 50% this campaign requires, so no further tasks can be "
                               "issued to you.")
    assert Assignment.objects.count() == n_assignments
    assert list(Slot.objects.values_list("n_open", "n_done")) == slots
    assert standing_for(campaign=campaign, annotator=annotator_user)["message"] == (
        "Not qualified: 0% correct on the gold tasks, 50% needed.")


def test_gold_score_update_is_idempotent_and_ignores_non_gold(gold_campaign, annotator_user):
    attribute = gold_campaign.attribute
    right = f.response_make(annotator=annotator_user, target=gold_campaign.golds[0].target, attribute=attribute,
                            value={"value": True})
    f.response_make(annotator=annotator_user, target=gold_campaign.ordinary[0].target, attribute=attribute,
                    value={"value": False})
    for _ in range(2):
        standing = gold_score_update(assignment=right.assignment)
        assert (standing.gold_answered, standing.gold_score, standing.qualified) == (1, 1.0, False)
    assert standing.pseudonym.startswith("ann-")


def test_skip_limit(annotator_user, client_for, events):
    campaign = f.campaign_make(name="skips", presets=["tia2"], overlap=1, skip_limit=2)
    for _ in range(4):
        f.item_make(campaign=campaign)
    client = client_for(annotator_user)
    for _ in range(2):
        task = next_task(client, campaign).json()["assignment"]
        assert client.post(f"/api/assignments/{task['id']}/skip", {"reason": "unsure"},
                           format="json").status_code == 200
    assert AnnotatorStanding.objects.get(campaign=campaign, annotator=annotator_user).n_skips == 2
    n_assignments = Assignment.objects.count()

    refused = next_task(client, campaign)

    assert refused.status_code == 409
    assert refused.json()["extra"]["reason"] == "skip_limit"
    assert refused.json()["message"].startswith("You have skipped 2 tasks, which is this campaign's limit of 2")
    assert Assignment.objects.count() == n_assignments


# ---------------------------------------------------------------- review queue
@pytest.fixture
def review_campaign(db):
    return f.campaign_make(name="review", presets=["tia2"], overlap=3, inspection_rate=0.0)


def _submitted(campaign, annotator, agreement, value=True):
    item = f.item_make(campaign=campaign)
    response = f.response_make(annotator=annotator, target=item.target,
                               attribute=campaign.attributes.get(key="aligned"), value={"value": value})
    Assignment.objects.filter(pk=response.assignment_id).update(agreement=agreement)
    return response.assignment


def test_review_queue_puts_low_agreement_first_and_null_last(review_campaign, make_user, inspector_user,
                                                             client_for):
    ann = make_user("worker")
    high, low, none, mid = (_submitted(review_campaign, ann, a) for a in (0.9, 0.2, None, 0.5))
    reviewed = _submitted(review_campaign, ann, 0.0)
    Review.objects.create(assignment=reviewed, inspector=inspector_user, verdict="accepted")
    _submitted(review_campaign, inspector_user, 0.1)  # the inspector's own work is never queued

    queue = review_sample(campaign=review_campaign, inspector=inspector_user, k=10)
    assert [a.pk for a in queue] == [low.pk, mid.pk, high.pk, none.pk]
    assert [a.pk for a in review_sample(campaign=review_campaign, inspector=inspector_user, k=2)] == [low.pk, mid.pk]

    response = client_for(inspector_user).get(f"/api/campaigns/{review_campaign.pk}/review-queue?k=3")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["id"] for r in rows] == [low.pk, mid.pk, high.pk]
    assert rows[0] == {"id": low.pk, "target": low.target_id, "target_type": "item", "annotator": ann.pk,
                       "submitted_at": rows[0]["submitted_at"], "agreement": 0.2,
                       "review_url": f"/campaigns/{review_campaign.pk}/review/?assignment={low.pk}"}


def test_review_queue_random_share(review_campaign, make_user, inspector_user):
    ann = make_user("worker")
    made = [_submitted(review_campaign, ann, a) for a in (0.1, 0.2, 0.3, 0.4, 0.5)]
    review_campaign.inspection_rate = 0.5
    review_campaign.save()
    # k=4 at rate 0.5: the two lowest, then two drawn from the other three.
    queue = review_sample(campaign=review_campaign, inspector=inspector_user, k=4, rng=random.Random(3))
    assert [a.pk for a in queue[:2]] == [made[0].pk, made[1].pk]
    assert len(queue) == 4 and {a.pk for a in queue[2:]} <= {m.pk for m in made[2:]}
    assert len({a.pk for a in queue}) == 4


def test_assignment_agreement_with_the_consensus(review_campaign, make_user):
    attribute = review_campaign.attributes.get(key="aligned")
    item = f.item_make(campaign=review_campaign)
    a, b, c = (make_user(name) for name in ("a", "b", "c"))
    ra = f.response_make(annotator=a, target=item.target, attribute=attribute, value={"value": True})
    rb = f.response_make(annotator=b, target=item.target, attribute=attribute, value={"value": True})
    rc = f.response_make(annotator=c, target=item.target, attribute=attribute, value={"value": False})
    # Consensus: yes (2 of 3).
    assert assignment_agreements(target_ids=[item.target.pk]) == {
        ra.assignment_id: 1.0, rb.assignment_id: 1.0, rc.assignment_id: 0.0}
    assert assignment_agreement_refresh(target_ids=[item.target.pk]) == 3
    assert Assignment.objects.get(pk=rc.assignment_id).agreement == 0.0


def test_likert_agreement_scales_by_points(review_campaign, make_user):
    attribute = f.attribute_make(campaign=review_campaign, key="overall5", kind="likert", likert_points=5)
    item = f.item_make(campaign=review_campaign)
    ra = f.response_make(annotator=make_user("a"), target=item.target, attribute=attribute, value={"value": 1})
    rb = f.response_make(annotator=make_user("b"), target=item.target, attribute=attribute, value={"value": 4})
    # Mean 2.5: 1 - |k - 2.5| / 4 = 0.625 for both; a single answer has no consensus to agree with.
    assert assignment_agreements(target_ids=[item.target.pk]) == {ra.assignment_id: 0.625, rb.assignment_id: 0.625}
    lone = f.item_make(campaign=review_campaign)
    rl = f.response_make(annotator=make_user("c"), target=lone.target, attribute=attribute, value={"value": 2})
    assert assignment_agreements(target_ids=[lone.target.pk]) == {rl.assignment_id: None}


# ---------------------------------------------------------------- verdicts
def test_refused_verdicts_change_nothing(review_campaign, make_user, inspector_user, client_for):
    assignment = _submitted(review_campaign, make_user("worker"), 0.5)
    client = client_for(inspector_user)

    no_reason = client.post(f"/api/assignments/{assignment.pk}/review", {"verdict": "invalidated"}, format="json")
    assert no_reason.status_code == 400
    assert no_reason.json()["extra"] == {"field": "reason", "rule": "required"}
    bad = client.post(f"/api/assignments/{assignment.pk}/review", {"verdict": "maybe"}, format="json")
    assert bad.status_code == 400 and bad.json()["extra"]["field"] == "verdict"
    own = _submitted(review_campaign, inspector_user, 0.5)
    mine = client.post(f"/api/assignments/{own.pk}/review", {"verdict": "accepted"}, format="json")
    assert mine.status_code == 403 and mine.json()["extra"]["rule"] == "own_assignment"

    assert Review.objects.count() == 0
    assignment.refresh_from_db()
    assert assignment.status == "submitted"
    assert Response.objects.filter(valid=False).count() == 0

    ok = client.post(f"/api/assignments/{assignment.pk}/review", {"verdict": "accept"}, format="json")
    assert ok.status_code == 201
    assert ok.json()["verdict"] == "accepted" and ok.json()["status"] == "submitted"
    again = client.post(f"/api/assignments/{assignment.pk}/review", {"verdict": "accepted"}, format="json")
    assert again.status_code == 409 and again.json()["extra"]["reason"] == "already_reviewed"
    assert Review.objects.count() == 1


def test_invalidation_requeues_the_target_and_recomputes_consolidation(
        make_user, inspector_user, client_for, events, django_capture_on_commit_callbacks):
    """Two annotators fill an item (overlap 2); an inspector invalidates one; a third annotator gets it."""
    campaign = f.campaign_make(name="requeue", presets=["tia2"], overlap=2)
    item = f.item_make(campaign=campaign)
    ann1, ann2, ann3 = make_user("one"), make_user("two"), make_user("three")
    assignments = {}
    for user, value in ((ann1, False), (ann2, True)):
        client = client_for(user)
        task = next_task(client, campaign).json()["assignment"]
        with django_capture_on_commit_callbacks(execute=True):
            assert submit(client, task["id"], {"aligned": {"value": value}}).status_code == 201
        assignments[user.pk] = task["id"]
    slot = f.slot_get(target=item.target, key="aligned")
    assert (slot.n_open, slot.n_done) == (0, 2)
    assert next_task(client_for(ann3), campaign).status_code == 204  # full: nothing for a third annotator
    consolidated = Consolidated.objects.get(target=item.target)
    assert consolidated.n_responses == 2
    # Refreshed after each submission: 1 of 2 "yes" is no majority, so the consensus is "no".
    agreement = dict(Assignment.objects.values_list("pk", "agreement"))
    assert agreement == {assignments[ann1.pk]: 1.0, assignments[ann2.pk]: 0.0}

    bad = assignments[ann1.pk]
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(inspector_user).post(f"/api/assignments/{bad}/review",
                                                   {"verdict": "invalidated", "reason": "answered at random"},
                                                   format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "invalidated"
    assert Assignment.objects.get(pk=bad).status == "invalidated"
    assert list(Response.objects.filter(assignment_id=bad).values_list("valid", flat=True)) == [False]
    slot.refresh_from_db()
    assert (slot.n_open, slot.n_done) == (0, 1)
    assert ("invalidated", bad) in events
    consolidated.refresh_from_db()
    assert consolidated.n_responses == 1  # the invalidated answer left consolidation
    assert consolidated.value["value"] is True
    assert Assignment.objects.get(pk=assignments[ann2.pk]).agreement is None  # alone now

    # Back in the queue: not for the annotator whose work was invalidated, but for someone new.
    assert next_task(client_for(ann1), campaign).status_code == 204
    again = next_task(client_for(ann3), campaign)
    assert again.status_code == 200
    assert again.json()["assignment"]["target"]["id"] == item.target.pk
    review = Review.objects.get()
    assert (review.assignment_id, review.inspector_id, review.verdict, review.reason) == (
        bad, inspector_user.pk, "invalidated", "answered at random")


def test_invalidating_gold_work_rescores_the_annotator(gold_campaign, annotator_user, inspector_user):
    attribute = gold_campaign.attribute
    wrong = f.response_make(annotator=annotator_user, target=gold_campaign.golds[0].target, attribute=attribute,
                            value={"value": False})
    right = f.response_make(annotator=annotator_user, target=gold_campaign.golds[1].target, attribute=attribute,
                            value={"value": True})
    Assignment.objects.filter(pk__in=[wrong.assignment_id, right.assignment_id]).update(is_gold=True)
    assert gold_score_update(assignment=right.assignment).gold_score == 0.5
    review_submit(assignment=wrong.assignment, inspector=inspector_user, verdict="invalidated", reason="misclick")
    standing = AnnotatorStanding.objects.get(campaign=gold_campaign.campaign, annotator=annotator_user)
    assert (standing.gold_answered, standing.gold_score) == (1, 1.0)


# ---------------------------------------------------------------- permissions and the page
def test_annotators_get_403_and_anonymous_users_the_login(review_campaign, annotator_user, client_for, client):
    assignment = _submitted(review_campaign, annotator_user, 0.5)
    api = client_for(annotator_user)
    assert api.get(f"/api/campaigns/{review_campaign.pk}/review-queue").status_code == 403
    assert api.post(f"/api/assignments/{assignment.pk}/review", {"verdict": "accepted"},
                    format="json").status_code == 403
    assert client_for(None).get(f"/api/campaigns/{review_campaign.pk}/review-queue").status_code in (401, 403)
    assert Review.objects.count() == 0

    page = f"/campaigns/{review_campaign.pk}/review/"
    anonymous = client.get(page)
    assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/")
    client.force_login(annotator_user)
    assert client.get(page).status_code == 403
    assert client.post(page, {"assignment": assignment.pk, "verdict": "accepted"}).status_code == 403
    assert Review.objects.count() == 0


def test_review_page_shows_answers_escaped_and_takes_a_verdict(make_user, inspector_user, client,
                                                                django_capture_on_commit_callbacks):
    campaign = f.campaign_make(name="page", presets=["richhf"], overlap=3, inspection_rate=0.0)
    prompt = f.prompt_make(text="a <b>red</b> cube & a blue sphere")
    item = f.item_make(campaign=campaign, prompt=prompt)
    worker = make_user("worker")
    attrs = {a.key: a for a in campaign.attributes.all()}
    assignment = f.assignment_make(annotator=worker, target=item.target, status="submitted")
    values = {"artifact_points": {"points": [{"x": 0.25, "y": 0.5, "label": "artifact"}], "none": False},
              "misaligned_keywords": {"tokens": [2]}, "overall": {"value": 4}}
    for key, value in values.items():
        Response.objects.create(assignment=assignment, attribute=attrs[key], target=item.target, annotator=worker,
                                value=value, active_ms=2000)
        Slot.objects.filter(target=item.target, attribute=attrs[key]).update(n_done=1)

    client.force_login(inspector_user)
    page = client.get(f"/campaigns/{campaign.pk}/review/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<b>red</b>" not in html
    assert '<span class="qc-token flagged" data-token="2" title="flagged as misaligned">red</span>' in html
    assert ' &lt;<span class="qc-token" data-token="1">b</span>&gt;' in html
    assert "cube</span> &amp; <span" in html
    assert 'cx="16" cy="24"' in html  # 0.25 x 64, 0.5 x 48
    assert 'class="qc-likert-step chosen">4<' in html
    assert f'value="{assignment.pk}"' in html

    refused = client.post(f"/campaigns/{campaign.pk}/review/", {"assignment": assignment.pk,
                                                                "verdict": "invalidated", "reason": ""})
    assert refused.status_code == 302
    assert Review.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(f"/campaigns/{campaign.pk}/review/", {"assignment": assignment.pk,
                                                                 "verdict": "invalidated", "reason": "spam"})
    assert done.status_code == 302 and done.url == f"/campaigns/{campaign.pk}/review/"
    assert Assignment.objects.get(pk=assignment.pk).status == "invalidated"
    assert set(Slot.objects.filter(target=item.target, attribute__key__in=values).values_list("n_done", flat=True)) == {0}
    empty = client.get(f"/campaigns/{campaign.pk}/review/")
    assert "every submitted assignment has a verdict" in empty.content.decode()


# ---------------------------------------------------------------- the gold command
def test_gold_command_from_file(tmp_path, capsys, db):
    campaign = f.campaign_make(name="goldfile", presets=["tia2", "sxs"], overlap=3)
    items = [f.item_make(campaign=campaign, external_id=f"img-{i}") for i in range(3)]
    pair = f.pair_make(campaign=campaign)
    path = tmp_path / "gold.jsonl"
    lines = [
        {"target": {"item": "img-0"}, "attribute": "aligned", "value": {"value": True}},
        {"target": {"item": "img-2"}, "attribute": "aligned", "value": {"value": False}},
        {"target": {"item": "nope"}, "attribute": "aligned", "value": {"value": True}},
        {"target": {"item": "img-1"}, "attribute": "aligned", "value": {"value": "yes"}},
        {"target": {"item": "img-1"}, "attribute": "colour", "value": {"value": True}},
        {"target": {"pair": [pair.image_a_id, pair.image_b_id]}, "attribute": "sxs", "value": {"choice": "A>B"}},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    call_command("gold", campaign.name, "--file", str(path))
    out = capsys.readouterr().out

    assert sorted(GoldAnswer.objects.filter(target__type="item")
                  .values_list("target__item__external_id", "value")) == [
        ("img-0", {"value": True}), ("img-2", {"value": False})]
    assert GoldAnswer.objects.get(target__type="pair").value == {"choice": "A>B", "a": pair.image_a_id,
                                                                  "b": pair.image_b_id}
    assert set(Target.objects.filter(is_gold=True).values_list("pk", flat=True)) == {
        items[0].target.pk, items[2].target.pk, pair.target.pk}
    assert out.startswith("goldfile: 3 gold answers on 3 targets (0 unchanged); 3 refused:")
    assert "line 3: No item target 'nope' in this campaign. [target: exists]" in out
    assert "line 4: The answer must be true or false. [value.value: type]" in out
    assert "line 5: Unknown attribute 'colour'. [attribute: unknown_attribute]" in out
    call_command("gold", campaign.name, "--file", str(path))  # re-running changes nothing
    assert capsys.readouterr().out.startswith("goldfile: 0 gold answers on 3 targets (3 unchanged)")
    assert GoldAnswer.objects.count() == 3
    assert items[1].target.is_gold is False


def test_review_page_renders_rankings_and_side_by_side(make_user, inspector_user, client):
    campaign = f.campaign_make(name="rank", presets=["imagereward", "sxs"], overlap=3, inspection_rate=0.0)
    group = f.group_make(campaign=campaign, n_images=4)
    pair = f.pair_make(campaign=campaign)
    ids = list(group.members.order_by("position").values_list("image_id", flat=True))
    worker = make_user("worker")
    ranking = f.response_make(annotator=worker, target=group.target, attribute=campaign.attributes.get(key="ranking"),
                              value={"levels": [[ids[2]], [ids[0], ids[1]], [], [ids[3]], []]})
    sxs = f.response_make(annotator=worker, target=pair.target, attribute=campaign.attributes.get(key="sxs"),
                          value={"choice": "B>>A", "a": pair.image_b_id, "b": pair.image_a_id})
    client.force_login(inspector_user)

    html = client.get(f"/campaigns/{campaign.pk}/review/?assignment={ranking.assignment_id}").content.decode()
    levels = html.split('<ol class="qc-ranking">')[1].split("</ol>")[0]
    assert [chunk.count("<img") for chunk in levels.split('<span class="qc-level">')[1:]] == [1, 2, 0, 1, 0]
    assert levels.index(f'title="#{ids[2]}"') < levels.index(f'title="#{ids[0]}"') < levels.index(f'title="#{ids[3]}"')
    assert html.count('class="qc-figure"') == 4

    html = client.get(f"/campaigns/{campaign.pk}/review/?assignment={sxs.assignment_id}").content.decode()
    assert f'B&gt;&gt;A <span class="muted">(A = #{pair.image_b_id}, B = #{pair.image_a_id})</span>' in html
    assert "image_a · #%d" % pair.image_a_id in html


def test_quality_endpoints_are_in_the_api_schema(client_for, researcher_user):
    schema = client_for(researcher_user).get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/campaigns/{campaign_id}/review-queue" in paths
    assert "post" in paths["/api/assignments/{assignment_id}/review"]
