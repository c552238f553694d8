"""Bundle the best attributes of one target into a task, up to a time limit."""
from __future__ import annotations

import numpy as np


def bundle_target(scores: np.ndarray, costs: np.ndarray, *, time_limit_s: float, bundle_all: bool = False) -> np.ndarray:
    """Positions (into the target's candidates) to ask, best first.

    The best candidate is always asked, even if alone it exceeds the limit;
    the others follow in score order while the estimated total fits.
    Candidates scored -inf (never to be asked) are left out.
    """
    order = np.argsort(-scores, kind="stable")
    order = order[np.isfinite(scores[order])]
    if bundle_all or len(order) == 0:
        return order
    chosen, total = [order[0]], float(costs[order[0]])
    for pos in order[1:]:
        if total + costs[pos] <= time_limit_s:
            chosen.append(pos)
            total += float(costs[pos])
    return np.asarray(chosen, dtype=np.int64)
