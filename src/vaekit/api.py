"""The Python API: ``vaekit.train(...)`` writes a run folder; ``vaekit.load(RUN)`` gives it back.

``train`` is the whole job the CLI runs: validate, load and split the data, build and fit the
model, then write the run folder (config, weights, metrics, summary, figures).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from .config import DataConfig, ModelConfig, TrainConfig, default_hidden
from .errors import VaekitError

FIGURES = "figures"


def split_options(options: dict) -> tuple[ModelConfig, TrainConfig, DataConfig]:
    """Sort keyword options into the three configs by field name; unknown names are an error."""
    configs = []
    for cls in (ModelConfig, TrainConfig, DataConfig):
        names = {f.name for f in dataclasses.fields(cls)}
        mine = {k: v for k, v in options.items() if k in names and v is not None}
        configs.append(cls(**mine))
    known = {f.name for cls in (ModelConfig, TrainConfig, DataConfig) for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise VaekitError(f"unknown option(s) {', '.join(unknown)}; the options are {', '.join(sorted(known))}")
    return tuple(configs)


def prepare_out(out: str | Path | None, model: str, data: str) -> Path:
    """Check (before anything is written) that ``out`` can become a new run folder."""
    if out is None:
        stem = Path(data).stem if Path(data).exists() else data
        base = Path("runs") / f"{model}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        out, n = base, 1
        while out.exists():
            n += 1
            out = base.with_name(f"{base.name}-{n}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VaekitError(f"--out {out}: is a file, not a folder; pick a new folder name")
    if out.is_dir() and any(out.iterdir()):
        raise VaekitError(f"--out {out}: folder is not empty; pick a new folder or remove the old run")
    parent = next(p for p in [out, *out.parents] if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VaekitError(f"--out {out}: {parent} is not writable; pick a folder you can write to")
    return out


def train(out=None, verbose: bool = True, offline: bool = False, **options):
    """Train a model and write its run folder; returns the loaded ``Trained`` model.

    Parameters
    ----------
    out : path, optional
        The new run folder (default ``runs/<model>-<data>-<time>``).
    verbose : bool
        Progress and per-epoch lines on stderr.
    offline : bool
        Never download data.
    **options
        Any field of ``ModelConfig``, ``TrainConfig`` or ``DataConfig`` (``model="vae"``,
        ``latent_dim=2``, ``epochs=30``, ``name="digits"``, ...). ``data`` is an alias of ``name``.
    """
    from . import checkpoint
    from .data.datasets import load_data
    from .models import DAE_DEFAULT_NOISE, build_model
    from .train import fit, resolve_device, set_seed

    if "data" in options:
        options["name"] = options.pop("data")
    likelihood_given = options.get("likelihood") is not None
    model_cfg, train_cfg, data_cfg = split_options(options)
    if options.get("hidden") is None:
        model_cfg.hidden = default_hidden(model_cfg.arch)
    if model_cfg.model == "dae" and model_cfg.noise is None:
        model_cfg.noise = DAE_DEFAULT_NOISE
    if not likelihood_given and data_cfg.scale == "standard":
        model_cfg.likelihood = "gaussian"  # standardized data are not in [0, 1]
    model_cfg.validate()
    train_cfg.validate()
    device = resolve_device(train_cfg.device)
    run = prepare_out(out, model_cfg.model, data_cfg.name)

    set_seed(train_cfg.seed)
    data = load_data(data_cfg, seed=train_cfg.seed, val_fraction=train_cfg.val_fraction,
                     test_fraction=train_cfg.test_fraction, offline=offline)
    model_cfg.input_shape = data.shape
    model_cfg.validate()
    if model_cfg.likelihood == "bernoulli" and data.scaler.kind not in ("uint8", "minmax"):
        raise VaekitError(f"--data {data_cfg.name}: --likelihood bernoulli needs data in [0, 1] but --scale "
                          f"{data_cfg.scale} does not map it there; use --likelihood gaussian or --scale minmax")
    if data_cfg.binarize is not None and (data_cfg.binarize != "dynamic" or model_cfg.likelihood != "bernoulli"
                                          or data.scaler.kind not in ("uint8", "minmax")):
        raise VaekitError(f"--binarize {data_cfg.binarize}: the only value is dynamic, and it needs --likelihood "
                          "bernoulli and data in [0, 1] (--scale minmax); drop --binarize or change those options")
    model = build_model(model_cfg).to(device)

    run.mkdir(parents=True, exist_ok=True)
    (run / FIGURES).mkdir(exist_ok=True)
    extra = {"classes": data.classes, "split": {k: len(v) for k, v in data.splits.items()}}
    checkpoint.save_run(run, model, model_cfg, train_cfg, data_cfg, data.scaler, extra)
    metrics = open(run / checkpoint.METRICS, "w")
    start = time.perf_counter()
    with metrics:
        def log(record):
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()

        history = fit(model, data, train_cfg, device=device, on_epoch=log, verbose=verbose, binarize=data_cfg.binarize)
    checkpoint.save_run(run, model, model_cfg, train_cfg, data_cfg, data.scaler, extra)
    summary = write_summary(run, model, data, history, device, time.perf_counter() - start, data_cfg.binarize)
    write_figures(run, model, data, history.records, device)
    from .trained import Trained

    trained = Trained(model.eval(), checkpoint.read_config(run), run)
    trained.history, trained.summary = history, summary
    return trained


def write_summary(run: Path, model, data, history, device, seconds: float, binarize: str | None = None) -> dict:
    from .checkpoint import SUMMARY
    from .fileio import write_json
    from .train import Batches, evaluate

    test = evaluate(model, Batches(data, device, binarize), data.splits["test"])  # binarized: one fresh draw
    summary = {
        **{f"test_{k}": v for k, v in test.items()},
        "epochs_trained": len(history.records),
        "best_epoch": history.best_epoch,
        "stopped": history.stopped,
        "message": history.message,
        "train_seconds": round(seconds, 3),
        "n_test": int(len(data.splits["test"])),
    }
    write_json(run / SUMMARY, summary)
    return summary


def write_figures(run: Path, model, data, records: list[dict], device, n: int = 8) -> None:
    """reconstructions.png, samples.png, loss.png, latent.png under RUN/figures."""
    import torch

    from . import plots
    from .train import Batches

    figures = run / FIGURES
    batches = Batches(data, device)
    test = data.splits["test"]
    with torch.no_grad():
        x, _ = batches.get(torch.as_tensor(test[:n]))
        recon = model.reconstruct(x)
        samples = model.sample(64, generator=torch.Generator(device=device).manual_seed(0))
        codes = torch.cat([model.code(xb) for xb, _ in batches.over(test)]).cpu().numpy()
    name = model.cfg.model.upper()
    plots.save_rows(figures / "reconstructions.png", [_display(x), _display(recon)], ["original", "reconstruction"],
                    f"{name}: test images and their reconstructions")
    kind = "new data" if model.cfg.model == "vae" else "an AE's latent space is not a distribution"
    plots.save_grid(figures / "samples.png", _display(samples), f"{name}: decoded z ~ N(0, I) ({kind})")
    plots.save_curves(figures / "loss.png", records)
    labels = data.y[test] if data.y is not None else None
    plots.save_latent(figures / "latent.png", codes, labels, data.classes)


def _display(t) -> np.ndarray:
    """Model-unit tensor -> numpy for plotting, rescaled to [0, 1] when it is not there already."""
    x = t.detach().float().cpu().numpy()
    lo, hi = float(x.min()), float(x.max())
    return x if lo >= 0 and hi <= 1 else (x - lo) / max(hi - lo, 1e-12)
