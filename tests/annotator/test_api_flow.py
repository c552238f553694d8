"""Annotation API flow: next task, payload, submit, idempotency, skip, draft, leases, hooks, schema."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from annotator import hooks
from annotator.errors import ConflictError
from annotator.models import AnnotatorStanding, Assignment, AssignmentSlot, Campaign, Response, Slot, Target
from annotator.services.assignments import leases_expire
from tests import factories as f

pytestmark = pytest.mark.django_db

NEXT = "/api/tasks/next"
RICHHF_KEYS = ["artifact_points", "misalignment_points", "misaligned_keywords", "plausibility", "alignment",
               "aesthetics", "overall"]


def submit_url(assignment_id: int) -> str:
    return f"/api/assignments/{assignment_id}/submit"


def richhf_answers(n_tokens: int) -> dict:
    return {
        "artifact_points": {"points": [{"x": 0.5, "y": 0.25, "label": "artifact"}], "none": False},
        "misalignment_points": {"points": [], "none": True},
        "misaligned_keywords": {"tokens": [0, n_tokens - 1]},
        "plausibility": {"value": 4}, "alignment": {"value": 3}, "aesthetics": {"value": 5}, "overall": {"value": 2},
    }


@pytest.fixture
def campaign(db):
    return f.campaign_make(name="flow", presets=["richhf"], overlap=3, instructions="**Look** <script>x</script>")


@pytest.fixture
def events(monkeypatch):
    """Every hook call, as (event, assignment id)."""
    seen: list[tuple[str, int]] = []
    def on_assignment_event(*, event, assignment, **info):
        seen.append((event, assignment.pk))

    monkeypatch.setattr(hooks, "_hook_modules", lambda: (SimpleNamespace(on_assignment_event=on_assignment_event),))
    return seen


def test_next_returns_item_payload_and_counts_the_lease(campaign, annotator_user, client_for, events):
    item = f.item_make(campaign=campaign)
    client = client_for(annotator_user)

    response = client.post(NEXT, {"campaign": campaign.pk}, format="json")

    assert response.status_code == 200
    body = response.json()["assignment"]
    assignment = Assignment.objects.get()
    assert body["id"] == assignment.pk
    assert body["campaign"] == campaign.pk
    assert body["status"] == "issued"
    assert body["target"] == {
        "id": item.target.pk, "type": "item",
        "images": [{"id": item.image_id, "url": item.image.file.url, "width": 64, "height": 48}],
        "prompt": {"text": item.image.prompt.text, "tokens": item.image.prompt.tokens},
    }
    assert [a["key"] for a in body["attributes"]] == RICHHF_KEYS
    assert body["attributes"][0] == {
        "key": "artifact_points", "kind": "points",
        "question": "Click where the image is implausible or has artifacts (red).", "options": ["artifact"],
        "points": None, "anchors": [], "config": {}, "category": "quality", "required": True,
    }
    assert body["attributes"][6]["points"] == 5
    assert body["attributes"][6]["anchors"] == ["very poor", "poor", "fair", "good", "excellent"]
    assert body["draft"] == {}
    assert body["ratings"] == {}
    assert body["point_radius_frac"] == 0.05
    assert body["instructions_html"] == "<p><strong>Look</strong> </p>"
    assert body["lease_expires_at"] == assignment.lease_expires_at.isoformat().replace("+00:00", "Z")
    assert assignment.lease_expires_at - assignment.issued_at == pytest.approx(timedelta(seconds=1800),
                                                                             abs=timedelta(seconds=1))
    assert assignment.display == {"images": [item.image_id]}
    assert list(Slot.objects.filter(target=item.target).values_list("n_open", "n_done")) == [(1, 0)] * 7
    assert AssignmentSlot.objects.filter(assignment=assignment).count() == 7
    assert events == [("issued", assignment.pk)]


def test_next_again_returns_the_live_assignment(campaign, annotator_user, client_for):
    f.item_make(campaign=campaign)
    f.item_make(campaign=campaign)
    client = client_for(annotator_user)

    first = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]["id"]
    second = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]["id"]

    assert first == second
    assert Assignment.objects.count() == 1
    assert sum(Slot.objects.values_list("n_open", flat=True)) == 7


def test_next_spreads_over_targets_and_respects_overlap(client_for):
    campaign = f.campaign_make(presets=["tia2"], overlap=2)
    items = [f.item_make(campaign=campaign) for _ in range(2)]
    users = [f.user_make() for _ in range(5)]

    targets = []
    for user in users:
        response = client_for(user).post(NEXT, {"campaign": campaign.pk}, format="json")
        targets.append(response.json()["assignment"]["target"]["id"] if response.status_code == 200 else None)

    # Emptiest first: the two items alternate until both hold two leases; then nothing is left.
    assert targets == [items[0].target.pk, items[1].target.pk, items[0].target.pk, items[1].target.pk, None]
    assert list(Slot.objects.order_by("target_id").values_list("n_open", flat=True)) == [2, 2]


def test_next_never_gives_the_same_target_twice(campaign, annotator_user, client_for):
    item = f.item_make(campaign=campaign)
    client = client_for(annotator_user)
    assignment = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]
    n_tokens = len(item.image.prompt.tokens)
    client.post(submit_url(assignment["id"]), {"submission_id": str(uuid.uuid4()),
                                               "responses": richhf_answers(n_tokens)}, format="json")

    assert client.post(NEXT, {"campaign": campaign.pk}, format="json").status_code == 204


def test_next_refuses_inactive_and_unknown_campaigns(campaign, annotator_user, client_for):
    f.item_make(campaign=campaign)
    campaign.status = Campaign.Status.PAUSED
    campaign.save()
    client = client_for(annotator_user)

    paused = client.post(NEXT, {"campaign": campaign.pk}, format="json")
    missing = client.post(NEXT, {"campaign": campaign.pk + 100}, format="json")
    bad = client.post(NEXT, {"campaign": "x"}, format="json")

    assert paused.status_code == 409
    assert paused.json()["extra"]["reason"] == "campaign_inactive"
    assert paused.json()["extra"]["rule"] == "campaign_inactive"
    assert missing.status_code == 404
    assert missing.json()["extra"] == {"field": "campaign", "rule": "not_found"}
    assert bad.status_code == 400
    assert bad.json()["extra"]["field"] == "campaign"
    assert Assignment.objects.count() == 0


def test_next_serves_group_pair_and_prompt_targets(annotator_user, client_for):
    campaign = f.campaign_make(presets=["imagereward", "sxs"])
    campaign.attributes.filter(target_type="item").update(active=False)
    group = f.group_make(campaign=campaign, n_images=5)
    pair = f.pair_make(campaign=campaign)
    prompt_target = f.prompt_target_make(campaign=campaign)
    client = client_for(annotator_user)

    seen = {}
    for _ in range(3):
        body = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]
        seen[body["target"]["type"]] = body
        Assignment.objects.filter(pk=body["id"]).update(status="submitted")

    group_images = list(group.members.order_by("position").values_list("image_id", flat=True))
    assert [image["id"] for image in seen["group"]["target"]["images"]] == group_images
    assert [a["key"] for a in seen["group"]["attributes"]] == ["ranking"]
    assert seen["group"]["attributes"][0]["config"] == {"levels": 5, "max_per_level": 2,
                                                        "rating_attribute": "ir_overall"}
    pair_shown = [image["id"] for image in seen["pair"]["target"]["images"]]
    assert sorted(pair_shown) == sorted([pair.image_a_id, pair.image_b_id])
    assert Assignment.objects.get(pk=seen["pair"]["id"]).display == {"images": pair_shown}
    assert seen["pair"]["attributes"][0]["options"] == ["A>>B", "A>B", "A=B", "B>A", "B>>A", "unsure"]
    assert seen["prompt"]["target"]["images"] == []
    assert seen["prompt"]["target"]["id"] == prompt_target.pk
    assert [a["key"] for a in seen["prompt"]["attributes"]] == ["prompt_category", "prompt_flags"]


def test_pair_sides_are_randomised_per_assignment(client_for):
    campaign = f.campaign_make(presets=["sxs"], overlap=50)
    pair = f.pair_make(campaign=campaign)
    orders = set()
    for i in range(40):
        body = client_for(f.user_make()).post(NEXT, {"campaign": campaign.pk}, format="json").json()
        orders.add(tuple(image["id"] for image in body["assignment"]["target"]["images"]))
    # 40 fair coin flips all landing the same way has probability 2**-39.
    assert orders == {(pair.image_a_id, pair.image_b_id), (pair.image_b_id, pair.image_a_id)}


def test_ranking_payload_carries_own_ratings(annotator_user, other_annotator, client_for):
    campaign = f.campaign_make(presets=["imagereward"])
    group = f.group_make(campaign=campaign, n_images=4, with_items=True)
    images = list(group.members.order_by("position").values_list("image_id", flat=True))
    rating = campaign.attributes.get(key="ir_overall")
    for image_id, k in zip(images[:2], [6, 3]):
        f.response_make(annotator=annotator_user, target=Target.objects.get(item__image_id=image_id),
                        attribute=rating, value={"value": k})
    f.response_make(annotator=other_annotator, target=Target.objects.get(item__image_id=images[2]),
                    attribute=rating, value={"value": 1})
    assignment = f.assignment_make(annotator=annotator_user, target=group.target)

    body = client_for(annotator_user).get(f"/api/assignments/{assignment.pk}").json()["assignment"]

    assert body["ratings"] == {str(images[0]): 6, str(images[1]): 3}


def test_envelope_matches_its_serializer(campaign, annotator_user, client_for):
    """The views skip running AssignmentEnvelopeSerializer (a hot path) but must answer exactly what it would."""
    from rest_framework.renderers import JSONRenderer

    from annotator.api.serializers import AssignmentEnvelopeSerializer
    from annotator.selectors.assignments import assignment_payload

    f.item_make(campaign=campaign, prompt=f.prompt_make(text='a <b>bold</b> "cat" & 2 dogs'))
    ranked = f.campaign_make(presets=["imagereward", "sxs"])
    group = f.group_make(campaign=ranked, n_images=4, with_items=True)
    f.response_make(annotator=annotator_user, target=Target.objects.get(item__image_id=group.members.first().image_id),
                    attribute=ranked.attributes.get(key="ir_overall"), value={"value": 5})
    assignments = [f.assignment_make(annotator=annotator_user, target=group.target),
                   f.assignment_make(annotator=annotator_user, target=f.pair_make(campaign=ranked).target)]
    client = client_for(annotator_user)
    bodies = [client.post(NEXT, {"campaign": campaign.pk}, format="json").json()]
    bodies += [client.get(f"/api/assignments/{a.pk}").json() for a in assignments]
    for body in bodies:
        assignment = Assignment.objects.get(pk=body["assignment"]["id"])
        expected = AssignmentEnvelopeSerializer({"assignment": assignment_payload(assignment=assignment)}).data
        assert body == json.loads(JSONRenderer().render(expected))
    assert bodies[0]["assignment"]["target"]["prompt"]["text"] == 'a <b>bold</b> "cat" & 2 dogs'
    assert bodies[1]["assignment"]["ratings"]


def test_submit_saves_responses_and_counters(campaign, annotator_user, client_for, events,
                                             django_capture_on_commit_callbacks, monkeypatch):
    from annotator.tasks import consolidation

    sent = []
    monkeypatch.setattr(consolidation, "consolidate_target",
                        SimpleNamespace(apply_async=lambda args, **options: sent.append(args)), raising=False)
    item = f.item_make(campaign=campaign)
    client = client_for(annotator_user)
    assignment_id = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]["id"]
    n_tokens = len(item.image.prompt.tokens)
    sid = str(uuid.uuid4())
    answers = richhf_answers(n_tokens)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(submit_url(assignment_id), {
            "submission_id": sid, "responses": answers, "active_ms": {"overall": 1500, "plausibility": 0}},
            format="json")

    assert response.status_code == 201
    expected_values = {**answers, "artifact_points": {"points": [{"x": 0.5, "y": 0.25, "label": "artifact"}],
                                                      "none": False}}
    assert response.json() == {
        "assignment": assignment_id, "submission_id": sid,
        "responses": [{"attribute": key, "value": expected_values[key],
                       "active_ms": {"overall": 1500, "plausibility": 0}.get(key)} for key in RICHHF_KEYS],
    }
    saved = {r.attribute.key: (r.value, r.active_ms, r.target_id, r.annotator_id)
             for r in Response.objects.select_related("attribute")}
    assert saved["overall"] == ({"value": 2}, 1500, item.target.pk, annotator_user.pk)
    assert saved["misaligned_keywords"] == ({"tokens": [0, n_tokens - 1]}, None, item.target.pk, annotator_user.pk)
    assignment = Assignment.objects.get(pk=assignment_id)
    assert assignment.status == "submitted"
    assert str(assignment.submission_id) == sid
    assert assignment.submitted_at is not None
    assert list(Slot.objects.filter(target=item.target).values_list("n_open", "n_done")) == [(0, 1)] * 7
    assert events == [("issued", assignment_id), ("submitted", assignment_id)]
    attribute_ids = sorted(campaign.attributes.values_list("id", flat=True))
    assert sent == [(item.target.pk, attribute_ids)]


def test_resubmission_is_idempotent_and_a_new_id_conflicts(campaign, annotator_user, client_for):
    item = f.item_make(campaign=campaign)
    client = client_for(annotator_user)
    assignment_id = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]["id"]
    body = {"submission_id": str(uuid.uuid4()), "responses": richhf_answers(len(item.image.prompt.tokens))}

    first = client.post(submit_url(assignment_id), body, format="json")
    again = client.post(submit_url(assignment_id), body, format="json")
    changed = client.post(submit_url(assignment_id), {**body, "responses": {"overall": {"value": 1}}},
                          format="json")
    other_id = client.post(submit_url(assignment_id), {**body, "submission_id": str(uuid.uuid4())}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.content == first.content  # byte for byte: jsonb's key order included
    # The same id answers with the first result even if the body differs: nothing new is saved.
    assert changed.status_code == 200
    assert changed.json() == first.json()
    assert other_id.status_code == 409
    assert other_id.json()["extra"]["reason"] == "already_submitted"
    assert Response.objects.count() == 7
    assert list(Slot.objects.values_list("n_open", "n_done")) == [(0, 1)] * 7


def test_submit_body_matches_its_serializer(campaign, annotator_user, client_for):
    """The submit view skips running SubmitOutputSerializer (a hot path) but must answer exactly what it would."""
    from rest_framework.renderers import JSONRenderer

    from annotator.api.serializers import SubmitOutputSerializer

    item = f.item_make(campaign=campaign)
    client = client_for(annotator_user)
    assignment_id = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]["id"]
    body = {"submission_id": str(uuid.uuid4()), "responses": richhf_answers(len(item.image.prompt.tokens)),
            "active_ms": {"overall": 1500}}
    first = client.post(submit_url(assignment_id), body, format="json")
    again = client.post(submit_url(assignment_id), body, format="json")

    for response in (first, again):
        data = response.json()
        assert response.content == JSONRenderer().render(SubmitOutputSerializer(data).data)
        assert data["submission_id"] == body["submission_id"]
        assert {r["attribute"]: r["active_ms"] for r in data["responses"]}["overall"] == 1500


def test_submission_id_of_another_assignment_conflicts(campaign, annotator_user, client_for):
    items = [f.item_make(campaign=campaign) for _ in range(2)]
    client = client_for(annotator_user)
    sid = str(uuid.uuid4())
    first = f.assignment_make(annotator=annotator_user, target=items[0].target)
    second = f.assignment_make(annotator=annotator_user, target=items[1].target)
    n_tokens = len(items[0].image.prompt.tokens)
    client.post(submit_url(first.pk), {"submission_id": sid, "responses": richhf_answers(n_tokens)}, format="json")

    response = client.post(submit_url(second.pk), {"submission_id": sid, "responses": richhf_answers(n_tokens)},
                           format="json")

    assert response.status_code == 409
    assert response.json()["extra"]["reason"] == "submission_id_reused"
    assert Response.objects.filter(assignment=second).count() == 0
    assert Assignment.objects.get(pk=second.pk).status == "issued"


def test_skip_releases_the_lease_and_counts(campaign, annotator_user, client_for, events):
    item = f.item_make(campaign=campaign)
    client = client_for(annotator_user)
    assignment_id = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]["id"]

    response = client.post(f"/api/assignments/{assignment_id}/skip", {"reason": "cannot see"}, format="json")
    again = client.post(f"/api/assignments/{assignment_id}/skip", {}, format="json")
    submit = client.post(submit_url(assignment_id), {"submission_id": str(uuid.uuid4()),
                                                     "responses": {"overall": {"value": 1}}}, format="json")

    assert response.status_code == 200
    assert response.json() == {"assignment": assignment_id, "status": "skipped", "reason": "cannot see"}
    assert again.json() == {"assignment": assignment_id, "status": "skipped", "reason": "cannot see"}
    assert submit.status_code == 409
    assert submit.json()["extra"]["reason"] == "assignment_skipped"
    assert list(Slot.objects.filter(target=item.target).values_list("n_open", "n_done")) == [(0, 0)] * 7
    assert AnnotatorStanding.objects.get(campaign=campaign, annotator=annotator_user).n_skips == 1
    assert events == [("issued", assignment_id), ("skipped", assignment_id)]
    # Skipped once means never offered again to this annotator.
    assert client.post(NEXT, {"campaign": campaign.pk}, format="json").status_code == 204


def test_draft_round_trip_and_size_limit(campaign, annotator_user, client_for):
    f.item_make(campaign=campaign)
    client = client_for(annotator_user)
    assignment_id = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]["id"]
    draft = {"responses": {"overall": {"value": 9}, "junk": [1, 2]}, "active_ms": {"overall": 1200}}

    saved = client.put(f"/api/assignments/{assignment_id}/draft", draft, format="json")
    shown = client.get(f"/api/assignments/{assignment_id}").json()["assignment"]
    huge = client.put(f"/api/assignments/{assignment_id}/draft",
                      {"responses": {"overall": "x" * 300_000}, "active_ms": {}}, format="json")
    renext = client.post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]

    assert saved.status_code == 200
    assignment = Assignment.objects.get(pk=assignment_id)
    assert saved.json() == {"saved_at": assignment.draft_saved_at.isoformat().replace("+00:00", "Z")}
    assert shown["draft"] == draft
    assert renext["draft"] == draft
    assert huge.status_code == 400
    assert huge.json()["extra"] == {"field": "responses", "rule": "size"}
    assert assignment.draft == draft


def test_expired_lease_with_room_is_accepted(campaign, annotator_user, client_for, events):
    item = f.item_make(campaign=campaign)
    assignment = f.assignment_make(annotator=annotator_user, target=item.target, lease_seconds=-5)

    assert leases_expire() == 1
    assert leases_expire() == 0
    assert Assignment.objects.get(pk=assignment.pk).status == "expired"
    assert list(Slot.objects.filter(target=item.target).values_list("n_open", flat=True)) == [0] * 7
    response = client_for(annotator_user).post(submit_url(assignment.pk), {
        "submission_id": str(uuid.uuid4()), "responses": richhf_answers(len(item.image.prompt.tokens))},
        format="json")

    assert response.status_code == 201
    assert Response.objects.count() == 7
    assert list(Slot.objects.filter(target=item.target).values_list("n_open", "n_done")) == [(0, 1)] * 7
    assert events == [("expired", assignment.pk), ("submitted", assignment.pk)]


def test_expired_lease_not_yet_swept_is_accepted(campaign, annotator_user, client_for):
    item = f.item_make(campaign=campaign)
    assignment = f.assignment_make(annotator=annotator_user, target=item.target, lease_seconds=-5)

    response = client_for(annotator_user).post(submit_url(assignment.pk), {
        "submission_id": str(uuid.uuid4()), "responses": richhf_answers(len(item.image.prompt.tokens))},
        format="json")

    assert response.status_code == 201
    assert list(Slot.objects.filter(target=item.target).values_list("n_open", "n_done")) == [(0, 1)] * 7


def test_expired_lease_that_was_reissued_conflicts(client_for):
    campaign = f.campaign_make(presets=["richhf"], overlap=1)
    item = f.item_make(campaign=campaign)
    late, other = f.user_make(), f.user_make()
    assignment = f.assignment_make(annotator=late, target=item.target, lease_seconds=-5)

    taken = client_for(other).post(NEXT, {"campaign": campaign.pk}, format="json")
    response = client_for(late).post(submit_url(assignment.pk), {
        "submission_id": str(uuid.uuid4()), "responses": richhf_answers(len(item.image.prompt.tokens))},
        format="json")

    assert taken.status_code == 200
    assert Assignment.objects.get(pk=assignment.pk).status == "expired"
    assert response.status_code == 409
    assert response.json()["extra"]["reason"] == "lease_reissued"
    assert Response.objects.count() == 0
    assert list(Slot.objects.values_list("n_open", "n_done")) == [(1, 0)] * 7


def test_the_next_task_reads_its_campaign_with_whether_its_leases_ran_out(campaign, annotator_user):
    from annotator.services.next_task import campaign_for_next

    item = f.item_make(campaign=campaign)
    other = f.campaign_make(presets=["richhf"])
    f.assignment_make(annotator=annotator_user, target=f.item_make(campaign=other).target, lease_seconds=-5)
    f.assignment_make(annotator=annotator_user, target=item.target)  # live

    read = campaign_for_next(campaign_id=campaign.pk)
    assert (read.pk, read.name, bool(read.leases_due)) == (campaign.pk, campaign.name, False)  # the other's is not
    Assignment.objects.filter(target=item.target).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert campaign_for_next(campaign_id=campaign.pk).leases_due
    assert campaign_for_next(campaign_id=10 ** 9) is None


def test_leases_expire_task_is_registered_and_runs(campaign, annotator_user):
    from config.celery import app

    item = f.item_make(campaign=campaign)
    f.assignment_make(annotator=annotator_user, target=item.target, lease_seconds=-1)
    f.assignment_make(annotator=annotator_user, target=f.item_make(campaign=campaign).target)

    result = app.tasks["annotator.tasks.leases_expire"].delay()

    assert result.get() == 1
    assert sorted(Assignment.objects.values_list("status", flat=True)) == ["expired", "issued"]


def test_quality_gate_serves_gold_first_and_can_refuse(campaign, client_for, monkeypatch):
    from annotator.services import next_task

    regular = f.item_make(campaign=campaign)
    gold = f.item_make(campaign=campaign, is_gold=True)
    monkeypatch.setattr(next_task, "quality_gate", lambda *, campaign, annotator: gold.target)
    users = [f.user_make() for _ in range(4)]

    served = [client_for(user).post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]
              for user in users]

    # Everyone gets the gold target, beyond the overlap of 3.
    assert [body["target"]["id"] for body in served] == [gold.target.pk] * 4
    assert Assignment.objects.filter(is_gold=True).count() == 4

    def refuse(*, campaign, annotator):
        raise ConflictError("Too many skips.", field=None, rule="skip_limit", reason="skip_limit")

    monkeypatch.setattr(next_task, "quality_gate", refuse)
    refused = client_for(f.user_make()).post(NEXT, {"campaign": campaign.pk}, format="json")
    assert refused.status_code == 409
    assert refused.json()["extra"]["reason"] == "skip_limit"
    assert Slot.objects.get(target=regular.target, attribute__key="overall").n_open == 0


def test_regular_policy_never_serves_gold_targets(campaign, annotator_user, client_for):
    f.item_make(campaign=campaign, is_gold=True)

    assert client_for(annotator_user).post(NEXT, {"campaign": campaign.pk}, format="json").status_code == 204


def custom_issuer(*, campaign, annotator):
    """Stands in for the elicitation app's issuer (see settings.ANNOTATOR_TASK_ISSUER)."""
    custom_issuer.calls.append((campaign.pk, annotator.pk))
    return None


custom_issuer.calls = []


def test_next_calls_the_configured_issuer(campaign, annotator_user, client_for, settings):
    f.item_make(campaign=campaign)
    settings.ANNOTATOR_TASK_ISSUER = f"{__name__}.custom_issuer"
    custom_issuer.calls.clear()

    response = client_for(annotator_user).post(NEXT, {"campaign": campaign.pk}, format="json")

    assert response.status_code == 204
    assert custom_issuer.calls == [(campaign.pk, annotator_user.pk)]


def test_inactive_attributes_are_not_asked(campaign, annotator_user, client_for):
    f.item_make(campaign=campaign)
    campaign.attributes.exclude(key__in=["overall", "alignment"]).update(active=False)

    body = client_for(annotator_user).post(NEXT, {"campaign": campaign.pk}, format="json").json()

    assert [a["key"] for a in body["assignment"]["attributes"]] == ["alignment", "overall"]


def test_schema_lists_the_annotation_endpoints(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/tasks/next:", "/api/assignments/{assignment_id}:", "/api/assignments/{assignment_id}/submit:",
                 "/api/assignments/{assignment_id}/skip:", "/api/assignments/{assignment_id}/draft:"):
        assert path in text


@pytest.mark.django_db(transaction=True)
def test_double_start_in_parallel_gets_one_lease(client_for):
    """Eight tabs of one annotator press Start at once: one lease (on any database)."""
    import threading

    from django.db import connection

    campaign = f.campaign_make(presets=["tia2"])
    for _ in range(3):
        f.item_make(campaign=campaign)
    user = f.user_make()
    barrier, ids = threading.Barrier(8), []

    def start() -> None:
        try:
            barrier.wait()
            ids.append(client_for(user).post(NEXT, {"campaign": campaign.pk}, format="json").json()["assignment"]["id"])
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(ids) == 8
    assert len(set(ids)) == 1
    assert Assignment.objects.count() == 1
    assert sum(Slot.objects.values_list("n_open", flat=True)) == 1
