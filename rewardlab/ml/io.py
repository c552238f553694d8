"""Save and load fitted reward models as a directory of plain files.

    config.json          model type, class, hyperparameters, network shapes, fitted scalars
    weights.safetensors  torch weights, one prefix per module attribute
    sklearn.joblib       scikit-learn parts (input scaler, aggregator) and arrays

safetensors holds no code, so loading weights is safe; the joblib file is a
pickle and must come from a trusted place (our own training runs), as any
scikit-learn model file must.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import torch
from safetensors.torch import load_file, save_file
from sklearn.utils.validation import check_is_fitted

from rewardlab.ml._base import TorchRewardModel
from rewardlab.ml._torch import resolve_device
from rewardlab.ml.registry import get_model_class, model_type_name

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
SKLEARN_FILE = "sklearn.joblib"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def save_model(model: TorchRewardModel, directory: str | Path) -> Path:
    """Write a fitted model to ``directory`` (created if missing); returns the directory."""
    check_is_fitted(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    params = model.get_params(deep=False)
    if not isinstance(params.get("random_state"), (int, type(None))):
        params["random_state"] = None  # a RandomState object is not JSON; it only mattered during fit
    if params.get("progress_callback") is not None:
        params["progress_callback"] = None  # a live callback is not JSON either, and means nothing after fit
    config = {
        "format_version": FORMAT_VERSION,
        "model_type": model_type_name(model),
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "params": _jsonable(params),
        "network": model._network_config(),
        "fitted": {name: _jsonable(getattr(model, name)) for name in model._json_attrs},
    }
    tensors: dict[str, torch.Tensor] = {}
    for attr in model._torch_attrs:
        for key, tensor in getattr(model, attr).state_dict().items():
            tensors[f"{attr}.{key}"] = tensor.detach().cpu().contiguous()
    save_file(tensors, str(directory / WEIGHTS_FILE))
    joblib.dump({name: getattr(model, name) for name in model._joblib_attrs}, directory / SKLEARN_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    return directory


def load_model(directory: str | Path, *, device: str | None = None) -> TorchRewardModel:
    """Rebuild a model saved by ``save_model``; predictions match the saved model's.

    ``device`` overrides where the weights go (default: the model's own
    ``device`` hyperparameter, resolved on this machine).
    """
    directory = Path(directory)
    config = json.loads((directory / CONFIG_FILE).read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported model format {config.get('format_version')!r} in {directory}")
    cls = get_model_class(config["model_type"])
    params = dict(config["params"])
    if "hidden" in params and isinstance(params["hidden"], list):
        params["hidden"] = tuple(params["hidden"])
    model = cls(**params)
    target = resolve_device(device or params.get("device"))

    modules = model._build_networks(config["network"])
    state = load_file(str(directory / WEIGHTS_FILE))
    for attr, module in modules.items():
        prefix = f"{attr}."
        module.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, strict=True)
        setattr(model, attr, module.to(target).eval())
    for name, value in joblib.load(directory / SKLEARN_FILE).items():
        setattr(model, name, value)
    for name, value in config["fitted"].items():
        setattr(model, name, value)
    model.device_ = str(target)
    return model
