"""Several processes, one model: data-parallel training with ``torch.distributed``, started by torchrun.

``torchrun --nproc-per-node N -m vaekit train ...`` starts N copies of the command and tells each
its place through environment variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
Every process holds the whole model and the whole data set; each epoch's permutation is the same
everywhere, and every global batch of ``--batch-size`` examples is split across the processes, so
a run computes the same averaged gradient as one process with that batch size would.
DistributedDataParallel averages the gradients in ``backward``; metrics are summed across
processes; only rank 0 writes the run folder and prints. A plain process is a world of one, and
then every function here is a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
from dataclasses import dataclass

import torch

from .errors import VaekitError, first_line


@dataclass(frozen=True)
class World:
    rank: int = 0  # this process, 0 .. size - 1
    size: int = 1  # processes in the run
    local_rank: int = 0  # this process on its machine: picks the GPU

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch of indices: every size-th one, from position rank."""
        return idx[self.rank :: self.size]


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun describes (gloo on CPU, NCCL on GPU) -> (world, this process's device).

    Outside torchrun (no WORLD_SIZE, or 1) there is nothing to join: ``(World(), device)``.
    """
    import torch.distributed as dist

    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if world.rank:  # only rank 0 prints: another process's warnings (about the data, say) would repeat its own
        logging.getLogger("vaekit").setLevel(logging.ERROR)
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise VaekitError(f"process {world.rank} wants GPU {world.local_rank} but this machine has "
                              f"{torch.cuda.device_count()}; start at most that many processes per node")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    elif (threads := cpu_threads(os.environ, _usable_cores())) is not None:
        torch.set_num_threads(threads)
    if not dist.is_initialized():
        from .fileio import signals_set

        # The join blocks in C++, where Python's handlers (the CLI's SIGTERM handler, KeyboardInterrupt) never
        # run: a process whose peer never came (it failed, or was never started) ignored both until SIGKILL
        with signals_set(signal.SIG_DFL):
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, device


def cpu_threads(environ, cores: int) -> int | None:
    """Threads for each CPU process under torchrun: the machine's cores shared evenly between its processes.

    torchrun sets OMP_NUM_THREADS=1 where it is unset, so N processes on a 16-core machine would use
    N cores. vaekit replaces that default, and only that (None: leave the threads as they are):
    OMP_NUM_THREADS set to anything else is the user's choice, and processes started without
    torchrun (no LOCAL_WORLD_SIZE; srun binds each task to its own cores) keep torch's default.
    """
    if "LOCAL_WORLD_SIZE" not in environ or environ.get("OMP_NUM_THREADS", "1") != "1":
        return None
    return max(1, cores // int(environ["LOCAL_WORLD_SIZE"]))


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may run on (containers, taskset)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def teardown(world: World) -> None:
    """Leave the process group; on the normal path wait for every process first, so that none tears
    its connections down while another still uses them (seen once as a gloo abort in a resumed run)."""
    import sys

    import torch.distributed as dist

    if world.size > 1 and dist.is_initialized():
        try:
            if sys.exc_info()[0] is None:  # called from a `finally` with no exception in flight
                with peers_lost(world):  # rank 0 may die writing the run's last files while the others wait here
                    dist.barrier()
        finally:
            dist.destroy_process_group()


@contextlib.contextmanager
def peers_lost(world: World, then=lambda: "`vaekit train --resume` on its run folder goes on from its last state"):
    """A collective that failed because another process of the run stopped (killed, out of memory, a
    crash) -> one line, ``VaekitError``, instead of torch's traceback; ``then()`` says what now."""
    import torch.distributed as dist

    try:
        yield
    except RuntimeError as e:
        lost = isinstance(e, getattr(dist, "DistError", ())) or any(s in str(e) for s in ("gloo", "NCCL"))
        if world.size == 1 or not lost:
            raise
        said = re.sub(r"^\[[^]]*\] *", "", first_line(e, 400)).split(". ")[0]  # gloo's: "[.../pair.cc:553] Connection..."
        raise VaekitError(f"another process of this run stopped ({said}); its own output says why; {then()}") from None


class Objective(torch.nn.Module):
    """``model.loss`` as ``forward``: DistributedDataParallel prepares its gradient sync in forward only."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, progress: float | None = None):
        return self.model.loss(x, y=y, progress=progress)


def objective(model: torch.nn.Module, world: World, device: torch.device):
    """The training loss callable ``(x, y=, progress=) -> (loss, logs)``, DDP-wrapped when there are several processes."""
    if world.size == 1:
        return model.loss
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(Objective(model), device_ids=ids, gradient_as_bucket_view=True)


def all_sum(t: torch.Tensor, world: World) -> torch.Tensor:
    """Sum of ``t`` over all processes (in place); ``t`` itself in a world of one."""
    if world.size > 1:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather(obj, world: World) -> list:
    """Every process's ``obj`` (any picklable value), in rank order, on every process."""
    if world.size == 1:
        return [obj]
    import torch.distributed as dist

    out = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def on_main(fn, world: World, share: bool = True):
    """``fn()`` on rank 0 -> its result on every process (``share=False``: on rank 0, None elsewhere,
    for a result that cannot be sent). A VaekitError it raises is raised on every process (after they
    leave the process group together), which all stop with the same one line instead of a lost connection."""
    if world.size == 1:
        return fn()
    result = error = None
    if world.main:
        try:
            result = fn()
        except VaekitError as e:
            error = str(e)
    shared, error = from_main((result if share else None, error), world)
    if error is not None:
        teardown(world)  # every process stops here: they leave the group together
        raise VaekitError(error)
    return result if world.main else shared


def agree(fn, world: World, same=None):
    """``fn()`` on every process -> its result. A VaekitError on any process stops them all, together,
    each with one line: the failing process with its own, the others naming it. ``same(result)``: a
    value that must be alike everywhere (the data's digest), so that no process trains on other data
    than the rest (a different row count aborted gloo, a different width raised DDP's traceback, the
    same shape trained on silently)."""
    if world.size == 1:
        return fn()
    result = error = None
    try:
        result = fn()
    except VaekitError as e:
        error = str(e)
    everyone = gather((error, None if error is not None or same is None else same(result)), world)
    failed = next(((rank, e) for rank, (e, _) in enumerate(everyone) if e is not None), None)
    other = next((rank for rank, (_, value) in enumerate(everyone) if value != everyone[0][1]), None)
    if failed is not None or other is not None:
        teardown(world)  # every process stops here: they leave the group together
        if failed is not None:
            raise VaekitError(error if error is not None else f"process {failed[0]}: {failed[1]}")
        raise VaekitError(f"process {other} read other data than process 0 (their examples, labels or split differ); "
                          "give every process the same data")
    return result


def from_main(obj, world: World):
    """Rank 0's ``obj`` on every process."""
    if world.size == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
