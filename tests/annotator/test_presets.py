"""Presets create the attributes of the four papers; their keys are a public contract."""
from __future__ import annotations

import pytest

from annotator.errors import ApplicationError
from annotator.models import Attribute, Slot
from annotator.presets import PRESETS, preset_names
from annotator.services.campaigns import campaign_create, preset_apply
from tests import factories as f

pytestmark = pytest.mark.django_db

# key: (kind, target type, likert points)
EXPECTED = {
    "richhf": {
        "artifact_points": ("points", "item", None),
        "misalignment_points": ("points", "item", None),
        "misaligned_keywords": ("keywords", "item", None),
        "plausibility": ("likert", "item", 5),
        "alignment": ("likert", "item", 5),
        "aesthetics": ("likert", "item", 5),
        "overall": ("likert", "item", 5),
    },
    "imagereward": {
        "prompt_category": ("category", "prompt", None),
        "prompt_flags": ("choice", "prompt", None),
        "ir_overall": ("likert", "item", 7),
        "ir_alignment": ("likert", "item", 7),
        "ir_fidelity": ("likert", "item", 7),
        "ir_issues": ("choice", "item", None),
        "ranking": ("ranking", "group", None),
    },
    "tia2": {"aligned": ("binary", "item", None)},
    "collins": {key: ("binary", "item", None) for key in (
        "distorted", "photorealistic", "bright", "captivating", "chaotic", "visually_compelling", "disturbing",
        "funny", "blurry", "align_objects", "align_attributes", "align_actions", "align_relations", "overall_good")},
    "sxs": {"sxs": ("sxs", "pair", None)},
}

# Collins et al., Table 2: average answer time in seconds ("Aggregate" is the coarse overall judgement).
COLLINS_TABLE_2 = {"overall_good": 52.7, "distorted": 56.1, "bright": 18.4, "captivating": 20.2,
                   "photorealistic": 19.4, "chaotic": 24.1, "visually_compelling": 16.2, "disturbing": 19.2,
                   "funny": 12.8}


def test_preset_names():
    assert preset_names() == ["collins", "imagereward", "richhf", "sxs", "tia2"]


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_each_preset_creates_its_attributes(preset):
    campaign, _ = campaign_create(name=f"c-{preset}", presets=[preset])
    rows = list(campaign.attributes.order_by("order"))
    assert [a.key for a in rows] == list(EXPECTED[preset])
    assert {a.key: (a.kind, a.target_type, a.likert_points) for a in rows} == EXPECTED[preset]
    assert {a.preset for a in rows} == {preset}
    assert all(a.active and a.question for a in rows)
    for attribute, spec in zip(rows, PRESETS[preset]):
        assert attribute.prior_cost_s == spec.prior_cost_s
        if attribute.kind == "likert":
            assert len(attribute.anchors) == attribute.likert_points
            assert attribute.binarize_threshold == 0.5


def test_collins_costs_and_coarse_attribute():
    campaign, _ = campaign_create(name="c", presets=["collins"])
    costs = dict(campaign.attributes.values_list("key", "prior_cost_s"))
    assert {key: costs[key] for key in COLLINS_TABLE_2} == COLLINS_TABLE_2
    assert list(campaign.attributes.filter(is_coarse=True).values_list("key", flat=True)) == ["overall_good"]
    assert campaign.attributes.get(key="overall_good").category == "overall"
    assert campaign.attributes.get(key="distorted").options == ["yes", "no", "unsure"]


def test_option_lists():
    campaign, _ = campaign_create(name="c", presets=["richhf", "imagereward", "tia2", "sxs"])
    options = dict(campaign.attributes.values_list("key", "options"))
    assert options["artifact_points"] == ["artifact"]
    assert options["misalignment_points"] == ["misalignment"]
    assert options["aligned"] == ["good", "bad", "skip"]
    assert options["sxs"] == ["A>>B", "A>B", "A=B", "B>A", "B>>A", "unsure"]
    assert options["ir_issues"] == ["repeated_generation", "body_problem", "fuzzy", "toxic", "pornographic",
                                    "violent", "protected_groups"]
    assert len(options["prompt_category"]) == 12
    ranking = campaign.attributes.get(key="ranking")
    assert ranking.config == {"levels": 5, "max_per_level": 2, "rating_attribute": "ir_overall"}


def test_applying_a_preset_twice_keeps_edits_and_adds_slots():
    campaign = f.campaign_make(presets=[])
    item = f.item_make(campaign=campaign)
    created = preset_apply(campaign=campaign, preset="richhf")
    assert len(created) == 7
    assert Slot.objects.filter(target=item.target).count() == 7
    Attribute.objects.filter(campaign=campaign, key="overall").update(question="Edited?", prior_cost_s=3.0)
    assert preset_apply(campaign=campaign, preset="richhf") == []
    overall = campaign.attributes.get(key="overall")
    assert (overall.question, overall.prior_cost_s) == ("Edited?", 3.0)
    assert (campaign.attributes.count(), Slot.objects.count()) == (7, 7)


def test_unknown_preset_is_refused():
    campaign = f.campaign_make(presets=[])
    with pytest.raises(ApplicationError) as exc:
        preset_apply(campaign=campaign, preset="nope")
    assert exc.value.extra == {"field": "presets", "rule": "known_preset"}
    assert campaign.attributes.count() == 0
