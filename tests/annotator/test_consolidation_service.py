"""Consolidation on the database: recompute, invalidation, campaign runs, task, command, notification."""
from __future__ import annotations

import os

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from annotator.models import Assignment, Consolidated, GoldAnswer, Response
from annotator.selectors.consolidation import (
    annotator_agreement, campaign_agreement, heatmap_arrays, heatmap_load,
)
from annotator.services import consolidation as service
from annotator.services.consolidation import campaign_consolidate, consolidated_recompute
from annotator.tasks.consolidation import consolidate_campaign, consolidate_target
from tests import factories as f

pytestmark = pytest.mark.django_db

YES, NO, SKIP = {"value": True}, {"value": False}, {"skipped": True}


@pytest.fixture
def annotators(db):
    # Plain users: consolidation does not look at roles (and role setup is slow).
    from django.contrib.auth import get_user_model

    return [get_user_model().objects.create(username=f"cons-ann{i}") for i in range(3)]


@pytest.fixture
def campaign(db):
    # 20 x 10 images, radius 0.2 x 10 = 2 px: the same small grid as the pure heatmap tests.
    return f.campaign_make(presets=["richhf", "collins"], overlap=3, point_radius_frac=0.2)


def _item(campaign, **kw):
    return f.item_make(campaign=campaign, image=f.image_make(width=20, height=10), **kw)


def _attr(campaign, key):
    return campaign.attributes.get(key=key)


def _answer(annotator, target, attribute, value, valid=True):
    return f.response_make(annotator=annotator, target=target, attribute=attribute, value=value, valid=valid)


def _row(target, attribute) -> Consolidated:
    return Consolidated.objects.get(target=target, attribute=attribute)


def test_recompute_binary_and_likert(campaign, annotators):
    target = _item(campaign).target
    distorted, overall = _attr(campaign, "distorted"), _attr(campaign, "overall")
    for who, b, k in zip(annotators, (YES, YES, NO), (2, 4, 5)):
        _answer(who, target, distorted, b)
        _answer(who, target, overall, {"value": k})

    summary = consolidated_recompute(target_id=target.pk)

    assert summary == {"target": target.pk, "written": 2, "deleted": 0, "changed": 2}
    row = _row(target, distorted)
    assert row.value == {"value": True, "yes": 2, "no": 1, "unsure": 0}
    assert (row.score, row.agreement, row.n_responses, row.n_skipped, row.complete) == (
        pytest.approx(2 / 3), pytest.approx(2 / 3), 3, 0, True)
    assert row.campaign_id == campaign.pk
    likert = _row(target, overall)
    assert likert.score == pytest.approx(2 / 3, abs=1e-12)
    assert likert.value["spread"] == 3.0 and likert.value["std"] == pytest.approx(np.sqrt(14) / 3)
    # Only attributes with responses get a row.
    assert Consolidated.objects.filter(target=target).count() == 2
    # Idempotent: nothing changes the second time.
    assert consolidated_recompute(target_id=target.pk)["changed"] == 0


def test_incomplete_until_overlap_and_attribute_subset(campaign, annotators):
    target = _item(campaign).target
    distorted, blurry = _attr(campaign, "distorted"), _attr(campaign, "blurry")
    _answer(annotators[0], target, distorted, YES)
    _answer(annotators[0], target, blurry, NO)
    consolidated_recompute(target_id=target.pk, attribute_ids=[distorted.pk])
    row = _row(target, distorted)
    assert (row.value["value"], row.n_responses, row.complete) == (True, 1, False)
    assert not Consolidated.objects.filter(target=target, attribute=blurry).exists()


def test_invalidated_answers_leave_consolidation(campaign, annotators):
    target = _item(campaign).target
    distorted = _attr(campaign, "distorted")
    first = _answer(annotators[0], target, distorted, YES)
    _answer(annotators[1], target, distorted, YES)
    _answer(annotators[2], target, distorted, NO, valid=False)   # invalidated by an inspector
    consolidated_recompute(target_id=target.pk)
    row = _row(target, distorted)
    assert (row.value, row.n_responses, row.complete) == ({"value": True, "yes": 2, "no": 0, "unsure": 0}, 2, False)

    Response.objects.filter(pk=first.pk).update(valid=False)
    consolidated_recompute(target_id=target.pk, attribute_ids=[distorted.pk])
    row = _row(target, distorted)
    assert (row.value, row.score, row.n_responses) == ({"value": True, "yes": 1, "no": 0, "unsure": 0}, 1.0, 1)

    Response.objects.filter(target=target).update(valid=False)
    summary = consolidated_recompute(target_id=target.pk)
    assert summary == {"target": target.pk, "written": 0, "deleted": 1, "changed": 1}
    assert not Consolidated.objects.filter(target=target).exists()


def test_points_heatmap_stored_as_png_and_removed_with_the_row(campaign, annotators):
    target = _item(campaign).target
    points = _attr(campaign, "artifact_points")
    _answer(annotators[0], target, points, {"points": [{"x": 0.625, "y": 0.25, "label": "artifact"}], "none": False})
    _answer(annotators[1], target, points, {"points": [], "none": True})
    consolidated_recompute(target_id=target.pk)

    row = _row(target, points)
    rel = f"heatmaps/{campaign.pk}/{target.pk}_artifact_points_artifact.png"
    assert row.value["heatmaps"]["artifact"] == {"path": rel, "share": 0.5, "n_marked": 1, "max": 0.5, "iou": 0.0,
                                                 "iou_marked": 0.0, "n_pairs": 1}
    assert (row.value["width"], row.value["height"], row.score, row.agreement) == (20, 10, 0.5, 0.0)
    path = os.path.join(settings.MEDIA_ROOT, rel)
    assert os.path.exists(path)
    heat = heatmap_load(consolidated=row, label="artifact")
    assert heat.shape == (10, 20)
    assert heat[2, 12] == np.float32(128 / 255) and heat[2, 14] == np.float32(128 / 255)
    assert heat[3, 14] == 0.0 and heat[2, 15] == 0.0
    assert float((heat > 0).sum()) == 13
    assert set(heatmap_arrays(consolidated=row)) == {"artifact"}
    assert heatmap_load(consolidated=row, label="nope") is None

    Response.objects.filter(target=target).update(valid=False)
    consolidated_recompute(target_id=target.pk)
    assert not Consolidated.objects.filter(target=target).exists()
    assert not os.path.exists(path)


def test_keywords_ranking_sxs_and_category_targets(annotators):
    campaign = f.campaign_make(presets=["richhf", "imagereward", "sxs"], overlap=3)
    a, b, c = annotators
    prompt = f.prompt_make(text="a red cube on a blue sphere")
    target = f.item_make(campaign=campaign, prompt=prompt).target
    keywords = _attr(campaign, "misaligned_keywords")
    for who, tokens in zip(annotators, ([1, 3], [3], [3, 5])):
        _answer(who, target, keywords, {"tokens": tokens})
    consolidated_recompute(target_id=target.pk)
    row = _row(target, keywords)
    assert row.value == {"tokens": [3], "counts": {"1": 1, "3": 3, "5": 1}}
    n_tokens = len(prompt.tokens)
    # tokens 1 and 5 have 2 of 3 on the majority side, every other token 3 of 3
    assert row.agreement == pytest.approx((n_tokens - 2 + 2 * (2 / 3)) / n_tokens, abs=1e-12)

    group = f.group_make(campaign=campaign, n_images=4)
    ids = list(group.members.order_by("position").values_list("image_id", flat=True))
    ranking = _attr(campaign, "ranking")
    for who, levels in zip(annotators, ([[ids[0]], [ids[1]], [ids[2], ids[3]], [], []],
                                        [[ids[1]], [ids[0]], [ids[2]], [ids[3]], []],
                                        [[ids[0], ids[1]], [], [ids[3]], [ids[2]], []])):
        _answer(who, group.target, ranking, {"levels": levels})
    consolidated_recompute(target_id=group.target.pk)
    row = _row(group.target, ranking)
    assert row.value["mean_rank"] == {str(ids[0]): 4 / 3, str(ids[1]): 4 / 3, str(ids[2]): 10 / 3,
                                      str(ids[3]): 10 / 3}
    assert sum(p["count"] for p in row.value["training_pairs"]) == 16
    assert row.agreement == pytest.approx((6 / np.sqrt(30) + 0.8) / 3, abs=1e-12)

    pair = f.pair_make(campaign=campaign)
    sxs = _attr(campaign, "sxs")
    A, B = pair.image_a_id, pair.image_b_id
    _answer(a, pair.target, sxs, {"choice": "A>B", "a": A, "b": B})
    _answer(b, pair.target, sxs, {"choice": "A>>B", "a": B, "b": A})
    _answer(c, pair.target, sxs, {"choice": "B>A", "a": B, "b": A})
    consolidated_recompute(target_id=pair.target.pk)
    row = _row(pair.target, sxs)
    assert row.value["tallies"] == {"A>>B": 0, "A>B": 2, "A=B": 0, "B>A": 0, "B>>A": 1, "unsure": 0}
    assert (row.value["majority"], row.value["strength"]) == (A, {str(A): 2, str(B): 2})

    prompt_target = f.prompt_target_make(campaign=campaign)
    category = _attr(campaign, "prompt_category")
    _answer(a, prompt_target, category, {"value": "Animals"})
    _answer(b, prompt_target, category, {"value": "People"})
    consolidated_recompute(target_id=prompt_target.pk)
    row = _row(prompt_target, category)
    assert (row.value["value"], row.value["tie"], row.agreement) == (None, True, 0.5)


def _fill(campaign, annotators, n_items=4):
    """Items with binary, likert and point answers from three annotators."""
    distorted, overall = _attr(campaign, "distorted"), _attr(campaign, "overall")
    points = _attr(campaign, "artifact_points")
    targets = []
    for i in range(n_items):
        target = _item(campaign).target
        targets.append(target)
        for j, who in enumerate(annotators):
            _answer(who, target, distorted, YES if (i + j) % 3 else NO)
            _answer(who, target, overall, {"value": 1 + (i + j) % 5})
            marks = [{"x": 0.1 + 0.2 * j, "y": 0.5, "label": "artifact"}] if (i + j) % 2 else []
            _answer(who, target, points, {"points": marks, "none": not marks})
    return targets


def _snapshot(campaign):
    return {(c.target_id, c.attribute_id): (c.value, c.score, c.agreement, c.n_responses, c.n_skipped, c.complete)
            for c in Consolidated.objects.filter(campaign=campaign)}


def test_campaign_consolidate_matches_per_target_and_removes_stale_rows(campaign, annotators, monkeypatch):
    targets = _fill(campaign, annotators)
    for target in targets:
        consolidated_recompute(target_id=target.pk)
    expected = _snapshot(campaign)
    assert len(expected) == 12

    # A stale row (its responses were invalidated without a recompute) and a wrong value.
    Response.objects.filter(target=targets[0], attribute__key="distorted").update(valid=False)
    Consolidated.objects.filter(target=targets[1], attribute__key="overall").update(score=0.123)
    del expected[(targets[0].pk, _attr(campaign, "distorted").pk)]

    # chunk_size 3 -> two chunks; a process pool even for four targets.
    monkeypatch.setattr(service, "POOL_MIN_TARGETS", 0)
    summary = campaign_consolidate(campaign=campaign, chunk_size=3, workers=2)
    assert summary == {"targets": 4, "values": 11, "written": 1, "deleted": 1, "changed": 2, "heatmaps": 4}
    assert _snapshot(campaign) == expected

    # From scratch, in this process, the same values and files.
    Consolidated.objects.filter(campaign=campaign).delete()
    summary = campaign_consolidate(campaign=campaign, workers=0)
    assert (summary["written"], summary["changed"]) == (11, 11)
    assert _snapshot(campaign) == expected
    for row in Consolidated.objects.filter(campaign=campaign, attribute__kind="points"):
        assert os.path.exists(os.path.join(settings.MEDIA_ROOT, row.value["heatmaps"]["artifact"]["path"]))


def test_recompute_leaves_unchanged_heatmap_files_alone_and_replaces_changed_ones(campaign, annotators):
    target = _item(campaign).target
    points = _attr(campaign, "artifact_points")
    _answer(annotators[0], target, points, {"points": [{"x": 0.625, "y": 0.25, "label": "artifact"}], "none": False})
    _answer(annotators[1], target, points, {"points": [], "none": True})
    campaign_consolidate(campaign=campaign, workers=0)
    path = os.path.join(settings.MEDIA_ROOT, _row(target, points).value["heatmaps"]["artifact"]["path"])
    before = os.stat(path)

    campaign_consolidate(campaign=campaign, workers=0)  # same answers: the same file, not a rewritten copy
    assert os.stat(path).st_ino == before.st_ino and os.stat(path).st_mtime_ns == before.st_mtime_ns

    Response.objects.filter(annotator=annotators[1], attribute=points).update(
        value={"points": [{"x": 0.125, "y": 0.75, "label": "artifact"}], "none": False})
    old = open(path, "rb").read()
    campaign_consolidate(campaign=campaign, workers=0)
    assert os.stat(path).st_ino != before.st_ino  # replaced atomically (an export's hard link keeps the old map)
    assert open(path, "rb").read() != old
    row = _row(target, points)
    heat = heatmap_load(consolidated=row, label="artifact")
    assert heat[int(0.75 * row.value["height"]), int(0.125 * row.value["width"])] == pytest.approx(0.5, abs=1 / 255)


def test_tasks_run_the_services(campaign, annotators):
    target = _item(campaign).target
    distorted = _attr(campaign, "distorted")
    _answer(annotators[0], target, distorted, SKIP)
    result = consolidate_target.delay(target.pk, [distorted.pk]).get()
    assert result == {"target": target.pk, "written": 1, "deleted": 0, "changed": 1, "agreements": 1}
    assert _row(target, distorted).value == {"value": False, "yes": 0, "no": 0, "unsure": 1}
    # The same message refreshes each assignment's agreement with the new consensus (2 yes, 1 no).
    other = _item(campaign).target
    answers = [_answer(annotators[i], other, distorted, value) for i, value in enumerate([YES, YES, NO])]
    assert consolidate_target.delay(other.pk, [distorted.pk]).get()["agreements"] == 3
    assert [Assignment.objects.get(pk=r.assignment_id).agreement for r in answers] == [1.0, 1.0, 0.0]
    assert consolidate_target.name == "annotator.consolidate_target"
    assert consolidate_target.delay(999999, None).get()["changed"] == 0
    assert consolidate_campaign.delay(campaign.pk).get()["values"] == 2
    assert consolidate_campaign.delay(999999).get() == {"campaign": 999999, "missing": True}


class _Sent(list):
    def __call__(self, name, args=None, **kwargs):
        self.append((name, args))


@pytest.fixture
def sent(monkeypatch):
    """Record what would go to the broker (the broker itself is outside this test)."""
    from celery import current_app

    recorder = _Sent()
    monkeypatch.setattr(current_app, "send_task", recorder)
    return recorder


def test_rewardlab_is_told_after_commit_outside_eager_mode(campaign, annotators, sent, settings,
                                                           django_capture_on_commit_callbacks):
    from celery import current_app

    target = _item(campaign).target
    distorted = _attr(campaign, "distorted")
    _answer(annotators[0], target, distorted, YES)
    current_app.conf.task_always_eager = False
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            consolidated_recompute(target_id=target.pk)
        assert sent == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert sent == [("rewardlab.tasks.consolidated_changed", [campaign.pk, 1])]

        with django_capture_on_commit_callbacks(execute=True):
            consolidated_recompute(target_id=target.pk)   # unchanged: nothing to tell
        assert len(sent) == 1

        settings.REWARDLAB_NOTIFY = False
        _answer(annotators[1], target, distorted, YES)
        with django_capture_on_commit_callbacks(execute=True):
            consolidated_recompute(target_id=target.pk)
        assert len(sent) == 1
    finally:
        current_app.conf.task_always_eager = True


def test_no_notification_in_eager_mode(campaign, annotators, sent, django_capture_on_commit_callbacks):
    target = _item(campaign).target
    _answer(annotators[0], target, _attr(campaign, "distorted"), YES)
    with django_capture_on_commit_callbacks(execute=True):
        assert consolidated_recompute(target_id=target.pk)["changed"] == 1
    assert sent == []


def test_management_command(campaign, annotators):
    _fill(campaign, annotators, n_items=2)
    out = __import__("io").StringIO()
    call_command("consolidate", campaign.name, "--no-progress", stdout=out)
    text = out.getvalue()
    assert f"{campaign.name}: 2 targets, 6 consolidated values (6 written, 0 removed, 2 heatmaps)" in text
    # two targets (no, yes, yes) and (yes, yes, no): alpha = 1 - 5 * 4 / (2 * 4 * 2) = -0.25
    assert "  distorted (binary, 2 targets): alpha=-0.250, fleiss_kappa=" in text
    assert Consolidated.objects.filter(campaign=campaign).count() == 6
    with pytest.raises(CommandError, match="No campaign named or numbered 'nope'"):
        call_command("consolidate", "nope", "--no-progress")


# ---------------------------------------------------------------- selectors
def test_campaign_agreement_selector(campaign, annotators):
    distorted, points = _attr(campaign, "distorted"), _attr(campaign, "artifact_points")
    a, b, c = annotators
    rows = ([YES, YES, YES], [YES, YES, NO], [NO, NO, NO])
    targets = [_item(campaign).target for _ in rows]
    for target, answers in zip(targets, rows):
        for who, value in zip(annotators, answers):
            _answer(who, target, distorted, value)
    # An invalidated answer never counts.
    _answer(a, targets[0], _attr(campaign, "blurry"), YES, valid=False)
    mark = {"points": [{"x": 0.625, "y": 0.25, "label": "artifact"}], "none": False}
    _answer(a, targets[0], points, mark)
    _answer(b, targets[0], points, mark)
    _answer(c, targets[0], points, {"points": [], "none": True})
    for target in targets:
        consolidated_recompute(target_id=target.pk)

    stats = campaign_agreement(campaign=campaign)
    assert stats["distorted"]["alpha"] == pytest.approx(0.6, abs=1e-12)
    assert stats["distorted"]["fleiss_kappa"] == pytest.approx(0.55, abs=1e-12)
    assert stats["distorted"]["unanimous_share"] == pytest.approx(2 / 3, abs=1e-12)
    assert stats["blurry"]["n_targets"] == 0 and stats["blurry"]["alpha"] is None
    # IoUs of (mark, mark, nothing): 1, 0, 0
    assert stats["artifact_points"]["labels"]["artifact"]["mean_iou"] == pytest.approx(1 / 3, abs=1e-12)
    assert stats["artifact_points"]["mean_iou"] == pytest.approx(1 / 3, abs=1e-12)
    assert stats["overall"]["n_targets"] == 0


def test_annotator_agreement_with_consensus_and_gold(campaign, annotators):
    distorted, overall = _attr(campaign, "distorted"), _attr(campaign, "overall")
    a, b, c = annotators
    rows = ([YES, YES, YES], [YES, YES, NO], [NO, NO, NO])
    targets = [_item(campaign).target for _ in rows]
    for target, answers in zip(targets, rows):
        for who, value in zip(annotators, answers):
            _answer(who, target, distorted, value)
    for who, k in zip(annotators, (2, 4, 5)):
        _answer(who, targets[0], overall, {"value": k})
    _answer(a, targets[1], overall, {"skipped": True})
    GoldAnswer.objects.create(target=targets[1], attribute=distorted, value={"value": False})

    stats = annotator_agreement(campaign=campaign)
    assert stats[a.pk]["attributes"]["distorted"] == {"n": 3, "gold_n": 1, "agreement": 1.0, "gold_agreement": 0.0}
    assert stats[c.pk]["attributes"]["distorted"]["agreement"] == pytest.approx(2 / 3, abs=1e-12)
    assert stats[c.pk]["attributes"]["distorted"]["gold_agreement"] == 1.0
    # likert: |k - 11/3|
    assert stats[a.pk]["attributes"]["overall"]["abs_dev"] == pytest.approx(5 / 3, abs=1e-12)
    assert stats[c.pk]["attributes"]["overall"]["agreement"] == pytest.approx(1 - (4 / 3) / 4, abs=1e-12)
    assert stats[a.pk]["n"] == 4   # three binary + one likert (the skipped likert answer is not compared)
    assert stats[a.pk]["agreement"] == pytest.approx((3 + 1 - (5 / 3) / 4) / 4, abs=1e-12)
    only_c = annotator_agreement(campaign=campaign, annotator_id=c.pk)
    assert list(only_c) == [c.pk] and only_c[c.pk] == stats[c.pk]
