"""Faults at the edges: a pickle payload where a checkpoint belongs, locked and stale run folders,
a full disk, a folder without write permission, and losses that go NaN in the middle of an epoch."""

from __future__ import annotations

import copy
import errno
import json
import os
import pickle
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vaekit
import vaekit.cli
from vaekit import checkpoint
from vaekit.config import DataConfig, ModelConfig, TrainConfig
from vaekit.data.datasets import Data
from vaekit.data.scaling import Scaler
from vaekit.errors import VaekitError
from vaekit.models import build_model
from vaekit.trainer import fit

TINY = ["--model", "ae", "--hidden", "8", "--latent-dim", "2", "--batch-size", "256", "--patience", "0", "-q"]


@pytest.fixture(autouse=True)
def no_figures(monkeypatch):
    """Figures and report are tested elsewhere; here they would only cost seconds per run."""
    import vaekit.api
    import vaekit.report

    for module, name in ((vaekit.api, "write_figures"), (vaekit.report, "write_report")):
        monkeypatch.setattr(module, name, lambda *args, **kwargs: None)


def invoke(args):
    return CliRunner().invoke(vaekit.cli.cli, args)


def make_run(path: Path) -> Path:
    """A valid, untrained run folder (config.json + weights), written without training."""
    cfg = ModelConfig(model="ae", input_shape=(1, 8, 8), hidden=(8,), latent_dim=2)
    path.mkdir()
    checkpoint.save_run(path, build_model(cfg), cfg, TrainConfig(), DataConfig(), Scaler(0.0, 16.0, True, "minmax"),
                        {"classes": None})
    return path


class Payload:
    """Unpickling this creates ``path``: what an attacker's "checkpoint" would do instead."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# --- safe loading -----------------------------------------------------------------------------

@pytest.mark.parametrize("container", ["pickle", "torch-zip"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, container):
    run = make_run(tmp_path / "run")
    marker = tmp_path / "pwned"
    if container == "pickle":
        (run / checkpoint.STATE).write_bytes(pickle.dumps(Payload(marker)))
    else:  # a real torch.save archive whose pickle holds the payload
        torch.save({"version": 1, "model": Payload(marker)}, run / checkpoint.STATE)
    assert not marker.exists()
    with pytest.raises(VaekitError, match="refused"):
        checkpoint.load_state(run, checkpoint.read_config(run))
    result = invoke(["train", "--resume", str(run)])
    assert result.exit_code == 2
    assert result.output.startswith("vaekit: error:") and "refused" in result.output
    assert "Traceback" not in result.output and "weights_only" not in result.output  # never advice to unpickle
    if container == "torch-zip":  # torch's reason, which goes on to advise weights_only=False, is replaced
        assert "vaekit runs no code from a file" in result.output
    assert not marker.exists()
    pickle.loads(pickle.dumps(Payload(marker)))  # the payload is live: plain unpickling does create the file
    assert marker.exists()


def state_of(run: Path, epoch: int) -> dict:
    """A training state of the run's model after ``epoch`` epochs, as resuming checks it."""
    weights = build_model(checkpoint.read_config(run)["cfg_model"]).state_dict()
    return {"epoch": epoch, "model": weights, "optimizer": {}, "best": float("inf"), "best_epoch": 0,
            "best_model": weights, "records": [{"epoch": i + 1} for i in range(epoch)], "stopped": "completed",
            "message": "", "rng": []}


def test_ctrl_c_while_the_state_is_written_stops_the_run_once_it_is_written_and_counted(tmp_path, monkeypatch):
    """torch.save cut short raised its own RuntimeError over the KeyboardInterrupt: a traceback, exit 1."""
    import signal

    run, save, calls = make_run(tmp_path / "a"), torch.save, []
    config = checkpoint.read_config(run)

    def interrupted_save(obj, f):
        calls.append(obj["epoch"])
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # Python would raise KeyboardInterrupt here, between two bytecodes
        save(obj, f)

    monkeypatch.setattr(torch, "save", interrupted_save)
    saver = checkpoint.StateSaver(run, config, every=1)
    with pytest.raises(KeyboardInterrupt):
        saver(state_of(run, 3), final=False)
    assert checkpoint.load_state(run, config)["epoch"] == 3 and saver.interrupted() == 3 and calls == [3]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_held_signals_sigterm_first_and_not_over_an_error():
    import signal

    from vaekit.fileio import signals_held

    class Terminated(Exception):
        pass

    def terminate(number, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with pytest.raises(Terminated):  # Ctrl-C, then a scheduler's SIGTERM: stopped as SIGTERM asks
            with signals_held():
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
        with pytest.raises(OSError, match="No space left"):  # the block's own error is what the user needs to read
            with signals_held():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                raise OSError(errno.ENOSPC, "No space left on device")
        assert signal.getsignal(signal.SIGTERM) is terminate
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("block", ["held", "ignored"])
def test_a_handler_set_outside_python_gives_way_to_the_default_not_to_ignoring(monkeypatch, block):
    """signal.signal returns None for a handler C code set; signals_set(SIG_IGN) left Ctrl-C ignored for good."""
    import signal

    from vaekit import fileio

    real, calls = signal.signal, []

    def recorded(number, handler):
        calls.append((number, handler))
        previous = real(number, handler)
        return None if len(calls) <= 2 else previous  # the two handlers the block replaces: set outside Python

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(fileio.signal, "signal", recorded)
    try:
        with fileio.signals_held() if block == "held" else fileio.signals_set(signal.SIG_IGN):
            pass
        assert calls[2:] == [(signal.SIGINT, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_DFL)]
    finally:
        for s, handler in saved.items():
            real(s, handler)


def test_torch_failing_on_its_way_out_of_ctrl_c_is_still_an_interrupt(monkeypatch):
    def fails_while_interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        finally:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    import vaekit.data.catalog as catalog

    monkeypatch.setattr(catalog, "describe", fails_while_interrupted)
    result = CliRunner().invoke(vaekit.cli.cli, ["datasets"])
    assert result.exit_code == 130 and result.stderr.strip() == "vaekit: interrupted", result.output


def test_state_of_another_run_is_refused(tmp_path):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    config = checkpoint.read_config(a)
    checkpoint.save_state(a, state_of(a, 0), config)
    config_b = json.loads((b / checkpoint.CONFIG).read_text())
    config_b["train"]["lr"] = 0.5
    (b / checkpoint.CONFIG).write_text(json.dumps(config_b))
    (b / checkpoint.STATE).write_bytes((a / checkpoint.STATE).read_bytes())
    with pytest.raises(VaekitError, match="another configuration"):
        checkpoint.load_state(b, checkpoint.read_config(b))


def test_config_describing_a_huge_model_is_refused_before_allocating(tmp_path):
    import vaekit

    run = make_run(tmp_path / "run")
    config = json.loads((run / checkpoint.CONFIG).read_text())
    config["model"]["hidden"] = [10**9]  # 10^11 parameters
    (run / checkpoint.CONFIG).write_text(json.dumps(config))
    with pytest.raises(VaekitError, match=r"encoder.net.0.weight is \[8, 64\] in the file, \[1000000000, 64\] in the model"):
        vaekit.load(run)


def _edit_weights(run: Path, edit) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(run / checkpoint.WEIGHTS)
    edit(weights)
    save_file(weights, run / checkpoint.WEIGHTS)


@pytest.mark.parametrize("edit,message", [
    (lambda w: w.update({"decoder.net.2.bias": torch.full((64,), float("nan"))}),
     "decoder.net.2.bias holds NaN or infinite values; restore the file, or retrain"),
    (lambda w: w["encoder.net.0.bias"].__setitem__(0, float("inf")), "encoder.net.0.bias holds NaN or infinite values"),
    (lambda w: w.update({"extra": torch.zeros(2)}), "(it has extra, which that model has not); restore the config.json"),
    (lambda w: w.pop("encoder.net.0.bias"), "(it lacks encoder.net.0.bias); restore the config.json written with these"),
    (lambda w: w.update({k: v.half() for k, v in w.items()}), "is stored as F16, where vaekit writes float32 (F32)"),
])
def test_weights_that_cannot_be_the_trained_ones_are_refused(tmp_path, edit, message):
    """NaN weights gave NaN outputs with exit 0 (or a traceback from scikit-learn in evaluate); a config.json and
    weights that disagree got torch's first line, naming nothing."""
    import vaekit

    run = make_run(tmp_path / "run")
    _edit_weights(run, edit)
    with pytest.raises(VaekitError, match=re.escape(message)):
        vaekit.load(run)


def test_an_edited_config_names_the_tensor_that_no_longer_fits(tmp_path):
    run = make_run(tmp_path / "run")
    config = json.loads((run / checkpoint.CONFIG).read_text())
    config["model"]["latent_dim"] = 3
    (run / checkpoint.CONFIG).write_text(json.dumps(config))
    result = invoke(["encode", str(run), "digits", "-o", str(tmp_path / "z.npy")])
    assert result.exit_code == 2 and ("model.safetensors: encoder.net.2.weight is [2, 8] in the file, [3, 8] in the "
                                      "model config.json describes") in result.output, result.output


def test_missing_state_says_why(tmp_path):
    run = make_run(tmp_path / "run")
    result = invoke(["train", "--resume", str(run)])
    assert result.exit_code == 2 and "train_state.pt: missing" in result.output


# --- locks ------------------------------------------------------------------------------------

def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_live_lock_refuses_a_second_run(tmp_path):
    run = make_run(tmp_path / "run")
    checkpoint.save_state(run, state_of(run, 0), checkpoint.read_config(run))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / checkpoint.LOCK).write_text(f"{sleeper.pid} {socket.gethostname()}\n")
        result = invoke(["train", "--resume", str(run)])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.exit_code == 2
    assert f"in use by another training run (PID {sleeper.pid}" in result.output
    assert (run / checkpoint.LOCK).read_text().startswith(str(sleeper.pid))  # not taken over


def test_stale_lock_is_taken_over_and_released(tmp_path):
    (tmp_path / checkpoint.LOCK).write_text(f"{dead_pid()} {socket.gethostname()}\n")
    with checkpoint.RunLock(tmp_path):
        assert (tmp_path / checkpoint.LOCK).read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / checkpoint.LOCK).exists()


def test_lock_of_another_host_lives_while_its_heartbeat_does(tmp_path):
    lock = tmp_path / checkpoint.LOCK
    lock.write_text("12345 some-other-node\n")
    with pytest.raises(VaekitError, match="PID 12345 on some-other-node.*delete"):
        checkpoint.RunLock(tmp_path).__enter__()
    old = time.time() - checkpoint.FOREIGN_STALE_S - 60  # a node that died (a pre-empted cluster job)
    os.utime(lock, (old, old))
    with checkpoint.RunLock(tmp_path):
        assert lock.read_text().split()[0] == str(os.getpid())


def test_the_lock_holder_keeps_its_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "HEARTBEAT_S", 0.01)
    lock = tmp_path / checkpoint.LOCK
    with checkpoint.RunLock(tmp_path):
        old = time.time() - 3600
        os.utime(lock, (old, old))
        deadline = time.monotonic() + 10
        while lock.stat().st_mtime < old + 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lock.stat().st_mtime > old + 60


def test_two_runs_asked_to_write_one_folder(tmp_path, monkeypatch):
    """Both passed the empty-folder check; the lock and the re-check after it keep the second out."""
    import vaekit.api

    out = tmp_path / "run"
    assert invoke(["train", *TINY, "--epochs", "1", "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    monkeypatch.setattr(vaekit.api, "prepare_out", lambda out, model, data: Path(out))  # as if it ran before the first
    result = invoke(["train", *TINY, "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 2 and "another run started writing this folder" in result.output
    with checkpoint.RunLock(out):  # and while the first one still runs
        result = invoke(["train", *TINY, "--epochs", "1", "--out", str(out)])
        assert result.exit_code == 2 and "in use by another training run" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


# --- full disk, no permission -----------------------------------------------------------------

def test_full_disk_while_checkpointing_leaves_the_last_good_state(tmp_path, monkeypatch):
    import contextlib

    real_file, real_fsync = checkpoint.atomic_file, os.fsync
    writes, armed, full = [], [False], [True]

    @contextlib.contextmanager
    def file(path):  # the third state write (after epoch 2) finds the disk full at fsync
        writes.append(Path(path).name)
        armed[0] = full[0] and writes.count(checkpoint.STATE) == 3
        try:
            with real_file(path) as f:
                yield f
        finally:
            armed[0] = False

    def fsync(fd):
        if armed[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(checkpoint, "atomic_file", file)
    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "run"
    result = invoke(["train", *TINY, "--epochs", "3", "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "cannot write train_state.pt (no space left on the disk)" in result.output
    assert f"vaekit train --resume {out}" in result.output
    full[0] = False
    assert checkpoint.load_state(out, checkpoint.read_config(out))["epoch"] == 1  # the old state, whole
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not (out / checkpoint.LOCK).exists()
    result = invoke(["train", "--resume", str(out), "-q"])  # space freed: it goes on
    assert result.exit_code == 0, result.output
    assert len((out / checkpoint.METRICS).read_text().splitlines()) == 3


def test_a_failed_write_advises_resume_only_where_there_is_a_state_to_resume(tmp_path):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    run = tmp_path / "run"
    run.mkdir()
    message = str(checkpoint.disk_error(run, full, "config.json"))
    assert message.endswith("free some space or fix the permissions, then train again") and "--resume" not in message
    (run / checkpoint.STATE).write_bytes(b"a saved state")
    assert str(checkpoint.disk_error(run, full, "metrics.jsonl")).endswith(
        f"then `vaekit train --resume {run}` continues from the last saved epoch")


def test_unwritable_output_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    result = invoke(["train", *TINY, "--out", str(tmp_path / "new")])
    assert result.exit_code == 2 and "is not writable" in result.output


def test_unwritable_run_folder_on_resume(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run")
    checkpoint.save_state(run, state_of(run, 0), checkpoint.read_config(run))
    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if str(path).endswith(checkpoint.LOCK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    result = invoke(["train", "--resume", str(run)])
    assert result.exit_code == 2
    assert "cannot write .lock (Permission denied)" in result.output


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes through permissions")
def test_read_only_folder_for_real(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        result = invoke(["train", *TINY, "--out", str(parent / "run")])
    finally:
        parent.chmod(0o700)
    assert result.exit_code == 2 and "not writable" in result.output


# --- NaN and inf --------------------------------------------------------------------------------

class Flaky(torch.nn.Module):
    """A linear autoencoder whose loss is NaN for the batches at ``bad`` progress (epoch - 1 + i / n)."""

    def __init__(self, bad=lambda progress: False):
        super().__init__()
        self.net = torch.nn.Linear(4, 4)
        self.bad = bad

    def loss(self, x, y=None, progress=None):
        loss = (self.net(x) - x).pow(2).mean()
        if progress is not None and self.bad(progress):
            loss = loss * float("nan")
        return loss, {"loss": loss.detach()}


def tiny_data(n: int = 80) -> Data:
    x = np.random.default_rng(0).random((n, 4), dtype=np.float32)
    splits = {"train": np.arange(60), "val": np.arange(60, 70), "test": np.arange(70, 80)}
    return Data("tiny", x, None, None, splits, Scaler())


def train_tiny(model, epochs=3, **options):
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=epochs, batch_size=10, patience=0, **options)
    return fit(model, tiny_data(), cfg, device=torch.device("cpu"), verbose=False)


def weights(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_nan_stop_names_epoch_and_batch_and_keeps_the_last_good_epoch():
    torch.manual_seed(0)
    good = Flaky()
    train_tiny(good, epochs=1)
    torch.manual_seed(0)
    flaky = Flaky(lambda progress: progress >= 1.35)  # 6 batches per epoch: epoch 2, batch 4
    history = train_tiny(flaky)
    assert history.stopped == "diverged"
    assert "epoch 2, batch 4" in history.message and "--lr" in history.message and "--grad-clip" in history.message
    assert len(history.records) == 1
    assert all(torch.equal(a, b) for a, b in zip(weights(flaky), weights(good)))  # epoch 1's weights


def test_nan_skip_skips_and_counts_the_bad_batches():
    flaky = Flaky(lambda progress: 1.35 <= progress < 2)  # batches 4, 5, 6 of epoch 2
    history = train_tiny(flaky, on_nan="skip")
    assert history.stopped == "completed"
    assert [r["skipped_batches"] for r in history.records] == [0, 3, 0]
    assert all(torch.isfinite(w).all() for w in weights(flaky))


def test_nan_in_every_batch_with_skip_stops_and_points_at_the_data():
    history = train_tiny(Flaky(lambda progress: True), on_nan="skip")
    assert history.stopped == "diverged" and "every batch of epoch 1" in history.message


def test_skip_never_keeps_weights_whose_validation_loss_is_not_finite():
    class Brittle(Flaky):  # trains on finite losses, but its weights score NaN on held-out data
        def loss(self, x, y=None, progress=None):
            loss, logs = super().loss(x, y, progress)
            return (loss, logs) if self.training else (loss * float("nan"), {"loss": logs["loss"] * float("nan")})

    torch.manual_seed(0)
    model = Brittle()
    start = weights(model)
    history = train_tiny(model, on_nan="skip")
    assert history.stopped == "diverged" and history.records == []
    assert "validation loss became non-finite in epoch 1; kept the weights of epoch 0" in history.message
    assert all(torch.equal(a, b) for a, b in zip(weights(model), start))


def test_skip_with_a_diverging_lr_saves_the_last_good_weights_and_warns(tmp_path):
    out = tmp_path / "run"
    result = invoke(["train", "--hidden", "8", "--epochs", "1", "-q", "--lr", "1e10", "--on-nan", "skip", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "vaekit: warning: the validation loss became non-finite in epoch 1" in result.output
    summary = json.loads((out / checkpoint.SUMMARY).read_text())
    assert summary["stopped"] == "diverged" and np.isfinite(summary["test_loss"])
    assert all(p.abs().max() < 10 for p in vaekit.load(out).module.parameters())  # not the ~1e10 of the diverged step


def test_skip_counts_reach_metrics_jsonl(tmp_path, monkeypatch):
    import vaekit.trainer
    from vaekit.data.datasets import split_indices

    bad = int(split_indices(1797, None, 0, 0.1, 0.2)["train"][7])  # one digits training example turned NaN
    real_get = vaekit.trainer.Batches.get

    def get(self, idx, generator=None):
        x, y = real_get(self, idx, generator)
        hit = (idx == bad).to(x.device)
        if torch.is_grad_enabled() and hit.any():  # training batches only
            x = x.masked_fill(hit.view(-1, *[1] * (x.dim() - 1)), float("nan"))
        return x, y

    monkeypatch.setattr(vaekit.trainer.Batches, "get", get)
    out = tmp_path / "run"
    result = invoke(["train", *TINY, "--epochs", "2", "--on-nan", "skip", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / checkpoint.METRICS).read_text().splitlines()]
    assert [r["skipped_batches"] for r in records] == [1, 1]
    assert all(np.isfinite(r["train_loss"]) for r in records)


def test_grad_clip_limits_the_steps():
    free = Flaky()
    clipped = copy.deepcopy(free)
    start = weights(free)
    torch.manual_seed(0)
    train_tiny(free, epochs=1)
    torch.manual_seed(0)
    train_tiny(clipped, epochs=1, grad_clip=1e-12)
    moved = [sum((a - b).abs().sum() for a, b in zip(weights(m), start)) for m in (free, clipped)]
    assert moved[1] < 0.1 * moved[0]


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["model"].update(latent_dim=-3), "model.latent_dim -3 must be a positive integer; retrain or "
                                                 "fix the file"),
    (lambda c: c["model"].update(latent_dim=10**30), "model.latent_dim 1000000000000000000000000000000 must be at most"),
    (lambda c: c["model"].update(hidden=[10**40]), "model.hidden 40-digit number must be positive integers"),
    (lambda c: c["model"].update(model="gan"), "model.model gan is not one of ae, dae, vae, iwae, cvae; retrain or fix the file"),
    (lambda c: c["train"].update(device="tpu"), "train.device tpu is not one of auto, cpu, cuda; retrain"),
    (lambda c: c["model"].update(input_shape=[1, 4, 10**12]), "model.input_shape [1, 4, 1000000000000] must be"),
    (lambda c: c["scaler"].update(shift=[0.0] * 64), "scaler.shift has 64 values for inputs of shape [1, 8, 8] (one per"),
    (lambda c: c["scaler"].update(scale=1e-46), "scaler.scale and scaler.shift must be finite numbers that float32 holds"),
    (lambda c: c["scaler"].update(scale=1e39), "scaler.scale and scaler.shift must be finite numbers that float32 holds"),
    (lambda c: c["scaler"].update(shift=-1e39), "scaler.scale and scaler.shift must be finite numbers that float32 holds"),
    (lambda c: c.update(format_version="1"), 'format_version "1" must be an integer'),
    (lambda c: c.update(split={"train": "1437", "val": 0, "test": 1}), "split must map train, val and test to their"),
    (lambda c: c.update(split={"train": 1, "val": 0, "test": -1}), "split must map train, val and test to their numbers of examples"),
    (lambda c: c.update(data_digest=12345), "data_digest must be hex digits"),
    (lambda c: c.update(data_digest="not a digest"), "data_digest must be hex digits"),
    (lambda c: c["data"].update(binarize="static"), "data.binarize static is not a way to binarize: the only one is "
                                                    "dynamic; retrain or fix the file"),
    (lambda c: c["data"].update(scale="log"), "data.scale log is not one of minmax, standard, none; retrain"),
    (lambda c: c["data"].update(name=""), "the data set '' is neither a name nor a path; retrain or fix the file"),
    (lambda c: c["model"].update(n_classes=5), "n_classes=5 is the number of classes a cvae is conditioned on, and a ae"),
    (lambda c: (c["model"].update(model="cvae", n_classes=3), c.update(classes=list("0123456789"))),
     "classes has 10 names for a cvae of 3 classes (model.n_classes)"),
])
def test_a_config_edited_out_of_range_names_its_field(tmp_path, edit, message):
    """Said in config.json's fields, not `vaekit train`'s options (`encode` has no --latent-dim); sizes torch cannot
    take and per-pixel scalings of an image model are refused, where they crashed inside torch."""
    run = make_run(tmp_path / "run")
    config = json.loads((run / checkpoint.CONFIG).read_text())
    edit(config)
    (run / checkpoint.CONFIG).write_text(json.dumps(config))
    result = invoke(["encode", str(run), "digits", "-o", str(tmp_path / "z.npy")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "--" not in result.output.split("config.json: ")[1]


def test_a_number_too_long_to_print_is_named(tmp_path):
    run = make_run(tmp_path / "run")
    text = (run / checkpoint.CONFIG).read_text().replace('"latent_dim": 2', '"latent_dim": 1' + "0" * 5000)
    (run / checkpoint.CONFIG).write_text(text)
    result = invoke(["encode", str(run), "digits", "-o", str(tmp_path / "z.npy")])
    assert result.exit_code == 2 and "not valid JSON (a number of over 4300 digits)" in result.output, result.output
