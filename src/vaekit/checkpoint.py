"""Run folder I/O: ``config.json`` + ``model.safetensors``, written atomically, read back safely.

A run folder describes itself: ``load_run`` rebuilds the model from the folder alone. Weights only
ever come from safetensors (never pickle), and config.json is validated before it is used.

For ``--resume``, ``train_state.pt`` holds everything else a run needs to continue bit for bit
(optimizer, epoch, early-stopping state, metrics so far, every RNG state). It is one file, so one
atomic rename commits a whole epoch, and it is read with ``torch.load(weights_only=True)``:
tensors and plain containers only, never code. ``RunLock`` keeps two processes out of one folder.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import socket
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import __version__
from .config import FORMAT_VERSION, MAX_SIZE, SCALES, DataConfig, ModelConfig, TrainConfig, from_dict, shown_number, to_dict
from .data.scaling import Scaler
from .errors import VaekitError, first_line
from .fileio import atomic_file, atomic_write, signals_held, write_json

CONFIG, WEIGHTS, METRICS, SUMMARY = "config.json", "model.safetensors", "metrics.jsonl", "summary.json"
STATE, LOCK = "train_state.pt", ".lock"
STATE_VERSION = 1  # bump when train_state.pt changes incompatibly
MAX_CONFIG_BYTES = 1 << 20  # a real config.json is ~1 kB; refuse to read anything huge
SCALER_KINDS = ("uint8", *SCALES)
HEARTBEAT_S = 30  # a run touches its lock this often...
FOREIGN_STALE_S = 300  # ...so a lock of another host untouched this long belongs to a dead run


def read_json_object(path: Path, fix: str) -> dict:
    """The JSON object in ``path``, {} when there is none; a file that cannot be read is an error saying ``fix``."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except ValueError:
        raise VaekitError(f"{path}: not valid JSON; {fix}") from None
    except OSError as e:
        raise VaekitError(f"{path}: cannot read ({e.strerror}); {fix}") from None
    return value if isinstance(value, dict) else {}


def read_summary(run: Path, fix: str) -> dict:
    """RUN/summary.json ({} when there is none), its test numbers written as null (NaN or infinite, as strict
    JSON has neither) read as NaN, as training returned them."""
    def number(value):
        return math.nan if value is None else value

    return {k: number(v) if k.startswith("test_") else [number(x) for x in v] if k == "kl_per_dim" and isinstance(v, list)
            else v for k, v in read_json_object(Path(run) / SUMMARY, fix).items()}


def save_weights(path: Path, model) -> None:
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, save(state))


def run_extra(config: dict) -> dict:
    """The fields of a config.json (as ``read_config`` gives it) that ``save_run`` took as ``extra``: the
    class names, columns, split sizes and data digest, for a resumed run to save again."""
    written = {"format_version", "vaekit_version", "model", "train", "data", "scaler", "finished"}  # by save_run
    return {k: v for k, v in config.items() if k not in written and not k.startswith("cfg_")}


def save_run(run: Path, model, model_cfg: ModelConfig, train_cfg: TrainConfig, data_cfg: DataConfig,
             scaler: Scaler, extra: dict, finished: bool = True) -> None:
    """Write config.json and model.safetensors into the run folder ``run``. ``finished=False``: the
    weights are those a training run starts from, and the use commands refuse them until it ends."""
    config = {
        "format_version": FORMAT_VERSION,
        "vaekit_version": __version__,
        "model": to_dict(model_cfg),
        "train": to_dict(train_cfg),
        "data": to_dict(data_cfg),
        "scaler": to_dict(scaler),
        **extra,
        "finished": finished,
    }
    with disk_errors(run, WEIGHTS):  # the weights first: config.json saying finished vouches for them
        save_weights(run / WEIGHTS, model)
    with disk_errors(run, CONFIG):
        write_json(run / CONFIG, config)


def read_config(run: Path) -> dict:
    """Read and validate RUN/config.json; returns the raw dict with the dataclasses under ``cfg_*`` keys."""
    run = Path(run)
    if run.is_file():  # the folder that holds it, where that is a run (RUN/config.json), or else RUN comes first
        held = f"the folder that holds it ({run.parent})" if (run.parent / CONFIG).is_file() else "a folder written by `vaekit train` (RUN comes first)"
        raise VaekitError(f"{run}: a file, not a run folder; pass {held}")
    if not run.is_dir():
        raise VaekitError(f"{run}: no such run folder; pass a folder written by `vaekit train`")
    path = run / CONFIG
    if not path.is_file():
        raise VaekitError(f"{path}: missing; {run} is not a complete run folder (was training interrupted?)")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise VaekitError(f"{path}: {path.stat().st_size} bytes is far too large for a config.json; retrain or restore the file")
    try:
        config = json.loads(path.read_bytes(), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        reason = ("nested too deeply" if isinstance(e, RecursionError) else
                  "a number of over 4300 digits" if "int_max_str_digits" in str(e) else str(e))
        raise VaekitError(f"{path}: not valid JSON ({reason}); retrain or restore the file") from None
    if not isinstance(config, dict):
        raise VaekitError(f"{path}: not a JSON object; retrain or restore the file")
    version = config.get("format_version")
    if "format_version" not in config:
        raise VaekitError(f"{path}: no format_version; this is not a vaekit run folder")
    if not isinstance(version, int) or isinstance(version, bool):
        raise VaekitError(f"{path}: format_version {json.dumps(version)[:40]} must be an integer; retrain or restore the file")
    if version < 1:
        raise VaekitError(f"{path}: format_version {version} is not valid; retrain or restore the file")
    if version > FORMAT_VERSION:
        raise VaekitError(f"{path}: format version {version} is newer than this vaekit understands ({FORMAT_VERSION}); upgrade vaekit")
    try:
        for key, cls, section in (("cfg_model", ModelConfig, "model"), ("cfg_train", TrainConfig, "train"),
                                  ("cfg_data", DataConfig, "data")):
            try:
                config[key] = from_dict(cls, config.get(section)).validate()
            except VaekitError as e:  # said in the options of `vaekit train`: say it in the file's fields
                raise VaekitError(_field_spelling(str(e), section)) from None
        config["cfg_scaler"] = _scaler(config.get("scaler"))
        _check_ranges(config)
    except VaekitError as e:
        raise VaekitError(f"{path}: {e}") from None
    except TypeError as e:
        raise VaekitError(f"{path}: malformed ({e}); retrain or restore the file") from None
    return config


def _field_spelling(message: str, section: str) -> str:
    """A check's message about `vaekit train`'s options (``--latent-dim -3 must be ...; try --latent-dim 16``),
    about config.json's fields instead (``model.latent_dim -3 must be ...; retrain or fix the file``)."""
    said = re.sub(r"--([a-z][a-z-]*)", lambda m: f"{section}.{m.group(1).replace('-', '_')}", message.split("; ")[0])
    return f"{said}; retrain or fix the file"


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a config.json can hold")


def _check_ranges(config: dict) -> None:
    """What the types alone do not say: sizes are positive, names are known, lists fit the data."""
    shape = config["cfg_model"].input_shape
    if not shape or len(shape) not in (1, 3) or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_SIZE
                                                    for d in shape):
        shown = ", ".join(map(shown_number, shape)) if isinstance(shape, (list, tuple)) else repr(shape)
        raise VaekitError(f"model.input_shape [{shown}] must be (features,) or (channels, height, width), positive "
                          "sizes; retrain or restore the file")
    for key in ("shift", "scale"):
        value = getattr(config["cfg_scaler"], key)
        if isinstance(value, list) and (len(shape) != 1 or len(value) != shape[0]):  # images share one value
            raise VaekitError(f"scaler.{key} has {len(value)} values for inputs of shape {list(shape)} (one per "
                              "feature of a vector; one for all pixels of an image); retrain or fix the file")
    for key, what in (("classes", "label names"), ("columns", "column names")):
        names = config.get(key)
        if names is not None and not (isinstance(names, list) and all(isinstance(c, str) for c in names)):
            raise VaekitError(f"{key} must be a list of {what} or null; retrain or fix the file")
    classes, model = config.get("classes"), config["cfg_model"]
    if classes is not None and model.model == "cvae" and len(classes) != model.n_classes:
        raise VaekitError(f"classes has {len(classes)} names for a cvae of {model.n_classes} classes "
                          "(model.n_classes); retrain or fix the file")
    if not isinstance(config.get("finished", True), bool):
        raise VaekitError("finished must be true or false; retrain or fix the file")
    columns = config.get("columns")
    if columns is not None and len(columns) != math.prod(shape):
        raise VaekitError(f"columns has {len(columns)} names for inputs of shape {list(shape)}; retrain or fix the file")
    # what --resume and evaluate compare with the data as they are now: damaged, they are no evidence of changed data
    split, saved = config.get("split"), config.get("data_digest")
    if split is not None and not (isinstance(split, dict) and set(split) == {"train", "val", "test"} and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in split.values())):
        raise VaekitError("split must map train, val and test to their numbers of examples; retrain or fix the file")
    if saved is not None and not (isinstance(saved, str) and re.fullmatch(r"[0-9a-f]{16,64}", saved)):
        raise VaekitError("data_digest must be hex digits (of the SHA-256 of the data); retrain or fix the file")


def load_run(run: Path, device: str = "cpu"):
    """Rebuild the trained model from a run folder -> (model in eval mode, config dict)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models import build_model

    config = read_config(run)
    if not finished(run, config):
        then = resume_advice(run) or "it saved no training state to resume from: train it again"
        raise VaekitError(f"{run}: its training has not finished (interrupted, or still running), so its weights are "
                          f"the untrained ones; {then}")
    weights = Path(run) / WEIGHTS
    if not weights.is_file():
        raise VaekitError(f"{weights}: missing; {run} is not a complete run folder (was training interrupted?)")
    # on meta, nothing allocated (config.json may describe an absurd model), and no random initial weights
    # to overwrite: nor a draw from the caller's RNG
    with torch.device("meta"):
        model = build_model(config["cfg_model"])
    _check_weights(weights, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    model = model.to_empty(device="cpu")
    try:
        state = load_file(weights)
        model.load_state_dict(state)  # strict: every parameter is filled
    except (SafetensorError, RuntimeError, OSError) as e:
        first = first_line(e)
        raise VaekitError(f"{weights}: cannot load the weights ({first}); retrain or restore the file") from None
    for name, tensor in state.items():  # training keeps the last finite weights: others were damaged since
        if not torch.isfinite(tensor).all():
            raise VaekitError(f"{weights}: {name} holds NaN or infinite values; restore the file, or retrain")
    return model.to(torch.device(device)).eval(), config


def _check_weights(weights: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """The file's tensors, read from its header alone, against the model config.json describes (``shapes``)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(weights, "pt") as f:
            found = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        first = first_line(e)
        raise VaekitError(f"{weights}: cannot load the weights ({first}); retrain or restore the file") from None
    fix = "restore the config.json written with these weights, or retrain"
    if found.keys() != shapes.keys():
        lacks, extra = sorted(shapes.keys() - found.keys()), sorted(found.keys() - shapes.keys())
        said = "; ".join(part for part in (f"it lacks {', '.join(lacks[:3])}" if lacks else "",
                                           f"it has {', '.join(extra[:3])}, which that model has not" if extra else "") if part)
        raise VaekitError(f"{weights}: not the weights of the model config.json describes ({said}); {fix}")
    for name, shape in shapes.items():
        if found[name][0] != shape:
            raise VaekitError(f"{weights}: {name} is {list(found[name][0])} in the file, {list(shape)} in the model "
                              f"config.json describes (its model sizes); {fix}")
        if found[name][1] != "F32":
            raise VaekitError(f"{weights}: {name} is stored as {found[name][1]}, where vaekit writes float32 (F32); "
                              "retrain or restore the file")


def finished(run: Path, config: dict) -> bool:
    """Whether the run folder's training ended, so that its weights are the trained ones. Runs of
    vaekit before config.json said so: unless a training state waits for a resume."""
    if "finished" in config:
        return config["finished"]
    return not awaits_resume(run)


def awaits_resume(run: Path) -> bool:
    """Whether the folder holds a run that `--resume` can finish: a training state and no summary, or
    a run that stopped before it saved a state (``unstarted``)."""
    return resume_advice(run) is not None


def resume_advice(run: Path) -> str | None:
    """What `--resume` does for the run in ``run`` (None: there is nothing to resume)."""
    if (Path(run) / STATE).is_file() and not (Path(run) / SUMMARY).is_file():
        return f"`vaekit train --resume {run}` continues from the last saved epoch"
    return f"`vaekit train --resume {run}` trains it from the start" if unstarted(run) else None


def resume_token(run: Path) -> tuple:
    """What a resume found in ``run`` (size and time of its summary, state and config), taken again once it
    holds the lock: another process that finished the run or went on with it meanwhile is not written over."""
    def seen(path: Path):
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return stat.st_size, stat.st_mtime_ns

    return tuple(seen(Path(run) / name) for name in (SUMMARY, STATE, CONFIG))


def unstarted(run: Path) -> bool:
    """Whether the folder holds a run that stopped before it saved a training state (a Ctrl-C or a kill
    in its first seconds; a kill with --checkpoint-every 0): its config.json says unfinished, and
    there is no state and no summary. `--resume` trains it again from the start, with its own settings."""
    run = Path(run)
    if (run / STATE).exists() or (run / SUMMARY).exists():
        return False
    try:
        config = json.loads((run / CONFIG).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("finished") is False


def save_state(run: Path, state: dict, config: dict) -> None:
    """Write RUN/train_state.pt atomically; ``config`` (the model/train/data dicts) ties it to its run."""
    import torch

    with disk_errors(run, STATE), atomic_file(Path(run) / STATE) as f:  # straight in: no second copy in memory
        torch.save({"version": STATE_VERSION, "config": _fingerprint(config), **state}, f)


def load_state(run: Path, config: dict) -> dict:
    """Read RUN/train_state.pt as plain tensors and containers (``weights_only``); refuse anything else."""
    import torch

    path = Path(run) / STATE
    if not path.is_file():
        raise VaekitError(f"{path}: missing; this run saved no training state to resume from "
                          "(it stopped before its first checkpoint, or ran with --checkpoint-every 0)")
    refused = f"{path}: refused to load: not a training state written by vaekit"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a bare pickle is never ours
        raise VaekitError(f"{refused}; delete it, or restore it from a backup")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # untrusted bytes: any failure to parse them is a refusal, never a traceback
        reason = first_line(e)
        if "weights only" in reason.lower():  # torch's own text goes on to advise weights_only=False: never that here
            reason = "it holds objects other than tensors and plain containers, and vaekit runs no code from a file"
        raise VaekitError(f"{refused} ({reason}); delete it, or restore it from a backup") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise VaekitError(f"{refused} (or by an incompatible vaekit version); delete it, or restore it from a backup")
    if state.get("config") != _fingerprint(config):
        raise VaekitError(f"{path}: belongs to a run with another configuration than {Path(run) / CONFIG}; "
                          "restore the matching files")
    _check_state(state, path, config)
    return state


STATE_FIELDS = {"epoch": int, "best_epoch": int, "best": (int, float), "model": dict, "optimizer": dict,
                "best_model": dict, "records": list, "stopped": str, "message": str, "rng": list}


def _check_state(state: dict, path: Path, config: dict) -> None:
    """What resuming reads from a training state, checked before anything in the run folder is rewritten:
    resuming writes metrics.jsonl from the state's records and trains from its epoch and weights."""
    import torch

    from .models import build_model

    def bad(what: str):
        raise VaekitError(f"{path}: refused to resume: {what}; delete it, or restore it from a backup")

    for key, kind in STATE_FIELDS.items():
        if key not in state:
            bad(f"it has no {key}")
        if isinstance(state[key], bool) or not isinstance(state[key], kind):
            bad(f"its {key} is a {type(state[key]).__name__}")
    epoch, epochs, records = state["epoch"], config["cfg_train"].epochs, state["records"]
    if not 0 <= epoch <= epochs:
        bad(f"its epoch {epoch} is outside 0..{epochs}, the run's epochs")
    if len(records) != epoch or not all(isinstance(r, dict) for r in records):
        bad(f"it holds {len(records)} epoch records for {epoch} epochs")
    if not 0 <= state["best_epoch"] <= epoch:
        bad(f"its best epoch {state['best_epoch']} is outside 0..{epoch}")
    if state["stopped"] not in ("completed", "early-stopped", "diverged"):
        bad(f"it stopped as {state['stopped']!r}, which vaekit never writes")
    if state["stopped"] != "completed" and not state["message"]:
        bad(f"it stopped as {state['stopped']}, with no reason given")
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in build_model(config["cfg_model"]).state_dict().items()}
    for key in ("model", "best_model"):
        got = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in state[key].items()}
        if got != shapes:
            bad(f"its {key} weights do not fit the model config.json describes")


def _fingerprint(config: dict) -> str:
    return json.dumps({k: config[k] for k in ("model", "train", "data")}, sort_keys=True)


@contextmanager
def disk_errors(run: Path, name: str | None = None):
    """Turn a failed write of ``name`` in the run folder (disk full, no permission, ...) into one VaekitError line."""
    try:
        yield
    except OSError as e:
        raise disk_error(run, e, name) from None


def disk_error(run: Path, e: OSError, name: str | None = None) -> VaekitError:
    what = name or (Path(e.filename).name if e.filename else "the run folder")
    reason = "no space left on the disk" if e.errno in (errno.ENOSPC, errno.EDQUOT) else (e.strerror or str(e))
    then = resume_advice(run) or "train again"  # a run that failed before it wrote its config has nothing to resume
    return VaekitError(f"{run}: cannot write {what} ({reason}); free some space or fix the permissions, then {then}")


class StateSaver:
    """``fit``'s ``on_state``: writes train_state.pt every ``every`` epochs and after the last one.

    It keeps the newest state, so that Ctrl-C (``interrupted``) can save the last completed epoch
    even with ``every = 0`` or between two checkpoints.
    """

    def __init__(self, run: Path, config: dict, every: int, saved_epoch: int | None = None):
        self.run, self.config, self.every = Path(run), config, every
        self.saved_epoch, self.last = saved_epoch, None

    def __call__(self, state: dict, final: bool) -> None:
        self.last = state
        epoch = state["epoch"]
        if self.every and epoch != self.saved_epoch and (final or epoch % self.every == 0):
            self.save(state)

    def save(self, state: dict) -> None:
        # a Ctrl-C meanwhile stops the run once the state is written and counted (torch.save cut short
        # raises its own RuntimeError over the KeyboardInterrupt)
        with signals_held():
            save_state(self.run, state, self.config)
            self.saved_epoch = state["epoch"]

    def interrupted(self) -> int | None:
        """Save the newest state unless it is on disk already -> the epoch a resume continues after."""
        if self.last is not None and self.last["epoch"] != self.saved_epoch:
            self.save(self.last)
        return self.saved_epoch


class RunLock:
    """``RUN/.lock`` names the one process (PID and host) that writes a run folder.

    A second run on the same folder is refused while that process lives; a lock whose process is
    gone (killed, crashed) is stale and taken over. The PID of another host cannot be checked (a
    cluster job resumed on another node), so the holder touches the lock every HEARTBEAT_S seconds
    and a lock of another host that nobody touched for FOREIGN_STALE_S seconds is stale too.
    """

    held_here: set[Path] = set()  # locks this process holds (a lock with our own PID is live only if listed)

    def __init__(self, run: Path):
        self.run, self.path = Path(run), Path(run).resolve() / LOCK
        self.owner = f"{os.getpid()} {socket.gethostname()}\n"
        self.held = False

    def __enter__(self) -> RunLock:
        for _ in range(5):  # a few tries: another process may be taking or dropping the lock right now
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            except OSError as e:
                raise disk_error(self.run, e, LOCK) from None
            try:
                with disk_errors(self.run, LOCK), os.fdopen(fd, "w") as f:
                    f.write(self.owner)
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:  # a Ctrl-C here (fsync can take a while) left the lock behind, and __exit__ never runs
                self.path.unlink(missing_ok=True)
                raise
            self.held = True
            RunLock.held_here.add(self.path)
            self._stop = threading.Event()
            threading.Thread(target=self._heartbeat, name="vaekit-lock", daemon=True).start()
            return self
        raise VaekitError(f"{self.run}: could not lock the run folder ({self.path} keeps changing); "
                          "is another run starting on it? try again or pick another folder")

    def __exit__(self, *exc) -> None:
        if self.held:
            self._stop.set()
            if _read(self.path) == self.owner:  # never remove a lock another process holds
                self.path.unlink(missing_ok=True)
        RunLock.held_here.discard(self.path)
        self.held = False

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                pass  # gone or unwritable: the next beat tries again; training goes on

    def _take_over_if_stale(self) -> None:
        text = _read(self.path)
        if text is None:
            return  # gone in the meantime: try again
        pid, _, host = text.strip().partition(" ")
        try:
            idle = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if self.path in RunLock.held_here or not _stale(pid, host, idle):
            owner = f"PID {pid} on {host}, active {idle:.0f} s ago" if pid.isdigit() else "a lock being written"
            raise VaekitError(f"{self.run}: in use by another training run ({owner}); wait for it to finish or "
                              f"use another folder (if no run is using it, delete {self.path})")
        # Rename, then check that what we moved is still the stale lock and not one taken meanwhile.
        moved = self.path.with_name(f"{LOCK}.stale-{os.getpid()}")
        try:
            os.replace(self.path, moved)
        except FileNotFoundError:
            return
        if _read(moved) == text:
            moved.unlink(missing_ok=True)
        else:
            os.replace(moved, self.path)


def _stale(pid: str, host: str, idle: float) -> bool:
    """Whether a lock's process is gone: by its PID on this host, by the lock's heartbeat elsewhere."""
    if pid.isdigit() and host == socket.gethostname():
        return not _alive(int(pid))
    return idle > FOREIGN_STALE_S


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return None if not path.exists() else ""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (not us: a PID reused after a restart is stale)."""
    if pid <= 0 or pid == os.getpid():
        return False
    if os.name == "nt":  # os.kill would terminate the process there, not probe it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to another user
    except OverflowError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) holds nothing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _scaler(data) -> Scaler:
    # "wide" came later: a run from before it has float32 outputs, as it always had
    if not isinstance(data, dict) or not {"shift", "scale", "clip", "kind"} <= set(data) <= {"shift", "scale", "clip", "kind", "wide"}:
        raise VaekitError("scaler is missing or malformed; retrain or fix the file")
    for key in ("shift", "scale"):
        value = data[key]
        ok = isinstance(value, (int, float)) or (isinstance(value, list) and all(isinstance(v, (int, float)) for v in value))
        if not ok or isinstance(value, bool):
            raise VaekitError(f"scaler.{key} must be a number or a list of numbers; retrain or fix the file")
    scale = data["scale"] if isinstance(data["scale"], list) else [data["scale"]]
    if not scale or 0 in scale:
        raise VaekitError("scaler.scale must be non-zero numbers; retrain or fix the file")
    # the numbers the scaling computes in (float32, float64 for "wide" data) must hold them: 1e-320 is 0 in
    # float32, dividing by it made NaNs that reached scikit-learn's PCA as a traceback
    limits = np.finfo(np.float64 if data.get("wide") is True else np.float32)
    tiny, largest = float(limits.smallest_subnormal), float(limits.max)  # as Python floats: no overflow in a cast
    shift = data["shift"] if isinstance(data["shift"], list) else [data["shift"]]
    if not all(tiny <= abs(v) <= largest for v in scale) or not all(abs(v) <= largest for v in shift):
        raise VaekitError(f"scaler.scale and scaler.shift must be finite numbers that {limits.dtype} holds (a scale of at "
                          f"least {tiny:.3g} in size); retrain or fix the file")
    if not isinstance(data["clip"], bool) or not isinstance(data.get("wide", False), bool) or data["kind"] not in SCALER_KINDS:
        raise VaekitError(f"scaler.clip and scaler.wide must be true/false and scaler.kind one of {', '.join(SCALER_KINDS)}; "
                          "retrain or fix the file")
    return Scaler(**data)
