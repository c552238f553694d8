"""Inter-annotator agreement statistics (pure: numpy, scipy, statsmodels, krippendorff; no Django).

The per-kind consolidators (``annotator.consolidation``) turn answers into
the count tables these functions take. Every function returns ``None``
where the statistic is undefined (no pairable answers, a single category
used by everyone), never NaN, so callers can store and serialise results.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import krippendorff
import numpy as np

# scipy.stats and statsmodels are imported where they are used: consolidation
# imports this module, and the web workers' start-up should not pay ~1.5 s for
# statistics that only the campaign-level agreement and rankings need.


def _finite(value: float) -> float | None:
    value = float(value)
    return None if np.isnan(value) or np.isinf(value) else value


def krippendorff_alpha(value_counts: np.ndarray, *, level: str = "nominal",
                       value_domain: Sequence | None = None) -> float | None:
    """Krippendorff's alpha from a (units x values) count table.

    Counts rather than a (raters x units) matrix: alpha does not depend on
    who gave a value, and the table stays small however many annotators
    a campaign has. Units with fewer than two values are not pairable and
    drop out, as in the coefficient's definition.
    """
    counts = np.asarray(value_counts, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[1] < 2 or not (counts.sum(axis=1) >= 2).any():
        return None
    counts = counts[counts.sum(axis=1) >= 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = krippendorff.alpha(value_counts=counts, value_domain=value_domain, level_of_measurement=level)
    return _finite(value)


def fleiss_kappa(table: np.ndarray) -> float | None:
    """Fleiss' kappa of a (subjects x categories) count table.

    Fleiss' kappa assumes every subject has the same number of raters; the
    caller passes only the rows with exactly ``overlap`` ratings.
    """
    table = np.asarray(table, dtype=np.int64)
    if table.ndim != 2 or table.shape[0] == 0:
        return None
    raters = table.sum(axis=1)
    if raters[0] < 2 or (raters != raters[0]).any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        from statsmodels.stats.inter_rater import fleiss_kappa as _fleiss_kappa

        return _finite(_fleiss_kappa(table, method="fleiss"))


def unanimous_share(value_counts: np.ndarray) -> float | None:
    """Share of units with at least two answers on which every answer is the same."""
    counts = np.asarray(value_counts)
    if counts.ndim != 2:
        return None
    totals = counts.sum(axis=1)
    pairable = totals >= 2
    if not pairable.any():
        return None
    return float((counts[pairable].max(axis=1) == totals[pairable]).mean())


def pairwise_iou(masks: np.ndarray) -> np.ndarray:
    """IoU of every pair of masks, in ``combinations`` order.

    ``masks`` is (annotators, pixels) boolean. Two empty masks have no IoU
    (0/0): those entries are NaN and the caller decides what they mean.
    """
    flat = np.asarray(masks, dtype=bool).reshape(len(masks), -1)
    sizes = [np.count_nonzero(m) for m in flat]
    out = np.empty(len(flat) * (len(flat) - 1) // 2)
    for k, (i, j) in enumerate(combinations(range(len(flat)), 2)):
        inter = np.count_nonzero(flat[i] & flat[j]) if sizes[i] and sizes[j] else 0
        union = sizes[i] + sizes[j] - inter
        out[k] = inter / union if union else np.nan
    return out


def iou(mask_a: np.ndarray, mask_b: np.ndarray, *, empty: float = 1.0) -> float:
    """IoU of two masks; two empty masks are identical, so they score ``empty`` (1.0)."""
    value = pairwise_iou(np.stack([np.asarray(mask_a, bool).ravel(), np.asarray(mask_b, bool).ravel()]))[0]
    return empty if np.isnan(value) else float(value)


def kendall_w(ranks: np.ndarray) -> float | None:
    """Kendall's coefficient of concordance W of a (raters x items) rank table, tie-corrected.

    From Friedman's statistic, W = chi2 / (m (n - 1)); scipy applies the tie
    correction, so ties (two images on one level) are handled as in W's
    corrected form. Needs at least two raters and three items.
    """
    ranks = np.asarray(ranks, dtype=float)
    if ranks.ndim != 2 or ranks.shape[0] < 2 or ranks.shape[1] < 3:
        return None
    m, n = ranks.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            from scipy import stats

            chi2 = stats.friedmanchisquare(*ranks.T).statistic
        except ValueError:
            return None
    value = _finite(chi2 / (m * (n - 1)))
    return None if value is None else min(1.0, max(0.0, value))


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (tie-aware) of two rankings; None if one is constant."""
    with np.errstate(divide="ignore", invalid="ignore"):
        from scipy import stats

        return _finite(stats.kendalltau(x, y).statistic)


def mean_pairwise_kendall_tau(ranks: np.ndarray) -> float | None:
    """Mean tau-b over every pair of raters of a (raters x items) rank table."""
    ranks = np.asarray(ranks, dtype=float)
    taus = [kendall_tau(ranks[i], ranks[j]) for i, j in combinations(range(len(ranks)), 2)]
    taus = [t for t in taus if t is not None]
    return float(np.mean(taus)) if taus else None
