"""The training loop: seeded batches sliced from tensors in memory, Adam, validation, early
stopping that restores the best weights, and a guard against non-finite losses.

The loop knows nothing of the model's kind: every model has ``loss(x, y, progress) -> (loss, logs)``.
"""

from __future__ import annotations

import copy
import math
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .config import TrainConfig
from .data.datasets import Data

EVAL_BATCH = 1024  # examples per forward pass when no gradients are kept


def set_seed(seed: int) -> None:
    """Seed every RNG the run touches (Python, numpy, torch on CPU and GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        from .errors import VaekitError

        raise VaekitError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu or --device auto")
    return torch.device(name)


def as_tensor(x: np.ndarray) -> torch.Tensor:
    """Zero-copy view of a numpy array (memmaps included) as a tensor."""
    with warnings.catch_warnings():  # read-only memmaps: we never write through the view
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.asarray(x))


class Batches:
    """Gathers rows of the raw data tensor and scales them on the target device."""

    def __init__(self, data: Data, device: torch.device, binarize: str | None = None):
        self.device = device
        self.binarize = binarize  # "dynamic": every get() draws x ~ Bernoulli(scaled x) afresh
        self.x = as_tensor(data.x)
        if device.type == "cuda":
            self.x = self.x.to(device)  # small data sets live on the GPU: no copy per step
        self.y = None if data.y is None else torch.as_tensor(data.y).to(self.x.device)
        self.scaler = data.scaler

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (x scaled to model units (B, ...), labels (B,) or None) for the rows ``idx``."""
        idx = idx.to(self.x.device)
        xb = self.x.index_select(0, idx)  # (B, ...) in the raw dtype
        yb = None if self.y is None else self.y.index_select(0, idx).to(self.device, non_blocking=True)
        xb = self.scaler.transform(xb.to(self.device, non_blocking=True))
        return (torch.bernoulli(xb) if self.binarize else xb), yb

    def over(self, idx: np.ndarray, batch_size: int = EVAL_BATCH):
        idx = torch.as_tensor(idx)
        for start in range(0, len(idx), batch_size):
            yield self.get(idx[start : start + batch_size])


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Batches, idx: np.ndarray) -> dict[str, float]:
    """Mean of the model's logs over the examples ``idx``, in eval mode (no corruption, full KL weight)."""
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    for xb, yb in batches.over(idx):
        _, logs = model.loss(xb, y=yb)
        for k, v in logs.items():
            sums[k] = sums.get(k, 0) + v * len(xb)
    model.train(was_training)
    return {k: v.item() / len(idx) for k, v in sums.items()}


@dataclass
class History:
    records: list[dict] = field(default_factory=list)  # one per epoch, as in metrics.jsonl
    best_epoch: int = 0
    stopped: str = "completed"  # completed, early-stopped or diverged
    message: str = ""  # why training stopped, for the user


def fit(model: torch.nn.Module, data: Data, cfg: TrainConfig, *, device: torch.device,
        on_epoch: Callable[[dict], None] | None = None, verbose: bool = True, binarize: str | None = None) -> History:
    """Train ``model`` on ``data.splits['train']``; returns the History. The model ends on the best weights."""
    batches = Batches(data, device, binarize)
    train_idx = torch.as_tensor(data.splits["train"])
    val_idx = data.splits["val"]
    monitor = "val_loss" if len(val_idx) else "train_loss"
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, foreach=True)
    n_batches = math.ceil(len(train_idx) / cfg.batch_size)
    generator = torch.Generator().manual_seed(cfg.seed)
    history, best = History(), math.inf
    best_state = good_state = _snapshot(model, optimizer)
    bar = _progress_bar(n_batches, verbose)
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        sums: dict[str, torch.Tensor] = {}
        if bar is not None:
            bar.reset()
            bar.set_description(f"epoch {epoch}/{cfg.epochs}")
        for i in range(n_batches):
            xb, yb = batches.get(order[i * cfg.batch_size : (i + 1) * cfg.batch_size])
            loss, logs = model.loss(xb, y=yb, progress=epoch - 1 + i / n_batches)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for k, v in logs.items():  # summed on the device: no host sync per step
                sums[k] = sums.get(k, 0) + v * len(xb)
            if bar is not None:
                bar.update()
        train_logs = {k: v / len(train_idx) for k, v in zip(sums, torch.stack(list(sums.values())).tolist())}
        if not all(math.isfinite(v) for v in train_logs.values()):
            _restore(model, optimizer, good_state)
            history.stopped = "diverged"
            history.message = (f"the training loss became {train_logs['loss']} in epoch {epoch}; kept the weights "
                               f"of epoch {epoch - 1}; try a lower --lr (now {cfg.lr:g})")
            break
        record = {"epoch": epoch, **{f"train_{k}": v for k, v in train_logs.items()}}
        if len(val_idx):
            record.update({f"val_{k}": v for k, v in evaluate(model, batches, val_idx).items()})
        record["seconds"] = time.perf_counter() - start
        history.records.append(record)
        good_state = _snapshot(model, optimizer)
        if record[monitor] < best:
            best, history.best_epoch, best_state = record[monitor], epoch, good_state
        if on_epoch is not None:
            on_epoch(record)
        if verbose:
            _print_epoch(record, bar)
        if cfg.patience and epoch - history.best_epoch >= cfg.patience:
            history.stopped = "early-stopped"
            history.message = f"no better {monitor} for {cfg.patience} epochs; restored epoch {history.best_epoch}"
            break
    if bar is not None:
        bar.close()
    if history.best_epoch:
        _restore(model, None, best_state)
    return history


def _snapshot(model, optimizer) -> dict:
    return {"model": copy.deepcopy(model.state_dict()), "optimizer": copy.deepcopy(optimizer.state_dict())}


def _restore(model, optimizer, state: dict) -> None:
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])


def _progress_bar(total: int, verbose: bool):
    if not (verbose and sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="batch", leave=False, dynamic_ncols=True)


def _print_epoch(record: dict, bar) -> None:
    skip = ("epoch", "seconds")
    terms = "  ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in skip)
    line = f"epoch {record['epoch']:>3}  {terms}  ({record['seconds']:.1f}s)"
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)
