"""Run folder I/O: ``config.json`` + ``model.safetensors``, written atomically, read back safely.

A run folder describes itself: ``load_run`` rebuilds the model from the folder alone. Weights only
ever come from safetensors (never pickle), and config.json is validated before it is used.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import __version__
from .config import FORMAT_VERSION, DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from .data.scaling import Scaler
from .errors import VaekitError
from .fileio import atomic_write, write_json

CONFIG, WEIGHTS, METRICS, SUMMARY = "config.json", "model.safetensors", "metrics.jsonl", "summary.json"


def save_weights(path: Path, model) -> None:
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, save(state))


def save_run(run: Path, model, model_cfg: ModelConfig, train_cfg: TrainConfig, data_cfg: DataConfig,
             scaler: Scaler, extra: dict) -> None:
    """Write config.json and model.safetensors into the run folder ``run``."""
    config = {
        "format_version": FORMAT_VERSION,
        "vaekit_version": __version__,
        "model": to_dict(model_cfg),
        "train": to_dict(train_cfg),
        "data": to_dict(data_cfg),
        "scaler": to_dict(scaler),
        **extra,
    }
    write_json(run / CONFIG, config)
    save_weights(run / WEIGHTS, model)


def read_config(run: Path) -> dict:
    """Read and validate RUN/config.json; returns the raw dict with the dataclasses under ``cfg_*`` keys."""
    run = Path(run)
    if not run.is_dir():
        raise VaekitError(f"{run}: no such run folder; pass a folder written by `vaekit train`")
    path = run / CONFIG
    if not path.is_file():
        raise VaekitError(f"{path}: missing; {run} is not a complete run folder (was training interrupted?)")
    try:
        config = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise VaekitError(f"{path}: not valid JSON ({e}); retrain or restore the file") from None
    if not isinstance(config, dict):
        raise VaekitError(f"{path}: not a JSON object; retrain or restore the file")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise VaekitError(f"{path}: no format_version; this is not a vaekit run folder")
    if version > FORMAT_VERSION:
        raise VaekitError(f"{path}: format version {version} is newer than this vaekit understands ({FORMAT_VERSION}); upgrade vaekit")
    try:
        config["cfg_model"] = from_dict(ModelConfig, config.get("model")).validate()
        config["cfg_train"] = from_dict(TrainConfig, config.get("train")).validate()
        config["cfg_data"] = from_dict(DataConfig, config.get("data"))
        config["cfg_scaler"] = _scaler(config.get("scaler"))
    except VaekitError as e:
        raise VaekitError(f"{path}: {e}") from None
    except TypeError as e:
        raise VaekitError(f"{path}: malformed ({e}); retrain or restore the file") from None
    if not config["cfg_model"].input_shape:
        raise VaekitError(f"{path}: model.input_shape is empty; retrain or restore the file")
    return config


def load_run(run: Path, device: str = "cpu"):
    """Rebuild the trained model from a run folder -> (model in eval mode, config dict)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models import build_model

    config = read_config(run)
    weights = Path(run) / WEIGHTS
    if not weights.is_file():
        raise VaekitError(f"{weights}: missing; {run} is not a complete run folder (was training interrupted?)")
    model = build_model(config["cfg_model"])
    try:
        state = load_file(weights)
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise VaekitError(f"{weights}: cannot load the weights ({first}); retrain or restore the file") from None
    return model.to(torch.device(device)).eval(), config


def _scaler(data) -> Scaler:
    if not isinstance(data, dict) or set(data) != {"shift", "scale", "clip", "kind"}:
        raise VaekitError("scaler is missing or malformed; retrain or fix the file")
    for key in ("shift", "scale"):
        value = data[key]
        ok = isinstance(value, (int, float)) or (isinstance(value, list) and all(isinstance(v, (int, float)) for v in value))
        if not ok or isinstance(value, bool):
            raise VaekitError(f"scaler.{key} must be a number or a list of numbers; retrain or fix the file")
    return Scaler(**data)
