"""The training loop: seeded batches sliced from tensors in memory, Adam, validation, early
stopping that restores the best weights, and a guard against non-finite losses.

The loop knows nothing of the model's kind: every model has ``loss(x, y, progress) -> (loss, logs)``,
and a step is that loss and its backward. Only ``fused.step_for`` looks at the model: for the MLP
AE, DAE and VAE it gives a step with hand-derived gradients that computes the same thing faster.

Resume: ``train_state`` is everything the loop needs to go on after an epoch (weights, Adam,
early-stopping state, records, every RNG), and ``fit(resume=state)`` continues bit for bit.

Non-finite losses cost nothing while there are none: the normal path never waits for the device
inside an epoch. The epoch's loss sums (read once anyway) and one finiteness flag of the weights
tell whether anything went wrong; if so, the epoch is replayed from its start (weights, Adam and
RNG states restored, so the replay is the same computation) with a check after every step, which
finds the batch, and either stops on the last good epoch or skips the bad batches (--on-nan).
Weights that train on finite losses but score a non-finite validation loss stop on the last good
epoch under either setting: skipping cannot mend them.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import math
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from . import distributed, fused
from .config import TrainConfig, check_device
from .data.datasets import Data
from .data.scaling import chunk_rows
from .distributed import World
from .errors import VaekitError, first_line
from .optim import Adam

# Examples per forward pass when no gradients are kept. 1024 made glibc keep up to 40 MB of freed
# evaluation buffers (peak memory varied with address layout); 256 adds ~1 MB and evaluates as fast.
EVAL_BATCH = 256


def set_seed(seed: int) -> None:
    """Seed every RNG the run touches (Python, numpy, torch on CPU and GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def callers_rng_kept(cuda: bool = False):
    """Give the caller back Python's, numpy's and torch's global RNG states (CUDA's too, where in use, or
    where ``cuda`` says the block may start using it) after a block that seeds them, as training does."""
    python, numpy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() or (cuda and torch.cuda.is_available()) else None
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str = "cpu"):
    """The CPU's generator, and ``device``'s where it is a GPU, seeded with ``seed`` for the block and then given
    back as they were. Other GPUs' generators are left alone: ``torch.manual_seed`` would seed them all, and
    ``fork_rng`` gives back only the ones it was told of."""
    cuda = torch.device(device).type == "cuda"
    with torch.random.fork_rng(devices=[device] if cuda else []):
        torch.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


@contextlib.contextmanager
def freed_memory_reused():
    """While the block runs, make glibc keep freed memory for reuse instead of giving it back to the
    kernel; afterwards give it back.

    A training step frees and allocates the same few megabytes again every step. By default glibc
    returns large blocks to the kernel and the next step page-faults them back in: 100-500 faults a
    step for the MLP VAE on Fashion-MNIST (2-core VM: 17-23k samples/s in a process that had run
    another training loop, against 27-31k with this). With the mmap threshold at its 32 MiB ceiling
    and no trimming, steps reuse the heap (0-15 faults a step). Peak resident memory is the same.
    At the end the trim threshold is glibc's default again and the free heap goes back to the kernel,
    so a notebook or a service that trained a model does not keep its freed memory. No-op where the
    C library has no ``mallopt`` (macOS, Windows).
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        yield
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 1 << 30)
    try:
        yield
    finally:
        mallopt(m_trim_threshold, 128 << 10)  # glibc's default
        malloc_trim(0)


def resolve_device(name: str) -> torch.device:
    """auto, cpu, cuda or cuda:N -> the torch device, or one line saying why it is not there."""
    kind, index = check_device(name)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise VaekitError(f"--device {name}: no CUDA GPU is visible to PyTorch; use --device cpu or --device auto")
    if index is not None and index >= torch.cuda.device_count():
        raise VaekitError(f"--device {name}: PyTorch sees {torch.cuda.device_count()} GPU(s), numbered from 0; "
                          "pick one of them")
    return torch.device(kind, index)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively; without it --precision bf16 is emulated, slower than fp32.
    x86 CPUs need AVX512-BF16 or AMX; other CPUs are not judged (True)."""
    if device.type == "cuda":
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # a torch from before that argument
            return torch.cuda.is_bf16_supported()
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # an older torch: nothing to judge by
        return True
    return caps.get("architecture") != "x86_64" or bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


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
        if device.type == "cuda" and self.x.nbytes <= 0.5 * torch.cuda.mem_get_info(device)[0]:
            self.x = self.x.to(device)  # data that fit live on the GPU: no copy per step
        # Data left on the host go to the GPU through pinned memory, asynchronously.
        self.pin = device.type == "cuda" and self.x.device.type == "cpu"
        self.y = None if data.y is None else torch.as_tensor(data.y).to(device)
        self.scaler = data.scaler
        self.constants = data.scaler.constants(self.x[:0].to(device))  # made once, not per batch

    def get(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (x scaled to model units (B, ...), labels (B,) or None) for the rows ``idx``; binarized
        with draws from ``generator`` (None: torch's global RNG)."""
        # non_blocking throughout: a blocking host-to-GPU copy would wait for the GPU at every step
        xb = self.x.index_select(0, idx.to(self.x.device, non_blocking=True))  # (B, ...) in the raw dtype
        if self.pin:
            xb = xb.pin_memory()
        yb = None if self.y is None else self.y.index_select(0, idx.to(self.device, non_blocking=True))
        xb = self.scaler.transform(xb.to(self.device, non_blocking=True), self.constants)
        return (torch.bernoulli(xb, generator=generator) if self.binarize else xb), yb

    def over(self, idx: np.ndarray, batch_size: int = EVAL_BATCH, seed: int | None = None):
        """(x, y) batches of the rows ``idx`` in order. With a ``seed`` the binarization is that seed's
        fixed draw, alike in every pass: the held-out splits are scored so (paired epoch to epoch)."""
        idx = torch.as_tensor(idx)
        generator = None if seed is None else torch.Generator(device=self.device).manual_seed(seed)
        for start in range(0, len(idx), batch_size):
            yield self.get(idx[start : start + batch_size], generator)


def mean_logs(model: torch.nn.Module, batches: Batches, idx: np.ndarray, seed: int | None = None) -> dict[str, float]:
    """Mean of the model's logs over the examples ``idx``, in eval mode (no corruption, full KL weight).

    With a ``seed`` every pass scores the same draws: the binarization (see ``Batches.over``) and the
    model's noise (a VAE's posterior draws, an IWAE's k of them) are that seed's, and torch's global
    generator is left as it was. So the validation loss of one epoch compares with the next (a fresh draw
    moved it by ~0.1 nats on digits, enough to stop early on chance), and scoring leaves the training
    noise alone. Without one, the noise comes from torch's global generator."""
    if seed is None:
        return _mean_logs(model, batches, idx, None)
    with seeded(seed, batches.device):
        return _mean_logs(model, batches, idx, seed)


@torch.no_grad()
def _mean_logs(model: torch.nn.Module, batches: Batches, idx: np.ndarray, seed: int | None) -> dict[str, float]:
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    for xb, yb in batches.over(idx, seed=seed):
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
        on_epoch: Callable[[dict], None] | None = None, verbose: bool = True, binarize: str | None = None,
        resume: dict | None = None, on_state: Callable[[dict, bool], None] | None = None,
        world: World = World(), restore_best: bool = True) -> History:
    """Train ``model`` on ``data.splits['train']``; returns the History. The model ends on the best
    epoch's weights, or with ``restore_best=False`` on the last epoch's (the last finite ones if training diverged).

    ``on_state(state, final)`` gets the ``train_state`` before the first epoch and after every epoch
    (``final`` after the last one); ``resume=state`` continues after that state's epoch exactly as the
    uninterrupted run would have. Under torchrun, ``world`` says which share of each batch is ours.
    """
    # on cuda:N, N is the current device meanwhile: the CUDA RNG state saved for --resume and for the replay of
    # an epoch that went non-finite is the current device's (torch.cuda.get_rng_state's default)
    gpu = torch.cuda.device(device) if torch.device(device).type == "cuda" else contextlib.nullcontext()
    # enable_grad: under a caller's torch.no_grad() the models that train through autograd had no gradient
    with freed_memory_reused(), gpu, torch.enable_grad():
        return _fit(model, data, cfg, device=device, on_epoch=on_epoch, verbose=verbose, binarize=binarize,
                    resume=resume, on_state=on_state, world=world, restore_best=restore_best)


def _fit(model, data: Data, cfg: TrainConfig, *, device, on_epoch, verbose, binarize, resume, on_state, world,
         restore_best) -> History:
    batches = Batches(data, device, binarize)
    train_idx = torch.as_tensor(data.splits["train"])
    val_idx = data.splits["val"]
    # What picks the best epoch (and stops early): the log the model names, on the validation split (scored at
    # the schedule's final KL weight) or else the training split; a VAE's -ELBO where its loss holds free bits
    # (or, on the training split, a warm-up), as those only shape training
    picks = getattr(model, "monitored_log", lambda held_out: "loss")  # (any module with a loss trains)
    monitor = f"{'val' if len(val_idx) else 'train'}_{picks(held_out=bool(len(val_idx)))}"
    optimizer = Adam(model.parameters(), lr=cfg.lr)  # one fused kernel a step (see optim.py)
    check_batch_split(cfg.batch_size, world)
    # The MLP AE's, DAE's and VAE's hand-derived step where it applies (fused.py); autograd for the rest
    step = fused.step_for(model, cfg.precision, world.size) or functools.partial(
        _autograd_step, distributed.objective(model, world, device), optimizer, cfg.precision)
    n_batches = -(-len(train_idx) // cfg.batch_size)
    generator = torch.Generator().manual_seed(cfg.seed)
    history, best = History(), math.inf
    best_state = good_state = _snapshot(model, optimizer)
    first = 1
    if resume is not None:
        best, best_state, first = _load_train_state(resume, model, optimizer, generator, history, cfg, world)
        # by the log that picks the best epoch now (a state saved when free bits were judged by their loss has
        # that loss as its best, which every later -ELBO would beat)
        best = next((r[monitor] for r in history.records if r["epoch"] == history.best_epoch and monitor in r), best)
        good_state = _snapshot(model, optimizer)
    elif world.rank:
        torch.manual_seed(cfg.seed + world.rank * 2**32)  # each process draws its own noise; batches are shared
    if on_state is not None:
        on_state(train_state(first - 1, good_state, best, best_state, history, generator, world), False)
    bar = _progress_bar(n_batches, verbose)
    end = cfg.epochs if history.stopped == "completed" else first - 1  # a resumed run may have stopped already
    for epoch in range(first, end + 1):
        start = time.perf_counter()
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        # data on a GPU: the epoch's order goes there once, where a step's indices from pageable memory could wait
        order = order.to(batches.x.device)
        rng = _rng_state(generator)  # a replay of this epoch starts from here
        args = (step, model, optimizer, batches, order, epoch, n_batches, cfg, world, bar)
        train_logs, skipped, bad = _train_epoch(*args, checked=False)
        if train_logs is None:  # something went non-finite: replay the epoch, checking every step
            _restore(model, optimizer, good_state)
            _set_rng_state(rng, generator)
            train_logs, skipped, bad = _train_epoch(*args, checked=True)
        if train_logs is None:
            _restore(model, optimizer, good_state)
            history.stopped, history.message = "diverged", _diverged(epoch, bad, len(skipped) == n_batches, cfg, history,
                                                                     restore_best, data)
            break
        record = {"epoch": epoch, **{f"train_{k}": v for k, v in train_logs.items()}}
        if cfg.on_nan == "skip":
            record["skipped_batches"] = len(skipped)
        if len(val_idx):
            val_logs = _val_logs(model, batches, val_idx, cfg.seed, world)
            if not all(math.isfinite(v) for v in val_logs.values()):  # finite but diverged weights (--on-nan skip)
                _restore(model, optimizer, good_state)
                history.stopped, history.message = "diverged", _diverged(epoch, 0, False, cfg, history, restore_best,
                                                                         data, "the validation loss")
                break
            record.update({f"val_{k}": v for k, v in val_logs.items()})
        record["seconds"] = time.perf_counter() - start
        history.records.append(record)
        good_state = _snapshot(model, optimizer)
        if record[monitor] < best:
            best, history.best_epoch, best_state = record[monitor], epoch, good_state
        if on_epoch is not None:
            on_epoch(record)
        if verbose:
            for i in skipped:
                _say(f"epoch {epoch}, batch {i}/{n_batches}: non-finite loss or gradient; skipped it (--on-nan skip)", bar)
            _print_epoch(record, bar)
        if cfg.patience and epoch - history.best_epoch >= cfg.patience:
            history.stopped = "early-stopped"
            history.message = (f"no better {monitor} for {cfg.patience} epochs; "
                               + (f"restored epoch {history.best_epoch}" if restore_best else f"kept epoch {epoch}"))
        if on_state is not None:
            final = epoch == cfg.epochs or history.stopped != "completed"
            on_state(train_state(epoch, good_state, best, best_state, history, generator, world), final)
        if history.stopped != "completed":
            break
    if bar is not None:
        bar.close()
    if history.best_epoch and restore_best:
        _restore(model, None, best_state)
    return history


def train_state(epoch: int, good_state: dict, best: float, best_state: dict, history: History,
                generator: torch.Generator, world: World) -> dict:
    """All that ``fit`` needs to go on after ``epoch``: tensors and plain values only (weights_only-loadable).

    ``rng`` holds every process's RNG states (a collective under torchrun: every rank calls this).
    """
    return {
        "epoch": epoch,
        "model": good_state["model"],
        "optimizer": good_state["optimizer"],
        "best": best,
        "best_epoch": history.best_epoch,
        "best_model": best_state["model"],
        "records": list(history.records),
        "stopped": history.stopped,
        "message": history.message,
        "rng": distributed.gather(_rng_state(generator), world),
    }


def _load_train_state(state: dict, model, optimizer, generator, history: History, cfg: TrainConfig,
                      world: World) -> tuple[float, dict, int]:
    """Put a ``train_state`` back into the model, Adam, RNGs and history -> (best, best_state, first epoch)."""
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history.records = [dict(r) for r in state["records"]]
        history.best_epoch, history.stopped, history.message = int(state["best_epoch"]), str(state["stopped"]), str(state["message"])
        rngs = state["rng"]
        _set_rng_state(rngs[world.rank] if len(rngs) == world.size else rngs[0], generator)
        best, best_state, epoch = float(state["best"]), {"model": state["best_model"]}, int(state["epoch"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        reason = first_line(e)
        raise VaekitError(f"the saved training state does not fit this run ({reason}); delete train_state.pt "
                          "and train again") from None
    if len(rngs) != world.size and world.rank:  # resumed with another process count: fresh noise streams
        torch.manual_seed(cfg.seed + world.rank * 2**32 + epoch)
    return best, best_state, epoch + 1


def check_batch_split(batch_size: int, world: World) -> None:
    if batch_size % world.size:
        raise VaekitError(f"--batch-size {batch_size} (the global batch) must split evenly over {world.size} "
                          f"processes; try --batch-size {max(1, batch_size // world.size) * world.size}")


def _train_epoch(step, model, optimizer, batches: Batches, order: torch.Tensor, epoch: int, n_batches: int,
                 cfg: TrainConfig, world: World, bar, *, checked: bool) -> tuple[dict | None, list[int], int]:
    """One pass over ``order`` -> (mean train logs, None if anything went non-finite; skipped batches; bad batch).

    Unchecked (the normal path), nothing waits for the device before the sums are read at the end;
    checked (the replay), every step's loss and gradient norm are tested before ``optimizer.step``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    sums: torch.Tensor | None = None  # the logs' sums, in the order of logs' keys
    seen, skipped = 0, []
    if bar is not None:
        bar.reset()
        bar.set_description(f"epoch {epoch}/{cfg.epochs}")
    for i in range(n_batches):
        batch = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
        mine = world.shard(batch)
        # DDP averages the processes' mean gradients. Weighting each by its share of the batch keeps that
        # the batch's mean gradient where a last, smaller batch splits unevenly; a process left without an
        # example takes part with one at weight 0.
        weight = len(mine) * world.size / len(batch)
        xb, yb = batches.get(mine if len(mine) else batch[:1])
        progress = epoch - 1 + i / n_batches
        # sets every parameter's .grad; only the autograd step runs under torchrun, where weights are not 1
        loss, logs = step(xb, yb, progress) if weight == 1 else step(xb, yb, progress, weight=weight)
        norm = _grad_norm(params, cfg.grad_clip, checked)
        if checked and not _finite(loss, norm, world):
            if cfg.on_nan == "stop":
                return None, skipped, i + 1
            skipped.append(i + 1)
        else:
            optimizer.step()
            # Summed on the device (no host sync per step), all logs in one op instead of two per log.
            step_logs = torch.stack(list(logs.values())).float()
            sums = step_logs * len(mine) if sums is None else sums.add_(step_logs, alpha=len(mine))
            seen += len(mine)
        if bar is not None:
            bar.update()
    if sums is None:
        return None, skipped, 0
    # The one read of the device per epoch: loss sums, example count, and whether every weight is finite.
    finite = torch.stack([p.isfinite().all() for p in params]).all()
    totals = torch.cat([sums.double(), torch.stack([finite.double(), torch.tensor(seen, dtype=torch.float64, device=finite.device)])])
    *values, n_finite, n = distributed.all_sum(totals, world).tolist()
    train_logs = {k: v / n for k, v in zip(logs, values)}
    if n_finite < world.size or not all(math.isfinite(v) for v in train_logs.values()):
        return None, skipped, 0
    return train_logs, skipped, 0


def _autograd_step(objective, optimizer, precision: str, x: torch.Tensor, y: torch.Tensor | None,
                   progress: float, weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """The training step of every model fused.py does not cover: forward (under bf16 autocast with
    --precision bf16), then backward of the loss times ``weight``."""
    with _autocast(precision, x.device.type):
        loss, logs = objective(x, y=y, progress=progress)
    optimizer.zero_grad()
    (loss * weight if weight != 1 else loss).backward()
    return loss, logs


def _autocast(precision: str, device_type: str):
    """The context of the training forward pass: bfloat16 autocast for --precision bf16, nothing for fp32."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


def _grad_norm(params: list, clip: float, needed: bool) -> torch.Tensor | None:
    """Clip the global gradient norm to ``clip`` (0: no clipping) -> the norm before clipping, if clipped or ``needed``."""
    if clip:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    if needed:
        return torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    return None


def _finite(loss: torch.Tensor, norm: torch.Tensor, world: World) -> bool:
    """Whether the loss of every process and the (shared) gradient norm are finite: one device read."""
    bad = (~torch.isfinite(loss)).double() + (~torch.isfinite(norm)).double()
    return distributed.all_sum(bad, world).item() == 0


def _diverged(epoch: int, bad: int, all_skipped: bool, cfg: TrainConfig, history: History, restore_best: bool,
              data: Data, what: str = "the loss or its gradient") -> str:
    # what fit ends on: the best epoch's weights, else (or without restore_best) the last good ones
    kept = history.best_epoch if restore_best and history.best_epoch else epoch - 1
    skippable = cfg.on_nan == "stop" and bad  # skipping helps only where one batch was found bad
    advice = f"try a lower --lr (now {cfg.lr:g}), --grad-clip 1.0" + (" or --on-nan skip" if skippable else "")
    if data.scaler.kind == "none" and (size := _largest(data.x)) > 10:  # a raw 1e3 overflows a VAE's exp(log-variance)
        advice = (f"the data were left as they are (--scale none) and reach {size:.3g} in size, which overflows the "
                  f"model's activations: give --scale standard or --scale minmax; else {advice}")
    if all_skipped:
        return (f"every batch of epoch {epoch} had a non-finite loss or gradient; kept the weights of epoch "
                f"{kept}; check the data for NaN or inf values, or {advice}")
    where = f"epoch {epoch}, batch {bad}" if bad else f"epoch {epoch}"
    return f"{what} became non-finite in {where}; kept the weights of epoch {kept}; {advice}"


def _largest(x: np.ndarray) -> float:
    """The largest magnitude in ``x``, a slice at a time (a memmap is never read whole)."""
    rows = chunk_rows(x)
    return max(float(np.abs(x[i:i + rows]).max()) for i in range(0, len(x), rows))


def _val_logs(model, batches: Batches, idx: np.ndarray, seed: int, world: World) -> dict[str, float]:
    """Validation logs: rank 0 computes them (forward only, a fraction of an epoch) and shares them."""
    return distributed.from_main(mean_logs(model, batches, idx, seed) if world.main else None, world)


def _rng_state(generator: torch.Generator) -> dict:
    """Every RNG training draws from, as tensors and plain values."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "batches": generator.get_state(),
        "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["batches"])
    keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


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
    _say(f"epoch {record['epoch']:>3}  {terms}  ({record['seconds']:.1f}s)", bar)


def _say(line: str, bar) -> None:
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)
