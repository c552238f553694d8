"""Server-rendered pages: login redirects, home, campaign overview, task page shell, markdown."""
from __future__ import annotations

import pytest
from django.test import Client

from annotator.markdown import markdown_render
from annotator.models import Campaign
from tests import factories as f

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def campaign(db):
    return f.campaign_make(name="Rich feedback", presets=["richhf"],
                           instructions="Mark **artifacts**.\n\n<script>alert('x')</script>",
                           point_radius_frac=0.08)


@pytest.mark.parametrize("url", ["/", "/campaigns/{id}/", "/campaigns/{id}/annotate/"])
def test_anonymous_users_are_sent_to_login(campaign, url):
    path = url.format(id=campaign.pk)

    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_login_page_renders_and_logs_in(annotator_user):
    client = Client()

    page = client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": "ann1", "password": "pw-123456"})

    assert page.status_code == 200
    assert b'name="username"' in page.content and b'name="password"' in page.content
    assert response.status_code == 302 and response["Location"] == "/"


def test_home_lists_active_campaigns_with_own_progress(campaign, annotator_user, other_annotator):
    Campaign.objects.create(name="Paused one", status=Campaign.Status.PAUSED)
    item = f.item_make(campaign=campaign)
    overall = campaign.attributes.get(key="overall")
    f.response_make(annotator=annotator_user, target=item.target, attribute=overall, value={"value": 4})
    f.response_make(annotator=other_annotator, target=item.target, attribute=overall, value={"value": 2})

    response = logged_in(annotator_user).get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert [row["progress"].campaign.name for row in response.context["rows"]] == ["Rich feedback"]
    progress = response.context["rows"][0]["progress"]
    assert (progress.submitted, progress.responses) == (1, 1)
    assert f'href="/campaigns/{campaign.pk}/annotate/"' in html
    assert "Paused one" not in html
    # Instructions are rendered markdown with the script removed.
    assert "Mark <strong>artifacts</strong>." in html
    assert "<script>alert" not in html
    # Annotators get no researcher links.
    assert f"/campaigns/{campaign.pk}/dashboard/" not in html
    assert f'href="/campaigns/{campaign.pk}/"' not in html


def test_home_shows_researchers_every_campaign_and_their_links(campaign, researcher_user):
    paused = Campaign.objects.create(name="Paused one", status=Campaign.Status.PAUSED)

    html = logged_in(researcher_user).get("/").content.decode()

    assert "Paused one" in html
    for c in (campaign, paused):
        assert f'href="/campaigns/{c.pk}/"' in html
        assert f'href="/campaigns/{c.pk}/dashboard/"' in html
        assert f'href="/admin/annotator/campaign/{c.pk}/change/"' in html
    # A paused campaign has no Start button.
    assert f'href="/campaigns/{paused.pk}/annotate/"' not in html


def test_home_links_inspectors_to_the_review_queue(campaign, inspector_user, annotator_user):
    inspector_html = logged_in(inspector_user).get("/").content.decode()
    annotator_html = logged_in(annotator_user).get("/").content.decode()

    assert f'href="/campaigns/{campaign.pk}/review/"' in inspector_html
    assert f'href="/campaigns/{campaign.pk}/review/"' not in annotator_html
    assert f"/campaigns/{campaign.pk}/dashboard/" not in inspector_html


def test_overview_is_for_researchers_only(campaign, annotator_user, inspector_user):
    assert logged_in(annotator_user).get(f"/campaigns/{campaign.pk}/").status_code == 403
    assert logged_in(inspector_user).get(f"/campaigns/{campaign.pk}/").status_code == 403


def test_overview_paginates_items_and_lists_attributes(campaign, researcher_user):
    items = [f.item_make(campaign=campaign) for _ in range(62)]
    client = logged_in(researcher_user)

    first = client.get(f"/campaigns/{campaign.pk}/")
    second = client.get(f"/campaigns/{campaign.pk}/?page=2")

    assert first.status_code == 200
    overview = first.context["overview"]
    assert [i.pk for i in overview.page.object_list] == [i.pk for i in items[:60]]
    assert [i.pk for i in second.context["overview"].page.object_list] == [i.pk for i in items[60:]]
    assert [a.key for a in overview.attributes] == [
        "artifact_points", "misalignment_points", "misaligned_keywords", "plausibility", "alignment",
        "aesthetics", "overall"]
    assert overview.counts["items"] == 62
    html = first.content.decode()
    assert items[0].image.file.url in html
    assert "<code>misaligned_keywords</code>" in html
    assert 'href="?page=2"' in html
    assert client.get("/campaigns/999999/").status_code == 404


def test_task_page_hands_the_script_its_settings(campaign, annotator_user):
    response = logged_in(annotator_user).get(f"/campaigns/{campaign.pk}/annotate/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-campaign="{campaign.pk}"' in html
    assert 'data-point-radius-frac="0.08"' in html
    assert 'data-api-next="/api/tasks/next"' in html
    assert "/static/annotator/task.js" in html
    # The API reads the CSRF token from this cookie.
    assert "csrftoken" in response.cookies


def test_markdown_render_sanitises():
    html = str(markdown_render("# Title\n\n[ok](https://example.org) [bad](javascript:alert(1))\n\n"
                               "<img src=x onerror=alert(1)><iframe src=//evil></iframe>"))

    assert "<h1>Title</h1>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">ok</a>' in html
    assert "javascript:" not in html
    assert "onerror" not in html and "<iframe" not in html
    assert str(markdown_render("")) == ""


def test_home_shows_the_annotators_qualification_in_words(client, make_user):
    from annotator.models import AnnotatorStanding
    from tests.factories import campaign_make

    user = make_user("qual-ann", "annotator")
    campaign = campaign_make(name="gold-campaign")
    campaign.gold_tasks_required = 2
    campaign.qualification_threshold = 0.5
    campaign.save()
    AnnotatorStanding.objects.create(campaign=campaign, annotator=user, gold_answered=2, gold_score=0.25)
    client.force_login(user)
    page = client.get("/").content.decode()
    assert 'data-standing="not_qualified"' in page
    assert "Not qualified: 25% correct on the gold tasks, 50% needed." in page
