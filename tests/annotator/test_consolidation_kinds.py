"""Per-kind consolidation rules on hand-built answers (pure: no database)."""
from __future__ import annotations

import math

import pytest

from annotator.consolidation import CONSOLIDATORS, Spec, consolidate, consolidator

YES, NO, SKIP = {"value": True}, {"value": False}, {"skipped": True}


def test_registry_covers_every_attribute_kind():
    from annotator.models import AttributeKind

    assert set(CONSOLIDATORS) == {k.value for k in AttributeKind}
    with pytest.raises(ValueError, match="no consolidator for kind 'nope'"):
        consolidator("nope")


# ---------------------------------------------------------------- binary
@pytest.mark.parametrize("answers, label, yes, no, unsure, score, agreement", [
    ([YES, YES, NO], True, 2, 1, 0, 2 / 3, 2 / 3),                  # 2 of 3
    ([YES, YES, SKIP], True, 2, 0, 1, 2.5 / 3, 2 / 3),              # unsure counts 0.5 in the score
    ([YES, NO, SKIP], False, 1, 1, 1, 0.5, 1 / 3),                  # no majority
    ([SKIP, SKIP, SKIP], False, 0, 0, 3, 0.5, 1.0),                 # all unsure
    ([YES], True, 1, 0, 0, 1.0, 1.0),                               # one annotator
    ([YES, YES, NO, NO], False, 2, 2, 0, 0.5, 0.5),                 # tie: 2 of 4 is not floor(4/2)+1
    ([YES, YES, YES, NO], True, 3, 1, 0, 0.75, 0.75),
    ([YES, YES, SKIP, SKIP], False, 2, 0, 2, 0.75, 0.5),
])
def test_binary(answers, label, yes, no, unsure, score, agreement):
    result = consolidate("binary", answers, Spec(kind="binary"))
    assert result.value == {"value": label, "yes": yes, "no": no, "unsure": unsure}
    assert result.score == pytest.approx(score, abs=1e-12)
    assert result.agreement == pytest.approx(agreement, abs=1e-12)
    assert (result.n_responses, result.n_skipped) == (len(answers), unsure)


# ---------------------------------------------------------------- likert
def test_likert_mean_std_spread():
    result = consolidate("likert", [{"value": 2}, {"value": 4}, {"value": 5}], Spec(kind="likert", likert_points=5))
    # (1/4 + 3/4 + 4/4) / 3
    assert result.value["value"] == pytest.approx(2 / 3, abs=1e-12)
    assert result.score == result.value["value"]
    assert result.value["mean"] == pytest.approx(11 / 3, abs=1e-12)
    # deviations -5/3, 1/3, 4/3: population variance 42/27 = 14/9
    assert result.value["std"] == pytest.approx(math.sqrt(14) / 3, abs=1e-12)
    assert result.value["spread"] == 3.0
    assert result.value["counts"] == {"2": 1, "4": 1, "5": 1}
    assert result.agreement == pytest.approx(1 - 3 / 4, abs=1e-12)
    assert (result.n_responses, result.n_skipped) == (3, 0)


def test_likert_one_annotator_and_seven_points():
    one = consolidate("likert", [{"value": 3}], Spec(kind="likert", likert_points=5))
    assert (one.value["value"], one.value["std"], one.value["spread"], one.agreement) == (0.5, 0.0, 0.0, 1.0)
    seven = consolidate("likert", [{"value": 7}, {"value": 4}], Spec(kind="likert", likert_points=7))
    assert seven.value["value"] == pytest.approx((1.0 + 0.5) / 2, abs=1e-12)
    assert seven.agreement == pytest.approx(1 - 3 / 6, abs=1e-12)


def test_likert_all_skipped():
    result = consolidate("likert", [SKIP, SKIP], Spec(kind="likert", likert_points=5))
    assert result.value == {"value": None, "mean": None, "std": None, "spread": None, "counts": {}}
    assert (result.score, result.agreement, result.n_responses, result.n_skipped) == (None, None, 2, 2)


# ---------------------------------------------------------------- choice and category
ISSUES = Spec(kind="choice", options=("fuzzy", "body_problem", "toxic"))


def test_choice_shares_and_majority():
    result = consolidate("choice", [{"value": ["fuzzy", "toxic"]}, {"value": ["fuzzy"]}, {"value": ["none"]}], ISSUES)
    assert result.value == {
        "value": ["fuzzy"],
        "counts": {"fuzzy": 2, "body_problem": 0, "toxic": 1},
        "shares": {"fuzzy": 2 / 3, "body_problem": 0.0, "toxic": 1 / 3},
        "none": 1,
    }
    # per option: max(share, 1 - share) = 2/3, 1, 2/3
    assert result.agreement == pytest.approx(7 / 9, abs=1e-12)
    assert result.score is None


def test_choice_tie_is_not_a_majority_and_none_when_nothing_wins():
    result = consolidate("choice", [{"value": ["fuzzy"]}, {"value": ["none"]}], ISSUES)
    assert result.value["value"] == ["none"]
    assert result.value["shares"]["fuzzy"] == 0.5
    everyone_none = consolidate("choice", [{"value": ["none"]}] * 3, ISSUES)
    assert everyone_none.value["value"] == ["none"] and everyone_none.value["none"] == 3
    assert everyone_none.agreement == 1.0


CATEGORIES = Spec(kind="category", options=("Animals", "People", "Arts"))


def test_category_majority_and_tie():
    result = consolidate("category", [{"value": "Animals"}, {"value": "Animals"}, {"value": "Arts"}], CATEGORIES)
    assert result.value == {"value": "Animals", "counts": {"Animals": 2, "People": 0, "Arts": 1}, "tie": False}
    assert result.agreement == pytest.approx(2 / 3, abs=1e-12)
    tie = consolidate("category", [{"value": "Animals"}, {"value": "People"}], CATEGORIES)
    assert tie.value == {"value": None, "counts": {"Animals": 1, "People": 1, "Arts": 0}, "tie": True}
    assert tie.agreement == 0.5


# ---------------------------------------------------------------- keywords
def test_keywords_majority_per_token():
    spec = Spec(kind="keywords", n_tokens=6)
    result = consolidate("keywords", [{"tokens": [1, 3]}, {"tokens": [3]}, {"tokens": [3, 5]}], spec)
    assert result.value == {"tokens": [3], "counts": {"1": 1, "3": 3, "5": 1}}
    # tokens 0..5: 1, 2/3, 1, 1, 1, 2/3
    assert result.agreement == pytest.approx(8 / 9, abs=1e-12)


def test_keywords_nothing_marked_and_two_way_tie():
    spec = Spec(kind="keywords", n_tokens=4)
    nothing = consolidate("keywords", [{"tokens": []}] * 3, spec)
    assert nothing.value == {"tokens": [], "counts": {}} and nothing.agreement == 1.0
    tie = consolidate("keywords", [{"tokens": [2]}, {"tokens": []}], spec)
    assert tie.value == {"tokens": [], "counts": {"2": 1}}  # 1 of 2 is not more than half
    assert tie.agreement == pytest.approx((1 + 1 + 0.5 + 1) / 4, abs=1e-12)


# ---------------------------------------------------------------- ranking
GROUP = Spec(kind="ranking", image_ids=(11, 12, 13, 14))
RANKINGS = [
    {"levels": [[11], [12], [13, 14], [], []]},      # 11:1 12:2 13:3 14:3
    {"levels": [[12], [11], [13], [14], []]},        # 12:1 11:2 13:3 14:4
    {"levels": [[11, 12], [], [14], [13], []]},      # 11:1 12:1 14:3 13:4
]


def test_ranking_pairs_mean_rank_and_training_pairs():
    result = consolidate("ranking", RANKINGS, GROUP)
    assert result.value["pairs"] == [
        {"a": 11, "b": 12, "a_wins": 1, "b_wins": 1, "ties": 1},
        {"a": 11, "b": 13, "a_wins": 3, "b_wins": 0, "ties": 0},
        {"a": 11, "b": 14, "a_wins": 3, "b_wins": 0, "ties": 0},
        {"a": 12, "b": 13, "a_wins": 3, "b_wins": 0, "ties": 0},
        {"a": 12, "b": 14, "a_wins": 3, "b_wins": 0, "ties": 0},
        {"a": 13, "b": 14, "a_wins": 1, "b_wins": 1, "ties": 1},
    ]
    assert result.value["mean_rank"] == {"11": 4 / 3, "12": 4 / 3, "13": 10 / 3, "14": 10 / 3}
    assert result.value["order"] == [11, 12, 13, 14]
    # 5 + 6 + 5 strictly ordered pairs; ties give none.
    assert result.value["training_pairs"] == [
        {"better": 11, "worse": 12, "count": 1}, {"better": 11, "worse": 13, "count": 3},
        {"better": 11, "worse": 14, "count": 3}, {"better": 12, "worse": 11, "count": 1},
        {"better": 12, "worse": 13, "count": 3}, {"better": 12, "worse": 14, "count": 3},
        {"better": 13, "worse": 14, "count": 1}, {"better": 14, "worse": 13, "count": 1},
    ]
    assert sum(p["count"] for p in result.value["training_pairs"]) == 16
    # tau-b: (1,2) 3/sqrt(30), (1,3) 4/5, (2,3) 3/sqrt(30)
    assert result.agreement == pytest.approx((6 / math.sqrt(30) + 0.8) / 3, abs=1e-12)


def test_ranking_one_annotator():
    result = consolidate("ranking", RANKINGS[:1], GROUP)
    assert result.value["training_pairs"][0] == {"better": 11, "worse": 12, "count": 1}
    assert len(result.value["training_pairs"]) == 5
    assert result.agreement is None


# ---------------------------------------------------------------- sxs
PAIR = Spec(kind="sxs", image_ids=(5, 9), config={"mode": "5way"})


def test_sxs_sides_mapped_back_to_images():
    answers = [
        {"choice": "A>B", "a": 5, "b": 9},      # 5 over 9, strength 1
        {"choice": "A>>B", "a": 9, "b": 5},     # shown swapped: 9 over 5, strength 2
        {"choice": "B>A", "a": 9, "b": 5},      # shown swapped: 5 over 9, strength 1
        {"choice": "unsure", "a": 5, "b": 9},
    ]
    result = consolidate("sxs", answers, PAIR)
    assert result.value == {
        "image_a": 5, "image_b": 9,
        "tallies": {"A>>B": 0, "A>B": 2, "A=B": 0, "B>A": 0, "B>>A": 1, "unsure": 1},
        "votes": {"5": 2, "9": 1, "tie": 0, "unsure": 1},
        "strength": {"5": 2, "9": 2},
        "majority": 5,
        "unsure_share": 0.25,
    }
    assert result.score == pytest.approx((0.75 + 0.0 + 0.75) / 3, abs=1e-12)
    assert (result.agreement, result.n_responses, result.n_skipped) == (0.5, 4, 1)


def test_sxs_all_unsure_and_ties():
    unsure = consolidate("sxs", [{"choice": "unsure", "a": 5, "b": 9}] * 3, PAIR)
    assert (unsure.value["majority"], unsure.value["unsure_share"], unsure.score, unsure.agreement) == (
        "unsure", 1.0, None, 1.0)
    split = consolidate("sxs", [{"choice": "A>B", "a": 5, "b": 9}, {"choice": "A>B", "a": 9, "b": 5}], PAIR)
    assert split.value["majority"] == "tie"
    half_unsure = consolidate("sxs", [{"choice": "A=B", "a": 5, "b": 9}, {"choice": "unsure", "a": 9, "b": 5}], PAIR)
    assert half_unsure.value["majority"] == "unsure"
    equal = consolidate("sxs", [{"choice": "A=B", "a": 5, "b": 9}, {"choice": "A=B", "a": 9, "b": 5}], PAIR)
    assert (equal.value["majority"], equal.score) == ("tie", 0.5)


def test_sxs_three_way():
    spec = Spec(kind="sxs", image_ids=(5, 9), config={"mode": "3way"})
    result = consolidate("sxs", [{"choice": "A", "a": 5, "b": 9}, {"choice": "A", "a": 9, "b": 5},
                                 {"choice": "B", "a": 9, "b": 5}], spec)
    assert result.value["tallies"] == {"A": 2, "B": 1, "unsure": 0}
    assert result.value["votes"] == {"5": 2, "9": 1, "tie": 0, "unsure": 0}
    assert result.value["majority"] == 5
    assert result.score == pytest.approx(2 / 3, abs=1e-12)


# ---------------------------------------------------------------- comparing one answer with a reference
def test_compare_with_consensus_per_kind():
    binary = consolidator("binary")
    ref = binary.reference(binary.consolidate([YES, YES, NO], Spec(kind="binary")), Spec(kind="binary"))
    assert ref == "yes"
    assert binary.compare(NO, ref, Spec(kind="binary")) == {"agreement": 0.0}
    assert binary.compare(SKIP, ref, Spec(kind="binary")) is None
    assert binary.reference(binary.consolidate([SKIP], Spec(kind="binary")), Spec(kind="binary")) is None

    likert = consolidator("likert")
    spec = Spec(kind="likert", likert_points=5)
    ref = likert.reference(likert.consolidate([{"value": 2}, {"value": 4}, {"value": 5}], spec), spec)
    assert likert.compare({"value": 2}, ref, spec) == pytest.approx({"agreement": 1 - (5 / 3) / 4,
                                                                     "abs_dev": 5 / 3})

    keywords = consolidator("keywords")
    spec = Spec(kind="keywords", n_tokens=4)
    assert keywords.compare({"tokens": [0, 1]}, {1}, spec) == {"agreement": 0.75}

    ranking = consolidator("ranking")
    ref = ranking.reference(ranking.consolidate(RANKINGS, GROUP), GROUP)
    # consensus 11 = 12 < 13 = 14; annotator 2 says 12 < 11 (disagrees) and 13 < 14 (disagrees): 4 of 6 pairs.
    assert ranking.compare(RANKINGS[1], ref, GROUP)["agreement"] == pytest.approx(4 / 6, abs=1e-12)

    sxs = consolidator("sxs")
    assert sxs.compare({"choice": "B>>A", "a": 9, "b": 5}, 5, PAIR) == {"agreement": 1.0}
    assert sxs.compare({"choice": "unsure", "a": 9, "b": 5}, 5, PAIR) is None
