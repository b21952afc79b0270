"""A run folder evaluated (``eval.json``) and three models compared (``compare.json``): the measures
of ``metrics`` applied to run folders, on the data each was trained on, read, split and scaled as
in training (or on other data of the same shape).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from .config import DEFAULT_IW_SAMPLES
from .errors import VaekitError
from .metrics import check_iw_samples, evaluate

EVAL = "eval.json"
_SAFE = re.compile(r"[^\w.-]")  # what a file name made from a data set's name keeps


def load_run_data(trained, name: str | None = None, offline: bool = False, *, key: str | None = None,
                  label_column: str | None = None, image_size: int | None = None, split: bool = True):
    """The run's data set (or ``name``, another with the same example shape, flat or not), split and scaled
    as in training, its examples shaped as the model's.

    ``key``, ``label_column`` and ``image_size`` say how to read the file, as for ``vaekit train``;
    those not given are the run's for its own data, and unset for another file (but for the run's label
    column, by name, in another CSV file whose header has it). ``split=False``: all
    examples in "train", however few (see ``load_data``).
    """
    from .data.datasets import check_reading_options, digest, is_named, load_data

    cfg_data, cfg_train = trained.config["cfg_data"], trained.config["cfg_train"]
    given = {"key": key, "label_column": label_column, "image_size": image_size}
    check_reading_options(name or cfg_data.name, **given)
    if name is not None and not same_data(name, cfg_data.name):
        # the run's key and label column name arrays of its own file; its image size, the model's input,
        # fits any other folder of images
        size = cfg_data.image_size if Path(name).is_dir() else None
        label = cfg_data.label_column if _csv_header_names(name, cfg_data.label_column) else None
        cfg_data = dataclasses.replace(cfg_data, name=name, key=None, label_column=label, image_size=size)
    cfg_data = dataclasses.replace(cfg_data, **{k: v for k, v in given.items() if v is not None})
    if name is None and not is_named(cfg_data.name) and not Path(cfg_data.name).exists():
        raise VaekitError(f"{cfg_data.name}: the data this run was trained on (config.json data.name) is not there any "
                          "more; put it back at that path (a symbolic link to where it is now will do)")
    data = load_data(cfg_data, seed=cfg_train.seed, val_fraction=cfg_train.val_fraction,
                     test_fraction=cfg_train.test_fraction, offline=offline, scaler=trained.scaler, split=split)
    if cfg_data == trained.config["cfg_data"] and split:  # the run's own data: its test split is held out only if they are as in training
        saved, sizes = trained.config.get("data_digest"), trained.config.get("split")  # (older runs have neither)
        if sizes not in (None, {k: len(v) for k, v in data.splits.items()}) or saved not in (None, digest(data)):
            raise VaekitError(f"{cfg_data.name}: changed since the run was trained on it (its examples, labels or "
                              "split differ), so its test split is no longer the held-out one; restore it (encode, "
                              "score and the other commands with --split all read every example of it as it is now)")
    x = _run_columns(trained, data)  # a view, unless the columns were reordered
    folder = Path(cfg_data.name).is_dir()
    if folder and x.ndim == 4 and x.shape[1] == 1 and tuple(trained.input_shape[:1]) == (3,):
        # a folder of grey images for a model of colour images: each grey level in all three channels, as
        # Pillow's convert("RGB") gives it (a folder with any colour image loads as RGB by itself)
        x = np.repeat(x, 3, axis=1)
    try:  # flat examples of an image model take its shape
        x = trained.examples(x)  # a view
    except VaekitError as e:
        _, *size = trained.input_shape
        if folder and len(size) == 2 and size[0] == size[1] and x.shape[2:] != tuple(size):
            raise VaekitError(f"{cfg_data.name}: its images are {x.shape[3]}x{x.shape[2]} but the model takes "
                              f"{size[1]}x{size[0]}; resize them with --image-size {size[0]}") from None
        raise VaekitError(f"{cfg_data.name}: {e}") from None
    return dataclasses.replace(data, x=x, **_run_labels(trained, data))


def _csv_header_names(path: str, column: str | None) -> bool:
    """Whether ``path`` is a CSV file whose first row names the column ``column`` (the run's label
    column, taken by name in another CSV file with the same header: columns go by name)."""
    from .data.files import header_names

    if column is None or Path(path).suffix.lower() != ".csv" or not Path(path).is_file():
        return False
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            first = next(csv.reader(file), [])
    except (OSError, csv.Error, UnicodeDecodeError):
        return False  # the reader says what is wrong with the file
    return column in header_names(first)


def same_data(name: str, run_name: str) -> bool:
    """Whether ``name`` is the run's data set: the same name, or the same file or folder by another path."""
    if name == run_name:
        return True
    try:
        return os.path.samefile(name, run_name)
    except OSError:  # either path is not there (a named set, or a run trained elsewhere)
        return False


def _run_columns(trained, data) -> np.ndarray:
    """The data's columns in the run's order, when both the run's CSV file and this one have a header:
    columns are matched by name, not by position. Names that do not match are refused."""
    run_columns = trained.config.get("columns")
    if not run_columns or not data.columns or data.columns == run_columns:
        return data.x
    missing = [c for c in run_columns if c not in data.columns]
    extra = [c for c in data.columns if c not in run_columns]
    if missing or extra or len(set(data.columns)) != len(data.columns):
        found = ", ".join(filter(None, (missing and "missing " + ", ".join(map(repr, missing[:5])),
                                        extra and "unexpected " + ", ".join(map(repr, extra[:5])))))
        label = "; name the label column with --label-column" if len(extra) == 1 and not missing else ""
        if "" in missing or any(name.startswith("# ") for name in missing):
            label = ("; this run comes from an older vaekit, which read pandas' row index (an unnamed first column) "
                     "or np.savetxt's '# ' as part of the data: train it again")
        raise VaekitError(f"{data.name}: its header does not name the columns the model was trained on "
                          f"({found or 'a name repeated'}); give the same columns{label}")
    return data.x[:, [data.columns.index(c) for c in run_columns]]


def _run_labels(trained, data) -> dict:
    """The data's class names numbered as the run's: a file with some of the classes, or its own order,
    numbers them from 0 by itself. A conditional model refuses classes it was not trained on."""
    run_classes = trained.config.get("classes")
    if data.y is None or not data.classes or not run_classes or data.classes == run_classes:
        return {}
    unknown = [c for c in data.classes if c not in run_classes]
    if not unknown:
        number = np.array([run_classes.index(c) for c in data.classes])
        return {"y": number[data.y], "classes": list(run_classes)}
    if trained.conditional:
        raise VaekitError(f"{data.name}: classes {', '.join(map(repr, unknown[:5]))} are not among the model's "
                          f"({', '.join(map(repr, run_classes[:10]))}); pass data of the classes it was trained on")
    return {}  # another labelling altogether: its own numbers serve probes and plots


def evaluate_run(run, *, data: str | None = None, split: str = "test", iw_samples: int = DEFAULT_IW_SAMPLES,
                 seed: int = 0, offline: bool = False, device: str = "auto", key: str | None = None,
                 label_column: str | None = None, image_size: int | None = None) -> dict:
    """Evaluate a run folder and write ``RUN/eval.json`` (``eval_file``: another data set's has its own name);
    returns the dict written.

    ``data`` (default: the run's) is read with ``key``, ``label_column`` and ``image_size`` as in
    ``load_run_data``.
    """
    from .fileio import write_json
    from .trainer import resolve_device
    from .trained import Trained

    check_iw_samples(iw_samples)
    trained = Trained.load(run, device=str(resolve_device(device)))
    if not os.access(run, os.W_OK | os.X_OK):  # before minutes of work, not after
        raise VaekitError(f"{run}: not writable, and the evaluation goes to {Path(run) / EVAL}; copy the run folder "
                          "somewhere you can write and evaluate the copy")
    loaded = load_run_data(trained, data, offline, key=key, label_column=label_column, image_size=image_size)
    result = evaluate(trained.module, loaded, split=split, binarize=trained.config["cfg_data"].binarize,
                      iw_samples=iw_samples, seed=seed)
    write_json(eval_file(run, data, split, key=key, label_column=label_column, image_size=image_size), result)
    return result


def eval_file(run, data: str | None = None, split: str = "test", **reading) -> Path:
    """RUN/eval.json for the run's own data set's test split, read as in training; for another data set,
    another way of reading it (``key``, ``label_column``, ``image_size``) or another split,
    RUN/eval-<name>[-<key>][-label-<column>][-size<N>][-<split>].json, which leaves the run's own
    evaluation, the one its report shows, as it was. A file's (not a named set's) name is followed by a
    digest of its full path: a/test.csv and b/test.csv do not write over each other."""
    from .checkpoint import read_config
    from .data.datasets import is_named

    own = read_config(run)["cfg_data"]
    own_data = (data is None or same_data(data, own.name)) and all(v is None or v == getattr(own, k) for k, v in reading.items())
    if own_data and split == "test":
        return Path(run) / EVAL
    parts = []
    if not own_data:
        name = data or own.name
        where = "" if is_named(name) else hashlib.sha256(os.path.abspath(name).encode()).hexdigest()[:8]
        parts = [Path(name).name, where, reading.get("key"), reading.get("label_column") and f"label-{reading['label_column']}",
                 reading.get("image_size") and f"size{reading['image_size']}"]
    name = "-".join(str(part) for part in (*parts, None if split == "test" else split) if part)
    return Path(run) / f"eval-{_SAFE.sub('_', name)}.json"


COMPARED = ("ae", "dae", "vae")  # the models `vaekit compare` trains


def compare_models(out=None, *, data: str = "digits", epochs: int | None = None, latent_dim: int = 16,
                   hidden: tuple[int, ...] | None = None, binarize: str | None = None, seed: int = 0,
                   iw_samples: int = DEFAULT_IW_SAMPLES, offline: bool = False, device: str = "auto",
                   verbose: bool = True, key: str | None = None, label_column: str | None = None,
                   image_size: int | None = None, scale: str | None = None, resume=None) -> tuple[Path, dict]:
    """Train an AE, a DAE and a VAE with the same body, seed and epochs on the same data, evaluate
    each, and write ``OUT/compare.json`` and ``OUT/report.html``; returns (OUT, {model: eval dict}).

    ``epochs`` defaults to 100 on the small embedded digits and 20 elsewhere; early stopping is
    off so every model gets the same budget. ``key``, ``label_column``, ``image_size`` and ``scale``
    read and scale a file as for ``vaekit train``. ``resume``: an interrupted comparison's folder, to
    finish with the settings its models were trained with (the training arguments are not used): its
    finished models are kept, an interrupted one continues from its last saved epoch (``iw_samples`` is not
    kept: give the first run's again).
    """
    from .api import _holds_files, _interrupted, prepare_out, resume_run, train
    from .checkpoint import LOCK, SUMMARY, awaits_resume
    from .fileio import write_json
    from .report import COMPARE, read_eval, write_report

    check_iw_samples(iw_samples)
    if resume is not None:
        folder, settings = Path(resume), _compared_settings(Path(resume))
    else:
        folder = prepare_out(out, "compare", data)
        settings = dict(data=data, epochs=epochs if epochs is not None else (100 if data == "digits" else 20),
                        latent_dim=latent_dim, hidden=hidden, binarize=binarize, seed=seed, key=key,
                        label_column=label_column, image_size=image_size, scale=scale)
    settings = {k: v for k, v in settings.items() if v is not None}
    results = {}
    try:
        for name in COMPARED:
            start, run = time.perf_counter(), folder / name
            if (run / SUMMARY).is_file() and (run / EVAL).is_file():  # finished and evaluated before an interruption
                results[name] = read_eval(run / EVAL, f"`vaekit evaluate {run}` writes it again")
                continue
            if awaits_resume(run):
                resume_run(run, verbose=False, offline=offline, device=device)
            elif resume is not None and run.exists() and _holds_files(run, but=LOCK) and not (run / SUMMARY).is_file():
                raise VaekitError(f"--resume {folder}: {run} was cut short before its first epoch was saved; remove "
                                  f"that folder and run `vaekit compare --resume {folder}` again")
            elif not (run / SUMMARY).is_file():
                train(out=run, verbose=False, offline=offline, model=name, patience=0, device=device, **settings)
            results[name] = evaluate_run(run, iw_samples=iw_samples, seed=settings["seed"], offline=offline,
                                         device=device)
            write_report(run, offline=offline)  # now with its metrics
            if verbose:
                print(f"{name}: trained {settings['epochs']} epochs and evaluated in {time.perf_counter() - start:.1f}s "
                      f"({run})", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        _interrupted(f"finish the comparison with `vaekit compare --resume {folder}`")
        raise
    write_json(folder / COMPARE, results)
    write_report(folder, offline=offline)
    return folder, results


def _compared_settings(folder: Path) -> dict:
    """The training settings of the comparison in ``folder``, from the first of its models that started."""
    from .checkpoint import CONFIG, read_config
    from .report import COMPARE

    if (folder / COMPARE).is_file():
        raise VaekitError(f"--resume {folder}: this comparison has finished (it has a {COMPARE}); nothing to resume")
    started = [folder / name for name in COMPARED if (folder / name / CONFIG).is_file()]
    if not started:
        raise VaekitError(f"--resume {folder}: no model of a comparison was started there (no "
                          f"{'/'.join(COMPARED)}/{CONFIG}); start `vaekit compare` again with a new --out")
    config = read_config(started[0])
    d, m, t = config["cfg_data"], config["cfg_model"], config["cfg_train"]
    return dict(data=d.name, epochs=t.epochs, latent_dim=m.latent_dim, hidden=m.hidden, binarize=d.binarize,
                seed=t.seed, key=d.key, label_column=d.label_column, image_size=d.image_size, scale=d.scale)
