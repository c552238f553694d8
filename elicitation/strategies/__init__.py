"""Acquisition strategies: pure scoring functions in a registry keyed by name."""
from elicitation.strategies import attribute_value, simple, uncertainty, voi  # noqa: F401  (registration)
from elicitation.strategies.base import Candidates, ModelOutputs, binary_entropy
from elicitation.strategies.bundle import bundle_target
from elicitation.strategies.registry import STRATEGIES, candidate_scores, get_strategy

__all__ = ["Candidates", "ModelOutputs", "STRATEGIES", "binary_entropy", "bundle_target", "candidate_scores",
           "get_strategy"]
