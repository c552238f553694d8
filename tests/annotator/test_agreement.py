"""Agreement statistics against hand-computed values, pure and through the selectors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from annotator import agreement
from annotator.consolidation import Spec, Unit, consolidator

YES, NO, SKIP = {"value": True}, {"value": False}, {"skipped": True}

# Three targets, three raters each; counts per [yes, no, unsure]:
#   u1 yes yes yes  -> [3, 0, 0]
#   u2 yes yes no   -> [2, 1, 0]
#   u3 no  no  no   -> [0, 3, 0]
BINARY_TABLE = np.array([[3, 0, 0], [2, 1, 0], [0, 3, 0]])


def test_krippendorff_alpha_nominal_by_hand():
    # Coincidences (each unit's pairs / (m - 1)): o_yy = 3 + 1, o_yn = o_ny = 1, o_nn = 3;
    # n_y = 5, n_n = 4, n = 9. alpha = 1 - (n - 1) * (o_yn + o_ny) / (2 n_y n_n) = 1 - 8 * 2 / 40 = 0.6
    assert agreement.krippendorff_alpha(BINARY_TABLE, level="nominal") == pytest.approx(0.6, abs=1e-12)


def test_fleiss_kappa_by_hand():
    # P_i = 1, 1/3, 1 -> P = 7/9; p_yes = 5/9, p_no = 4/9 -> P_e = 41/81; kappa = (63 - 41) / (81 - 41) = 0.55
    assert agreement.fleiss_kappa(BINARY_TABLE) == pytest.approx(0.55, abs=1e-12)
    assert agreement.fleiss_kappa(np.array([[3, 0, 0], [2, 0, 0]])) is None  # unequal raters
    assert agreement.fleiss_kappa(np.array([[3, 0, 0], [3, 0, 0]])) is None  # one category: undefined


def test_alpha_ordinal_by_hand():
    # Likert 1..5, two raters: u1 (1, 1), u2 (2, 3), u3 (3, 3). n_1 = 2, n_2 = 1, n_3 = 3, n = 6.
    # Ordinal distances: d_12 = (3/2)^2 = 2.25, d_13 = (6 - 5/2)^2 = 12.25, d_23 = (4 - 2)^2 = 4.
    # Observed: o_23 = o_32 = 1 -> sum o d = 8. Expected: 2 (2*1*2.25 + 2*3*12.25 + 1*3*4) / (n - 1) = 36.
    # alpha = 1 - 8 / 36 = 7/9
    table = np.array([[2, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 2, 0, 0]])
    assert agreement.krippendorff_alpha(table, level="ordinal", value_domain=[1, 2, 3, 4, 5]) == pytest.approx(
        7 / 9, abs=1e-12)


def test_alpha_undefined_cases_are_none():
    assert agreement.krippendorff_alpha(np.array([[1, 0], [0, 1]])) is None      # nobody pairable
    assert agreement.krippendorff_alpha(np.array([[2, 0], [3, 0]])) is None      # one value everywhere


def test_unanimous_share_and_iou():
    assert agreement.unanimous_share(BINARY_TABLE) == pytest.approx(2 / 3, abs=1e-12)
    a = np.zeros((4, 4), bool)
    a[:2, :2] = True          # 4 px
    b = np.zeros((4, 4), bool)
    b[1:3, 1:3] = True        # 4 px, 1 shared
    empty = np.zeros((4, 4), bool)
    ious = agreement.pairwise_iou(np.stack([a, b, empty]).reshape(3, -1))
    assert ious[0] == pytest.approx(1 / 7, abs=1e-12) and ious[1] == 0.0 and ious[2] == 0.0
    assert np.isnan(agreement.pairwise_iou(np.stack([empty, empty]).reshape(2, -1))[0])
    assert agreement.iou(empty, empty) == 1.0


RANKS = np.array([[1, 2, 3, 3], [2, 1, 3, 4], [1, 1, 4, 3]])


def test_kendall_w_with_ties_by_hand():
    # Mid-ranks per rater: [1, 2, 3.5, 3.5], [2, 1, 3, 4], [1.5, 1.5, 4, 3]; R = 4.5, 4.5, 10.5, 10.5;
    # S = 4 * 3^2 = 36; ties T = 6 + 6. W = 12 S / (m^2 (n^3 - n) - m T) = 432 / (540 - 36) = 6/7
    assert agreement.kendall_w(RANKS) == pytest.approx(6 / 7, abs=1e-12)
    assert agreement.kendall_w(RANKS[:1]) is None
    assert agreement.kendall_w(np.array([[1, 2, 3], [1, 2, 3]])) == pytest.approx(1.0, abs=1e-12)


def test_mean_pairwise_kendall_tau_by_hand():
    # tau-b: (r1, r2) = (4 - 1) / sqrt(5 * 6), (r1, r3) = 4 / sqrt(5 * 5), (r2, r3) = (4 - 1) / sqrt(6 * 5)
    assert agreement.mean_pairwise_kendall_tau(RANKS) == pytest.approx((6 / math.sqrt(30) + 0.8) / 3, abs=1e-12)
    assert agreement.kendall_tau([1, 1, 1], [1, 2, 3]) is None


# ---------------------------------------------------------------- campaign level, per kind (pure)
def test_binary_campaign_agreement():
    units = [Unit(Spec(kind="binary"), answers) for answers in (
        [YES, YES, YES], [YES, YES, NO], [NO, NO, NO], [YES, SKIP])]
    stats = consolidator("binary").campaign_agreement(units, overlap=3)
    # With the two-answer unit u4 (yes, unsure): o_yu = o_uy = 1, n_y = 6, n_n = 4, n_u = 1, n = 11;
    # alpha = 1 - 10 * 4 / (2 (24 + 6 + 4)) = 7/17. Kappa only over the three targets with 3 answers.
    assert stats == {
        "kind": "binary", "n_targets": 4, "n_responses": 11,
        "alpha": pytest.approx(7 / 17, abs=1e-12),
        "fleiss_kappa": pytest.approx(0.55, abs=1e-12), "n_targets_kappa": 3,
        "unanimous_share": 0.5, "unsure_share": pytest.approx(1 / 11, abs=1e-12), "positive_share": 0.5,
    }


def test_likert_campaign_agreement_spread_histogram():
    spec = Spec(kind="likert", likert_points=5)
    units = [Unit(spec, [{"value": a}, {"value": b}]) for a, b in ((1, 1), (2, 3), (3, 3))]
    stats = consolidator("likert").campaign_agreement(units, overlap=2)
    assert stats["alpha"] == pytest.approx(7 / 9, abs=1e-12)
    assert stats["spread_histogram"] == {"0": 2, "1": 1, "2": 0, "3": 0, "4": 0}
    assert stats["mean_spread"] == pytest.approx(1 / 3, abs=1e-12)
    assert (stats["spread_le_1_share"], stats["unanimous_share"]) == (1.0, pytest.approx(2 / 3, abs=1e-12))
    assert stats["mean_score"] == pytest.approx((0 + 0.375 + 0.5) / 3, abs=1e-12)


def test_keywords_campaign_agreement_per_token():
    units = [Unit(Spec(kind="keywords", n_tokens=3), [{"tokens": [0]}, {"tokens": [0, 1]}])]
    stats = consolidator("keywords").campaign_agreement(units, overlap=2)
    # Tokens as units: t0 [0, 2], t1 [1, 1], t2 [2, 0]: o_ff = o_nn = 2, o_fn = o_nf = 1, n_f = n_n = 3;
    # alpha = 1 - 5 * 2 / (2 * 3 * 3) = 4/9. Per-token agreement 1, 1/2, 1.
    assert stats["alpha"] == pytest.approx(4 / 9, abs=1e-12)
    assert stats["token_agreement"] == pytest.approx(2.5 / 3, abs=1e-12)
    assert stats["flagged_share"] == pytest.approx(1 / 3, abs=1e-12)
    assert (stats["n_tokens"], stats["unanimous_share"]) == (3, 0.0)


def test_choice_and_category_campaign_agreement():
    spec = Spec(kind="choice", options=("fuzzy", "toxic"))
    units = [Unit(spec, [{"value": ["fuzzy"]}, {"value": ["fuzzy"]}]), Unit(spec, [{"value": ["none"]},
                                                                                    {"value": ["none"]}])]
    stats = consolidator("choice").campaign_agreement(units, overlap=2)
    assert stats["options"]["fuzzy"] == {"alpha": 1.0, "share": 0.5, "unanimous_share": 1.0}
    assert stats["options"]["toxic"]["alpha"] is None  # nobody ever ticked it: undefined
    assert (stats["alpha"], stats["unanimous_share"]) == (1.0, 1.0)

    spec = Spec(kind="category", options=("Animals", "People"))
    units = [Unit(spec, [{"value": "Animals"}] * 2), Unit(spec, [{"value": "Animals"}, {"value": "People"}])]
    stats = consolidator("category").campaign_agreement(units, overlap=2)
    # o_AA = 2, o_AP = o_PA = 1, n_A = 3, n_P = 1, n = 4: alpha = 1 - 3 * 2 / (2 * 3) = 0
    assert stats["alpha"] == pytest.approx(0.0, abs=1e-12)
    # P = (1 + 0) / 2, p_A = 3/4, p_P = 1/4, P_e = 10/16: kappa = (1/2 - 5/8) / (3/8) = -1/3
    assert stats["fleiss_kappa"] == pytest.approx(-1 / 3, abs=1e-12)


ONE_PASS_CASES = {
    "binary": [Unit(Spec(kind="binary"), a) for a in ([YES, YES, YES], [YES, YES, NO], [YES, SKIP])],
    "likert": [Unit(Spec(kind="likert", likert_points=7), [{"value": a}, {"value": b}]) for a, b in ((1, 7), (3, 3))],
    "keywords": [Unit(Spec(kind="keywords", n_tokens=3), [{"tokens": [0]}, {"tokens": [0, 1]}])] * 2,
    "choice": [Unit(Spec(kind="choice"), [{"value": ["fuzzy"]}, {"value": ["toxic", "fuzzy"]}])] * 2,
    "category": [Unit(Spec(kind="category"), [{"value": "Animals"}, {"value": "People"}])] * 2,
    "sxs": [Unit(Spec(kind="sxs", image_ids=(5, 9)), [{"choice": "A>B", "a": 5, "b": 9},
                                                       {"choice": "B>>A", "a": 5, "b": 9}])] * 2,
    "points": [Unit(Spec(kind="points", options=("artifact",), radius_frac=0.2, width=20, height=10),
                    [{"points": [{"x": 0.5, "y": 0.5, "label": "artifact"}], "none": False},
                     {"points": [], "none": True}])] * 2,
}


@pytest.mark.parametrize("kind", sorted(ONE_PASS_CASES))
def test_campaign_agreement_reads_its_units_once(kind):
    """The selector streams units from the database: a one-shot iterator gives what a list gives."""
    units = ONE_PASS_CASES[kind]
    from_list = consolidator(kind).campaign_agreement(units, overlap=2)
    assert consolidator(kind).campaign_agreement(iter(units), overlap=2) == from_list
    assert from_list["n_targets"] == len(units)
    assert consolidator(kind).campaign_agreement(iter(()), overlap=2)["n_targets"] == 0


def test_ranking_and_sxs_campaign_agreement():
    spec = Spec(kind="ranking", image_ids=(11, 12, 13, 14))
    levels = [[[image for image, level in zip((11, 12, 13, 14), row) if level == k] for k in range(1, 6)]
              for row in RANKS]
    stats = consolidator("ranking").campaign_agreement([Unit(spec, [{"levels": lv} for lv in levels])], overlap=3)
    assert stats["kendall_w"] == pytest.approx(6 / 7, abs=1e-12)
    assert stats["mean_kendall_tau"] == pytest.approx((6 / math.sqrt(30) + 0.8) / 3, abs=1e-12)

    spec = Spec(kind="sxs", image_ids=(5, 9))
    units = [Unit(spec, [{"choice": "A>B", "a": 5, "b": 9}, {"choice": "unsure", "a": 9, "b": 5}]),
             Unit(spec, [{"choice": "B>A", "a": 9, "b": 5}, {"choice": "A>>B", "a": 5, "b": 9}])]
    stats = consolidator("sxs").campaign_agreement(units, overlap=2)
    assert stats["unsure_share"] == 0.25
    assert stats["unanimous_share"] == 0.5   # the second pair: both for image 5 once mapped back
    assert stats["majority_counts"] == {"image": 1, "tie": 0, "unsure": 1}
