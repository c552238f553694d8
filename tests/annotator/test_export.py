"""Dataset export: round trip through JSONL, Parquet, heatmaps and pairs; determinism; API and job."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from unittest import mock
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.core.management import call_command

from annotator.consolidation.points import heatmap_from_png
from annotator.models import Consolidated, ExportJob, Response
from annotator.services.consolidation import campaign_consolidate
from annotator.services.exports import JOB_PHASE_PROGRESS, PHASES, dataset_export, export_job_run
from annotator.services.quality import pseudonym_make, standing_ensure
from tests import factories as f

PROMPT = "a red cube on a blue sphere"


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def built(db, make_user):
    """Four group images (also items), one lone item, a pair, a prompt target; three annotators."""
    campaign = f.campaign_make(name="export-test", presets=["richhf", "imagereward", "tia2", "sxs"], overlap=3)
    prompt = f.prompt_make(text=PROMPT)
    group = f.group_make(campaign=campaign, prompt=prompt, n_images=4, name="g-1", with_items=True)
    images = [m.image for m in group.members.order_by("position")]
    lone = f.item_make(campaign=campaign, external_id="lone/1 x", split="heldout")
    pair = f.pair_make(campaign=campaign, image_a=images[0], image_b=images[1])
    prompt_target = f.prompt_target_make(campaign=campaign, prompt=prompt)
    users = [make_user(f"exp-ann{i}") for i in range(3)]
    attrs = {a.key: a for a in campaign.attributes.all()}
    items = {item.image_id: item for item in campaign.items.all()}
    group_items = [items[image.pk] for image in images]

    def answer(user, target, key, value, ms=1000, valid=True):
        f.response_make(annotator=user, target=target, attribute=attrs[key], value=value, active_ms=ms, valid=valid)

    for u, user in enumerate(users):
        for i, item in enumerate(group_items + [lone]):
            answer(user, item.target, "plausibility", {"value": 1 + (i + u) % 5}, ms=1000 + u)
            answer(user, item.target, "aligned", {"value": u != 2} if i != 1 else {"skipped": True})
        answer(user, lone.target, "artifact_points",
               {"points": [{"x": 0.5, "y": 0.5, "label": "artifact"}], "none": False} if u < 2
               else {"points": [], "none": True})
        answer(user, lone.target, "misaligned_keywords", {"tokens": [1, 2] if u < 2 else [2]})
        answer(user, lone.target, "ir_issues", {"value": ["fuzzy"] if u else ["none"]})
        answer(user, group.target, "ranking",
               {"levels": [[images[0].pk], [images[1].pk, images[2].pk], [], [images[3].pk], []]} if u < 2 else
               {"levels": [[images[1].pk], [images[0].pk], [images[2].pk], [images[3].pk], []]})
        answer(user, pair.target, "sxs", {"choice": "A>B" if u < 2 else "unsure",
                                          "a": images[0].pk, "b": images[1].pk})
        answer(user, prompt_target, "prompt_category", {"value": "Artifacts" if u < 2 else "Abstract"})
    # A fourth annotator's answer an inspector invalidated: exported, flagged, never consolidated.
    bad = make_user("exp-bad")
    answer(bad, lone.target, "plausibility", {"value": 5}, valid=False)
    campaign_consolidate(campaign=campaign, workers=0)
    return {"campaign": campaign, "group": group, "images": images, "lone": lone, "pair": pair,
            "group_items": group_items, "users": users, "bad": bad}


def test_round_trip_jsonl_parquet_equal_the_database(built, tmp_path):
    campaign, lone = built["campaign"], built["lone"]
    manifest = dataset_export(campaign=campaign, out_dir=tmp_path / "out")
    out = tmp_path / "out"
    items = _read_jsonl(out / "items.jsonl")
    assert [r["external_id"] for r in items] == [i.external_id for i in built["group_items"]] + ["lone/1 x"]

    record = items[-1]
    assert (record["prompt"], record["split"], record["sha256"], record["image"]) == (
        lone.image.prompt.text, "heldout", lone.image.sha256, lone.image.file.name)
    # plausibility of the lone item (i = 4): u = 0, 1, 2 answered 5, 1, 2 -> mean of (k-1)/4.
    plaus = record["consolidated"]["plausibility"]
    assert plaus["value"] == pytest.approx((4 + 0 + 1) / 3 / 4)
    assert (plaus["n_responses"], plaus["n_skipped"], plaus["complete"]) == (3, 0, True)
    assert plaus["detail"]["mean"] == pytest.approx(8 / 3)
    assert record["consolidated"]["aligned"]["value"] is True
    assert record["consolidated"]["misaligned_keywords"]["value"] == [1, 2]
    assert record["consolidated"]["ir_issues"]["value"] == ["fuzzy"]
    assert record["consolidated"]["overall"] is None            # nobody asked
    # The lone item's prompt was not asked about; the group images' prompt was.
    assert record["prompt_consolidated"] == {"prompt_category": None, "prompt_flags": None}
    assert items[0]["prompt_consolidated"]["prompt_category"]["value"] == "Artifacts"
    heat = record["consolidated"]["artifact_points"]
    assert heat["value"] == {"artifact": "heatmaps/artifact/lone%2F1%20x.png"}
    assert heat["score"] == pytest.approx(2 / 3)
    # group item 1: every annotator skipped "aligned".
    assert items[1]["consolidated"]["aligned"]["value"] is False
    assert items[1]["consolidated"]["aligned"]["n_skipped"] == 3

    # Every consolidated value of every item equals its database row.
    rows = {(c.target.item.external_id, c.attribute.key): c for c in
            Consolidated.objects.filter(campaign=campaign, target__type="item").select_related("target__item",
                                                                                               "attribute")}
    exported = {(r["external_id"], key): entry for r in items for key, entry in r["consolidated"].items() if entry}
    assert set(exported) == set(rows)
    for key, row in rows.items():
        entry = exported[key]
        assert (entry["score"], entry["agreement"], entry["n_responses"], entry["n_skipped"], entry["complete"]) == (
            row.score, row.agreement, row.n_responses, row.n_skipped, row.complete)

    # Parquet: same rows, same values, through pyarrow and pandas.
    table = pq.read_table(out / "items.parquet")
    assert table.num_rows == 5
    frame = pd.read_parquet(out / "items.parquet")
    assert list(frame["external_id"]) == [r["external_id"] for r in items]
    for r, (_, row) in zip(items, frame.iterrows()):
        assert row["plausibility.value"] == pytest.approx(r["consolidated"]["plausibility"]["value"])
        assert row["plausibility.n_responses"] == 3
        category = row["prompt_category.value"]
        assert (None if pd.isna(category) else category) == ("Artifacts" if r["prompt"] == PROMPT else None)
    last = table.slice(4, 1).to_pylist()[0]
    assert last["artifact_points.artifact.heatmap"] == "heatmaps/artifact/lone%2F1%20x.png"
    assert last["artifact_points.artifact.share"] == pytest.approx(2 / 3)
    assert last["misaligned_keywords.value"] == [1, 2]
    assert last["ir_issues.value"] == ["fuzzy"]
    assert last["ir_issues.fuzzy.share"] == pytest.approx(2 / 3)
    assert last["aligned.value"] is True and last["aligned.yes"] == 2 and last["aligned.no"] == 1
    assert last["overall.value"] is None and last["overall.n_responses"] is None
    assert table.schema.field("plausibility.value").type == "double"
    assert table.schema.field("misaligned_keywords.value").type == pa.list_(pa.int32())

    # Heatmaps: the PNG is the consolidated file, the NPZ holds png / 255.
    source = Consolidated.objects.get(target=lone.target, attribute__key="artifact_points").value
    media_png = Path(settings.MEDIA_ROOT) / source["heatmaps"]["artifact"]["path"]
    assert (out / heat["value"]["artifact"]).read_bytes() == media_png.read_bytes()
    with np.load(out / "heatmaps" / "heatmaps-00000.npz") as npz:
        assert npz.files == ["lone/1 x/artifact"]
        np.testing.assert_array_equal(npz["lone/1 x/artifact"] / np.float32(255), heatmap_from_png(media_png))
        assert npz["lone/1 x/artifact"].dtype == np.uint8
    assert _read_jsonl(out / "heatmaps" / "index.jsonl") == [
        {"external_id": "lone/1 x", "label": "artifact", "png": "heatmaps/artifact/lone%2F1%20x.png",
         "npz": "heatmaps/heatmaps-00000.npz", "key": "lone/1 x/artifact"}]

    counts = manifest["counts"]
    assert {k: counts[k] for k in ("items", "groups", "pairs", "prompts", "responses", "responses_valid",
                                   "responses_invalid", "annotators", "items_jsonl", "items_parquet",
                                   "heatmaps_png", "pairs_json")} == {
        "items": 5, "groups": 1, "pairs": 1, "prompts": 1, "responses": 3 * 16 + 1, "responses_valid": 48,
        "responses_invalid": 1, "annotators": 4, "items_jsonl": 5, "items_parquet": 5, "heatmaps_png": 1,
        "pairs_json": 2}


def test_groups_pairs_and_responses(built, tmp_path):
    campaign, images = built["campaign"], built["images"]
    dataset_export(campaign=campaign, out_dir=tmp_path / "out", formats=["jsonl", "pairs"])
    out = tmp_path / "out"
    assert not (out / "items.parquet").exists() and not (out / "heatmaps").exists()

    group, pair = _read_jsonl(out / "groups.jsonl")
    assert (group["type"], group["name"], group["prompt"]) == ("group", "g-1", PROMPT)
    assert [i["sha256"] for i in group["images"]] == [i.sha256 for i in images]
    assert [i["external_id"] for i in group["images"]] == [i.external_id for i in built["group_items"]]
    ranking = group["consolidated"]["ranking"]
    assert ranking["value"] == [pytest.approx(4 / 3), pytest.approx(5 / 3), pytest.approx(7 / 3), 4.0]
    assert ranking["detail"]["pairs"][0] == {"a": 0, "b": 1, "a_wins": 2, "b_wins": 1, "ties": 0}
    assert ranking["detail"]["pairs"][3] == {"a": 1, "b": 2, "a_wins": 1, "b_wins": 0, "ties": 2}
    assert ranking["n_responses"] == 3
    assert pair["type"] == "pair" and pair["consolidated"]["sxs"]["value"] == "a"
    assert pair["consolidated"]["sxs"]["detail"]["votes"] == {"a": 2, "b": 0, "tie": 0, "unsure": 1}

    entries = json.loads((out / "pairs.json").read_text())
    assert entries == [
        {"id": "g-1", "prompt": PROMPT, "generations": [i.file.name for i in images], "ranking": [1, 2, 3, 4]},
        {"id": f"pair-{built['pair'].pk}", "prompt": PROMPT, "generations": [images[0].file.name,
                                                                              images[1].file.name],
         "ranking": [1, 2]},
    ]

    responses = _read_jsonl(out / "responses.jsonl")
    assert len(responses) == Response.objects.filter(target__campaign=campaign).count() == 49
    assert [r["id"] for r in responses] == sorted(r["id"] for r in responses)
    invalid = [r for r in responses if not r["valid"]]
    assert [(r["target"], r["attribute"], r["value"]) for r in invalid] == [
        ({"item": "lone/1 x"}, "plausibility", {"value": 5})]
    user = built["users"][0]
    mine = [r for r in responses if r["annotator"] == pseudonym_make(campaign_id=campaign.pk, annotator_id=user.pk)]
    assert len(mine) == 16 and all("exp-ann" not in json.dumps(r) for r in responses)
    ranking_answer = next(r for r in mine if r["attribute"] == "ranking")
    ext = [i.external_id for i in built["group_items"]]
    assert ranking_answer["target"] == {"group": "g-1"}
    assert ranking_answer["value"] == {"levels": [[ext[0]], [ext[1], ext[2]], [], [ext[3]], []]}
    sxs = next(r for r in mine if r["attribute"] == "sxs")
    assert sxs["target"] == {"pair": [ext[0], ext[1]]}
    assert sxs["value"] == {"choice": "A>B", "a": ext[0], "b": ext[1]}
    assert next(r for r in mine if r["attribute"] == "prompt_category")["target"] == {"prompt": PROMPT}
    first = next(r for r in mine if r["attribute"] == "plausibility")
    assert first["active_ms"] == 1000 and first["created_at"].endswith("Z") and first["source"] == "api"


def test_responses_carry_the_dashboard_pseudonym(built, tmp_path):
    campaign, user = built["campaign"], built["users"][1]
    standing = standing_ensure(campaign=campaign, annotator=user)
    standing.pseudonym = "ann-renamed"
    standing.save(update_fields=["pseudonym"])
    dataset_export(campaign=campaign, out_dir=tmp_path / "out", formats=["jsonl"])
    names = {r["annotator"] for r in _read_jsonl(tmp_path / "out" / "responses.jsonl")}
    assert names == {"ann-renamed", *(pseudonym_make(campaign_id=campaign.pk, annotator_id=u.pk)
                                      for u in (built["users"][0], built["users"][2], built["bad"]))}


def test_two_exports_are_byte_identical(built, tmp_path):
    first = dataset_export(campaign=built["campaign"], out_dir=tmp_path / "a", chunk_size=2)
    second = dataset_export(campaign=built["campaign"], out_dir=tmp_path / "b", chunk_size=3)
    assert first == second
    assert sorted(first["files"]) == ["groups.jsonl", "heatmaps/artifact/lone%2F1%20x.png",
                                      "heatmaps/heatmaps-00000.npz", "heatmaps/index.jsonl", "items.jsonl",
                                      "items.parquet", "pairs.json", "responses.jsonl"]
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    for name, info in first["files"].items():
        data = (tmp_path / "a" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["sha256"] and len(data) == info["bytes"]
        assert data == (tmp_path / "b" / name).read_bytes()


def test_manifest_agreement_and_schema(built, tmp_path):
    manifest = dataset_export(campaign=built["campaign"], out_dir=tmp_path / "out", formats=["jsonl"])
    assert manifest["schema_version"] == 2
    assert manifest["formats"] == ["jsonl"]
    assert manifest["campaign"] == {"id": built["campaign"].pk, "name": "export-test", "overlap": 3,
                                    "point_radius_frac": 0.05}
    aligned = manifest["agreement"]["aligned"]
    assert set(aligned) == {"krippendorff_alpha", "fleiss_kappa", "unanimous_share", "detail"}
    assert aligned["krippendorff_alpha"] == aligned["detail"]["alpha"]
    # Four items answered yes, yes, no; one all unsure: one unanimous target of five.
    assert aligned["unanimous_share"] == pytest.approx(1 / 5)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == manifest


def test_progress_is_reported_per_chunk(built, tmp_path):
    calls = []
    dataset_export(campaign=built["campaign"], out_dir=tmp_path / "out", formats=["parquet"], chunk_size=2,
                   on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_phases_after_the_rows_are_reported(built, tmp_path):
    """After the last row the steps no row count measures are named, in order; a job moves its progress with them."""
    events = []
    dataset_export(campaign=built["campaign"], out_dir=tmp_path / "out", formats=["jsonl"], chunk_size=2,
                   on_progress=lambda done, total: events.append(done), on_phase=events.append)
    rows = events[1:-3]
    assert [events[0], *events[-3:]] == list(PHASES)
    assert rows and all(isinstance(done, int) for done in rows) and rows == sorted(rows)

    job = ExportJob.objects.create(campaign=built["campaign"], formats=["jsonl"])
    seen = []
    original = ExportJob.objects.filter

    def spy(*args, **kwargs):
        qs = original(*args, **kwargs)
        update = qs.update

        def recorded(**fields):
            seen.append((fields.get("phase"), fields.get("progress")))
            return update(**fields)

        qs.update = recorded
        return qs

    with mock.patch.object(ExportJob.objects, "filter", spy):
        export_job_run(job_id=str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.progress, job.phase) == ("done", 1.0, "")
    phases = [phase for phase, _ in seen if phase]
    assert phases == [*PHASES, "archive"]
    progress = [value for _, value in seen if value is not None]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert [value for phase, value in seen if phase] == [JOB_PHASE_PROGRESS[p] for p in phases]


def test_refuses_a_directory_that_is_not_an_export(built, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(Exception) as refused:
        dataset_export(campaign=built["campaign"], out_dir=tmp_path / "out", overwrite=True)
    assert refused.value.extra == {"field": "out", "rule": "not_an_export"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]


def test_command_writes_the_formats(built, tmp_path):
    stdout = io.StringIO()
    call_command("export", "export-test", "--out", str(tmp_path / "cli"), "--formats", "parquet,pairs",
                 "--no-progress", "--json", stdout=stdout)
    summary = json.loads(stdout.getvalue())
    assert summary["counts"]["items_parquet"] == 5 and summary["counts"]["pairs_json"] == 2
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["items.parquet", "manifest.json", "pairs.json"]


# --------------------------------------------------------------------------- API and job


def test_api_export_job_runs_and_downloads(built, client_for, researcher_user, django_capture_on_commit_callbacks):
    campaign = built["campaign"]
    client = client_for(researcher_user)
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/api/campaigns/{campaign.pk}/exports", {"formats": ["jsonl", "pairs"]},
                              format="json")
    assert started.status_code == 202
    assert set(started.json()) == {"id", "status", "progress"}
    assert (started.json()["status"], started.json()["progress"]) == ("queued", 0.0)
    job = ExportJob.objects.get(pk=started.json()["id"])
    assert (job.status, job.progress, job.formats, job.requested_by) == ("done", 1.0, ["jsonl", "pairs"],
                                                                          researcher_user)

    detail = client.get(f"/api/campaigns/{campaign.pk}/exports/{job.pk}").json()
    assert (detail["status"], detail["progress"]) == ("done", 1.0)
    assert detail["download"] == f"http://testserver/api/campaigns/{campaign.pk}/exports/{job.pk}/download"
    assert detail["manifest"]["counts"]["items_jsonl"] == 5

    download = client.get(detail["download"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = sorted(archive.namelist())
    assert names == [f"{job.pk}/{n}" for n in ("groups.jsonl", "items.jsonl", "manifest.json", "pairs.json",
                                              "responses.jsonl")]
    manifest = json.loads(archive.read(f"{job.pk}/manifest.json"))
    assert manifest == detail["manifest"]
    for name, info in manifest["files"].items():
        assert hashlib.sha256(archive.read(f"{job.pk}/{name}")).hexdigest() == info["sha256"]


def test_api_refuses_non_researchers(built, client_for, annotator_user, inspector_user, researcher_user,
                                     django_capture_on_commit_callbacks):
    campaign = built["campaign"]
    url = f"/api/campaigns/{campaign.pk}/exports"
    for user in (annotator_user, inspector_user):
        refused = client_for(user).post(url, {"formats": ["jsonl"]}, format="json")
        assert refused.status_code == 403
        assert refused.json()["extra"]["rule"] == "permission_denied"
    assert client_for(None).post(url, {}, format="json").status_code in (401, 403)
    assert ExportJob.objects.count() == 0

    job = ExportJob.objects.create(campaign=campaign, formats=["jsonl"])
    export_job_run(job_id=str(job.pk))
    for user in (annotator_user, inspector_user):
        assert client_for(user).get(f"{url}/{job.pk}").status_code == 403
        assert client_for(user).get(f"{url}/{job.pk}/download").status_code == 403
    other = f.campaign_make(name="other")
    researcher = client_for(researcher_user)
    assert researcher.get(f"/api/campaigns/{other.pk}/exports/{job.pk}").status_code == 404
    assert researcher.get(f"/api/campaigns/{other.pk}/exports/{job.pk}/download").status_code == 404
    assert researcher.post("/api/campaigns/999999/exports", {}, format="json").status_code == 404


def test_api_refuses_unknown_format_and_not_ready_download(built, client_for, researcher_user):
    campaign = built["campaign"]
    client = client_for(researcher_user)
    refused = client.post(f"/api/campaigns/{campaign.pk}/exports", {"formats": ["jsonl", "csv"]}, format="json")
    assert refused.status_code == 400
    assert refused.json()["extra"] == {"field": "formats", "rule": "known_format"}
    assert ExportJob.objects.count() == 0
    queued = ExportJob.objects.create(campaign=campaign, formats=["jsonl"])
    detail = client.get(f"/api/campaigns/{campaign.pk}/exports/{queued.pk}").json()
    assert (detail["status"], detail["progress"], detail["download"]) == ("queued", 0.0, None)
    not_ready = client.get(f"/api/campaigns/{campaign.pk}/exports/{queued.pk}/download")
    assert not_ready.status_code == 409 and not_ready.json()["extra"]["rule"] == "export_not_ready"


def test_job_records_failure_and_a_rerun_of_a_done_job_changes_nothing(built, monkeypatch):
    campaign = built["campaign"]
    job = ExportJob.objects.create(campaign=campaign, formats=["jsonl"])
    done = export_job_run(job_id=str(job.pk))
    finished_at = done.finished_at
    again = export_job_run(job_id=str(job.pk))
    assert (again.status, again.finished_at) == ("done", finished_at)

    import annotator.services.exports as exports

    def broken(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(exports, "dataset_export", broken)
    failing = ExportJob.objects.create(campaign=campaign, formats=["jsonl"])
    failed = export_job_run(job_id=str(failing.pk))
    assert (failed.status, failed.error) == ("failed", "OSError: disk full")


def test_admin_action_queues_an_export(built, admin_client, django_capture_on_commit_callbacks):
    campaign = built["campaign"]
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post("/admin/annotator/campaign/", {"action": "export_dataset",
                                                                  "_selected_action": [campaign.pk]})
    assert answer.status_code == 302
    job = ExportJob.objects.get()
    assert (job.campaign, job.status, job.formats) == (campaign, "done", ["heatmaps", "jsonl", "pairs", "parquet"])
    assert sorted(job.manifest["files"])[:3] == ["groups.jsonl", "heatmaps/artifact/lone%2F1%20x.png",
                                                 "heatmaps/heatmaps-00000.npz"]


def test_heatmap_shards_split_by_items_and_can_be_left_out(built, tmp_path):
    campaign, group_items = built["campaign"], built["group_items"]
    points = campaign.attributes.get(key="artifact_points")
    for user in built["users"]:
        f.response_make(annotator=user, target=group_items[0].target, attribute=points,
                        value={"points": [{"x": 0.25, "y": 0.25, "label": "artifact"}], "none": False})
    campaign_consolidate(campaign=campaign, workers=0)
    inline = dataset_export(campaign=campaign, out_dir=tmp_path / "out", formats=["heatmaps"],
                            options={"items_per_shard": 1, "workers": 0})
    pooled = dataset_export(campaign=campaign, out_dir=tmp_path / "pooled", formats=["heatmaps"],
                            options={"items_per_shard": 1, "workers": 2})
    assert pooled["files"] == inline["files"] and inline["counts"]["heatmaps_npz_shards"] == 2
    ext = group_items[0].external_id
    index = _read_jsonl(tmp_path / "out" / "heatmaps" / "index.jsonl")
    assert [(e["key"], e["npz"]) for e in index] == [(f"{ext}/artifact", "heatmaps/heatmaps-00000.npz"),
                                                     ("lone/1 x/artifact", "heatmaps/heatmaps-00001.npz")]
    for entry in index:
        with np.load(tmp_path / "out" / entry["npz"]) as npz:
            assert npz.files == [entry["key"]]
            np.testing.assert_array_equal(npz[entry["key"]] / np.float32(255),
                                          heatmap_from_png(tmp_path / "out" / entry["png"]))

    manifest = dataset_export(campaign=campaign, out_dir=tmp_path / "png", formats=["heatmaps"],
                              options={"npz": False})
    assert sorted(manifest["files"]) == sorted([f"heatmaps/artifact/{ext}.png", "heatmaps/artifact/lone%2F1%20x.png",
                                                "heatmaps/index.jsonl"])
    assert manifest["counts"]["heatmaps_npz_shards"] == 0
