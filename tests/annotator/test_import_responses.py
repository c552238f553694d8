"""Raw-response import: good and bad lines, --strict, idempotent re-runs, annotators, export round trip."""
from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.models import AnnotatorStanding, Assignment, AssignmentSlot, Consolidated, Response, Slot
from annotator.services.consolidation import campaign_consolidate
from annotator.services.exports import dataset_export
from annotator.services.response_import import responses_import
from tests import factories as f

PROMPT = "a cat riding a bicycle"


def _campaign(name: str, images=None):
    """A group of four images (also items e0..e3), a pair (e0, e1), a prompt target, a lone item."""
    campaign = f.campaign_make(name=name, presets=["richhf", "imagereward", "sxs"], overlap=3)
    prompt = f.prompt_make(text=PROMPT)
    images = images or [f.image_make(prompt=prompt) for _ in range(4)]
    for i, image in enumerate(images):
        f.item_make(campaign=campaign, image=image, external_id=f"e{i}")
    group = f.group_make(campaign=campaign, images=images, name="g-1")
    pair = f.pair_make(campaign=campaign, image_a=images[0], image_b=images[1])
    prompt_target = f.prompt_target_make(campaign=campaign, prompt=prompt)
    return {"campaign": campaign, "images": images, "group": group, "pair": pair, "prompt": prompt_target}


@pytest.fixture
def world(db):
    return _campaign("import-test")


def _line(annotator, target, attribute, value, **extra) -> str:
    return json.dumps({"annotator": annotator, "target": target, "attribute": attribute, "value": value, **extra})


RANK_E0_FIRST = {"levels": [["e0"], ["e2", "e3"], ["e1"], [], []]}
LINES = [
    _line("alice", {"item": "e0"}, "plausibility", {"value": 4}, active_ms=1200),      # 1
    _line("alice", {"item": "e0"}, "aesthetics", {"value": 9}),                         # 2 range
    "{not json",                                                                        # 3
    _line("bob", {"item": "e0"}, "plausibility", {"value": 2}),                         # 4
    _line("bob", {"item": "e0"}, "nope", {"value": 2}),                                 # 5 unknown attribute
    _line("bob", {"item": "missing"}, "plausibility", {"value": 2}),                    # 6 unknown target
    _line("alice", {"group": "g-1"}, "ranking", RANK_E0_FIRST),                         # 7 (checked after 8, 9)
    _line("alice", {"item": "e0"}, "ir_overall", {"value": 7}),                         # 8
    _line("alice", {"item": "e1"}, "ir_overall", {"value": 3}),                         # 9
    _line("bob", {"item": "e0"}, "ir_overall", {"value": 6}),                           # 10
    _line("bob", {"item": "e1"}, "ir_overall", {"value": 2}),                           # 11
    _line("bob", {"group": "g-1"}, "ranking", {"levels": [["e1"], ["e0"], ["e2", "e3"], [], []]}),  # 12 contradicts
    _line("alice", {"pair": ["e0", "e1"]}, "sxs", {"choice": "A>B"}),                   # 13
    _line("bob", {"pair": ["e1", "e0"]}, "sxs", {"choice": "B>>A", "a": "e1", "b": "e0"}),  # 14 shown swapped
    _line("alice", {"prompt": PROMPT}, "prompt_category", {"value": "Animals"}),        # 15
    _line("alice", {"item": "e0"}, "plausibility", {"value": 3}),                       # 16 duplicate of 1
    _line("alice", {"group": "g-1"}, "plausibility", {"value": 3}),                     # 17 wrong target type
    "",                                                                                 # 18 blank
    _line("alice", {"item": "e2"}, "artifact_points",
          {"points": [{"x": 0.5, "y": 0.25, "label": "artifact"}], "none": False}),     # 19
    _line("carol", {"item": "e2"}, "plausibility", {"value": 5}, valid=False),          # 20 invalidated elsewhere
    _line("carol", {"group": "g-1"}, "ranking", {"levels": [["e0"], ["zz"], [], [], []]}),  # 21 unknown image
]
ERRORS = [(2, "value.value", "range"), (3, None, "json"), (5, "attribute", "unknown_attribute"),
          (6, "target.item", "unknown_target"), (12, "value.levels", "ranking_contradicts_ratings"),
          (17, "attribute", "target_type"), (21, "value.levels[1][0]", "ranking_unknown_image")]


def _state() -> dict:
    return {
        "responses": sorted(Response.objects.values_list("annotator__username", "target_id", "attribute__key",
                                                         "value", "active_ms", "valid")),
        "assignments": Assignment.objects.count(), "assignment_slots": AssignmentSlot.objects.count(),
        "n_done": sorted(Slot.objects.filter(n_done__gt=0).values_list("target_id", "attribute__key", "n_done")),
        "users": sorted(get_user_model().objects.values_list("username", flat=True)),
        "standings": sorted(AnnotatorStanding.objects.values_list("campaign_id", "annotator__username",
                                                                  "external_name")),
        "consolidated": sorted(Consolidated.objects.values_list("target_id", "attribute__key", "n_responses")),
    }


def test_good_lines_import_and_bad_lines_are_reported(world):
    campaign, images = world["campaign"], world["images"]
    report = responses_import(campaign=campaign, lines=LINES)
    assert [(e.line, e.field, e.rule) for e in report.errors] == ERRORS
    assert (report.lines, report.imported, report.duplicates, report.not_valid) == (20, 11, 1, 1)
    assert (report.annotators_created, report.rolled_back) == (2, False)

    item = {i: campaign.items.get(external_id=f"e{i}").target for i in range(4)}
    group, pair, prompt = world["group"].target, world["pair"].target, world["prompt"]
    assert _state()["responses"] == sorted([
        ("alice", item[0].pk, "plausibility", {"value": 4}, 1200, True),
        ("bob", item[0].pk, "plausibility", {"value": 2}, None, True),
        ("alice", group.pk, "ranking", {"levels": [[images[0].pk], [images[2].pk, images[3].pk], [images[1].pk],
                                                   [], []]}, None, True),
        ("alice", item[0].pk, "ir_overall", {"value": 7}, None, True),
        ("alice", item[1].pk, "ir_overall", {"value": 3}, None, True),
        ("bob", item[0].pk, "ir_overall", {"value": 6}, None, True),
        ("bob", item[1].pk, "ir_overall", {"value": 2}, None, True),
        ("alice", pair.pk, "sxs", {"choice": "A>B", "a": images[0].pk, "b": images[1].pk}, None, True),
        ("bob", pair.pk, "sxs", {"choice": "B>>A", "a": images[1].pk, "b": images[0].pk}, None, True),
        ("alice", prompt.pk, "prompt_category", {"value": "Animals"}, None, True),
        ("alice", item[2].pk, "artifact_points",
         {"points": [{"x": 0.5, "y": 0.25, "label": "artifact"}], "none": False}, None, True),
    ])
    # One submitted import assignment per (annotator, target), its slots, and the counters.
    assignments = Assignment.objects.order_by("id")
    assert {(a.annotator.username, a.target_id, a.status, a.source) for a in assignments} == {
        ("alice", item[0].pk, "submitted", "import"), ("bob", item[0].pk, "submitted", "import"),
        ("alice", item[1].pk, "submitted", "import"), ("bob", item[1].pk, "submitted", "import"),
        ("alice", group.pk, "submitted", "import"), ("alice", pair.pk, "submitted", "import"),
        ("bob", pair.pk, "submitted", "import"), ("alice", prompt.pk, "submitted", "import"),
        ("alice", item[2].pk, "submitted", "import")}
    assert assignments.count() == 9
    alice_e0 = Assignment.objects.get(annotator__username="alice", target=item[0])
    assert list(alice_e0.slots.values_list("attribute__key", flat=True)) == ["plausibility", "ir_overall"]
    assert Slot.objects.get(target=item[0], attribute__key="plausibility").n_done == 2
    assert Slot.objects.get(target=pair, attribute__key="sxs").n_done == 2
    assert Slot.objects.get(target=item[0], attribute__key="aesthetics").n_done == 0

    alice = get_user_model().objects.get(username="alice")
    assert not alice.has_usable_password() and list(alice.groups.values_list("name", flat=True)) == ["annotator"]
    assert sorted(AnnotatorStanding.objects.values_list("annotator__username", "external_name")) == [
        ("alice", "alice"), ("bob", "bob")]

    # Consolidated for everything imported.
    plaus = Consolidated.objects.get(target=item[0], attribute__key="plausibility")
    assert (plaus.n_responses, plaus.score) == (2, pytest.approx((3 / 4 + 1 / 4) / 2))
    sxs = Consolidated.objects.get(target=pair, attribute__key="sxs")
    assert sxs.value["majority"] == images[0].pk  # both preferred e0 once mapped back
    ranking = Consolidated.objects.get(target=group, attribute__key="ranking")
    assert ranking.value["mean_rank"] == {str(images[0].pk): 1.0, str(images[1].pk): 3.0, str(images[2].pk): 2.0,
                                          str(images[3].pk): 2.0}
    assert Consolidated.objects.get(target=item[2], attribute__key="artifact_points").value["heatmaps"][
        "artifact"]["path"]
    assert report.targets_consolidated == 6  # e0, e1, e2, the group, the pair, the prompt


def test_re_running_the_file_changes_nothing(world):
    responses_import(campaign=world["campaign"], lines=LINES)
    before = _state()
    again = responses_import(campaign=world["campaign"], lines=LINES)
    assert (again.imported, again.duplicates, again.annotators_created, again.assignments) == (0, 12, 0, 0)
    # The same bad lines are reported again (bob's ranking still contradicts his ratings, now saved).
    assert [(e.line, e.rule) for e in again.errors] == [(line, rule) for line, _, rule in ERRORS]
    assert _state() == before


def test_strict_imports_nothing_when_a_line_is_refused(world):
    before = _state()
    report = responses_import(campaign=world["campaign"], lines=LINES, strict=True)
    assert report.rolled_back and report.imported == 0
    assert [(e.line, e.field, e.rule) for e in report.errors] == ERRORS
    assert _state() == before

    good = [line for n, line in enumerate(LINES, start=1) if n not in {e[0] for e in ERRORS}]
    report = responses_import(campaign=world["campaign"], lines=good, strict=True)
    assert (report.rolled_back, report.imported, report.errors) == (False, 11, [])


def test_annotators_are_found_by_external_name_and_never_take_over_accounts(world, make_user):
    existing = make_user("alice", "researcher")  # an unrelated platform account of that name
    other = _campaign("other", images=world["images"])
    responses_import(campaign=other["campaign"], lines=[_line("alice", {"item": "e0"}, "plausibility", {"value": 1})])
    imported = AnnotatorStanding.objects.get(campaign=other["campaign"], external_name="alice").annotator
    assert imported.username == "alice-2" and imported != existing
    # The same external annotator in another campaign is the same user.
    report = responses_import(campaign=world["campaign"],
                              lines=[_line("alice", {"item": "e1"}, "plausibility", {"value": 5})])
    assert report.annotators_created == 0
    assert AnnotatorStanding.objects.get(campaign=world["campaign"], external_name="alice").annotator == imported
    assert not Response.objects.filter(annotator=existing).exists()


def test_a_lease_without_answer_is_refused(world, annotator_user):
    item = world["campaign"].items.get(external_id="e0").target
    AnnotatorStanding.objects.create(campaign=world["campaign"], annotator=annotator_user, external_name="ann-x")
    f.assignment_make(annotator=annotator_user, target=item, attributes=[
        world["campaign"].attributes.get(key="plausibility")])
    before = _state()
    report = responses_import(campaign=world["campaign"],
                              lines=[_line("ann-x", {"item": "e0"}, "plausibility", {"value": 1})])
    assert [(e.line, e.field, e.rule) for e in report.errors] == [(1, "target", "already_assigned")]
    assert _state() == before


def test_command_reports_lines_and_strict_exits_nonzero(world, tmp_path):
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import_responses", "import-test", str(path), "--strict", stdout=out)
    assert refused.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == "line 2: value.value (range): A rating is between 1 and 5."
    assert lines[-1] == "20 lines: imported 0, duplicates 1, refused 7, marked invalid 1; strict: nothing imported"
    assert Response.objects.count() == 0

    out = io.StringIO()
    call_command("import_responses", "import-test", str(path), "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert (summary["imported"], summary["duplicates"], len(summary["errors"])) == (11, 1, 7)
    assert summary["errors"][0] == {"line": 2, "field": "value.value", "rule": "range",
                                    "message": "A rating is between 1 and 5."}


def test_an_exported_responses_file_imports_into_a_campaign_with_the_same_images(world, make_user, tmp_path):
    source = world["campaign"]
    responses_import(campaign=source, lines=LINES)
    bad = make_user("inspected")
    f.response_make(annotator=bad, target=source.items.get(external_id="e3").target,
                    attribute=source.attributes.get(key="plausibility"), value={"value": 1}, valid=False)
    campaign_consolidate(campaign=source, workers=0)
    dataset_export(campaign=source, out_dir=tmp_path / "out", formats=["jsonl"])
    exported = (tmp_path / "out" / "responses.jsonl").read_text(encoding="utf-8").splitlines()

    copy = _campaign("copy", images=world["images"])
    report = responses_import(campaign=copy["campaign"], lines=exported, strict=True)
    assert (report.imported, report.not_valid, report.errors) == (11, 1, [])

    def answers(campaign):
        return sorted((r.attribute.key, json.dumps(r.value, sort_keys=True), r.active_ms)
                      for r in Response.objects.filter(target__campaign=campaign, valid=True))

    assert answers(copy["campaign"]) == answers(source)
