"""Evaluation metrics for reward models, on top of scikit-learn and scipy.

Classification (Collins et al., TIA2): ROC-AUC, AUPRC, AP@k. Rank and score
agreement (TIA2, RichHF): Spearman/SRCC, Kendall, Pearson/PLCC. Preferences
(ImageReward Table 3): preference accuracy, recall@k, filter@k. Rich feedback
(RichHF §5): heatmap MSE, CC, KLD, SIM, NSS, AUC-Judd, keyword P/R/F1.

Scores are "higher is better" throughout. Where ties between model scores
matter (preference accuracy, recall@k, filter@k) they count against the model,
so a constant scorer never looks better than chance.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special, stats
from sklearn import metrics as skm

#: Guards divisions and logs in the saliency metrics (the MIT benchmark's eps).
EPS = np.finfo(np.float64).eps


def _1d(a: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).ravel()


# -- classification -----------------------------------------------------------
def roc_auc(y_true: Sequence[float], scores: Sequence[float]) -> float:
    """Area under the ROC curve of binary labels against scores."""
    return float(skm.roc_auc_score(_1d(y_true), _1d(scores)))


def auprc(y_true: Sequence[float], scores: Sequence[float]) -> float:
    """Area under the precision-recall curve, as scikit-learn's average precision."""
    return float(skm.average_precision_score(_1d(y_true), _1d(scores)))


def ap_at_k(y_true: Sequence[float], scores: Sequence[float], k: int) -> float:
    """Average precision over the k highest-scored items (TIA2's AP@k).

    Rank by score (descending; ties keep input order), take the top k, and
    average precision@i over the ranks i <= k that hold a positive, dividing by
    min(k, number of positives) so a ranking that leaves positives out of the
    top k is penalised and a perfect one scores 1:

        AP@k = sum_{i<=k} P@i * rel_i / min(k, n_pos)

    Labels above 0.5 are positives (TIA2's "good" = 1, "inconclusive" = 0.5
    is not). Returns 0.0 when there is no positive, like scikit-learn's AP.
    """
    rel = (_1d(y_true) > 0.5).astype(np.float64)
    order = np.argsort(-_1d(scores), kind="stable")[: int(k)]
    hits = rel[order]
    n_pos = int(rel.sum())
    if n_pos == 0 or k <= 0:
        return 0.0
    precision_at_i = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision_at_i * hits).sum() / min(int(k), n_pos))


# -- correlation --------------------------------------------------------------
def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    return float(stats.spearmanr(_1d(a), _1d(b)).statistic)


def kendall(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (scipy's default, which corrects for ties)."""
    return float(stats.kendalltau(_1d(a), _1d(b)).statistic)


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    return float(stats.pearsonr(_1d(a), _1d(b)).statistic)


#: RichHF's names for the same statistics on predicted vs human scores.
plcc = pearson
srcc = spearman


# -- preferences ---------------------------------------------------------------
def preference_accuracy(scores: Sequence[float], pairs: Sequence[Sequence[int]] | np.ndarray) -> float:
    """Share of [preferred, other] pairs the scores order correctly; a tie is wrong."""
    s = _1d(scores)
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(p) == 0:
        raise ValueError("no pairs to score")
    return float(np.mean(s[p[:, 0]] > s[p[:, 1]]))


def _pessimistic_rank(scores: np.ndarray, index: int) -> int:
    """1-based rank of ``scores[index]`` from the top, placed after every item it ties with."""
    return int(stats.rankdata(-scores, method="max")[index])


def recall_at_k(group_scores: Sequence[Sequence[float]], best: Sequence[int], k: int) -> float:
    """ImageReward's Recall@k: share of prompts whose human-best image is in the model's top k.

    ``group_scores[g]`` are the model's scores for prompt g's images and
    ``best[g]`` the index (within the group) of the image humans chose as best.
    Averaged per prompt, as in Table 3.
    """
    hits = [_pessimistic_rank(_1d(s), int(b)) <= k for s, b in zip(group_scores, best, strict=True)]
    return float(np.mean(hits))


def filter_at_k(group_scores: Sequence[Sequence[float]], worst: Sequence[int], k: int) -> float:
    """ImageReward's Filter@k: share of prompts whose human-worst image is among the model's k lowest.

    That is, dropping the k lowest-scored images filters out the worst one.
    """
    hits = [_pessimistic_rank(-_1d(s), int(w)) <= k for s, w in zip(group_scores, worst, strict=True)]
    return float(np.mean(hits))


# -- heatmaps (RichHF; saliency metrics as in Bylinskii et al.) ---------------------
def _as_distribution(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    m = m - m.min() if m.min() < 0 else m
    return m / (m.sum() + EPS)


def heatmap_mse(pred: np.ndarray, true: np.ndarray) -> float:
    """Pixel-wise mean squared error; the one heatmap metric defined on empty ground truth."""
    return float(skm.mean_squared_error(_1d(true), _1d(pred)))


def heatmap_cc(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson correlation between the two maps' pixels."""
    return pearson(pred, true)


def heatmap_kld(pred: np.ndarray, true: np.ndarray) -> float:
    """KL divergence of the prediction from the ground truth, both normalised to sum 1."""
    p, q = _as_distribution(true), _as_distribution(pred)
    return float(special.rel_entr(p, q + EPS).sum())


def heatmap_sim(pred: np.ndarray, true: np.ndarray) -> float:
    """Histogram intersection of the two maps normalised to sum 1 (1 = identical)."""
    return float(np.minimum(_as_distribution(pred), _as_distribution(true)).sum())


def _fixations(true: np.ndarray, threshold: float) -> np.ndarray:
    fix = np.asarray(true, dtype=np.float64).ravel() > threshold
    if not fix.any():
        raise ValueError("ground-truth heatmap is empty; NSS and AUC-Judd need at least one marked pixel")
    return fix


def heatmap_nss(pred: np.ndarray, true: np.ndarray, threshold: float = 0.0) -> float:
    """Normalised scanpath saliency: mean z-scored prediction at ground-truth pixels above ``threshold``."""
    fix = _fixations(true, threshold)
    z = stats.zscore(_1d(pred))
    return float(np.nan_to_num(z)[fix].mean())


def heatmap_auc_judd(pred: np.ndarray, true: np.ndarray, threshold: float = 0.0) -> float:
    """AUC-Judd: ROC-AUC of the prediction separating marked pixels (true > threshold) from the rest."""
    fix = _fixations(true, threshold)
    if fix.all():
        raise ValueError("every pixel is marked; AUC-Judd needs unmarked pixels too")
    return roc_auc(fix, pred)


# -- keywords -------------------------------------------------------------------
def keyword_precision_recall_f1(
    true: Sequence[Sequence[int]], pred: Sequence[Sequence[int]]
) -> dict[str, float]:
    """Token-level precision/recall/F1 of misaligned-keyword flags, pooled over all samples (RichHF).

    ``true[s]`` and ``pred[s]`` are one 0/1 flag per prompt token of sample s
    (1 = misaligned); sample lengths must match pairwise.
    """
    t = [np.asarray(a, dtype=np.int64).ravel() for a in true]
    p = [np.asarray(a, dtype=np.int64).ravel() for a in pred]
    if len(t) != len(p) or any(a.shape != b.shape for a, b in zip(t, p)):
        raise ValueError("true and pred must give one flag per token for the same samples")
    yt = np.concatenate(t) if t else np.zeros(0, dtype=np.int64)
    yp = np.concatenate(p) if p else np.zeros(0, dtype=np.int64)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        yt, yp, average="binary", pos_label=1, zero_division=0.0
    )
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
