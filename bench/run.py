"""vaekit's speed next to the usual PyTorch VAE script, measured in one run on this machine.

    python bench/run.py                 # the full bench (a few minutes on 2 CPU cores)
    python bench/run.py --quick         # a tiny smoke run (seconds); its numbers mean nothing

In order: the fp32 matmul peak (large square matmul, all cores); the MLP VAE 784-400-20-400-784 on
Fashion-MNIST for --epochs epochs, trained by the reference loop (``reference.py``) and by vaekit's
trainer with the same seed, each in a fresh process, alternating three times (samples/s and page
faults a step of each, their ratio, vaekit's achieved GFLOP/s as a fraction of the peak, the test
-ELBO of each); the same for the conv body; ``encode`` throughput over all 70,000 images; peak
resident memory of a training process as a multiple of the uint8 data; ``vaekit --help`` time next
to ``python -c "import torch"``.
The results go to ``bench/results/<time>.json``. The bench reports; it gates nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import reference
from vaekit import checkpoint
from vaekit.config import DataConfig, ModelConfig, TrainConfig
from vaekit.data.datasets import Data, load_data
from vaekit.data.scaling import Scaler
from vaekit.errors import VaekitError
from vaekit.fileio import write_json
from vaekit.models import build_model
from vaekit.trainer import Batches, fit, mean_logs, set_seed
from vaekit.trained import Trained

HERE = Path(__file__).resolve().parent
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
HIDDEN = {"mlp": (400,), "conv": (32, 64)}  # the reference models' shapes
LATENT = 20
QUICK = {"n_train": 1024, "n_test": 256, "epochs": 1, "peak_n": 512, "repeats": 1, "train_repeats": 1}
FULL = {"n_train": None, "n_test": None, "epochs": 3, "peak_n": 4096, "repeats": 5, "train_repeats": 3}
TARGETS = {  # name -> (comparison, bound), from the speed issue
    "mlp_ratio": (">=", 2.0), "conv_ratio": (">=", 2.0), "mlp_fraction_of_peak": (">=", 0.60),
    "mlp_elbo_gap_nats": ("<=", 1.0), "conv_elbo_gap_nats": ("<=", 1.0),
    "conv_ratio_bf16": (">=", 2.0), "conv_elbo_gap_nats_bf16": ("<=", 1.0),
    "rss_over_budget_mb": ("<=", 0.0), "help_over_import_torch": ("<=", 0.25),
}


def load_fashion(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST as uint8 (x_train (60000, 28, 28), x_test (10000, 28, 28)); tiny slices with --quick."""
    try:
        from vaekit.data import catalog

        sets = catalog.load("fashion-mnist", offline=True)
        x_train, x_test = sets["x_train"], sets["x_test"]
    except (ImportError, VaekitError):  # no catalog, or it found nothing: read Debian's IDX files directly
        x_train, x_test = (_read_idx_gz(FASHION_DIR / f"{name}-images-idx3-ubyte.gz") for name in ("train", "t10k"))
    if quick:
        x_train, x_test = x_train[: QUICK["n_train"]], x_test[: QUICK["n_test"]]
    return np.ascontiguousarray(x_train), np.ascontiguousarray(x_test)


def _read_idx_gz(path: Path) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def vaekit_data(x_train: np.ndarray, x_test: np.ndarray) -> Data:
    """The same images as vaekit's Data: train on all of x_train (no validation split), test on x_test."""
    x = np.concatenate([x_train, x_test])[:, None]  # (N, 1, 28, 28) uint8
    n = len(x_train)
    splits = {"train": np.arange(n), "val": np.arange(0), "test": np.arange(n, len(x))}
    return Data("fashion-mnist", x, None, None, splits, Scaler(0.0, 255.0, False, "uint8"))


def matmul_peak(n: int, repeats: int, device: torch.device, dtype=torch.float32) -> float:
    """Best GFLOP/s of an (n, n) @ (n, n) matmul on all cores (or the GPU)."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = 0.0
    for _ in range(repeats + 1):  # the first call warms up
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_flops_per_example(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Matmul/conv FLOPs of forward + backward for one example, counted from the layer sizes.

    Forward is 2 FLOPs per multiply-add; backward computes the weight gradient (as much again) and
    the input gradient (as much again) of every layer except the first, whose input is the data.
    """
    macs = _multiply_adds(model, x)
    return 6 * sum(macs) - 2 * macs[0]


def _multiply_adds(model: torch.nn.Module, x: torch.Tensor) -> list[int]:
    """The multiply-adds of each Linear, Conv2d and ConvTranspose2d layer of ``model(x[:1])``, in call order."""
    macs: list[int] = []

    def count(module, inputs, output):
        if isinstance(module, torch.nn.Linear):
            macs.append(module.in_features * module.out_features)
        elif isinstance(module, torch.nn.Conv2d):
            macs.append(output[0].numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1])
        elif isinstance(module, torch.nn.ConvTranspose2d):
            macs.append(inputs[0][0].numel() * module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1])

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(x[:1])
    for hook in hooks:
        hook.remove()
    return macs


def vaekit_config(arch: str) -> ModelConfig:
    return ModelConfig(model="vae", arch=arch, input_shape=(1, 28, 28), latent_dim=LATENT, hidden=HIDDEN[arch])


def train_vaekit(arch: str, data: Data, epochs: int, seed: int, device: torch.device,
                 precision: str) -> tuple[torch.nn.Module, dict]:
    set_seed(seed)
    model = build_model(vaekit_config(arch)).to(device)
    cfg = TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=seed, patience=0, val_fraction=0.0,
                      device=device.type, precision=precision)
    start = time.perf_counter()
    fit(model, data, cfg, device=device, verbose=False)
    seconds = time.perf_counter() - start
    n_train = len(data.splits["train"])
    test = mean_logs(model, Batches(data, device), data.splits["test"])
    return model, {"seconds": seconds, "samples_per_s": epochs * n_train / seconds, "test_neg_elbo": test["neg_elbo"]}


def compare(arch: str, args, peak: float, bf16_too: bool = False, save: Path | None = None) -> dict:
    """The reference loop and vaekit, each in a fresh process, alternating ``repeats`` times -> their numbers.

    Separate processes keep either loop from inheriting the other's state (allocator settings, warm
    caches, imported modules). On this 2-core VM the same process runs up to 1.6x slower at random
    times, so each loop's number is its best of the repeats (as ``timeit`` advises); every run's
    samples/s is kept in the JSON. ``bf16_too`` adds vaekit with
    ``--precision bf16`` (bfloat16 autocast) beside vaekit at ``args.precision``. With ``save``, the
    first vaekit child saves its model there as a run folder (after its timing), for ``encode``.
    """
    loops = {"reference": [], "vaekit": [], **({"vaekit_bf16": []} if bf16_too else {})}
    for _ in range(args.sizes["train_repeats"]):
        for loop, runs in loops.items():
            precision = "bf16" if loop == "vaekit_bf16" else args.precision
            options = ["--loop", loop.split("_")[0], "--arch", arch, "--precision", precision]
            if save is not None and loop == "vaekit" and not runs:
                options += ["--save", str(save)]
            runs.append(_child(options, args))
    best = {loop: max(runs, key=lambda r: r["samples_per_s"]) for loop, runs in loops.items()}
    ref = best["reference"]
    result = {**best, "samples_per_s_of_every_run": {loop: [r["samples_per_s"] for r in runs] for loop, runs in loops.items()},
              "every_run": loops}  # with the peaks around each vaekit run: was a slow run's machine slow too?
    for loop, r in best.items():
        every = ", ".join(f"{v:,.0f}" for v in result["samples_per_s_of_every_run"][loop])
        _print(f"{arch}: {loop:11s} {r['samples_per_s']:,.0f} samples/s (runs: {every}), test -ELBO "
               f"{r['test_neg_elbo']:.2f}, {r['page_faults_per_step']:.0f} page faults a step")
    for loop in best.keys() - {"reference"}:
        mine, suffix = best[loop], loop.removeprefix("vaekit")
        result[f"ratio{suffix}"] = mine["samples_per_s"] / ref["samples_per_s"]
        result[f"elbo_gap_nats{suffix}"] = abs(mine["test_neg_elbo"] - ref["test_neg_elbo"])
        line = f"{arch}: {loop} {result[f'ratio{suffix}']:.2f}x the reference, -ELBO gap {result[f'elbo_gap_nats{suffix}']:.2f} nats"
        if not suffix:  # the fraction of the fp32 peak means something for vaekit at args.precision only
            flops = result["train_flops_per_example"] = mine["train_flops_per_example"]
            result["vaekit_gflops"] = mine["samples_per_s"] * flops / 1e9
            # the machine's peak: the highest of every measurement in this bench so far (its quiet minutes)
            result["peak_gflops"] = max([peak] + [r[k] for r in loops[loop] for k in ("peak_gflops_before", "peak_gflops_after")])
            result["fraction_of_peak"] = result["vaekit_gflops"] / result["peak_gflops"]
            around = (mine["peak_gflops_before"] + mine["peak_gflops_after"]) / 2
            result["fraction_of_peak_same_process"] = result["vaekit_gflops"] / around
            line += (f", {result['vaekit_gflops']:.1f} GFLOP/s = {result['fraction_of_peak']:.0%} of the highest peak "
                     f"measured ({result['peak_gflops']:.0f} GFLOP/s), {result['fraction_of_peak_same_process']:.0%} of "
                     f"the peaks right before and after it in its process ({mine['peak_gflops_before']:.0f} and "
                     f"{mine['peak_gflops_after']:.0f})")
        _print(line)
    return result


def train_one(args) -> None:
    """Runs in a child: train one loop on Fashion-MNIST, print its numbers as one JSON line."""
    x_train, x_test = load_fashion(args.quick)
    device = torch.device(args.device)
    data = vaekit_data(x_train, x_test) if args.loop == "vaekit" else None
    # This VM's speed drifts from one minute to the next (other tenants of the host): the peaks just
    # before and after vaekit's training say whether the machine's matmul speed drifted with it
    dtype = torch.bfloat16 if args.precision == "bf16" and args.loop == "vaekit" else torch.float32  # the reference: fp32
    # both loops start warm alike: the same matmuls first (on a GPU they also load cuBLAS and its kernels)
    peak_before = matmul_peak(args.sizes["peak_n"], 3, device, dtype)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt  # of training and test evaluation alone
    if args.loop == "reference":
        result = reference.train(args.arch, x_train, x_test, epochs=args.epochs, seed=args.seed, device=str(device))
    else:
        model, result = train_vaekit(args.arch, data, args.epochs, args.seed, device, args.precision)
    steps = args.epochs * -(-len(x_train) // 128)
    result["page_faults_per_step"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    if args.loop == "vaekit":
        result["train_flops_per_example"] = train_flops_per_example(model, Batches(data, device).get(torch.arange(1))[0])
        result["peak_gflops_before"] = peak_before
        result["peak_gflops_after"] = matmul_peak(args.sizes["peak_n"], 3, device, dtype)
        if args.save:
            checkpoint.save_run(args.save, model, vaekit_config(args.arch), TrainConfig(device=device.type),
                                DataConfig(name="fashion-mnist"), data.scaler, {})
    print(json.dumps(result))


def _child(options: list[str], args) -> dict:
    """Run this script with ``options`` (and the parent's sizes and device) in a fresh process -> its JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--epochs", str(args.epochs), "--device", args.device,
           "--precision", args.precision, "--seed", str(args.seed), *(["--quick"] if args.quick else []), *options]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def encode_throughput(args, run_dir: Path, peak: float) -> dict:
    """``vaekit.load(run).encode(x)`` over every image, with the MLP VAE a vaekit child saved in ``run_dir``:
    images/s, and the encoder's matmul GFLOP/s as a fraction of the ``peak``."""
    trained = Trained.load(run_dir, device=args.device)
    x = np.concatenate(load_fashion(args.quick))[:, None]  # (N, 1, 28, 28) uint8
    trained.encode(x[:1024])  # warm-up
    start = time.perf_counter()
    codes = trained.encode(x)
    seconds = time.perf_counter() - start
    flops = 2 * sum(_multiply_adds(trained.module.encoder, torch.zeros(1, 1, 28, 28, device=args.device)))
    result = {"arch": "mlp", "n": len(x), "seconds": seconds, "images_per_s": len(x) / seconds,
              "codes_shape": list(codes.shape), "flops_per_image": flops, "gflops": len(x) * flops / seconds / 1e9}
    result["fraction_of_peak"] = result["gflops"] / peak
    _print(f"encode (mlp): {result['images_per_s']:,.0f} images/s over {len(x):,} images, {result['gflops']:.0f} GFLOP/s "
           f"= {result['fraction_of_peak']:.0%} of the highest peak measured ({peak:.0f})")
    return result


def peak_rss(args) -> dict:
    """Train in a fresh process and read its peak resident memory."""
    probe = _child(["--rss-probe"], argparse.Namespace(**{**vars(args), "epochs": 1}))
    data_bytes = probe["data_bytes"]
    budget = 3 * data_bytes + 200e6
    result = {**probe, "peak_over_data": probe["peak_rss_bytes"] / data_bytes,
              "budget_bytes": budget, "over_budget_mb": (probe["peak_rss_bytes"] - budget) / 1e6}
    _print(f"memory: peak RSS {probe['peak_rss_bytes'] / 1e6:.0f} MB = {result['peak_over_data']:.1f}x the uint8 data "
           f"({data_bytes / 1e6:.0f} MB); budget 3x + 200 MB = {budget / 1e6:.0f} MB; torch + vaekit "
           f"imported: {probe['after_import_bytes'] / 1e6:.0f} MB")
    return result


def rss_probe(args) -> None:
    """Runs in the child: load the data as ``vaekit train`` does, train, print the peak RSS as one JSON line."""
    after_import = _max_rss()
    try:
        data = load_data(DataConfig(name="fashion-mnist"), seed=args.seed, val_fraction=0.0, offline=True)
    except VaekitError:  # no catalog entry: the bench's own reader
        data = vaekit_data(*load_fashion(quick=False))
    if args.quick:
        data.splits = {k: v[: QUICK[f"n_{k}"]] if k in ("train", "test") else v for k, v in data.splits.items()}
    device = torch.device(args.device)
    train_vaekit("mlp", data, args.epochs, args.seed, device, args.precision)
    print(json.dumps({"peak_rss_bytes": _max_rss(), "after_import_bytes": after_import, "data_bytes": data.x.nbytes}))


def _max_rss() -> int:
    """Peak resident bytes of this process. VmHWM, not ru_maxrss: ru_maxrss carries the parent's
    peak across fork + exec, so a small child of a big bench would read big."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit


def cli_times(repeats: int) -> dict:
    """Median wall time of ``vaekit --help`` and of ``python -c "import torch"``, and whether --help imports torch."""
    script = Path(sys.executable).with_name("vaekit")
    help_cmd = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "vaekit", "--help"]
    times = {"help": _median_time(help_cmd, repeats), "import_torch": _median_time([sys.executable, "-c", "import torch"], repeats)}
    check = ("import sys\nfrom vaekit.cli import main\nsys.argv = ['vaekit', '--help']\ntry:\n    main()\n"
             "except SystemExit:\n    pass\nprint('torch' in sys.modules, file=sys.stderr)")
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True).stderr.strip().splitlines()[-1]
    result = {"help_seconds": times["help"], "import_torch_seconds": times["import_torch"],
              "help_over_import_torch": times["help"] / times["import_torch"], "help_imports_torch": imported == "True"}
    _print(f"cli: vaekit --help {times['help']:.3f}s, python -c 'import torch' {times['import_torch']:.3f}s "
           f"-> {result['help_over_import_torch']:.2f}x; --help imports torch: {result['help_imports_torch']}")
    return result


def _median_time(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def check_targets(results: dict) -> dict:
    values = {
        "mlp_ratio": results["mlp"]["ratio"], "conv_ratio": results["conv"]["ratio"],
        "mlp_fraction_of_peak": results["mlp"]["fraction_of_peak"],
        "mlp_elbo_gap_nats": results["mlp"]["elbo_gap_nats"], "conv_elbo_gap_nats": results["conv"]["elbo_gap_nats"],
        "rss_over_budget_mb": results["memory"]["over_budget_mb"],
        "help_over_import_torch": results["cli"]["help_over_import_torch"],
    }
    if "ratio_bf16" in results["conv"]:  # vaekit --precision bf16, beside the fp32 run
        values.update(conv_ratio_bf16=results["conv"]["ratio_bf16"], conv_elbo_gap_nats_bf16=results["conv"]["elbo_gap_nats_bf16"])
    targets = {}
    for name, value in values.items():
        op, bound = TARGETS[name]
        met = value >= bound if op == ">=" else value <= bound
        targets[name] = {"value": value, "target": f"{op} {bound}", "met": bool(met)}
        _print(f"  {'met ' if met else 'MISS'}  {name} = {value:.3g} (target {op} {bound})")
    return targets


def machine(device: torch.device) -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu": _cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _print(line: str) -> None:
    print(line, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="training epochs for each loop (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: a slice of the data, 1 epoch, small matmul")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both loops run there)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="vaekit's training precision")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON results")
    parser.add_argument("--rss-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=("reference", "vaekit"), help=argparse.SUPPRESS)  # child: train one loop
    parser.add_argument("--arch", choices=("mlp", "conv"), help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)  # child: save vaekit's model as a run folder here
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.epochs is None:
        args.epochs = sizes["epochs"]
    args.sizes = sizes
    return args


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    if args.rss_probe or args.loop:
        (rss_probe if args.rss_probe else train_one)(args)
        return None
    device = torch.device(args.device)
    results = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "options": {k: v for k, v in vars(args).items()
               if k in ("epochs", "quick", "device", "precision", "seed")}, "machine": machine(device)}
    _print(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, torch {torch.__version__}, "
           f"{torch.get_num_threads()} threads, load average {results['machine']['load_average'][0]:.2f}")
    results["peak_gflops"] = matmul_peak(args.sizes["peak_n"], args.sizes["repeats"], device)
    _print(f"peak: fp32 matmul {args.sizes['peak_n']}x{args.sizes['peak_n']}: {results['peak_gflops']:.1f} GFLOP/s")
    if device.type == "cpu":  # how the peak scales with cores: on a shared host, not always by their count
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        results["peak_gflops_1_thread"] = matmul_peak(args.sizes["peak_n"], 2, device)
        torch.set_num_threads(threads)
        _print(f"peak: the same on 1 thread: {results['peak_gflops_1_thread']:.1f} GFLOP/s "
               f"({results['peak_gflops'] / results['peak_gflops_1_thread']:.2f}x on {threads} threads)")
    peak = results["peak_gflops"]
    if args.precision == "bf16":  # vaekit is then measured against the bf16 peak
        peak = results["peak_gflops_bf16"] = matmul_peak(args.sizes["peak_n"], args.sizes["repeats"], device, torch.bfloat16)
        _print(f"peak: bf16 matmul: {peak:.1f} GFLOP/s (vaekit's fraction of peak is of this one)")
    x_train, x_test = load_fashion(args.quick)
    results["data"] = {"n_train": len(x_train), "n_test": len(x_test), "uint8_bytes": x_train.nbytes + x_test.nbytes}
    del x_train, x_test
    with tempfile.TemporaryDirectory() as saved:
        results["mlp"] = compare("mlp", args, peak, save=Path(saved))
        # bf16 autocast as a second vaekit conv run where fp32 is the main one: on CPUs with AVX512-BF16
        # or AMX it is vaekit's fastest correct setting for convolutions
        results["conv"] = compare("conv", args, peak, bf16_too=args.precision == "fp32")
        # encode runs in fp32: its share is of the highest fp32 peak measured so far
        fp32_peaks = [results["peak_gflops"]] + ([results[a]["peak_gflops"] for a in ("mlp", "conv")]
                                                  if args.precision == "fp32" else [])
        results["encode"] = encode_throughput(args, Path(saved), max(fp32_peaks))
    results["memory"] = peak_rss(args)
    results["cli"] = cli_times(args.sizes["repeats"])
    results["machine"]["load_average_end"] = os.getloadavg()  # other work on the machine disturbs every number
    _print("targets:")
    results["targets"] = check_targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    write_json(path, results)
    _print(f"results: {path}")
    return results


if __name__ == "__main__":
    main()
