"""Two CPU processes under torchrun (gloo) train as one process does with the same global batch.

One 2-process run serves both checks (torchrun launches are the slow part): all its processes are
SIGKILLed in the middle of epoch 2, it resumes under torchrun, and its final weights and losses
match those of a single process trained without interruption.

Tolerance: weights within 1e-5 (absolute) and losses within 1e-5 (relative) of the single process.
The two differ only in floating-point rounding (the gradient is averaged over two half batches instead
of taken over the whole batch); on digits, 2 epochs, they differ by ~3e-8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vaekit import checkpoint
from vaekit.api import train
from vaekit.config import TrainConfig
from vaekit.distributed import World
from vaekit.errors import VaekitError

OPTIONS = dict(model="ae", hidden=(32,), latent_dim=4, epochs=2, batch_size=64, patience=0, seed=1, val_fraction=0.12)
ARGS = ["train", "--model", "ae", "--hidden", "32", "--latent-dim", "4", "--epochs", "2", "--batch-size", "64",
        "--patience", "0", "--seed", "1", "--val-fraction", "0.12", "-q"]
# 1265 training examples in global batches of 64: the last batch, of 49, splits 25/24 over the two
# processes, whose mean gradients DDP averages; weighted by their shares they make the batch's mean
STEPS_PER_EPOCH = 20

# The worker: the CLI, and with VAEKIT_TEST_KILL_AT=n every process SIGKILLs itself at its n-th step.
WORKER = """
import os, signal, sys, torch
kill_at, steps = int(os.environ.get("VAEKIT_TEST_KILL_AT", "0")), [0]
from vaekit.optim import Adam
step = Adam.step
def step_or_die(self, *args, **kwargs):
    steps[0] += 1
    if steps[0] == kill_at and os.environ.get("VAEKIT_TEST_KILL_RANK", os.environ["RANK"]) == os.environ["RANK"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, *args, **kwargs)
Adam.step = step_or_die
args = sys.argv[1:]
if os.environ["RANK"] == "1" and "VAEKIT_TEST_RANK1_DATA" in os.environ:  # this process reads other data
    args[args.index("--data") + 1] = os.environ["VAEKIT_TEST_RANK1_DATA"]
if os.environ["RANK"] == "1" and "VAEKIT_TEST_RANK1_RUN" in os.environ:  # ...or another run folder
    args[args.index("--resume") + 1] = os.environ["VAEKIT_TEST_RANK1_RUN"]
import vaekit.api, vaekit.report
vaekit.api.write_figures = vaekit.report.write_report = lambda *args, **kwargs: None  # only time here
if os.environ.get("VAEKIT_TEST_KILL_IN_SUMMARY") == os.environ["RANK"]:  # this process dies after the epochs
    vaekit.api.write_summary = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
from vaekit.cli import main
main(args)
"""


def torchrun(worker: Path, args: list[str], kill_at: int = 0, **env) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAEKIT_TEST_KILL_AT": str(kill_at), **env}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(worker), *args]
    return subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def losses(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / checkpoint.METRICS).read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Figures and report are skipped (in the workers too): tested elsewhere, they only cost time here."""
    import vaekit.api
    import vaekit.report

    tmp = tmp_path_factory.mktemp("ddp")
    worker = tmp / "worker.py"
    worker.write_text(WORKER)
    ddp, single = tmp / "ddp", tmp / "single"
    killed = torchrun(worker, [*ARGS, "--out", str(ddp)], kill_at=STEPS_PER_EPOCH + 5)
    with pytest.MonkeyPatch.context() as patch:  # meanwhile, in this process
        for module, name in ((vaekit.api, "write_figures"), (vaekit.report, "write_report")):
            patch.setattr(module, name, lambda *args, **kwargs: None)
        train(out=single, verbose=False, **OPTIONS)
    killed = finish(killed)
    state = checkpoint.load_state(ddp, checkpoint.read_config(ddp))
    resumed = finish(torchrun(worker, ["train", "--resume", str(ddp), "-q"]))
    return dict(ddp=ddp, single=single, killed=killed, resumed=resumed, state=state)


def test_resume_under_torchrun(runs):
    code, out, err = runs["killed"]
    assert code != 0  # every process was SIGKILLed in epoch 2
    assert runs["state"]["epoch"] == 1
    assert len(runs["state"]["rng"]) == 2  # the RNG states of every process
    code, out, err = runs["resumed"]
    assert code == 0, err
    assert out.count("run folder:") == 1  # only rank 0 reports


def test_two_processes_match_one_process(runs):
    assert runs["resumed"][0] == 0
    ddp, single = load_file(runs["ddp"] / checkpoint.WEIGHTS), load_file(runs["single"] / checkpoint.WEIGHTS)
    assert ddp.keys() == single.keys()
    for name in ddp:
        torch.testing.assert_close(ddp[name], single[name], atol=1e-5, rtol=0)
    a, b = losses(runs["ddp"]), losses(runs["single"])
    assert [r.keys() for r in a] == [r.keys() for r in b]
    for ra, rb in zip(a, b):
        for key in ra:
            assert ra[key] == pytest.approx(rb[key], rel=1e-5), key


def test_only_rank_zero_writes(runs):
    assert sorted(p.name for p in runs["ddp"].iterdir()) == sorted(p.name for p in runs["single"].iterdir())
    assert len((runs["ddp"] / checkpoint.METRICS).read_text().splitlines()) == 2


def test_shards_split_every_global_batch():
    idx = torch.arange(10)
    parts = [World(rank, 2).shard(idx) for rank in range(2)]
    assert sorted(torch.cat(parts).tolist()) == list(range(10))
    assert [len(p) for p in parts] == [5, 5]


def test_batch_size_must_split_over_the_processes():
    from vaekit.data.datasets import Data
    from vaekit.data.scaling import Scaler
    from vaekit.trainer import fit

    data = Data("tiny", np.zeros((10, 2), np.float32), None, None,
                {"train": np.arange(8), "val": np.arange(8, 10), "test": np.arange(0)}, Scaler())
    with pytest.raises(VaekitError, match="--batch-size 5 .* 2 processes; try --batch-size 4"):
        fit(torch.nn.Linear(2, 2), data, TrainConfig(batch_size=5), device=torch.device("cpu"), world=World(0, 2))


def test_resuming_on_a_process_count_that_does_not_split_the_batch_says_which_count_does(tmp_path, monkeypatch):
    """It advised `--batch-size 4`, which --resume then refused (a run resumes with its own settings)."""
    import vaekit.distributed
    from vaekit.optim import Adam

    step = Adam.step

    def step_or_interrupt(self, *args, **kwargs):
        if self.steps.item() == 250:  # in epoch 2 (211 steps an epoch): the state after epoch 1 is saved
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Adam, "step", step_or_interrupt)
    with pytest.raises(KeyboardInterrupt):  # an unfinished run, batches of 6
        train(out=tmp_path / "run", verbose=False, **{**OPTIONS, "batch_size": 6})
    monkeypatch.setattr(vaekit.distributed, "setup", lambda device: (World(0, 4), device))
    monkeypatch.setattr(vaekit.distributed, "agree", lambda fn, world, same=None: fn())  # a world of 4 without peers
    with pytest.raises(VaekitError, match=r"batch of 6 examples does not split evenly over 4 processes; resume it on a "
                                          r"number of processes that divides 6, e.g. 3$"):
        train(resume=tmp_path / "run", verbose=False)


@pytest.mark.parametrize("environ, cores, threads", [
    ({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}, 16, 8),  # torchrun's default: share the cores
    ({"LOCAL_WORLD_SIZE": "4"}, 16, 4),
    ({"LOCAL_WORLD_SIZE": "3", "OMP_NUM_THREADS": "1"}, 2, 1),  # more processes than cores: one each
    ({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "6"}, 16, None),  # the user's choice stays
    ({"OMP_NUM_THREADS": "1"}, 16, None),  # not torchrun (srun binds its tasks to their own cores)
])
def test_cpu_processes_under_torchrun_share_the_cores(environ, cores, threads):
    from vaekit.distributed import cpu_threads

    assert cpu_threads(environ, cores) == threads


def test_an_error_on_rank_zero_stops_every_process_with_its_line(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("the user's")
    code, out, err = finish(torchrun(worker, [*ARGS, "--out", str(taken)]))
    workers = worker_lines(err)
    assert code != 0 and workers == [workers[0]] * 2, err  # each process: one line, no traceback of the other rank
    assert workers[0].startswith("vaekit: error: --out") and "folder is not empty" in workers[0]
    code, out, err = finish(torchrun(worker, [*ARGS[:-1], "--batch-size", "63", "--out", str(tmp_path / "odd")]))
    assert code != 0 and err.count("vaekit: error: --batch-size 63") == 2
    assert not (tmp_path / "odd").exists()  # refused before the run folder was made


def worker_lines(err: str) -> list[str]:
    """The workers' own lines in torchrun's stderr (not its log), up to the first traceback."""
    workers = [line for line in err.splitlines() if not line.startswith(("W", "E", "I")) or line.startswith("vaekit")]
    return workers[: next((i for i, line in enumerate(workers) if line.startswith("Traceback")), len(workers))]


def test_resuming_a_run_another_process_holds_stops_every_process_with_its_line(tmp_path, monkeypatch):
    import socket

    from vaekit.optim import Adam

    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    step, steps = Adam.step, [0]

    def step_or_interrupt(self, *args, **kwargs):
        steps[0] += 1
        if steps[0] == STEPS_PER_EPOCH + 5:
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Adam, "step", step_or_interrupt)
    with pytest.raises(KeyboardInterrupt):  # one process, stopped in epoch 2: its state after epoch 1 is saved
        train(out=tmp_path / "run", verbose=False, **OPTIONS)
    (tmp_path / "run" / checkpoint.LOCK).write_text(f"{os.getpid()} {socket.gethostname()}\n")  # this live process
    code, out, err = finish(torchrun(worker, ["train", "--resume", str(tmp_path / "run"), "-q"]))
    workers = worker_lines(err)
    assert code != 0 and workers == [workers[0]] * 2, err
    assert workers[0].startswith("vaekit: error: ") and "in use by another training run" in workers[0]


def srun(worker: Path, args: list[str], **env) -> list[subprocess.Popen]:
    """Two processes started as srun starts them: no torchrun to stop the others when one dies."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [subprocess.Popen([sys.executable, str(worker), *args], text=True, stderr=subprocess.PIPE,
                             env={**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(rank), "LOCAL_RANK": str(rank),
                                  "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), **env})
            for rank in (0, 1)]


def test_a_process_that_dies_is_one_line_on_the_others_and_the_state_is_saved(tmp_path):
    """A process killed mid-run (the kernel's OOM killer, a crash) left rank 0 with 56 lines of gloo traceback."""
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    run = tmp_path / "run"
    procs = srun(worker, [*ARGS, "--out", str(run)], VAEKIT_TEST_KILL_AT=str(STEPS_PER_EPOCH + 5), VAEKIT_TEST_KILL_RANK="1")
    err = procs[0].communicate(timeout=300)[1]
    assert procs[1].wait(timeout=60) == -9 and procs[0].returncode == 2, err
    assert err.startswith("vaekit: error: another process of this run stopped (") and len(err.splitlines()) == 1, err
    assert err.rstrip().endswith(f"the state after epoch 1 is saved in {run / checkpoint.STATE}; continue with: "
                                 f"vaekit train --resume {run}"), err
    assert checkpoint.load_state(run, checkpoint.read_config(run))["epoch"] == 1


def test_rank_zero_dying_while_it_writes_the_last_files_is_one_line_on_the_others(tmp_path):
    """The others wait for rank 0 at the end, where a lost rank 0 was a gloo traceback."""
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    run = tmp_path / "run"
    procs = srun(worker, [*ARGS, "--out", str(run)], VAEKIT_TEST_KILL_IN_SUMMARY="0")
    err = procs[1].communicate(timeout=300)[1]
    assert procs[0].wait(timeout=60) == -9 and procs[1].returncode == 2, err
    assert err.startswith("vaekit: error: another process of this run stopped (Connection closed by peer"), err
    assert len(err.splitlines()) == 1 and err.endswith("`vaekit train --resume` on its run folder goes on from its "
                                                       "last state\n"), err
    assert checkpoint.awaits_resume(run)


def test_only_rank_zero_logs_warnings(monkeypatch):
    import logging

    import torch.distributed as dist

    import vaekit.distributed

    monkeypatch.setattr(dist, "is_initialized", lambda: True)  # no group to join here
    log = logging.getLogger("vaekit")
    level = log.level
    try:
        for rank, expected in (("0", level), ("1", logging.ERROR)):
            monkeypatch.setattr(os, "environ", {**os.environ, "RANK": rank, "WORLD_SIZE": "2"})
            vaekit.distributed.setup(torch.device("cpu"))
            assert log.level == expected
    finally:
        log.setLevel(level)


def test_a_process_that_cannot_read_the_run_it_resumes_stops_every_process(tmp_path):
    """Every process read the run before joining the others, so one that could not (another working folder,
    a node without the file system) failed alone: started without torchrun (srun), its peers waited forever."""
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    train(out=tmp_path / "run", verbose=False, **{**OPTIONS, "epochs": 1})
    (tmp_path / "run" / checkpoint.SUMMARY).unlink()  # its state is saved: a run --resume finishes
    code, out, err = finish(torchrun(worker, ["train", "--resume", str(tmp_path / "run"), "-q"],
                                     VAEKIT_TEST_RANK1_RUN=str(tmp_path / "missing")))
    workers = worker_lines(err)
    assert code != 0 and len(workers) == 2 and all(line.startswith("vaekit: error: ") for line in workers), err
    assert any(line.startswith("vaekit: error: process 1: ") and "missing: no such run folder" in line for line in workers)


@pytest.mark.parametrize("rank1_data", ["missing.npy", "other.npy"])
def test_a_process_that_cannot_read_the_data_or_reads_other_data_stops_every_process(tmp_path, rank1_data):
    """Rank 1 failed alone (its peer died in a gloo traceback after writing a half run folder that neither
    a new run nor --resume could use), or trained on other data than rank 0 without a word."""
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    rng = np.random.default_rng(0)
    np.save(tmp_path / "data.npy", rng.random((300, 6)).astype(np.float32))
    np.save(tmp_path / "other.npy", rng.random((300, 6)).astype(np.float32))  # the same shape, other values
    args = ["train", "--model", "ae", "--hidden", "8", "--latent-dim", "2", "--epochs", "1", "--data",
            str(tmp_path / "data.npy"), "--out", str(tmp_path / "run"), "-q"]
    code, out, err = finish(torchrun(worker, args, VAEKIT_TEST_RANK1_DATA=str(tmp_path / rank1_data)))
    workers = worker_lines(err)
    assert code != 0 and len(workers) == 2 and all(line.startswith("vaekit: error: ") for line in workers), err
    assert not (tmp_path / "run").exists()  # (torchrun's own failure report has a traceback; the workers have none)
    if rank1_data == "missing.npy":
        assert sorted(workers)[0].startswith("vaekit: error: --data") and "missing.npy" in workers[0] + workers[1]
        assert any(line.startswith("vaekit: error: process 1: --data") for line in workers)
    else:
        assert workers == ["vaekit: error: process 1 read other data than process 0 (their examples, labels or split "
                           "differ); give every process the same data"] * 2


def test_a_process_waiting_for_its_peers_ends_on_sigterm(tmp_path):
    """The join blocks in C++, where the CLI's SIGTERM handler never ran: a process whose peer never came
    ignored SIGTERM and Ctrl-C until SIGKILL (`timeout`, a scheduler's stop)."""
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "vaekit", "train", "--model", "ae", "--epochs", "1", "--out",
                             str(tmp_path / "run"), "-q"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # rank 0 listens for its peers once it is joining
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.communicate()
    assert not (tmp_path / "run").exists()
