"""The researcher's dashboard: content, figures, heatmap viewer, exports, panels, permissions, query count."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from annotator.models import ExportJob, Item
from annotator.selectors import dashboard as selectors
from annotator.selectors.consolidation import campaign_agreement
from annotator.services.consolidation import campaign_consolidate
from tests import factories as f

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def panel_provider(campaign):
    """A DASHBOARD_PANELS provider, as elicitation or rewardlab would write one."""
    return {"title": "Budget", "template": "annotator/dashboard_panel_table.html",
            "context": {"columns": ["spent", "budget"], "rows": [[f"{campaign.name}-12 s", "100 s"]]}}


def broken_provider(campaign):
    raise RuntimeError("no budget table")


@pytest.fixture(autouse=True)
def _fresh_cache(settings, tmp_path):
    settings.CACHES = {**settings.CACHES, "dashboard": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "dash-cache")}}
    yield


@pytest.fixture
def filled(db, make_user):
    """RichHF + side-by-side, overlap 2: two items and a pair answered by two annotators, consolidated."""
    campaign = f.campaign_make(name="dash", presets=["richhf", "sxs"], overlap=2)
    items = [f.item_make(campaign=campaign, external_id=f"img-{i}") for i in range(2)]
    pair = f.pair_make(campaign=campaign)
    attrs = {a.key: a for a in campaign.attributes.all()}
    ann_a, ann_b = make_user("alice"), make_user("bob")
    likert = {"plausibility": (5, 2), "alignment": (4, 4), "aesthetics": (3, 2), "overall": (4, 1)}
    for who, user, ms in ((0, ann_a, 1000), (1, ann_b, 3000)):
        for item in items:
            t = item.target
            f.response_make(annotator=user, target=t, attribute=attrs["artifact_points"], active_ms=ms,
                            value={"points": [{"x": 0.25 + 0.05 * who, "y": 0.5, "label": "artifact"}],
                                   "none": False})
            f.response_make(annotator=user, target=t, attribute=attrs["misalignment_points"], active_ms=ms,
                            value={"points": [], "none": True})
            f.response_make(annotator=user, target=t, attribute=attrs["misaligned_keywords"], active_ms=ms,
                            value={"tokens": [who]})
            for key, values in likert.items():
                f.response_make(annotator=user, target=t, attribute=attrs[key], value={"value": values[who]},
                                active_ms=ms)
        f.response_make(annotator=user, target=pair.target, attribute=attrs["sxs"], active_ms=ms,
                        value={"choice": ["A>B", "unsure"][who], "a": pair.image_a_id, "b": pair.image_b_id})
    campaign_consolidate(campaign=campaign)
    return SimpleNamespace(campaign=campaign, items=items, pair=pair, annotators=(ann_a, ann_b), attrs=attrs)


def test_dashboard_renders_progress_agreement_and_annotators(filled, researcher_user, client):
    client.force_login(researcher_user)
    response = client.get(f"/campaigns/{filled.campaign.pk}/dashboard/")
    assert response.status_code == 200
    ctx = response.context

    progress = {row["key"]: row for row in ctx["progress"]}
    assert progress["overall"] == {
        "key": "overall", "kind": "likert", "target_type": "item", "active": True, "targets": 2, "responses": 4,
        "open": 0, "wanted": 4, "share": 1.0, "complete": 2, "complete_share": 1.0}
    assert progress["sxs"]["targets"] == 1 and progress["sxs"]["responses"] == 2

    expected = campaign_agreement(campaign=filled.campaign)
    agreement = {row["key"]: row["cells"] for row in ctx["agreement"]}
    assert agreement["overall"]["krippendorff_alpha"] == pytest.approx(expected["overall"]["alpha"])
    assert agreement["overall"]["unanimous_share"] == 0.0
    assert agreement["sxs"]["unsure_share"] == 0.5
    assert agreement["artifact_points"]["iou"] == pytest.approx(expected["artifact_points"]["mean_iou"])

    rows = {row["username"]: row for row in ctx["annotators"]}
    assert set(rows) == {"alice", "bob"}
    # 2 items x 7 RichHF attributes + 1 side-by-side = 15 answers each.
    assert rows["alice"]["answers"] == 15 and rows["alice"]["submitted"] == 15
    assert rows["alice"]["median_active_s"] == 1.0 and rows["bob"]["median_active_s"] == 3.0
    assert rows["alice"]["skips"] == 0 and rows["alice"]["qualified"] is True
    assert rows["alice"]["consensus"] is not None
    assert rows["alice"]["pseudonym"].startswith("ann-")

    html = response.content.decode()
    for key in ("artifact_points", "misaligned_keywords", "plausibility", "sxs"):
        assert f"<code>{key}</code>" in html
    assert f"/campaigns/{filled.campaign.pk}/dashboard/plots/likert_spread.png" in html
    assert f"/campaigns/{filled.campaign.pk}/dashboard/plots/sxs_tallies.png" in html
    assert '<option value="%d">img-' % filled.items[0].target.pk in html
    assert 'data-endpoint="/api/campaigns/%d/exports"' % filled.campaign.pk in html


def test_likert_spreads_and_sxs_tallies(filled):
    spreads = {row["key"]: row["counts"] for row in selectors.likert_spreads(campaign=filled.campaign)}
    assert spreads == {"plausibility": {3: 2}, "alignment": {0: 2}, "aesthetics": {1: 2}, "overall": {3: 2}}
    expected = campaign_agreement(campaign=filled.campaign)["plausibility"]["spread_histogram"]
    assert {int(k): v for k, v in expected.items() if v} == spreads["plausibility"]
    assert selectors.sxs_tallies(campaign=filled.campaign) == [
        {"key": "sxs", "counts": {"A>B": 1, "unsure": 1}, "total": 2, "unsure_share": 0.5}]


@pytest.mark.parametrize("name", ["likert_spread", "sxs_tallies"])
def test_plots_are_png_from_the_snapshot(filled, researcher_user, client, name):
    client.force_login(researcher_user)
    url = f"/campaigns/{filled.campaign.pk}/dashboard/plots/{name}.png"
    first = client.get(url)
    assert first.status_code == 200
    assert first["Content-Type"] == "image/png"
    assert first.content.startswith(PNG_MAGIC)
    client.get(f"/campaigns/{filled.campaign.pk}/dashboard/")  # computes the snapshot (small campaign)
    snapshot = selectors.snapshot_get(campaign=filled.campaign)
    assert snapshot["stamp"] == selectors.data_stamp(campaign=filled.campaign)
    assert client.get(url).content == snapshot["plots"][name] == first.content
    assert client.get(f"/campaigns/{filled.campaign.pk}/dashboard/plots/nope.png").status_code == 404


def test_snapshot_is_stale_until_refreshed(filled, researcher_user, client, monkeypatch):
    """A page never waits for a big campaign: it shows the older snapshot and sends a refresh."""
    from annotator.services import dashboard as service
    from annotator.tasks import quality as tasks

    client.force_login(researcher_user)
    url = f"/campaigns/{filled.campaign.pk}/dashboard/"
    assert client.get(url).context["snapshot_state"] == "fresh"
    old = selectors.snapshot_get(campaign=filled.campaign)
    sent: list[int] = []
    monkeypatch.setattr(tasks.dashboard_refresh_task, "delay", lambda campaign_id: sent.append(campaign_id))
    item = f.item_make(campaign=filled.campaign)
    f.response_make(annotator=filled.annotators[0], target=item.target, attribute=filled.attrs["overall"],
                    value={"value": 2})
    campaign_consolidate(campaign=filled.campaign)

    for _ in range(2):  # the second reload sends nothing new while the refresh runs
        page = client.get(url)
        assert page.context["snapshot_state"] == "stale"
        assert page.context["snapshot_at"] == old["computed_at"]
        assert "newer answers are being included" in page.content.decode()
    assert sent == [filled.campaign.pk]

    service.dashboard_snapshot_refresh(campaign=filled.campaign)
    page = client.get(url)
    assert page.context["snapshot_state"] == "fresh"
    rows = {row["username"]: row for row in page.context["annotators"]}
    assert rows["alice"]["answers"] == 16
    assert sent == [filled.campaign.pk]


def test_a_big_campaign_without_snapshot_is_pending(filled, researcher_user, client, monkeypatch):
    from annotator.services import dashboard as service
    from annotator.tasks import quality as tasks

    monkeypatch.setattr(service, "INLINE_MAX_RESPONSES", 10)
    sent: list[int] = []
    monkeypatch.setattr(tasks.dashboard_refresh_task, "delay", lambda campaign_id: sent.append(campaign_id))
    client.force_login(researcher_user)
    page = client.get(f"/campaigns/{filled.campaign.pk}/dashboard/")
    assert page.status_code == 200 and page.context["snapshot_state"] == "pending"
    assert "being computed" in page.content.decode()
    assert sent == [filled.campaign.pk]
    # Live parts are there regardless.
    assert {row["key"]: row["responses"] for row in page.context["progress"]}["overall"] == 4


def test_plots_of_an_empty_campaign(researcher_user, client, db):
    campaign = f.campaign_make(name="empty", presets=["richhf", "sxs"])
    client.force_login(researcher_user)
    for name in ("likert_spread", "sxs_tallies"):
        response = client.get(f"/campaigns/{campaign.pk}/dashboard/plots/{name}.png")
        assert response.status_code == 200 and response.content.startswith(PNG_MAGIC)
    assert client.get(f"/campaigns/{campaign.pk}/dashboard/").status_code == 200


def test_heatmap_json_and_overlay(filled, researcher_user, client):
    client.force_login(researcher_user)
    target = filled.items[0].target
    base = f"/campaigns/{filled.campaign.pk}/dashboard/heatmap/{target.pk}"
    data = client.get(f"{base}.json").json()
    image = filled.items[0].image
    assert data["target"] == target.pk and data["external_id"] == "img-0"
    assert data["image"] == {"id": image.pk, "url": image.file.url, "width": 64, "height": 48}
    assert data["labels"] == ["artifact", "misalignment"]
    assert [(h["attribute"], h["label"]) for h in data["heatmaps"]] == [
        ("artifact_points", "artifact"), ("misalignment_points", "misalignment")]
    assert data["heatmaps"][0]["url"] == f"{base}/artifact_points/artifact.png"
    points = {a["pseudonym"]: a["points"] for a in data["annotators"]}
    assert sorted(p[0]["x"] for p in points.values()) == [0.25, 0.3]
    assert all(a["none"] == {"artifact_points": False, "misalignment_points": True} for a in data["annotators"])

    overlay = client.get(data["heatmaps"][0]["url"])
    assert overlay.status_code == 200 and overlay["Content-Type"] == "image/png"
    from PIL import Image as PILImage
    import io
    picture = PILImage.open(io.BytesIO(overlay.content))
    assert picture.mode == "RGBA" and picture.size == (64, 48)
    # Both annotators marked (16, 24) and (19.2, 24): full heat there, nothing in the corner.
    assert picture.getpixel((17, 24))[3] == round(0.8 * 255)  # alpha 0.35 + 0.45 x heat 1
    assert picture.getpixel((0, 0))[3] == 0

    assert client.get(f"/campaigns/{filled.campaign.pk}/dashboard/heatmap/{filled.pair.target.pk}.json"
                      ).status_code == 404
    assert client.get(f"{base}/artifact_points/nolabel.png").status_code == 404


def test_exports_are_listed_with_download_links(filled, researcher_user, client):
    done = ExportJob.objects.create(campaign=filled.campaign, formats=["jsonl"], status="done", progress=1.0)
    ExportJob.objects.create(campaign=filled.campaign, formats=["parquet"], status="running", progress=0.5)
    client.force_login(researcher_user)
    html = client.get(f"/campaigns/{filled.campaign.pk}/dashboard/").content.decode()
    assert f'/api/campaigns/{filled.campaign.pk}/exports/{done.pk}/download' in html
    assert html.count("/download") == 1
    assert '<span class="badge status-running">running</span>' in html


def test_panel_providers(filled, researcher_user, client, settings):
    settings.DASHBOARD_PANELS = [f"{__name__}.panel_provider", f"{__name__}.broken_provider"]
    client.force_login(researcher_user)
    html = client.get(f"/campaigns/{filled.campaign.pk}/dashboard/").content.decode()
    assert '<section class="card qc-panel" id="panel-1" aria-label="Budget">' in html
    assert '<a href="#panel-1">Budget</a>' in html
    assert "<td>dash-12 s</td><td>100 s</td>" in html
    assert "This panel failed: RuntimeError: no budget table" in html


def test_permissions(filled, annotator_user, inspector_user, client):
    campaign = filled.campaign
    target = filled.items[0].target
    urls = [f"/campaigns/{campaign.pk}/dashboard/", f"/campaigns/{campaign.pk}/dashboard/plots/likert_spread.png",
            f"/campaigns/{campaign.pk}/dashboard/heatmap/{target.pk}.json",
            f"/campaigns/{campaign.pk}/dashboard/heatmap/{target.pk}/artifact_points/artifact.png"]
    for url in urls:
        anonymous = client.get(url)
        assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/?next=")
    for user in (annotator_user, inspector_user):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, url


def test_query_count_does_not_grow_with_the_campaign(filled, researcher_user, client, django_assert_max_num_queries):
    """Aggregates only: more items and answers add no queries (the figures' data is cached per stamp)."""
    client.force_login(researcher_user)
    url = f"/campaigns/{filled.campaign.pk}/dashboard/"
    client.get(url)  # the snapshot for this stamp
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    for _ in range(5):
        item = f.item_make(campaign=filled.campaign)
        for user in filled.annotators:
            f.response_make(annotator=user, target=item.target, attribute=filled.attrs["overall"], value={"value": 3})
    campaign_consolidate(campaign=filled.campaign)
    client.get(url)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(large) == len(small)
    assert len(small) <= 25


def test_gold_from_truth_command(db, capsys):
    from django.core.management import call_command

    from annotator.models import GoldAnswer, Target

    campaign = f.campaign_make(name="truth", presets=["tia2", "richhf"], overlap=3)
    items = [f.item_make(campaign=campaign) for _ in range(4)]
    for i, item in enumerate(items[:3]):
        Item.objects.filter(pk=item.pk).update(meta={"truth": {
            "aligned": i % 2 == 0, "overall": 4, "misaligned_keywords": [0],
            "artifact_points": [{"x": 0.5, "y": 0.5, "label": "artifact"}], "distorted": True}})
    call_command("gold", campaign.name, "--from-truth", "2", "--seed", "1")
    out = capsys.readouterr().out
    gold_targets = list(Target.objects.filter(is_gold=True).values_list("pk", flat=True))
    assert len(gold_targets) == 2 and items[3].target.pk not in gold_targets
    # aligned, overall, misaligned_keywords, artifact_points per item ("distorted" is no attribute here).
    assert out.strip() == "truth: 8 gold answers on 2 targets (0 unchanged)"
    answer = GoldAnswer.objects.get(target_id=gold_targets[0], attribute__key="artifact_points")
    assert answer.value == {"points": [{"x": 0.5, "y": 0.5, "label": "artifact"}], "none": False}
    call_command("gold", campaign.name, "--from-truth", "2", "--seed", "7")
    assert capsys.readouterr().out.strip() == "truth: 0 gold answers on 2 targets (8 unchanged)"
    assert set(Target.objects.filter(is_gold=True).values_list("pk", flat=True)) == set(gold_targets)


# ---------------------------------------------------------------- in the browser (screenshots)
def _paint(image, variant: int) -> None:
    """Redraw a factory image as a small scene, so screenshots can be judged on something image-like."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    w, h = image.width, image.height
    picture = PILImage.new("RGB", (w, h), (150, 190, 235))
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, int(h * 0.62), w, h], fill=(95, 130, 70))
    draw.rectangle([w * 0.22, h * 0.38, w * 0.46, h * 0.7], fill=(205, 45, 50), outline=(90, 15, 20), width=3)
    r = h * (0.12 + 0.02 * variant)
    draw.ellipse([w * 0.66 - r, h * 0.7 - 2 * r, w * 0.66 + r, h * 0.7], fill=(50, 90, 210), outline=(15, 30, 90),
                 width=3)
    picture.save(image.file.path, format="PNG")


def _submit_all(annotator, target, values: dict, attrs: dict, active_ms: int = 4000):
    """One submitted assignment answering several attributes, counters kept right."""
    from django.db.models import F
    from django.utils import timezone

    from annotator.models import Response, Slot

    assignment = f.assignment_make(annotator=annotator, target=target, attributes=[attrs[k] for k in values],
                                   status="submitted")
    assignment.submitted_at = timezone.now()
    assignment.save(update_fields=["submitted_at"])
    for key, value in values.items():
        Response.objects.create(assignment=assignment, attribute=attrs[key], target=target, annotator=annotator,
                                value=value, active_ms=active_ms)
        Slot.objects.filter(target=target, attribute=attrs[key]).update(n_done=F("n_done") + 1)
    return assignment


@pytest.fixture
def chromium_page(monkeypatch, settings):
    import os
    from pathlib import Path

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is missing")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.views.static import serve

    from config import urls

    for pattern in urls.urlpatterns:  # the media view bound MEDIA_ROOT at import
        if getattr(pattern, "callback", None) is serve:
            monkeypatch.setitem(pattern.default_args, "document_root", str(settings.MEDIA_ROOT))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        yield page
        browser.close()
    assert os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE") == "true"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_and_review_in_chromium(chromium_page, live_server, make_user):
    from pathlib import Path

    from annotator.models import Assignment
    from annotator.services.reviews import campaign_agreement_refresh

    page = chromium_page
    shots = Path(__file__).resolve().parents[2] / "screenshots"
    shots.mkdir(exist_ok=True)
    campaign = f.campaign_make(name="RichHF pilot", presets=["richhf", "sxs"], overlap=3, inspection_rate=0.0,
                               gold_tasks_required=1)
    attrs = {a.key: a for a in campaign.attributes.all()}
    prompt = f.prompt_make(text="a red cube to the left of a <b>blue</b> sphere")
    items = [f.item_make(campaign=campaign, prompt=prompt, external_id=f"pilot-{i:03d}",
                         image=f.image_make(prompt=prompt, width=384, height=288)) for i in range(4)]
    for i, item in enumerate(items):
        _paint(item.image, i)
    pair = f.pair_make(campaign=campaign, image_a=items[0].image, image_b=items[1].image)
    workers = [make_user(name) for name in ("ana", "ben", "chen")]
    ratings = [(5, 4, 4, 4), (4, 4, 3, 4), (2, 1, 2, 1)]  # chen disagrees
    for i, item in enumerate(items):
        for w, user in enumerate(workers):
            offset = 0.03 * w
            _submit_all(user, item.target, {
                "artifact_points": {"points": [{"x": 0.34 + offset, "y": 0.52, "label": "artifact"}]
                                    + ([{"x": 0.8, "y": 0.2, "label": "artifact"}] if w == 2 else []),
                                    "none": False},
                "misalignment_points": {"points": [{"x": 0.66, "y": 0.58 - offset, "label": "misalignment"}],
                                        "none": False} if w < 2 else {"points": [], "none": True},
                "misaligned_keywords": {"tokens": [7] if w < 2 else [1, 2]},
                "plausibility": {"value": ratings[w][0]}, "alignment": {"value": ratings[w][1]},
                "aesthetics": {"value": ratings[w][2]}, "overall": {"value": max(1, ratings[w][3] - i % 2)},
            }, attrs, active_ms=3000 + 1500 * w)
        if i == 0:
            for w, user in enumerate(workers):
                _submit_all(user, pair.target, {"sxs": {"choice": ["A>B", "A>>B", "unsure"][w],
                                                        "a": pair.image_a_id, "b": pair.image_b_id}}, attrs)
    campaign_consolidate(campaign=campaign)
    campaign_agreement_refresh(campaign=campaign)
    # The last item is gold: ana and ben rate within a point of the reference, chen does not.
    from annotator.models import GoldAnswer, Target
    from annotator.services.reviews import gold_score_update

    Target.objects.filter(pk=items[3].target.pk).update(is_gold=True)
    GoldAnswer.objects.create(target=items[3].target, attribute=attrs["overall"], value={"value": 4})
    for assignment in Assignment.objects.filter(target=items[3].target):
        gold_score_update(assignment=assignment)
    ExportJob.objects.create(campaign=campaign, formats=["jsonl", "parquet"], status="done", progress=1.0)
    make_user("researcher", "researcher")

    page.goto(f"{live_server.url}/accounts/login/?next=/campaigns/{campaign.pk}/dashboard/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "pw-123456")
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_selector("#h-progress")
    for img in page.locator("img").all():  # figures (ours and the panels', some lazy) load, none broken
        img.scroll_into_view_if_needed()
        img.evaluate("el => el.complete ? null : new Promise(done => { el.onload = el.onerror = done; })")
        assert img.evaluate("el => el.naturalWidth > 0"), img.get_attribute("src")
    page.evaluate("window.scrollTo(0, 0)")
    page.select_option("#hm-target", str(items[0].target.pk))
    page.wait_for_selector("#hm-stage .qc-overlay g")
    assert page.locator("#hm-stage .qc-overlay g[data-layer=point]").count() == 3 * 1 + 1 + 2  # artifact + misalignment
    assert page.locator("#hm-stage img.qc-heat").count() == 2
    assert page.locator("#hm-prompt").inner_text() == prompt.text
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    page.locator("#heatmaps").screenshot(path=str(shots / "dashboard_heatmap_viewer.png"))
    page.locator("#hm-toggles label", has_text="artifact").locator("input").uncheck()
    assert page.locator("#hm-stage g[data-label=artifact]").first.is_hidden()
    assert page.locator("#hm-stage g[data-label=misalignment]").first.is_visible()

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/review/")
    page.wait_for_selector(".qc-review")
    shown = int(page.locator(".qc-review").get_attribute("data-assignment"))
    assert Assignment.objects.get(pk=shown).annotator.username == "chen"  # lowest agreement first
    assert page.locator("#annotators").count() == 0
    assert page.locator(".qc-prompt").first.inner_text() == prompt.text
    page.screenshot(path=str(shots / "review.png"), full_page=True)
    page.keyboard.press("i")  # no reason yet: the form asks for one instead of submitting
    assert page.evaluate("document.activeElement.id") == "reason"
    page.fill("#reason", "ratings contradict the image")
    with page.expect_navigation():
        page.click("button[value=invalidated]")
    assert "invalidated and sent back for relabeling" in page.locator(".qc-flash").inner_text()
    assert Assignment.objects.get(pk=shown).status == "invalidated"
    assert not page.js_errors, page.js_errors
