"""POST /api/score: a good image, refusals (non-image, missing prompt, no model), authentication; no torch at import."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator.models import Image
from rewardlab.models import EmbeddingCache, ModelVersion
from rewardlab.services.training import training_run_start
from tests import factories as f
from tests.rewardlab.campaigns import FAST_CONFIG, labelled_campaign, picture_bytes

pytestmark = pytest.mark.django_db
URL = "/api/score"


@pytest.fixture
def trained(db, django_capture_on_commit_callbacks):
    data = labelled_campaign()
    with django_capture_on_commit_callbacks(execute=True):
        version = training_run_start(campaign=data["campaign"], kind="cbm", config=FAST_CONFIG)
    version.refresh_from_db()
    assert version.status == "done", version.error
    return {**data, "version": version}


def _png(*, bright: bool, index: int) -> SimpleUploadedFile:
    return SimpleUploadedFile("upload.png", picture_bytes(bright=bright, chaotic=False, index=index, size=512),
                              content_type="image/png")


def _state() -> tuple:
    return (list(ModelVersion.objects.order_by("pk").values_list("pk", "active", "status")),
            EmbeddingCache.objects.count(), Image.objects.count())


def test_scores_a_good_image_with_the_campaigns_active_model(trained, client_for, researcher_user):
    from rewardlab.selectors.scoring import loaded_model

    campaign, version = trained["campaign"], trained["version"]
    api = client_for(researcher_user)
    before = _state()
    response = api.post(URL, {"image": _png(bright=True, index=1), "prompt": "a bright scene",
                              "campaign": campaign.pk}, format="multipart")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"reward", "probability", "attributes", "model_version", "campaign"}
    assert body["model_version"] == version.pk and body["campaign"] == campaign.pk
    assert set(body["attributes"]) == {"bright", "chaotic", "aesthetics"}
    assert all(0.0 <= p <= 1.0 for p in body["attributes"].values())
    # The same numbers as the stored model gives for the same features.
    from PIL import Image as PILImage
    import io

    loaded = loaded_model(version=version)
    picture = PILImage.open(io.BytesIO(picture_bytes(bright=True, chaotic=False, index=1, size=512))).convert("RGB")
    X = loaded.features.vector(image=picture, prompt="a bright scene")
    assert body["reward"] == pytest.approx(float(loaded.model.decision_function(X)[0]), abs=1e-6)
    assert body["probability"] == pytest.approx(float(loaded.model.predict_proba(X)[0, 1]), abs=1e-6)
    np.testing.assert_allclose([body["attributes"][k] for k in loaded.model.concept_names_],
                               loaded.model.predict_concepts(X)[0], atol=1e-6)
    # Bright above dark, on pictures the size the model was trained on (32 px) and with the same prompt:
    # the prompt's words are features too, and the tiny test model must be compared on the image alone.
    def small(bright: bool) -> SimpleUploadedFile:
        return SimpleUploadedFile("small.png", picture_bytes(bright=bright, chaotic=False, index=3, salt=999),
                                  content_type="image/png")

    light = api.post(URL, {"image": small(True), "prompt": "a scene"}, format="multipart").json()
    dark = api.post(URL, {"image": small(False), "prompt": "a scene"}, format="multipart").json()
    assert light["attributes"]["bright"] > dark["attributes"]["bright"]
    assert dark["model_version"] == version.pk  # no campaign: the newest active CBM
    assert _state() == before  # scoring stores nothing


def test_newest_active_model_when_no_campaign_is_given(trained, client_for, annotator_user,
                                                       django_capture_on_commit_callbacks):
    other = labelled_campaign(n_prompts=6)
    with django_capture_on_commit_callbacks(execute=True):
        newer = training_run_start(campaign=other["campaign"], kind="cbm", config=FAST_CONFIG)
    api = client_for(annotator_user)  # any authenticated user may score
    body = api.post(URL, {"image": _png(bright=True, index=3), "prompt": "x"}, format="multipart").json()
    assert body["model_version"] == newer.pk
    body = api.post(URL, {"image": _png(bright=True, index=3), "prompt": "x", "campaign": trained["campaign"].pk},
                    format="multipart").json()
    assert body["model_version"] == trained["version"].pk


def test_a_non_image_is_refused_like_import_and_nothing_changes(trained, client_for, researcher_user):
    before = _state()
    response = client_for(researcher_user).post(
        URL, {"image": SimpleUploadedFile("notes.png", b"just some text, not a picture", content_type="image/png"),
              "prompt": "a bright scene"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "image" and response.json()["extra"]["rule"] == "not_an_image"
    truncated = picture_bytes(bright=True, chaotic=False, index=4)[:-30]
    response = client_for(researcher_user).post(
        URL, {"image": SimpleUploadedFile("cut.png", truncated), "prompt": "p"}, format="multipart")
    assert response.status_code == 400 and response.json()["extra"]["rule"] == "corrupt"
    assert _state() == before


@pytest.mark.parametrize("prompt", [None, "", "   "])
def test_a_missing_prompt_is_refused(trained, client_for, researcher_user, prompt):
    data = {"image": _png(bright=True, index=5)}
    if prompt is not None:
        data["prompt"] = prompt
    before = _state()
    response = client_for(researcher_user).post(URL, data, format="multipart")
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "prompt" and response.json()["extra"]["rule"] == "required"
    assert _state() == before


def test_a_missing_image_or_unknown_campaign_is_refused(trained, client_for, researcher_user):
    api = client_for(researcher_user)
    response = api.post(URL, {"prompt": "p"}, format="multipart")
    assert response.status_code == 400 and response.json()["extra"] == {
        "field": "image", "rule": "required", "errors": {"image": ["No file was submitted."]}}
    response = api.post(URL, {"image": _png(bright=True, index=6), "prompt": "p", "campaign": 999999},
                        format="multipart")
    assert response.status_code == 400
    assert (response.json()["extra"]["field"], response.json()["extra"]["rule"]) == ("campaign", "does_not_exist")


def test_no_active_model_is_a_conflict(db, client_for, researcher_user):
    campaign = f.campaign_make(presets=["collins"])
    api = client_for(researcher_user)
    for data in ({"campaign": campaign.pk}, {}):
        response = api.post(URL, {"image": _png(bright=True, index=7), "prompt": "p", **data}, format="multipart")
        assert response.status_code == 409
        assert response.json()["extra"] == {"field": "campaign", "rule": "no_model", "reason": "no_model"}


def test_a_campaign_without_a_model_is_a_conflict_even_when_another_has_one(trained, client_for, researcher_user):
    empty = f.campaign_make(presets=["collins"])
    response = client_for(researcher_user).post(
        URL, {"image": _png(bright=True, index=8), "prompt": "p", "campaign": empty.pk}, format="multipart")
    assert response.status_code == 409 and response.json()["extra"]["rule"] == "no_model"


def test_authentication_token_session_and_csrf(trained, make_user):
    user = make_user("scorer", "annotator")
    anonymous = APIClient().post(URL, {"image": _png(bright=True, index=9), "prompt": "p"}, format="multipart")
    assert anonymous.status_code == 403 and anonymous.json()["extra"]["rule"] == "not_authenticated"

    token, _ = Token.objects.get_or_create(user=user)
    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert with_token.post(URL, {"image": _png(bright=True, index=9), "prompt": "p"},
                           format="multipart").status_code == 200

    session = APIClient(enforce_csrf_checks=True)
    assert session.login(username="scorer", password="pw-123456")
    refused = session.post(URL, {"image": _png(bright=True, index=9), "prompt": "p"}, format="multipart")
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    session.get("/accounts/login/")  # sets the csrftoken cookie
    csrf = session.cookies["csrftoken"].value
    accepted = session.post(URL, {"image": _png(bright=True, index=9), "prompt": "p"}, format="multipart",
                            HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 200


def test_loading_the_urls_and_the_api_does_not_import_torch():
    code = ("import sys, django; django.setup(); import config.urls, rewardlab.api, rewardlab.admin, "
            "rewardlab.dashboard, rewardlab.selectors.models, rewardlab.tasks; "
            "from django.urls import resolve; resolve('/api/score'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=django_settings.BASE_DIR,
                         env={"DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(django_settings.VAR_DIR),
                              "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_model_trained_on_other_encoder_versions_is_refused(trained, client_for, researcher_user):
    version = trained["version"]
    snapshot = {**version.data_snapshot, "features": {**version.data_snapshot["features"],
                                                      "image": "pixelstats:0-older"}}
    ModelVersion.objects.filter(pk=version.pk).update(data_snapshot=snapshot)
    response = client_for(researcher_user).post(URL, {"image": _png(bright=True, index=10), "prompt": "p"},
                                                format="multipart")
    assert response.status_code == 409
    assert response.json()["extra"] == {"field": "campaign", "rule": "encoder_changed", "reason": "encoder_changed"}
