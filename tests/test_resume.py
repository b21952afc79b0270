"""Kill training for real in the middle of an epoch (SIGKILL, Ctrl-C), resume it, and end on the
very weights of the run that was never interrupted (CPU, same seed: bit for bit)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vaekit import checkpoint
from vaekit.errors import VaekitError

# Runs the CLI; with VAEKIT_TEST_PAUSE_AT=n it touches VAEKIT_TEST_MARKER and sleeps at the n-th
# Adam step, so that the test can signal a process that is certainly in the middle of an epoch.
# Figures and report are skipped everywhere in this file: they are tested elsewhere and cost seconds.
SCRIPT = """
import os, sys, time, torch
pause_at, steps = int(os.environ.get("VAEKIT_TEST_PAUSE_AT", "0")), [0]
from vaekit.optim import Adam
step = Adam.step
def paused_step(self, *args, **kwargs):
    steps[0] += 1
    if steps[0] == pause_at:
        open(os.environ["VAEKIT_TEST_MARKER"], "w").close()
        time.sleep(600)
    return step(self, *args, **kwargs)
Adam.step = paused_step
import vaekit.api, vaekit.report
vaekit.api.write_figures = vaekit.report.write_report = lambda *args, **kwargs: None  # only time here
from vaekit.cli import main
main(sys.argv[1:])
"""
# digits: 1294 training examples, 11 batches of 128 per epoch
ARGS = ["train", "--model", "vae", "--hidden", "32", "--latent-dim", "4", "--epochs", "5", "--batch-size", "128",
        "--patience", "2", "--seed", "3", "-q"]
STEPS_PER_EPOCH = 11


def start(args: list[str], marker: Path | None = None, pause_at: int = 0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAEKIT_TEST_PAUSE_AT": str(pause_at),
           "VAEKIT_TEST_MARKER": str(marker or "")}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the training run never reached the pause"
        time.sleep(0.05)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / checkpoint.METRICS).read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def in_process(args: list[str]) -> tuple[int, str, str]:
    """The CLI in this process, on one thread like the subprocesses (the same arithmetic, bit for bit)."""
    from click.testing import CliRunner

    import vaekit.cli

    import vaekit.api
    import vaekit.report

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for module, name in ((vaekit.api, "write_figures"), (vaekit.report, "write_report")):
                patch.setattr(module, name, lambda *args, **kwargs: None)
            result = CliRunner().invoke(vaekit.cli.cli, args)
    finally:
        torch.set_num_threads(threads)
    return result.exit_code, result.output, result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The uninterrupted run, a run SIGKILLed in epoch 4 and one Ctrl-C'd in epoch 2, each resumed.

    Only the interrupted runs need processes of their own; the rest runs here, meanwhile.
    """
    tmp = tmp_path_factory.mktemp("resume")
    ref, killed, interrupted = tmp / "ref", tmp / "killed", tmp / "interrupted"
    kill_marker, int_marker = tmp / "kill.marker", tmp / "int.marker"
    # checkpoints after epochs 0, 2, 4: killed in epoch 4, it goes back to epoch 2 (metrics has 3 lines)
    to_kill = start([*ARGS, "--checkpoint-every", "2", "--out", str(killed)], kill_marker, 3 * STEPS_PER_EPOCH + 3)
    # no periodic checkpoints at all: Ctrl-C itself must save the state of epoch 1
    to_interrupt = start([*ARGS, "--checkpoint-every", "0", "--out", str(interrupted)], int_marker, STEPS_PER_EPOCH + 3)
    results = {"ref": in_process([*ARGS, "--checkpoint-every", "2", "--out", str(ref)])}
    wait_for(kill_marker, to_kill)
    lines_before = len((killed / checkpoint.METRICS).read_text().splitlines())
    lock_before = (killed / checkpoint.LOCK).exists()
    to_kill.send_signal(signal.SIGKILL)
    kill_code = to_kill.wait()
    (killed / f".{checkpoint.STATE}.k1ll3d.tmp").write_bytes(b"an atomic write cut short by the kill")
    wait_for(int_marker, to_interrupt)
    to_interrupt.send_signal(signal.SIGINT)
    interrupt = finish(to_interrupt)
    state_after_interrupt = checkpoint.load_state(interrupted, checkpoint.read_config(interrupted))["epoch"]
    # what the unfinished folder holds are the starting weights: the commands that use a run refuse it
    results["encode_unfinished"] = in_process(["encode", str(interrupted), "digits", "-o", str(tmp / "z.npy")])
    results["out_unfinished"] = in_process([*ARGS, "--out", str(interrupted)])
    for name in ("killed", "interrupted"):
        results[name] = in_process(["train", "--resume", str(tmp / name), "-q"])
    results["encode_finished"] = in_process(["encode", str(interrupted), "digits", "-o", str(tmp / "z.npy")])
    return dict(ref=ref, killed=killed, interrupted=interrupted, kill_code=kill_code, lines_before=lines_before,
                lock_before=lock_before, interrupt=interrupt, state_after_interrupt=state_after_interrupt,
                results=results)


def test_reference_run_completes(runs):
    code, out, err = runs["results"]["ref"]
    assert code == 0, err
    assert (runs["ref"] / checkpoint.SUMMARY).exists()


def test_sigkill_mid_epoch_then_resume_is_bit_identical(runs):
    assert runs["kill_code"] == -signal.SIGKILL
    assert runs["lock_before"] and runs["lines_before"] == 3  # killed in epoch 4, after epoch 3 was logged
    code, out, err = runs["results"]["killed"]
    assert code == 0, err
    ref, killed = runs["ref"], runs["killed"]
    assert (killed / checkpoint.WEIGHTS).read_bytes() == (ref / checkpoint.WEIGHTS).read_bytes()
    assert metrics(killed) == metrics(ref)  # epoch 3 logged once, not twice
    summary = json.loads((killed / checkpoint.SUMMARY).read_text())
    assert summary["best_epoch"] == json.loads((ref / checkpoint.SUMMARY).read_text())["best_epoch"]
    epochs = [json.loads(line)["seconds"] for line in (killed / checkpoint.METRICS).read_text().splitlines()]
    assert summary["train_seconds"] >= sum(epochs)  # the epochs before the kill count too
    assert not (killed / checkpoint.LOCK).exists()  # the stale lock was taken over, then released
    assert not list(killed.glob(".*.tmp"))  # nor is the kill's half-written temporary file left


def test_ctrl_c_saves_state_and_says_how_to_resume(runs):
    code, out, err = runs["interrupt"]
    assert code == 130
    assert f"vaekit train --resume {runs['interrupted']}" in err
    assert "Traceback" not in err
    assert runs["state_after_interrupt"] == 1
    assert not (runs["interrupted"] / checkpoint.LOCK).exists()


def test_an_unfinished_run_is_refused_until_it_is_resumed(runs):
    run = runs["interrupted"]
    code, out, err = runs["results"]["encode_unfinished"]
    assert code == 2 and f"{run}: its training has not finished (interrupted, or still running), so its weights " \
                          f"are the untrained ones; `vaekit train --resume {run}` continues from the last saved epoch" in err, err
    code, out, err = runs["results"]["out_unfinished"]
    assert code == 2 and f"--out {run}: holds a run that has not finished; continue it with `vaekit train --resume" in err
    code, out, err = runs["results"]["encode_finished"]
    assert code == 0, err


def test_ctrl_c_then_resume_is_bit_identical(runs):
    code, out, err = runs["results"]["interrupted"]
    assert code == 0, err
    assert (runs["interrupted"] / checkpoint.WEIGHTS).read_bytes() == (runs["ref"] / checkpoint.WEIGHTS).read_bytes()


def test_state_holds_everything_and_loads_weights_only(runs):
    config = checkpoint.read_config(runs["ref"])
    state = checkpoint.load_state(runs["ref"], config)
    assert {"epoch", "model", "optimizer", "best", "best_epoch", "best_model", "records", "rng"} <= set(state)
    assert state["epoch"] == len(state["records"])
    assert set(state["rng"][0]) >= {"torch", "batches", "numpy", "python"}
    assert all(isinstance(v, torch.Tensor) for v in state["model"].values())


def test_resume_of_a_finished_run_is_refused(runs):
    from click.testing import CliRunner

    import vaekit.cli

    result = CliRunner().invoke(vaekit.cli.cli, ["train", "--resume", str(runs["ref"])])
    assert result.exit_code == 2
    assert "finished" in result.output


def test_resume_refuses_new_settings(runs):
    from click.testing import CliRunner

    import vaekit.cli

    result = CliRunner().invoke(vaekit.cli.cli, ["train", "--resume", str(runs["ref"]), "--lr", "0.1"])
    assert result.exit_code == 2
    assert "drop --lr" in result.output


def test_sigterm_saves_state_like_ctrl_c(tmp_path):
    """A scheduler's pre-emption (SLURM sends SIGTERM) must not lose the finished epochs."""
    run, marker = tmp_path / "terminated", tmp_path / "term.marker"
    proc = start([*ARGS, "--checkpoint-every", "0", "--out", str(run)], marker, STEPS_PER_EPOCH + 3)
    wait_for(marker, proc)
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 128 + signal.SIGTERM
    assert f"vaekit train --resume {run}" in err and "Traceback" not in err
    assert checkpoint.load_state(run, checkpoint.read_config(run))["epoch"] == 1


@pytest.mark.parametrize("stop_in, then", [
    ("write_summary", "the state after epoch 1 is saved in {run}/train_state.pt; continue with: vaekit train --resume {run}"),
    ("write_figures", "the trained model and summary.json are saved; `vaekit report {run}` draws the missing figures"),
    ("write_report", "the run is complete but for report.html; `vaekit report {run}` writes it"),
])
def test_ctrl_c_after_the_epochs_says_what_to_do_next(tmp_path, monkeypatch, capsys, stop_in, then):
    import vaekit.api
    import vaekit.report

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vaekit.report if stop_in == "write_report" else vaekit.api, stop_in, interrupt)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        vaekit.api.train(out=run, epochs=1, hidden=(8,), latent_dim=2, verbose=False)
    assert f"vaekit: interrupted; {then.format(run=run)}" in capsys.readouterr().err
    if stop_in == "write_summary":  # the resume finishes the run
        monkeypatch.undo()
        assert vaekit.api.train(resume=run, verbose=False).summary["epochs_trained"] == 1


def test_a_run_stopped_before_it_saved_a_state_trains_again_from_the_start(tmp_path, monkeypatch, caplog, capsys):
    """A Ctrl-C (or a kill) in a run's first seconds left config.json and weights but no state: --resume said
    the state was missing and --out that the folder was not empty, so nothing could use the folder again."""
    import vaekit.api

    def interrupt(self, state, final):
        raise KeyboardInterrupt  # before the first state is saved

    settings = dict(epochs=2, hidden=(8,), latent_dim=2, verbose=False, seed=5)
    monkeypatch.setattr(checkpoint.StateSaver, "__call__", interrupt)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        vaekit.api.train(out=run, **settings)
    monkeypatch.undo()
    assert f"it stopped before it saved a training state; `vaekit train --resume {run}` trains it" in capsys.readouterr().err
    assert (run / checkpoint.CONFIG).is_file() and not (run / checkpoint.STATE).exists()
    assert checkpoint.unstarted(run) and checkpoint.awaits_resume(run)
    with pytest.raises(VaekitError, match=r"the untrained ones; `vaekit train --resume .*` trains it from the start"):
        vaekit.load(run)
    with pytest.raises(VaekitError, match="holds a run that has not finished; continue it with `vaekit train --resume"):
        vaekit.api.train(out=run, **settings)
    resumed = vaekit.api.train(resume=run, verbose=False)
    assert "holds no training state (the run stopped before it saved one), so it trains from the start" in caplog.text
    fresh = vaekit.api.train(out=tmp_path / "fresh", **settings)
    assert resumed.summary["epochs_trained"] == 2 and len((run / checkpoint.METRICS).read_text().splitlines()) == 2
    for a, b in zip(resumed.module.parameters(), fresh.module.parameters()):
        assert torch.equal(a, b)
    # a finished run that lost its summary and state is not trained again over its weights
    (run / checkpoint.SUMMARY).unlink()
    (run / checkpoint.STATE).unlink()
    with pytest.raises(VaekitError, match="train_state.pt: missing"):
        vaekit.api.train(resume=run, verbose=False)


def test_a_resume_does_not_write_over_a_run_another_process_finished_meanwhile(tmp_path, monkeypatch):
    """A resume read the folder, then took the lock: a run another process finished in between got untrained
    weights and 'finished: false' over its trained ones."""
    import vaekit.api

    def interrupt(self, state, final):
        raise KeyboardInterrupt

    settings = dict(epochs=1, hidden=(8,), latent_dim=2, verbose=False)
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint.StateSaver, "__call__", interrupt)
        with pytest.raises(KeyboardInterrupt):  # a run that saved no state
            vaekit.api.train(out=tmp_path / "run", **settings)
    finished = vaekit.api.train(out=tmp_path / "other", **settings).run
    check = vaekit.api._check_memory

    def another_process_finishes_it(*args):  # while this resume reads the data
        check(*args)
        for name in (checkpoint.CONFIG, checkpoint.WEIGHTS, checkpoint.SUMMARY, checkpoint.METRICS):
            (tmp_path / "run" / name).write_bytes((finished / name).read_bytes())

    monkeypatch.setattr(vaekit.api, "_check_memory", another_process_finishes_it)
    with pytest.raises(VaekitError, match="another process trained this run meanwhile"):
        vaekit.api.train(resume=tmp_path / "run", verbose=False)
    assert (tmp_path / "run" / checkpoint.WEIGHTS).read_bytes() == (finished / checkpoint.WEIGHTS).read_bytes()


def test_a_ctrl_c_while_taking_the_lock_leaves_no_lock_and_a_stale_lock_does_not_fill_a_folder(tmp_path, monkeypatch):
    """A Ctrl-C while the lock was being written left RUN/.lock, and --out refused the folder as not empty."""
    import vaekit.api

    run = tmp_path / "run"
    run.mkdir()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.RunLock(run).__enter__()
    monkeypatch.undo()
    assert not (run / checkpoint.LOCK).exists()
    (run / checkpoint.LOCK).write_text("999999999 elsewhere-host\n")  # a killed run's: its process is gone
    os.utime(run / checkpoint.LOCK, (0, 0))
    trained = vaekit.api.train(out=run, epochs=1, hidden=(8,), latent_dim=2, verbose=False)
    assert trained.summary["epochs_trained"] == 1 and not (run / checkpoint.LOCK).exists()


def test_a_run_is_finished_only_once_its_trained_weights_are_written(tmp_path, monkeypatch):
    import vaekit.api

    save_weights, calls = checkpoint.save_weights, []

    def interrupted_second_time(*args):
        calls.append(args)
        if len(calls) == 2:  # the end of training: the trained weights
            raise KeyboardInterrupt
        save_weights(*args)

    monkeypatch.setattr(checkpoint, "save_weights", interrupted_second_time)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        vaekit.api.train(out=run, epochs=1, hidden=(8,), latent_dim=2, verbose=False)
    assert not checkpoint.finished(run, checkpoint.read_config(run))


def test_runs_of_older_vaekit_are_judged_by_their_files(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    legacy = {}  # config.json without "finished"
    assert checkpoint.finished(run, legacy)  # a finished run's folder, or one that saved no state
    (run / checkpoint.STATE).write_bytes(b"")
    assert not checkpoint.finished(run, legacy)  # a state waiting for --resume
    (run / checkpoint.SUMMARY).write_text("{}")
    assert checkpoint.finished(run, legacy) and not checkpoint.finished(run, {"finished": False})


def test_a_second_ctrl_c_cannot_cut_the_saving_of_the_state_short(tmp_path, monkeypatch):
    import signal

    import vaekit.api
    from vaekit.optim import Adam

    seen = []

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    saved = checkpoint.StateSaver.interrupted
    monkeypatch.setattr(Adam, "step", interrupt)
    monkeypatch.setattr(checkpoint.StateSaver, "interrupted",
                        lambda self: seen.append(signal.getsignal(signal.SIGINT)) or saved(self))
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        vaekit.api.train(out=tmp_path / "run", epochs=1, hidden=(8,), latent_dim=2, verbose=False)
    assert seen == [signal.SIG_IGN] and signal.getsignal(signal.SIGINT) is before  # ignored while saving, then back


def _interrupt_at_step(monkeypatch, n: int) -> None:
    """Ctrl-C at the n-th Adam step of the training about to start."""
    from vaekit.optim import Adam

    step, steps = Adam.step, [0]

    def step_or_interrupt(self, *args, **kwargs):
        steps[0] += 1
        if steps[0] == n:
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Adam, "step", step_or_interrupt)


def test_resume_refuses_a_csv_whose_columns_moved(tmp_path, monkeypatch):
    import numpy as np

    import vaekit.api
    from vaekit.errors import VaekitError

    x = np.random.default_rng(0).random((60, 3))
    csv = tmp_path / "t.csv"
    csv.write_text("a,b,c\n" + "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in x))
    _interrupt_at_step(monkeypatch, 3)  # epoch 2 (one batch an epoch)
    options = dict(data=str(csv), scale="none", likelihood="gaussian", epochs=3, hidden=(8,), latent_dim=2, verbose=False)
    with pytest.raises(KeyboardInterrupt):  # per-column scaling would notice; with none, only the names can
        vaekit.api.train(out=tmp_path / "run", **options)
    csv.write_text("c,a,b\n" + "".join(",".join(f"{v:.4f}" for v in row[[2, 0, 1]]) + "\n" for row in x))
    with pytest.raises(VaekitError, match="changed since the run started \\(its columns differ\\)"):
        vaekit.api.train(resume=tmp_path / "run", verbose=False)


def test_resume_refuses_an_image_folder_whose_images_changed(tmp_path, monkeypatch):
    """uint8 images scale by 0..255 whatever they hold: only the data's digest sees one replaced."""
    import numpy as np
    from PIL import Image

    import vaekit.api
    from vaekit.errors import VaekitError

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    _interrupt_at_step(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        vaekit.api.train(out=tmp_path / "run", data=str(folder), epochs=5, hidden=(8,), latent_dim=2, verbose=False)
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(folder / "07.png")
    with pytest.raises(VaekitError, match="changed since the run started \\(its examples, labels or split differ\\)"):
        vaekit.api.train(resume=tmp_path / "run", verbose=False)


def test_resume_may_continue_on_another_device(tmp_path, monkeypatch):
    """A requeued job lands where the run's GPU is not: --device is the one setting a resume takes."""
    import vaekit.api
    from vaekit.errors import VaekitError

    _interrupt_at_step(monkeypatch, 15)
    options = dict(epochs=3, hidden=(8,), latent_dim=2, batch_size=256, verbose=False)
    with pytest.raises(KeyboardInterrupt):
        vaekit.api.train(out=tmp_path / "run", **options)
    with pytest.raises(VaekitError, match=r"\(--device aside\); drop --lr$"):
        vaekit.api.train(resume=tmp_path / "run", device="cpu", lr=0.1, verbose=False)
    trained = vaekit.api.train(resume=tmp_path / "run", device="cpu", verbose=False)
    assert trained.summary["epochs_trained"] == 3


@pytest.mark.parametrize("tamper,message", [
    (lambda s: s.pop("epoch"), "it has no epoch"),
    (lambda s: s.update(records="x"), "its records is a str"),
    (lambda s: s.update(epoch=-50), "its epoch -50 is outside 0..5"),
    (lambda s: s.update(epoch="5"), "its epoch is a str"),
    (lambda s: s.update(epoch=10**6), "its epoch 1000000 is outside 0..5"),
    (lambda s: s.update(epoch=4), "it holds 5 epoch records for 4 epochs"),
    (lambda s: s.update(stopped="diverged", message=""), "it stopped as diverged, with no reason given"),
    (lambda s: s["model"].update({next(iter(s["model"])): torch.zeros(3)}), "its model weights do not fit the model"),
])
def test_a_damaged_state_is_refused_before_the_run_folder_is_touched(runs, tmp_path, tamper, message):
    """Resuming rewrites metrics.jsonl from the state's records and trains from its epoch: a state that would
    lose the log (records "x"), or train 196 epochs of a 100-epoch run, is refused first."""
    import shutil

    from click.testing import CliRunner

    import vaekit.cli

    run = tmp_path / "run"
    shutil.copytree(runs["ref"], run)
    (run / checkpoint.SUMMARY).unlink()  # resumable again
    state = torch.load(run / checkpoint.STATE, weights_only=True)
    tamper(state)
    torch.save(state, run / checkpoint.STATE)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = CliRunner().invoke(vaekit.cli.cli, ["train", "--resume", str(run), "-q"])
    assert result.exit_code == 2 and f"train_state.pt: refused to resume: {message}" in result.output, result.output
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_run_extra_gives_back_what_save_run_took_as_extra(tmp_path):
    """A resumed run saves config.json again with the fields run_extra picks out of the old one."""
    from vaekit.config import DataConfig, ModelConfig, TrainConfig
    from vaekit.data.scaling import Scaler
    from vaekit.models import build_model

    cfg = ModelConfig(model="vae", input_shape=(1, 8, 8), hidden=(8,), latent_dim=2)
    extra = {"classes": ["a", "b"], "columns": None, "split": {"train": 10, "val": 2, "test": 3}, "data_digest": "0" * 64}
    (tmp_path / "r").mkdir()
    checkpoint.save_run(tmp_path / "r", build_model(cfg), cfg, TrainConfig(), DataConfig(), Scaler(), extra)
    assert checkpoint.run_extra(checkpoint.read_config(tmp_path / "r")) == extra


def test_a_scale_none_run_from_before_it_clipped_resumes(tmp_path, monkeypatch):
    """Runs trained with --scale none on [0, 1] data by an earlier vaekit saved a scaler that does not clip;
    resuming took the clipping one of today's runs for changed data."""
    import numpy as np

    from vaekit import api

    np.save(tmp_path / "u.npy", np.random.default_rng(0).uniform(size=(60, 5)).astype(np.float32))
    saved = checkpoint.StateSaver.__call__

    def ctrl_c_after_epoch_1(self, state, final):
        saved(self, state, final)
        if state["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.StateSaver, "__call__", ctrl_c_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        api.train(data=str(tmp_path / "u.npy"), scale="none", epochs=2, hidden=(8,), latent_dim=2, out=tmp_path / "r",
                  verbose=False)
    monkeypatch.undo()
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    config["scaler"]["clip"] = False  # as vaekit wrote it before
    (tmp_path / "r" / "config.json").write_text(json.dumps(config))
    trained = api.train(resume=tmp_path / "r", verbose=False)
    assert trained.summary["epochs_trained"] == 2 and trained.config["cfg_scaler"].clip is False
