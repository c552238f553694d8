"""Per-attribute cost estimates from a prior and measured active times (pure).

Annotation times are skewed, so the estimate works on log-seconds: the mean
log-time of the measurements is shrunk towards the log of the researcher's
prior with a pseudo-count kappa (a conjugate normal mean with the prior worth
kappa observations):

    log_est = (kappa * log(prior) + sum_i log(t_i)) / (kappa + n)

With no measurements the estimate is the prior; with many, the geometric mean
of the measured times. Per-annotator speed is the same idea one level down:
an annotator's mean log-ratio to the attribute estimates, shrunk to 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SECONDS = 0.2


@dataclass(frozen=True)
class CostEstimate:
    prior_s: float
    estimate_s: float
    measured_median_s: float | None
    n: int


def cost_estimate(*, prior_s: float, measured_s: np.ndarray | list[float], pseudo_count: float = 5.0) -> CostEstimate:
    times = np.maximum(np.asarray(measured_s, dtype=np.float64), MIN_SECONDS)
    n = int(times.size)
    prior = max(float(prior_s), MIN_SECONDS)
    log_est = (pseudo_count * np.log(prior) + np.log(times).sum()) / (pseudo_count + n)
    return CostEstimate(prior_s=prior, estimate_s=float(np.exp(log_est)),
                        measured_median_s=float(np.median(times)) if n else None, n=n)


def annotator_speed(*, log_ratios: np.ndarray | list[float], pseudo_count: float = 5.0) -> float:
    """Multiplicative speed factor (1.0 = typical) from log(t / estimate) of one annotator's answers."""
    r = np.asarray(log_ratios, dtype=np.float64)
    return float(np.exp(r.sum() / (pseudo_count + r.size)))
