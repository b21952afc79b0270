"""The Python API: ``vaekit.train(...)`` writes a run folder; ``vaekit.load(RUN)`` gives it back.

``train`` is the whole job the CLI runs: validate, load and split the data, build and fit the
model, then write the run folder (config, weights, metrics, summary, figures).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import signal
import time
from pathlib import Path

import numpy as np

from .config import UNIT_LIKELIHOODS, DataConfig, ModelConfig, TrainConfig, default_hidden, plain
from .errors import VaekitError

FIGURES = "figures"


# config fields that training sets from the data, never from an option
READ_FROM_DATA = {"input_shape": "a .npy of images keeps its (N, C, H, W) shape", "n_classes": "a cvae's, from its labels"}


def split_options(options: dict) -> tuple[ModelConfig, TrainConfig, DataConfig]:
    """Sort keyword options into the three configs by field name; unknown names are an error."""
    configs = []
    for cls in (ModelConfig, TrainConfig, DataConfig):
        names = {f.name for f in dataclasses.fields(cls)}
        mine = {k: plain(v) for k, v in options.items() if k in names and v is not None}
        if isinstance(mine.get("hidden"), int) and not isinstance(mine["hidden"], bool):  # hidden=256: one layer
            mine["hidden"] = (mine["hidden"],)
        if isinstance(mine.get("label_column"), int) and not isinstance(mine["label_column"], bool):
            mine["label_column"] = str(mine["label_column"])  # a CSV column by position, as --label-column 3 gives it
        configs.append(cls(**mine))
    known = {f.name for cls in (ModelConfig, TrainConfig, DataConfig) for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        settable = sorted(known - set(READ_FROM_DATA) | {"data"})  # data: the alias of name
        raise VaekitError(f"unknown option(s) {', '.join(unknown)}; the options are {', '.join(settable)}")
    return tuple(configs)


def prepare_out(out: str | Path | None, model: str, data: str) -> Path:
    """Check (before anything is written) that ``out`` can become a new run folder."""
    from .checkpoint import LOCK, awaits_resume

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
    if out.is_dir() and _holds_files(out, but=LOCK):  # a lock alone: a run stopped as it took the folder
        if awaits_resume(out):
            raise VaekitError(f"--out {out}: holds a run that has not finished; continue it with "
                              f"`vaekit train --resume {out}`, or pick a new folder")
        raise VaekitError(f"--out {out}: folder is not empty; pick a new folder or remove the old run")
    parent = next(p for p in [out, *out.parents] if p.exists())
    if not parent.is_dir():
        raise VaekitError(f"--out {out}: {parent} is a file, not a folder; pick a path in a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VaekitError(f"--out {out}: {parent} is not writable; pick a folder you can write to")
    return out


def _holds_files(folder: Path, but: str | None = None) -> bool:
    """Whether ``folder`` holds anything but empty folders (the empty figures/ of a run that failed, say on a
    full disk, which no retry could otherwise use) and the file named ``but``."""
    return any(p.name != but and (not p.is_dir() or any(p.iterdir())) for p in folder.iterdir())


def train(out=None, verbose: bool = True, offline: bool = False, resume=None, **options):
    """Train a model and write its run folder; returns the loaded ``Trained`` model.

    Under torchrun every process trains its share and rank 0 writes the folder: the other ranks
    return None. Training seeds the global random number generators (Python's, numpy's, torch's);
    the caller's states are restored when it returns.

    Parameters
    ----------
    out : path, optional
        The new run folder (default ``runs/<model>-<data>-<time>``).
    verbose : bool
        Progress and per-epoch lines on stderr.
    offline : bool
        Never download data.
    resume : path, optional
        Continue this interrupted run from its last saved epoch, with its own settings (then give
        neither ``out`` nor ``options``).
    **options
        Any field of ``ModelConfig``, ``TrainConfig`` or ``DataConfig`` (``model="vae"``,
        ``latent_dim=2``, ``epochs=30``, ``name="digits"``, ...). ``data`` is an alias of ``name``.
    """
    from .trainer import callers_rng_kept

    if type(options.get("device")).__name__ == "device":  # a torch.device, as the estimators take it
        options["device"] = str(options["device"])
    for name, value in (("out", out), ("resume", resume)):
        if not (value is None or isinstance(value, (str, os.PathLike))):
            raise VaekitError(f"{name}={value!r} must be a folder's path (str or pathlib.Path)")
    # training may be what starts CUDA (a resumed run's device is its own, known later: CUDA in use is kept anyway)
    with callers_rng_kept(cuda=resume is None and options.get("device") != "cpu"):
        return _train(out, verbose, offline, resume, options)


def _train(out, verbose: bool, offline: bool, resume, options: dict):
    from . import distributed
    from .data.datasets import check_reading_options, digest, is_named
    from .models import DAE_DEFAULT_NOISE, build_model
    from .trainer import check_batch_split, native_bf16, resolve_device

    if resume is not None:
        given = [f"--{k.replace('_', '-')}" for k in options if k != "device"] + (["--out"] if out is not None else [])
        if given:
            raise VaekitError(f"--resume {resume} continues with the run's own settings (--device aside); drop "
                              f"{', '.join(given)}")
        return resume_run(resume, verbose=verbose, offline=offline, device=options.get("device"))
    if "data" in options:
        if options.get("name") is not None:
            raise VaekitError(f"data={options['data']!r} and name={options['name']!r} both name the data set; give one")
        options["name"] = options.pop("data")
    for name, source in READ_FROM_DATA.items():
        if options.get(name) is not None:
            raise VaekitError(f"{name} is read from the data ({source}); drop it")
    if isinstance(options.get("name"), os.PathLike):
        options["name"] = os.fspath(options["name"])
    if not isinstance(options.get("name", ""), str):
        raise VaekitError(f"data is a {type(options['name']).__name__}; give a data set's name (\"digits\") or a file "
                          "or folder's path, or train on arrays with vaekit.sklearn's estimators")
    if options.get("name") and not is_named(options["name"]) and Path(options["name"]).exists():
        options["name"] = str(Path(options["name"]).resolve())  # the run finds its data from any working directory
    likelihood_given = options.get("likelihood") is not None
    test_fraction_given = options.get("test_fraction") is not None
    model_cfg, train_cfg, data_cfg = split_options(options)
    if options.get("hidden") is None:
        model_cfg.hidden = default_hidden(model_cfg.arch)
    if model_cfg.model == "dae" and model_cfg.noise is None:
        model_cfg.noise = DAE_DEFAULT_NOISE
    if not likelihood_given and data_cfg.scale in ("standard", "none"):
        # standardized data are not in [0, 1]; data left as they are get bernoulli only where they lie in it,
        # which _read_data finds out (gaussian until then, so that --sigma is taken)
        model_cfg.likelihood = "gaussian"
    model_cfg.validate().refuse_unused()
    train_cfg.validate()
    data_cfg.validate()
    check_reading_options(data_cfg.name, key=data_cfg.key, label_column=data_cfg.label_column,
                          image_size=data_cfg.image_size)
    world, device = distributed.setup(resolve_device(train_cfg.device))
    check_batch_split(train_cfg.batch_size, world)  # before the run folder is made
    run = distributed.on_main(lambda: prepare_out(out, model_cfg.model, data_cfg.name), world)

    # every process reads and checks the data; an error on any of them stops them all, as does other data
    def read_data():
        data = _read_data(model_cfg, train_cfg, data_cfg, offline, test_fraction_given, likelihood_given)
        _check_memory(model_cfg, device, train_cfg.batch_size // world.size, data)
        return data

    data = distributed.agree(read_data, world, same=digest)
    if train_cfg.precision == "bf16" and world.main and not native_bf16(device):
        logging.getLogger(__name__).warning(
            f"this {'GPU' if device.type == 'cuda' else 'CPU'} has no bfloat16 arithmetic of its own (x86 CPUs need "
            "AVX512-BF16 or AMX; NVIDIA GPUs, Ampere or newer), so --precision bf16 is emulated and trains slower than "
            "fp32; drop --precision bf16")
    if len(data.splits["test"]) < 10 and world.main:
        logging.getLogger(__name__).warning(
            f"the test split holds {len(data.splits['test'])} example(s), so summary.json's test numbers say little; "
            "give more data or a larger --test-fraction")
    if world.main and (unfinished := _unfinished_schedule(model_cfg, train_cfg.epochs)):
        logging.getLogger(__name__).warning(unfinished)
    model = build_model(model_cfg).to(device)
    extra = {"classes": data.classes, "columns": data.columns, "split": {k: len(v) for k, v in data.splits.items()},
             "data_digest": digest(data)}  # what --resume must find again
    return _fit_and_write(run, model, data, (model_cfg, train_cfg, data_cfg), extra, device, world, verbose)


def _read_data(model_cfg, train_cfg, data_cfg, offline: bool, test_fraction_given: bool, likelihood_given: bool):
    """Load the training data and check them against the options; fills in the model's input shape and classes,
    and without a given likelihood, that of --scale none data by their range (bernoulli in [0, 1]) -> data."""
    from .data.datasets import load_data, spread_out
    from .trainer import set_seed

    set_seed(train_cfg.seed)
    data = load_data(data_cfg, seed=train_cfg.seed, val_fraction=train_cfg.val_fraction,
                     test_fraction=train_cfg.test_fraction, offline=offline)
    model_cfg.input_shape = data.shape
    if test_fraction_given and data.official_test:
        raise VaekitError(f"--test-fraction {train_cfg.test_fraction} is for data without a test split of their own, but "
                          f"{data_cfg.name} has one ({len(data.splits['test']):,} examples), which every run is scored "
                          "on; drop --test-fraction")
    if model_cfg.model == "cvae":
        if data.y is None:
            raise VaekitError(f"--model cvae needs labels but --data {data_cfg.name} has none; give labelled data (an image "
                              "folder with a sub-folder per class, a .csv with --label-column, a .npz with y) or use --model vae")
        if data.classes is None and spread_out(data.y):
            distinct = np.unique(data.y)
            raise VaekitError(f"--data {data_cfg.name}: its labels are numbers up to {int(distinct[-1]):,} with "
                              f"{len(distinct):,} distinct values, so a cvae would have {int(distinct[-1]) + 1:,} classes; "
                              f"number the classes 0 to {len(distinct) - 1}, or write the labels as names (id{int(distinct[-1])})")
        model_cfg.n_classes = max(len(data.classes or []), int(data.y.max()) + 1)
    undecided = not likelihood_given and data_cfg.scale == "none"
    if undecided or model_cfg.likelihood in UNIT_LIKELIHOODS or data_cfg.binarize is not None:
        in_unit = data.scaler.in_unit_range(data.x)
        if undecided:
            model_cfg.likelihood = "bernoulli" if in_unit else "gaussian"
            if in_unit and model_cfg.sigma != ModelConfig.sigma:
                raise VaekitError(f"--sigma {model_cfg.sigma} is for a Gaussian likelihood, and --data {data_cfg.name} "
                                  "lies in [0, 1], which with --scale none gives the Bernoulli one; add --likelihood "
                                  "gaussian or drop --sigma")
        if model_cfg.likelihood in UNIT_LIKELIHOODS and not in_unit:
            raise VaekitError(f"--data {data_cfg.name}: --likelihood {model_cfg.likelihood} needs data in [0, 1] but "
                              f"--scale {data_cfg.scale} does not map it there; use --likelihood gaussian or --scale minmax")
        if data_cfg.binarize is not None and (model_cfg.likelihood != "bernoulli" or not in_unit):
            raise VaekitError(f"--binarize {data_cfg.binarize} needs --likelihood bernoulli and data in [0, 1] (--scale "
                              "minmax); drop --binarize or change those options")
    model_cfg.validate().refuse_unused()
    data.scaler = data.scaler.for_likelihood(model_cfg.likelihood)
    return data


def _check_memory(model_cfg, device, batch: int, data) -> None:
    """Refuse a model whose training cannot fit in the device's memory, before anything is allocated:
    the kernel would kill the process partway (pages are only touched when written). What is counted
    is a lower bound: float32 weights, their gradients, Adam's two moments and the copies of the last
    good and the best epoch's (weights and moments), and the activations a training step of ``batch``
    examples (this process's share; fewer where ``data`` have fewer) keeps for its backward pass.
    Processes sharing a host's CPUs (torchrun) share its memory; on a GPU only its free memory counts
    (other processes' jobs on a shared GPU hold the rest)."""
    import torch

    from .models import build_model

    with torch.device("meta"):  # shapes only, no memory
        model = build_model(model_cfg)
    n = sum(p.numel() for p in model.parameters())
    if device.type == "cuda":  # what other processes hold is not ours (a shared GPU); what torch cached here is
        have = torch.cuda.mem_get_info(device)[0] + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        where = f"where this GPU has {have / 2**30:,.1f} GiB free"
    else:
        local = os.environ.get("LOCAL_WORLD_SIZE", "1")  # torchrun's processes on this host
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (int(local) if local.isdigit() and int(local) else 1)
        where = f"where this cpu has {have / 2**30:,.1f} GiB"
    state = 40 * n  # 4 bytes x (weights, gradients, 2 moments, 2 x (weights, 2 moments))
    if state > have:
        raise VaekitError(f"the model has {n:,} parameters, and training them needs {state / 2**30:,.1f} GiB (weights, "
                          f"gradients, Adam's moments, copies of the best epoch's) {where}; use a smaller --latent-dim, "
                          "--hidden or --image-size")
    batch = min(batch, len(data.splits["train"]))
    kept = _least_kept(model_cfg, batch)  # only near the limit the slower count (its first use takes ~1 s)
    if state + 32 * kept > have:
        kept = _kept_for_backward(model, batch)
    if state + kept > have:
        samples = f" with {model_cfg.k:,} importance samples each" if model_cfg.model == "iwae" else ""
        raise VaekitError(f"training needs {(state + kept) / 2**30:,.1f} GiB: {kept / 2**30:,.1f} for the activations a "
                          f"step on {batch:,} examples{samples} keeps for its backward pass and {state / 2**30:,.1f} for "
                          f"the weights and Adam's state, {where}; use a smaller --batch-size"
                          f"{', --k' if model_cfg.model == 'iwae' else ''} or --hidden (or --image-size, for images)")


def _least_kept(model_cfg, batch: int) -> int:
    """A quick lower bound of ``_kept_for_backward``, in float32 for each of the ``batch`` examples' draws of z:
    the input, every layer's output and the codes, encoder and decoder (within 32x of the count for the
    built-in models)."""
    shape = model_cfg.input_shape
    if model_cfg.arch == "conv":
        _, h, w = shape
        sizes = []
        for c in model_cfg.hidden:  # each stride-2 layer halves the grid, rounding up
            h, w = (h + 1) // 2, (w + 1) // 2
            sizes.append(c * h * w)
        inputs = model_cfg.n_classes * shape[1] * shape[2]  # a cvae's one-hot channels
    else:
        sizes, inputs = list(model_cfg.hidden), model_cfg.n_classes
    draws = model_cfg.k if model_cfg.model == "iwae" else 1
    codes = model_cfg.latent_dim + model_cfg.n_classes  # per draw, the decoder's input (with a cvae's one-hot)
    return 4 * batch * (math.prod(shape) + inputs + sum(sizes) + draws * (math.prod(shape) + sum(sizes) + codes))


def _kept_for_backward(model, batch: int) -> int:
    """Bytes of the tensors autograd saves in ``model.loss`` on ``batch`` examples (a model on the meta device)."""
    import torch

    kept, weights = {}, {p.untyped_storage()._cdata for p in model.parameters()}

    def pack(t):
        storage = t.untyped_storage()  # views of one tensor count once; the weights are counted apart
        if storage._cdata not in weights:
            kept[storage._cdata] = storage.nbytes()
        return t

    with torch.device("meta"):
        x = torch.zeros(batch, *model.cfg.input_shape, dtype=torch.float32)  # as the batches are, whatever the default
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.loss(x, torch.zeros(batch, dtype=torch.long) if model.cfg.n_classes else None)
    return sum(kept.values())


def resume_run(run, verbose: bool = True, offline: bool = False, device: str | None = None):
    """Continue the interrupted run ``run`` after the last epoch in its train_state.pt; like ``train`` from there.

    ``device`` (default: the run's own) continues on another device, say a requeued job on a machine
    without the run's GPU; the numbers then differ from an uninterrupted run's in their rounding."""
    from . import checkpoint, distributed
    from .data.datasets import digest, load_data
    from .models import build_model
    from .trainer import resolve_device, set_seed

    run = Path(run)

    def read_run():
        token = checkpoint.resume_token(run)  # before reading: a change after it is seen under the lock
        config = checkpoint.read_config(run)
        if (run / checkpoint.SUMMARY).exists():
            raise VaekitError(f"--resume {run}: this run has finished (it has a summary.json); nothing to resume "
                              f"(`vaekit report {run}` draws any figures it lacks)")
        return config, None if checkpoint.unstarted(run) else checkpoint.load_state(run, config), token

    # every process reads the run before it joins the others, and an error on any of them stops them all (srun
    # starts the processes without torchrun: one that cannot read the run must not leave the rest waiting)
    try:
        (config, state, token), failure = read_run(), None  # the state before the data: a bad one fails fast
    except VaekitError as e:
        config = state = token = None
        failure = e
    world, device = distributed.setup(resolve_device(device or (config["cfg_train"].device if config else "auto")))
    distributed.agree(lambda: _raise(failure), world)
    model_cfg, train_cfg, data_cfg = config["cfg_model"], config["cfg_train"], config["cfg_data"]
    if state is None and world.main:
        logging.getLogger(__name__).warning(
            f"{run} holds no training state (the run stopped before it saved one), so it trains from the start "
            "with its own settings")
    if train_cfg.batch_size % world.size:  # its batch size is the run's own: the process count is what can change
        fits = max(n for n in range(1, world.size) if train_cfg.batch_size % n == 0)
        raise VaekitError(f"--resume {run}: its batch of {train_cfg.batch_size} examples does not split evenly over "
                          f"{world.size} processes; resume it on a number of processes that divides "
                          f"{train_cfg.batch_size}, e.g. {fits}")

    def read_data():
        set_seed(train_cfg.seed)  # as `train` does: a run trained again from the start draws what it drew
        data = load_data(data_cfg, seed=train_cfg.seed, val_fraction=train_cfg.val_fraction,
                         test_fraction=train_cfg.test_fraction, offline=offline)
        data.scaler = data.scaler.for_likelihood(model_cfg.likelihood)  # as training left it
        if data.scaler.kind == config["cfg_scaler"].kind == "none":  # (runs from before it did not clip)
            data.scaler = dataclasses.replace(data.scaler, clip=config["cfg_scaler"].clip)
        moved = "columns" in config and data.columns != config["columns"]  # (older runs did not save them)
        sizes = {k: len(v) for k, v in data.splits.items()}
        saved = config.get("data_digest")  # (runs from before it have none)
        changed = sizes != config.get("split", sizes) or (saved is not None and saved != digest(data))
        if moved or changed or not data.scaler.matches(config["cfg_scaler"]):
            what = ("its columns differ" if moved else "its examples, labels or split differ" if changed
                    else "its scaling differs")
            raise VaekitError(f"--resume {run}: the data {data_cfg.name} changed since the run started ({what}); "
                              "resuming needs the same data")
        _check_memory(model_cfg, device, train_cfg.batch_size // world.size, data)
        return data

    data = distributed.agree(read_data, world, same=digest)  # an error on any process stops them all
    model = build_model(model_cfg).to(device)
    extra = checkpoint.run_extra(config)
    return _fit_and_write(run, model, data, (model_cfg, train_cfg, data_cfg), extra, device, world, verbose, state,
                          resumed=token)


def _raise(error: Exception | None) -> None:
    if error is not None:
        raise error


def _fit_and_write(run: Path, model, data, configs: tuple, extra: dict, device, world, verbose: bool, state=None,
                   resumed: tuple | None = None):
    """Fit (every process) and write the run folder (rank 0, holding its lock) -> Trained, or None on other ranks.
    ``state``: a resumed run's training state (None: from the start); ``resumed``: a resumed run's
    ``checkpoint.resume_token`` as it was read."""
    from . import checkpoint, distributed
    from .config import to_dict
    from .fileio import json_text, signals_set
    from .trainer import fit

    model_cfg, train_cfg, data_cfg = configs
    common = dict(device=device, binarize=data_cfg.binarize, resume=state, world=world)
    records = [] if state is None else state["records"]
    try:
        with contextlib.ExitStack() as held:  # rank 0's lock on the folder and its metrics log, to the end
            # every process waits for rank 0 to take the folder, and all stop with its one-line error if it cannot
            metrics = distributed.on_main(lambda: _open_run(run, held, model, configs, data.scaler, extra, records, resumed),
                                          world, share=False)
            if not world.main:
                with distributed.peers_lost(world):
                    fit(model, data, train_cfg, verbose=False, on_state=lambda state, final: None, **common)
                return None
            saver = checkpoint.StateSaver(run, {k: to_dict(c) for k, c in zip(("model", "train", "data"), configs)},
                                          train_cfg.checkpoint_every, None if state is None else state["epoch"])
            start = time.perf_counter()

            def log(record):
                with checkpoint.disk_errors(run, checkpoint.METRICS):
                    metrics.write(json_text(record) + "\n")
                    metrics.flush()

            def saved() -> str | None:
                """Save the newest state after an interruption -> how to go on from it (None: there is none)."""
                if (epoch := saver.interrupted()) is not None:
                    return (f"the state after epoch {epoch} is saved in {run / checkpoint.STATE}; continue with: "
                            f"vaekit train --resume {run}")
                return None

            try:
                with distributed.peers_lost(world, then=lambda: saved() or checkpoint.resume_advice(run) or "train again"):
                    history = fit(model, data, train_cfg, on_epoch=log, verbose=verbose, on_state=saver, **common)
                checkpoint.save_run(run, model, model_cfg, train_cfg, data_cfg, data.scaler, extra)
                before = sum(r.get("seconds", 0) for r in records)  # the epochs trained before a resume
                with checkpoint.disk_errors(run):
                    summary = write_summary(run, model, data, history, device, before + time.perf_counter() - start,
                                            data_cfg.binarize)
                    write_figures(run, model, data, history.records, device)
            except KeyboardInterrupt:
                with signals_set(signal.SIG_IGN):  # a second Ctrl-C must not cut the state's save short
                    _say_what_is_kept(run, saved)
                raise
    finally:
        distributed.teardown(world)
    from .trained import Trained

    trained = Trained(model.eval(), checkpoint.read_config(run), run)
    trained.history, trained.summary = history, summary
    from .report import write_report

    try:
        write_report(run, trained=trained, data=data)  # RUN/report.html: the run on one page
    except KeyboardInterrupt:
        _interrupted(f"the run is complete but for report.html; `vaekit report {run}` writes it")
        raise
    return trained


def _open_run(run: Path, held: contextlib.ExitStack, model, configs: tuple, scaler, extra: dict, records: list[dict],
              resumed: tuple | None):
    """Rank 0: lock the folder (held until ``held`` closes), write its first files, open the metrics log -> the log."""
    from . import checkpoint
    from .fileio import atomic_write, json_text

    with checkpoint.disk_errors(run):  # one line for every process, never a traceback
        run.mkdir(parents=True, exist_ok=True)
        held.enter_context(checkpoint.RunLock(run))
        for stale in run.glob(".*.tmp"):  # an atomic write cut short (a killed run): nobody else writes here
            stale.unlink(missing_ok=True)
        if resumed is None and _holds_files(run, but=checkpoint.LOCK):
            raise VaekitError(f"--out {run}: another run started writing this folder meanwhile; pick a new folder")
        if resumed is not None and checkpoint.resume_token(run) != resumed:
            raise VaekitError(f"--resume {run}: another process trained this run meanwhile; resume it again "
                              "if it has not finished")
        (run / FIGURES).mkdir(exist_ok=True)
    # unfinished until the end (a resumed run too, also one from a vaekit that did not say so)
    checkpoint.save_run(run, model, *configs, scaler, extra, finished=False)
    with checkpoint.disk_errors(run, checkpoint.METRICS):  # a resumed run drops the epochs logged after its checkpoint
        atomic_write(run / checkpoint.METRICS, "".join(json_text(r) + "\n" for r in records))
        return held.enter_context(open(run / checkpoint.METRICS, "a"))


def _say_what_is_kept(run: Path, saved) -> None:
    """On Ctrl-C in rank 0's training: what the folder holds and how to go on. ``saved()`` saves the newest
    training state, if one is due, -> how to resume from it (None: there is none)."""
    from . import checkpoint

    if (run / checkpoint.SUMMARY).is_file():  # trained and summed up: only pictures are missing
        _interrupted(f"the trained model and summary.json are saved; `vaekit report {run}` draws the "
                     "missing figures and report.html")
    elif (then := saved()) is not None:
        _interrupted(then)
    elif advice := checkpoint.resume_advice(run):  # none saved: it trains from the start
        _interrupted(f"it stopped before it saved a training state; {advice}")


def _unfinished_schedule(cfg, epochs: int) -> str | None:
    """What a KL schedule longer than the training run leaves undone, or None when it fits."""
    warmup, cycles = cfg.kl_warmup, cfg.kl_cycles
    if cycles > 1 and 2 * warmup * cycles > epochs:
        return (f"--kl-warmup {warmup} --kl-cycles {cycles} spans {2 * warmup * cycles} epochs, and --epochs {epochs} "
                f"ends it in cycle {epochs // (2 * warmup) + 1}; give --epochs {2 * warmup * cycles} or fewer cycles")
    if warmup > epochs:
        return (f"--kl-warmup {warmup} is longer than --epochs {epochs}: the KL weight reaches only {epochs / warmup:.0%} "
                "of its full value in training (the run is still scored at full weight); give a shorter warm-up")
    return None


def _interrupted(what: str) -> None:
    """Say, on Ctrl-C, what the run folder holds and what to do next (the CLI then says `interrupted`)."""
    import sys

    print(f"vaekit: interrupted; {what}", file=sys.stderr, flush=True)


def write_summary(run: Path, model, data, history, device, seconds: float, binarize: str | None = None) -> dict:
    from .checkpoint import SUMMARY
    from .fileio import write_json
    from .models import VAE
    from .trainer import Batches, mean_logs

    batches, test_idx = Batches(data, device, binarize), data.splits["test"]
    test = mean_logs(model, batches, test_idx, seed=0)  # binarized: the draw `vaekit evaluate` scores
    summary = {
        **{f"test_{k}": v for k, v in test.items()},
        "epochs_trained": len(history.records),
        "best_epoch": history.best_epoch,
        "stopped": history.stopped,
        "message": history.message,
        "train_seconds": round(seconds, 3),
        "n_test": int(len(test_idx)),
    }
    if isinstance(model, VAE):  # what test_loss is, and whether the latent space is in use
        from .diagnostics import collapse_warning, latent_note, sigma_warning
        from .metrics import latent_usage, reconstruction, split_tensor

        summary["objective"] = model.objective()
        # E[x | posterior mean], as eval.json's mse (the logs' mse decodes a sampled z, as training does)
        summary["test_mse"] = reconstruction(model.eval(), *split_tensor(data, "test", device, binarize, seed=0))["mse"]
        summary.update(latent_usage(model.eval(), batches.over(test_idx, seed=0)))
        # not for a single test example, nor for a run that diverged: its weights are the last finite ones
        # (often the untrained ones), whose latent space says nothing about the model asked for
        if "active_units" in summary and history.stopped != "diverged":
            usage = (summary["kl_per_dim"], summary["active_units"], model.cfg.latent_dim)
            for key, say in (("collapse_warning", collapse_warning), ("latent_note", latent_note)):
                if text := say(*usage):
                    summary[key] = text
        if model.log_sigma is not None and (warning := sigma_warning(model.log_sigma.detach().exp())):
            summary["sigma_warning"] = warning
    write_json(run / SUMMARY, summary)
    return summary


def write_figures(run: Path, model, data, records: list[dict], device, n: int = 8) -> None:
    """reconstructions.png, samples.png, loss.png, latent.png under RUN/figures."""
    import torch

    from . import plots
    from .models import VAE
    from .trainer import Batches

    figures = run / FIGURES
    batches = Batches(data, device)
    test = data.splits["test"]
    classes = model.cfg.n_classes  # conditional models: one row of samples per class
    labels = torch.arange(classes, device=device).repeat_interleave(8) if classes else None
    with torch.no_grad():
        x, y = batches.get(torch.as_tensor(test[:n]))
        recon = model.reconstruct(x, y)
        samples = model.sample(64 if labels is None else len(labels), labels=labels,
                               generator=torch.Generator(device=device).manual_seed(0))
        codes = torch.cat([model.code(xb, yb) for xb, yb in batches.over(test)]).cpu().numpy()
    name = model.cfg.model.upper()
    plots.save_rows(figures / "reconstructions.png", [_display(x), _display(recon, x)], ["original", "reconstruction"],
                    f"{name}: test {'images' if data.x.ndim == 4 else 'examples'} and their reconstructions",
                    features=data.columns)
    kind = "new data" if isinstance(model, VAE) else "an AE's latent space is not a distribution"
    if classes:  # the row's class by name: a folder "10" sorts before "2", as in torchvision's ImageFolder
        names = data.classes or [str(i) for i in range(classes)]
        kind += f"; rows: classes {', '.join(names[:12])}{', ...' if classes > 12 else ''}"
    plots.save_grid(figures / "samples.png", _display(samples, x), f"{name}: decoded z ~ N(0, I) ({kind})",
                    features=data.columns)
    if isinstance(model, VAE):  # the loss, and its KL term: near 0, the codes say nothing (posterior collapse)
        kl = ("kl", "KL(q(z|x) || p(z)), nats per example")
        if model.cfg.kl_warmup:  # the training loss weighs the KL by w(t), the validation loss at the full weight
            panels, title = [("neg_elbo", "-ELBO = recon + KL, nats per example"), kl], f"{name}: -ELBO and KL"
        else:
            panels, title = [("loss", "loss, nats per example"), kl], f"{name}: loss = {model.objective()}, and the KL"
    else:
        panels = [("loss", ("Bernoulli cross-entropy, nats" if model.cfg.likelihood == "bernoulli" else "squared error")
                   + " per example")]
        title = f"{name}: training loss"
    plots.save_curves(figures / "loss.png", records, panels, title=title)
    labels = data.y[test] if data.y is not None else None
    plots.save_latent(figures / "latent.png", codes, labels, data.classes)


def _display(t, reference=None) -> np.ndarray:
    """Model-unit tensor -> numpy in [0, 1] for plotting: as it is where ``reference`` (default: t) lies in
    [0, 1], else mapped by reference's range, so that pictures drawn against one reference (originals and
    their reconstructions; samples) share one grey scale."""
    x = t.detach().float().cpu().numpy()
    ref = x if reference is None else reference.detach().float().cpu().numpy()
    lo, hi = float(ref.min()), float(ref.max())
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    return np.clip((x - lo) / max(hi - lo, 1e-12), 0, 1)
