"""Strategies keyed by name (DESIGN §5). Each is a pure scoring function."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from elicitation.strategies.base import Candidates, ModelOutputs

ScoreFn = Callable[[Candidates, "ModelOutputs | None", np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Strategy:
    name: str
    score: ScoreFn
    needs_model: bool = True
    bundle_all: bool = False  # ask every remaining attribute of the chosen target


STRATEGIES: dict[str, Strategy] = {}


def register(name: str, *, needs_model: bool = True, bundle_all: bool = False) -> Callable[[ScoreFn], ScoreFn]:
    def decorator(fn: ScoreFn) -> ScoreFn:
        STRATEGIES[name] = Strategy(name=name, score=fn, needs_model=needs_model, bundle_all=bundle_all)
        return fn

    return decorator


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None


def candidate_scores(name: str, candidates: Candidates, outputs: ModelOutputs | None,
                     rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Scores and the strategy actually used: without a model, every strategy falls back to ``all``."""
    strategy = get_strategy(name)
    if strategy.needs_model and outputs is None:
        strategy = STRATEGIES["all"]
    return strategy.score(candidates, outputs, rng), strategy.name
