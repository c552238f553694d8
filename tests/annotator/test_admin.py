"""Django admin: every model has a working list and change page; lists stay O(1) in queries."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotator.models import (AnnotatorStanding, Assignment, AssignmentSlot, Attribute, Campaign, Consolidated,
                              ExportJob, GoldAnswer, Group, GroupImage, Image, Item, Pair, Prompt, Response, Review,
                              Slot, Target)
from annotator.services.users import user_create
from tests import factories as f

pytestmark = pytest.mark.django_db

ALL_MODELS = (Campaign, Prompt, Image, Item, Group, GroupImage, Pair, Target, Attribute, Slot, Assignment,
              AssignmentSlot, Response, Consolidated, GoldAnswer, Review, AnnotatorStanding, ExportJob)


@pytest.fixture
def campaign():
    campaign = f.campaign_make(name="admin-test", presets=["richhf", "imagereward", "sxs"])
    f.campaign_populate(campaign=campaign, n_items=3, n_groups=1, n_pairs=1, n_prompts=1)
    return campaign


@pytest.fixture
def feedback(campaign):
    """One submitted response with its assignment, review, consolidation, gold answer and standing."""
    annotator = f.user_make(username="ann-admin")
    item = campaign.items.first()
    attribute = campaign.attributes.get(key="overall")
    response = f.response_make(annotator=annotator, target=item.target, attribute=attribute, value={"value": 4})
    inspector = f.user_make(username="insp-admin", role="inspector")
    Review.objects.create(assignment=response.assignment, inspector=inspector, verdict="accepted")
    Consolidated.objects.create(campaign=campaign, target=item.target, attribute=attribute,
                                value={"mean": 0.75}, score=0.75, n_responses=1)
    GoldAnswer.objects.create(target=item.target, attribute=attribute, value={"value": 4})
    AnnotatorStanding.objects.create(campaign=campaign, annotator=annotator, pseudonym="a-1")
    ExportJob.objects.create(campaign=campaign, formats=["jsonl"], finished_at=timezone.now())
    return response


def test_every_model_is_registered():
    assert all(admin.site.is_registered(model) for model in ALL_MODELS)


def test_changelist_and_change_pages_render(admin_client: Client, campaign, feedback):
    statuses = {}
    for model in ALL_MODELS:
        opts = model._meta
        obj = model.objects.order_by("pk").first()
        statuses[model.__name__] = (
            admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code,
            admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])).status_code,
        )
    assert statuses == {model.__name__: (200, 200) for model in ALL_MODELS}


def test_item_and_image_lists_show_thumbnails(admin_client, campaign):
    item = campaign.items.select_related("image").first()
    for name in ("item", "image"):
        html = admin_client.get(reverse(f"admin:annotator_{name}_changelist")).content.decode()
        assert f'<img src="{item.image.file.url}"' in html


def test_campaign_page_shows_counts_and_attributes_inline(admin_client, campaign, feedback):
    html = admin_client.get(reverse("admin:annotator_campaign_change", args=[campaign.pk])).content.decode()
    n_items = campaign.items.count()
    for text in (f"items: {n_items}", "groups: 1", "pairs: 1", "responses: 1", "valid responses: 1"):
        assert text in html
    assert 'name="attributes-0-prior_cost_s"' in html


def test_apply_preset_action_adds_attributes(admin_client, campaign):
    before = campaign.attributes.count()
    response = admin_client.post(reverse("admin:annotator_campaign_changelist"),
                                 {"action": "apply_preset_collins", "_selected_action": [campaign.pk]})
    assert response.status_code == 302
    assert campaign.attributes.count() == before + 14
    assert campaign.attributes.filter(preset="collins", key="overall_good", is_coarse=True).exists()
    # Slots for the new attributes on the existing items.
    assert Slot.objects.filter(attribute__key="overall_good").count() == campaign.items.count()


def test_raw_responses_are_read_only(admin_client, feedback):
    url = reverse("admin:annotator_response_change", args=[feedback.pk])
    html = admin_client.get(url).content.decode()
    assert 'name="_save"' not in html
    response = admin_client.post(url, {"valid": "", "active_ms": "1"})
    assert response.status_code == 403
    feedback.refresh_from_db()
    assert (feedback.valid, feedback.active_ms, feedback.value) == (True, 1000, {"value": 4})


def test_item_changelist_queries_do_not_grow_with_rows(admin_client, campaign):
    url = reverse("admin:annotator_item_changelist")
    admin_client.get(url)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    f.campaign_populate(campaign=campaign, n_items=12)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)
    assert len(many) == len(few)


def test_researchers_use_admin_and_annotators_do_not(campaign):
    client = Client()
    client.force_login(user_create(username="res-admin", role="researcher")[0])
    assert client.get(reverse("admin:annotator_item_changelist")).status_code == 200
    client.force_login(user_create(username="ann-x", role="annotator")[0])
    assert client.get(reverse("admin:annotator_item_changelist")).status_code == 302


def test_gold_answers_are_validated_like_submissions(admin_client, campaign):
    item = campaign.items.first()
    overall = campaign.attributes.get(key="overall")
    url = reverse("admin:annotator_goldanswer_add")
    response = admin_client.post(url, {"target": item.target.pk, "attribute": overall.pk, "value": '{"value": 9}'})
    assert response.status_code == 200  # the form again, with the error
    assert (GoldAnswer.objects.count(), Target.objects.filter(is_gold=True).count()) == (0, 0)
    response = admin_client.post(url, {"target": item.target.pk, "attribute": overall.pk, "value": '{"value": 4}'})
    assert response.status_code == 302
    gold = GoldAnswer.objects.get()
    assert (gold.target_id, gold.attribute_id, gold.value, gold.created_by.username) == (
        item.target.pk, overall.pk, {"value": 4}, "admin")
    item.target.refresh_from_db()
    assert item.target.is_gold is True
