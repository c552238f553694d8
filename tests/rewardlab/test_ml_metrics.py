"""Metrics against values worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rewardlab.ml import metrics as m


def test_roc_auc_and_auprc():
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered
    assert m.roc_auc(y, s) == pytest.approx(0.75)
    # ranking 0.8(+) 0.4(-) 0.35(+) 0.1(-): AP = (1/1 + 2/3) / 2
    assert m.auprc(y, s) == pytest.approx((1 + 2 / 3) / 2)


def test_ap_at_k():
    y = [1, 0, 1, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6, 0.5]
    assert m.ap_at_k(y, s, 1) == pytest.approx(1.0)
    assert m.ap_at_k(y, s, 3) == pytest.approx((1 + 2 / 3) / 3)
    assert m.ap_at_k(y, s, 5) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # order comes from the scores, not the input order
    assert m.ap_at_k([0, 1], [0.1, 0.9], 1) == pytest.approx(1.0)
    # "inconclusive" (0.5) is not a positive; no positive gives 0
    assert m.ap_at_k([0.5, 0.5], [1, 2], 2) == 0.0


def test_rank_and_linear_correlations():
    assert m.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert m.srcc([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert m.kendall([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert m.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 114 / 9))
    assert m.plcc([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 114 / 9))


def test_preference_accuracy_counts_ties_as_wrong():
    scores = [3.0, 1.0, 2.0, 2.0]
    pairs = [[0, 1], [2, 3], [1, 0], [0, 2]]
    assert m.preference_accuracy(scores, pairs) == 0.5


def test_recall_and_filter_at_k():
    groups = [[0.9, 0.1, 0.5], [0.2, 0.2, 0.1], [0.3, 0.9, 0.1]]
    best = [2, 0, 1]  # ranks 2, 2 (tied, counted after its twin), 1
    assert m.recall_at_k(groups, best, 1) == pytest.approx(1 / 3)
    assert m.recall_at_k(groups, best, 2) == pytest.approx(1.0)
    worst = [1, 2, 0]  # lowest, lowest, second lowest
    assert m.filter_at_k(groups, worst, 1) == pytest.approx(2 / 3)
    assert m.filter_at_k(groups, worst, 2) == pytest.approx(1.0)


def test_heatmap_metrics():
    true = np.array([[0.0, 0.0], [0.0, 1.0]])
    pred = np.array([[0.0, 0.0], [0.5, 0.5]])
    assert m.heatmap_mse(pred, true) == pytest.approx(0.125)
    assert m.heatmap_cc(pred, true) == pytest.approx(0.25 / math.sqrt(0.75 * 0.25))
    assert m.heatmap_sim(pred, true) == pytest.approx(0.5)
    assert m.heatmap_kld(pred, true) == pytest.approx(math.log(2))
    assert m.heatmap_nss(pred, true) == pytest.approx(1.0)  # z-scores -1, -1, 1, 1; the mark is on a 1
    assert m.heatmap_auc_judd(pred, true) == pytest.approx(2.5 / 3)
    assert m.heatmap_sim(true, true) == pytest.approx(1.0)
    assert m.heatmap_kld(true, true) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="empty"):
        m.heatmap_nss(pred, np.zeros((2, 2)))


def test_keyword_precision_recall_f1():
    true = [[0, 1, 0], [1, 1]]
    pred = [[1, 1, 0], [0, 1]]
    assert m.keyword_precision_recall_f1(true, pred) == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3}
    )
    assert m.keyword_precision_recall_f1([[0, 0]], [[0, 0]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="one flag per token"):
        m.keyword_precision_recall_f1([[0, 1]], [[0]])
