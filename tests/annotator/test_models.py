"""The domain model's invariants are enforced by the database, not only by the services."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.models import (AnnotatorStanding, Assignment, AssignmentSlot, Attribute, Campaign, Consolidated,
                              GoldAnswer, Group, GroupImage, Image, Item, Pair, Prompt, Response, Slot, Target,
                              image_upload_to)
from tests import factories as f

pytestmark = pytest.mark.django_db

MODELS = (Campaign, Prompt, Image, Item, Group, GroupImage, Pair, Target, Attribute, Slot, Assignment,
          AssignmentSlot, Response, Consolidated, GoldAnswer, AnnotatorStanding)


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in MODELS}


def refused(make) -> None:
    """``make()`` violates a constraint and leaves every table as it was."""
    before = counts()
    with pytest.raises(IntegrityError), transaction.atomic():
        make()
    assert counts() == before


@pytest.fixture
def campaign():
    return f.campaign_make(presets=["richhf", "sxs"])


def test_campaign_defaults():
    campaign = Campaign.objects.create(name="plain")
    assert (campaign.overlap, campaign.point_radius_frac, campaign.policy, campaign.status) == (3, 0.05, "all", "active")
    refused(lambda: Campaign.objects.create(name="plain"))


def test_target_type_must_match_its_link(campaign):
    item = f.item_make(campaign=campaign)
    group = f.group_make(campaign=campaign)
    pair = f.pair_make(campaign=campaign)
    prompt = item.image.prompt
    refused(lambda: Target.objects.create(campaign=campaign, type="item", prompt=prompt))
    refused(lambda: Target.objects.create(campaign=campaign, type="group", prompt=prompt))
    refused(lambda: Target.objects.create(campaign=campaign, type="pair", prompt=prompt))
    refused(lambda: Target.objects.create(campaign=campaign, type="prompt", prompt=prompt, pair=pair))
    refused(lambda: Target.objects.create(campaign=campaign, type="group", prompt=prompt, group=group, pair=pair))
    refused(lambda: Target.objects.create(campaign=campaign, type="item", prompt=prompt, group=group))
    refused(lambda: Target.objects.create(campaign=campaign, type="pair", prompt=prompt, item=item))
    # The factories already made one well-formed target of each kind; a second one per link is refused too.
    refused(lambda: Target.objects.create(campaign=campaign, type="item", prompt=prompt, item=item))
    assert sorted(Target.objects.values_list("type", flat=True)) == ["group", "item", "pair"]


def test_one_prompt_target_per_campaign_and_prompt(campaign):
    prompt = f.prompt_make()
    Target.objects.create(campaign=campaign, type="prompt", prompt=prompt)
    refused(lambda: Target.objects.create(campaign=campaign, type="prompt", prompt=prompt))
    other = f.campaign_make(presets=[])
    Target.objects.create(campaign=other, type="prompt", prompt=prompt)
    assert Target.objects.filter(type="prompt", prompt=prompt).count() == 2


def test_pair_images_are_distinct_and_pairs_unique(campaign):
    image_a, image_b = f.image_make(), f.image_make()
    refused(lambda: Pair.objects.create(campaign=campaign, image_a=image_a, image_b=image_a))
    Pair.objects.create(campaign=campaign, image_a=image_a, image_b=image_b)
    refused(lambda: Pair.objects.create(campaign=campaign, image_a=image_a, image_b=image_b))


def test_item_unique_per_campaign_image_and_external_id(campaign):
    item = f.item_make(campaign=campaign, external_id="x1")
    refused(lambda: Item.objects.create(campaign=campaign, image=item.image, external_id="x2"))
    refused(lambda: Item.objects.create(campaign=campaign, image=f.image_make(), external_id="x1"))
    other = f.campaign_make(presets=[])
    Item.objects.create(campaign=other, image=item.image, external_id="x1")
    assert Item.objects.filter(image=item.image).count() == 2


def test_images_and_prompts_unique_by_hash():
    image = f.image_make()
    refused(lambda: Image.objects.create(file="images/x.png", width=1, height=1, sha256=image.sha256,
                                         prompt=image.prompt))
    refused(lambda: Prompt.objects.create(text="other text", text_sha256=image.prompt.text_sha256))
    assert image_upload_to(Image(sha256="ab" + "0" * 62), "photo.JPG") == f"images/ab/ab{'0' * 62}.jpg"


def test_group_names_and_members_unique(campaign):
    group = f.group_make(campaign=campaign, n_images=4, name="g1")
    refused(lambda: Group.objects.create(campaign=campaign, prompt=group.prompt, name="g1"))
    member = group.members.first()
    refused(lambda: GroupImage.objects.create(group=group, image=member.image, position=9))
    assert list(group.members.values_list("position", flat=True)) == sorted(group.members.values_list("position", flat=True))


def test_attribute_keys_and_slots_unique(campaign):
    attribute = campaign.attributes.get(key="overall")
    refused(lambda: Attribute.objects.create(campaign=campaign, key="overall", question="?", kind="likert"))
    item = f.item_make(campaign=campaign)
    refused(lambda: Slot.objects.create(campaign=campaign, target=item.target, attribute=attribute))


def test_assignment_constraints(campaign):
    annotator = f.user_make()
    item = f.item_make(campaign=campaign)
    attribute = campaign.attributes.get(key="overall")
    expires = timezone.now() + timedelta(minutes=30)
    submission = uuid.uuid4()
    first = Assignment.objects.create(campaign=campaign, annotator=annotator, target=item.target,
                                      lease_expires_at=expires, submission_id=submission)
    AssignmentSlot.objects.create(assignment=first, attribute=attribute, target=item.target, annotator=annotator)
    second = Assignment.objects.create(campaign=campaign, annotator=annotator, target=item.target,
                                       lease_expires_at=expires)
    # An annotator gets a (target, attribute) once, whatever the assignment.
    refused(lambda: AssignmentSlot.objects.create(assignment=second, attribute=attribute, target=item.target,
                                                  annotator=annotator))
    # A client submission id is accepted once.
    refused(lambda: Assignment.objects.create(campaign=campaign, annotator=annotator, target=item.target,
                                              lease_expires_at=expires, submission_id=submission))
    Response.objects.create(assignment=first, attribute=attribute, target=item.target, annotator=annotator,
                            value={"value": 3})
    refused(lambda: Response.objects.create(assignment=first, attribute=attribute, target=item.target,
                                            annotator=annotator, value={"value": 4}))


def test_one_consolidated_gold_and_standing_per_key(campaign):
    annotator = f.user_make()
    item = f.item_make(campaign=campaign)
    attribute = campaign.attributes.get(key="overall")
    Consolidated.objects.create(campaign=campaign, target=item.target, attribute=attribute, value={"mean": 0.5})
    refused(lambda: Consolidated.objects.create(campaign=campaign, target=item.target, attribute=attribute,
                                                value={"mean": 0.7}))
    GoldAnswer.objects.create(target=item.target, attribute=attribute, value={"value": 5})
    refused(lambda: GoldAnswer.objects.create(target=item.target, attribute=attribute, value={"value": 1}))
    AnnotatorStanding.objects.create(campaign=campaign, annotator=annotator)
    refused(lambda: AnnotatorStanding.objects.create(campaign=campaign, annotator=annotator))


def test_deleting_a_campaign_keeps_shared_images(campaign):
    item = f.item_make(campaign=campaign)
    other = f.campaign_make(presets=[])
    f.item_make(campaign=other, image=item.image)
    campaign.delete()
    assert (Image.objects.count(), Item.objects.count(), Target.objects.filter(campaign=other).count()) == (1, 1, 1)


def test_rows_insert_stores_what_the_orm_would_and_returns_rows_in_order(campaign):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotator.rows import rows_insert

    annotator = f.user_make()
    item = f.item_make(campaign=campaign)
    attributes = list(campaign.attributes.filter(target_type="item").order_by("id")[:3])
    assignment = f.assignment_make(annotator=annotator, target=item.target, attributes=attributes,
                                   status=Assignment.Status.SUBMITTED)
    values = [{"points": [{"x": 0.25, "y": 1.0, "label": "artifact"}], "none": False},
              {"tokens": [2, 0]}, {"value": None, "zeta": "<b>é</b>", "alpha": [1, {"k": True}]}]
    now = timezone.now()
    returned = rows_insert(Response, ("assignment", "attribute", "target", "annotator", "value", "active_ms",
                                      "valid", "created_at"),
                           [(assignment.pk, a.pk, item.target.pk, annotator.pk, v, 1200 + i, True, now)
                            for i, (a, v) in enumerate(zip(attributes, values))],
                           returning=("id", "attribute", "value"))
    saved = list(Response.objects.filter(assignment=assignment).order_by("id"))
    assert [attribute_id for _, attribute_id, _ in returned] == [a.pk for a in attributes]
    assert [r.pk for r in saved] == [pk for pk, _, _ in returned]
    assert [value for _, _, value in returned] == values  # read back as the ORM reads it
    assert [r.value for r in saved] == values
    assert [r.active_ms for r in saved] == [1200, 1201, 1202] and all(r.created_at == now for r in saved)
    assert rows_insert(Response, ("assignment",), []) == []
    # One object repeated down a column is converted once and stored in every row.
    shared = {"value": 3}
    other = f.assignment_make(annotator=f.user_make(), target=item.target, attributes=attributes)
    with CaptureQueriesContext(connection) as queries:  # logged: the %s statement instead of PostgreSQL's $n
        rows_insert(Response, ("assignment", "attribute", "target", "annotator", "value", "valid", "created_at"),
                    [(other.pk, a.pk, item.target.pk, annotator.pk, shared, True, now) for a in attributes])
    assert len(queries) == 1 and queries[0]["sql"].startswith("INSERT INTO")
    assert list(Response.objects.filter(assignment=other).values_list("value", flat=True)) == [shared] * 3
    with pytest.raises(ValueError, match="a row has 2 values for 3 columns"):
        rows_insert(Response, ("assignment", "attribute", "value"), [(other.pk, attributes[0].pk, {}), (1, 2)])
    # One statement: a row that breaks a constraint takes the others with it.
    refused(lambda: rows_insert(Response, ("assignment", "attribute", "target", "annotator", "value", "valid",
                                           "created_at"),
                                [(assignment.pk, a.pk, item.target.pk, annotator.pk, {}, True, now)
                                 for a in [*attributes[:1], *attributes[:1]]]))


def test_rows_insert_passes_only_values_the_conversion_would_leave_alone():
    """Keys, counts, flags and text skip their field's conversion: for exactly those types it returns them."""
    from django.db import connection

    from annotator.models import AssignmentSlot
    from annotator.rows import _plain_types
    from elicitation.models import LedgerEntry

    samples = {int: 7, float: 1.5, str: "<b>é</b>", bool: True, type(None): None}
    checked = set()
    for model in (Response, AssignmentSlot, LedgerEntry, Assignment):
        columns = tuple(field.name for field in model._meta.concrete_fields)
        for field, types in zip((model._meta.get_field(c) for c in columns), _plain_types(model, columns)):
            for kind in types:
                value = samples[kind]
                assert field.get_db_prep_save(value, connection) == value, (model, field, kind)
                checked.add(kind)
    assert checked == set(samples)  # every fast type met at least one column
    # JSON, dates and UUIDs always convert (a dict, a datetime, a uuid); so does an instance for a key.
    columns = ("value", "created_at", "attribute", "active_ms")
    plain = dict(zip(columns, _plain_types(Response, columns)))
    assert plain["value"] == () and plain["created_at"] == ()
    assert plain["attribute"] == plain["active_ms"] == (int, type(None))


def _fields(instance) -> list:
    return [type(instance), *[getattr(instance, field.attname) for field in instance._meta.concrete_fields]]


def test_models_read_gives_what_select_related_gives(campaign):
    """Plain reads build the same instances, with the same related caches, as the querysets they replace."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotator.rows import model_read, models_read
    from elicitation.models import AttributeCostEstimate

    annotator = f.user_make()
    item = f.item_make(campaign=campaign)
    group = f.group_make(campaign=campaign, n_images=4)
    attributes = list(campaign.attributes.filter(target_type="item").order_by("id")[:3])
    assignment = f.assignment_make(annotator=annotator, target=item.target, attributes=attributes)
    AttributeCostEstimate.objects.create(campaign=campaign, attribute=attributes[1], n=2, sum_log_s=3.0)

    # Forward keys, one of them through another, with JSON, dates, UUIDs and booleans converted as the ORM does.
    for target in (item.target, group.target):
        expected = Target.objects.select_related("item__image", "prompt").get(pk=target.pk)
        with CaptureQueriesContext(connection) as queries:
            got = model_read(Target, 't0."id" = %s', [target.pk], related=("item__image", "prompt"))
            assert _fields(got) == _fields(expected)
            assert (got.item is None) == (expected.item is None)  # a group's item: read as absent, no query
            if expected.item is not None:
                assert _fields(got.item) == _fields(expected.item)
                assert _fields(got.item.image) == _fields(expected.item.image)
            assert _fields(got.prompt) == _fields(expected.prompt)
        assert len(queries) == 1
    expected = Assignment.objects.select_related("campaign", "target__prompt").get(pk=assignment.pk)
    got = model_read(Assignment, 't0."id" = %s AND t0."annotator_id" = %s', [assignment.pk, annotator.pk],
                     related=("campaign", "target__prompt"), lock="UPDATE")
    assert _fields(got) == _fields(expected) and isinstance(got.submission_id, (uuid.UUID, type(None)))
    assert got.display == expected.display and got.lease_expires_at == expected.lease_expires_at
    assert _fields(got.campaign) == _fields(expected.campaign) and got.campaign.status == Campaign.Status.ACTIVE
    assert _fields(got.target.prompt) == _fields(expected.target.prompt)
    assert model_read(Assignment, 't0."id" = %s', [assignment.pk + 1000]) is None

    # Reverse one-to-ones: present, or absent (the accessor raises as after select_related).
    expected = list(Attribute.objects.filter(campaign=campaign, active=True).select_related("cost_estimate", "cap"))
    with CaptureQueriesContext(connection) as queries:
        got = models_read(Attribute, 't0."campaign_id" = %s AND t0."active"', [campaign.pk],
                          related=("cost_estimate", "cap"), order_by='t0."order", t0."id"')
        assert [_fields(a) for a in got] == [_fields(a) for a in expected]
        for mine, theirs in zip(got, expected):
            assert hasattr(mine, "cost_estimate") == hasattr(theirs, "cost_estimate")
            assert hasattr(mine, "cap") is hasattr(theirs, "cap") is False
        with_estimate = next(a for a in got if a.pk == attributes[1].pk)
        assert with_estimate.cost_estimate.n == 2 and with_estimate.cost_estimate.attribute is with_estimate
    assert len(queries) == 1

    # A join of the caller's, and its order.
    got = models_read(Attribute, 's."assignment_id" = %s', [assignment.pk],
                      joins='INNER JOIN "annotator_assignmentslot" s ON s."attribute_id" = t0."id"',
                      order_by='s."position", t0."order", t0."id"')
    assert [a.pk for a in got] == [a.pk for a in attributes]
    # Annotations: their parameters come first, their values are set as the database returns them.
    got = model_read(Campaign, 't0."id" = %s', ["likert", campaign.pk], annotations=[(
        "n_likert", '(SELECT COUNT(*) FROM "annotator_attribute" a WHERE a."campaign_id" = t0."id" AND a."kind" = %s)')])
    assert got == campaign and got.n_likert == campaign.attributes.filter(kind="likert").count() > 0
    with pytest.raises(ValueError, match="not a foreign key"):
        models_read(Campaign, "1 = 1", [], related=("attributes",))

def test_instance_update_saves_what_save_update_fields_saves(campaign):
    from annotator.rows import instance_update
    from elicitation.models import Budget

    item = f.item_make(campaign=campaign)
    assignment = f.assignment_make(annotator=f.user_make(), target=item.target)
    now, submission = timezone.now(), uuid.uuid4()
    assignment.status, assignment.submitted_at, assignment.submission_id = Assignment.Status.SUBMITTED, now, submission
    assignment.skip_reason = "not saved: not named"
    instance_update(assignment, ["status", "submitted_at", "submission_id"])
    stored = Assignment.objects.get(pk=assignment.pk)
    assert (stored.status, stored.submitted_at, stored.submission_id, stored.skip_reason) == (
        Assignment.Status.SUBMITTED, now, submission, "")
    # auto_now fields move as with save(); a unique key another row holds is refused, nothing saved.
    budget = Budget.objects.create(campaign=campaign, limit_s=100.0)
    before = budget.updated_at
    budget.reserved_s = 12.5
    instance_update(budget, ["reserved_s", "updated_at"])
    stored = Budget.objects.get(pk=budget.pk)
    assert stored.reserved_s == 12.5 and stored.updated_at > before
    other = f.assignment_make(annotator=f.user_make(), target=item.target)
    other.submission_id = submission
    with pytest.raises(IntegrityError), transaction.atomic():
        instance_update(other, ["submission_id"])
    assert Assignment.objects.get(pk=other.pk).submission_id is None
