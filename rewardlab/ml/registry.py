"""Reward-model types by name: what a training run's config and a saved model refer to."""
from __future__ import annotations

from collections.abc import Callable

from rewardlab.ml._base import TorchRewardModel
from rewardlab.ml.cbm import ConceptBottleneckRewardModel
from rewardlab.ml.coarse import CoarseRewardModel
from rewardlab.ml.pairwise import PairwiseRewardModel

MODEL_TYPES: dict[str, type[TorchRewardModel]] = {}


def register_model_type(name: str) -> Callable[[type[TorchRewardModel]], type[TorchRewardModel]]:
    """Class decorator (or plain call) making ``cls`` buildable and loadable as ``name``."""

    def register(cls: type[TorchRewardModel]) -> type[TorchRewardModel]:
        if MODEL_TYPES.get(name, cls) is not cls:
            raise ValueError(f"a model type named {name!r} is already registered")
        MODEL_TYPES[name] = cls
        return cls

    return register


def get_model_class(name: str) -> type[TorchRewardModel]:
    try:
        return MODEL_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown model type {name!r}; registered: {sorted(MODEL_TYPES)}") from None


def model_type_name(model: TorchRewardModel) -> str:
    """The registered name of ``model``'s class."""
    for name, cls in MODEL_TYPES.items():
        if type(model) is cls:
            return name
    raise KeyError(f"{type(model).__name__} is not a registered model type")


def build_model(name: str, **params: object) -> TorchRewardModel:
    """An unfitted model of type ``name`` with the given hyperparameters."""
    return get_model_class(name)(**params)


register_model_type("cbm")(ConceptBottleneckRewardModel)
register_model_type("coarse")(CoarseRewardModel)
register_model_type("pairwise")(PairwiseRewardModel)
