import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from vaekit.cli import cli

FAST = ["--epochs", "2", "--hidden", "16", "--latent-dim", "2", "--quiet"]


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_train_defaults_to_a_vae_on_digits(tmp_path):
    result = run("train", "--out", str(tmp_path / "r"), *FAST)
    assert result.exit_code == 0, result.output
    assert "vae on digits" in result.output and "neg_elbo" in result.output and "figures" in result.output
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"]["model"] == "vae" and config["data"]["name"] == "digits"


def test_default_out_is_a_new_folder_under_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("train", *FAST).exit_code == 0
    assert run("train", *FAST).exit_code == 0
    runs = sorted(os.listdir(tmp_path / "runs"))
    assert len(runs) == 2 and all(r.startswith("vae-digits-") for r in runs)


@pytest.mark.parametrize("options", [
    ["--model", "ae", "--arch", "conv", "--hidden", "8,8"],
    ["--model", "dae", "--noise", "salt-pepper:0.1"],
    ["--model", "vae", "--beta", "0.5", "--kl-warmup", "2", "--likelihood", "gaussian"],
    ["--batch-size", "64", "--lr", "0.003", "--seed", "7", "--patience", "1", "--val-fraction", "0.2", "--test-fraction", "0.3"],
    ["--scale", "standard", "--device", "cpu"],
])
def test_train_options(tmp_path, options):
    result = run("train", "--out", str(tmp_path / "r"), *FAST, *options)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    if "--scale" in options:
        assert config["model"]["likelihood"] == "gaussian"  # standardized data is not in [0, 1]
    if "--seed" in options:
        assert config["train"]["seed"] == 7 and config["train"]["batch_size"] == 64


def test_train_progress_lines_when_not_quiet(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "r"), "--epochs", "2", "--hidden", "16"])
    assert result.exit_code == 0
    assert "epoch   1" in result.output and "epoch   2" in result.output


@pytest.mark.parametrize("args,needle", [
    (["--latent-dim", "0"], "--latent-dim 0"),
    (["--epochs", "-1"], "--epochs -1"),
    (["--model", "foo"], "--model foo"),
    (["--arch", "rnn"], "--arch rnn"),
    (["--data", "nowhere"], "--data nowhere"),
    (["--noise", "gaussian:abc"], "gaussian:abc"),
    (["--noise", "blur:0.1"], "blur"),
    (["--hidden", "a,b"], "--hidden a,b"),
    (["--hidden", "2147483647,2147483647"], "hidden sizes 2147483647,2147483647 with latent size 16 make layers too large"),
    (["--latent-dim", "2147483648"], "--latent-dim 2147483648 must be at most 2147483647"),
    (["--lr", "0"], "--lr 0"),
    (["--device", "tpu"], "--device tpu"),
    (["--device", "cuda:x"], "--device cuda:x: after 'cuda:' comes the GPU's number"),  # cuda:1 picks a GPU
    (["--scale", "none", "--likelihood", "bernoulli"], "--likelihood bernoulli needs data in [0, 1]"),
    (["--val-fraction", "1.5"], "--val-fraction"),
    (["--test-fraction", "0"], "--test-fraction 0 leaves none to score the run on"),  # it was scored on one example
    (["--epochs", "many"], "many"),
    (["--no-such-option"], "no-such-option"),
    (["--image-size", "0"], "--image-size 0"),  # on any data, before training
    (["--image-size", "-3", "--data", "mnist", "--offline"], "--image-size -3"),
    (["--image-size", "16"], "--image-size 16 is for reading files and image folders, not the named data set digits"),
    (["--label-column", "3", "--data", "fashion-mnist", "--offline"], "--label-column 3 is for reading files"),
    (["--latent-dim", "100000000"], "parameters, and training them needs 1,438.0 GiB"),  # the kernel killed it midway
    (["--model", "iwae", "--k", "10000000"],  # the kernel killed it in the first step
     "training needs 2,598.8 GiB: 2,598.8 for the activations a step on 128 examples with 10,000,000 importance samples"),
    # options the model would ignore, silently: now refused
    (["--model", "ae", "--beta", "3"], "--beta 3.0 applies to a VAE's KL term, which --model ae does not have"),
    (["--model", "dae", "--kl-warmup", "3", "--free-bits", "1"], "--kl-warmup 3, --free-bits 1.0 apply to a VAE's KL term"),
    (["--k", "50"], "--k 50 is the number of importance samples of --model iwae"),
    (["--model", "ae", "--noise", "mask:0.2"], "--noise mask:0.2 makes a denoising autoencoder; use --model dae"),
    (["--sigma", "0.1"], "--sigma 0.1 is the standard deviation of a VAE's Gaussian likelihood, which --model vae with "
                         "--likelihood bernoulli does not have"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "r"
    result = run("train", "--out", str(out), "--quiet", *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error: "), result.output
    assert needle in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("arch, shape, hidden", [("mlp", (64,), None), ("mlp", (1, 28, 28), (8, 1000, 8)), ("mlp", (20,), (16,)),
                                                 ("conv", (1, 28, 28), None), ("conv", (3, 9, 7), (4, 64)),
                                                 ("conv", (3, 32, 32), None)])
@pytest.mark.parametrize("model, likelihood", [("ae", "bernoulli"), ("dae", "gaussian"), ("vae", "continuous-bernoulli"),
                                               ("vae", "gaussian-learned"), ("iwae", "bernoulli"), ("cvae", "bernoulli")])
def test_the_quick_activation_bound_is_within_32x_below_the_count(model, likelihood, arch, shape, hidden):
    """Training checks the quick bound first and counts what autograd keeps only within 32x of the memory."""
    import torch

    from vaekit.api import _kept_for_backward, _least_kept
    from vaekit.config import ModelConfig, default_hidden
    from vaekit.models import build_model

    cfg = ModelConfig(model=model, arch=arch, input_shape=shape, hidden=hidden or default_hidden(arch), k=7,
                      latent_dim=1024 if shape == (20,) else 16,  # codes much wider than the data and the body
                      likelihood=likelihood, n_classes=10 if model == "cvae" else 0,
                      noise="mask:0.2" if model == "dae" else None)
    with torch.device("meta"):
        counted = _kept_for_backward(build_model(cfg), 32)
    assert _least_kept(cfg, 32) <= counted <= 32 * _least_kept(cfg, 32)


def test_a_gpu_counts_its_free_memory_not_its_total(monkeypatch):
    """On a shared GPU another job holds memory; the check read the total and let the run fail in its first step.
    What torch has cached in this process (reserved, not allocated) is free to this run."""
    import types

    import torch

    from vaekit.api import _check_memory
    from vaekit.config import ModelConfig
    from vaekit.errors import VaekitError

    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (2 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: gib // 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: types.SimpleNamespace(total_memory=80 * gib))
    data = types.SimpleNamespace(splits={"train": range(1000)})
    cuda = torch.device("cuda", 0)
    _check_memory(ModelConfig(input_shape=(784,), hidden=(1000,), latent_dim=10000), cuda, 128, data)  # 1.1 GiB
    with pytest.raises(VaekitError, match=r"needs 4\.5 GiB .* where this GPU has 2\.5 GiB free"):
        _check_memory(ModelConfig(input_shape=(784,), hidden=(1000,), latent_dim=40000), cuda, 128, data)


def test_a_test_fraction_for_data_with_a_test_split_of_their_own_is_refused(tmp_path):
    from vaekit.data import catalog

    if not any(d["name"] == "fashion-mnist" and d["cached"] for d in catalog.describe()):
        pytest.skip("no local copy of Fashion-MNIST (the Debian package dataset-fashion-mnist has one)")
    out = tmp_path / "r"
    result = run("train", "--data", "fashion-mnist", "--offline", "--test-fraction", "0.5", "--out", str(out), "--quiet")
    assert result.exit_code == 2 and "--test-fraction 0.5 is for data without a test split of their own" in result.output
    assert "(10,000 examples)" in result.output and not out.exists()


def test_out_that_is_a_file_or_not_writable(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    result = run("train", "--out", str(a_file), *FAST)
    assert result.exit_code == 2 and "is a file" in result.output
    assert a_file.read_text() == "keep me"
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("old run")
    result = run("train", "--out", str(full), *FAST)
    assert result.exit_code == 2 and "not empty" in result.output
    (full / "x").unlink()
    (full / "figures").mkdir()  # what a run that failed on a full disk left
    result = run("train", "--out", str(full), *FAST)
    assert result.exit_code == 0, result.output  # it was refused as "not empty", and so every retry
    result = run("report", str(a_file))
    assert result.exit_code == 2 and f"{a_file}: a file, not a folder; pass a run folder" in result.output
    if os.geteuid() != 0:  # root can write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = run("train", "--out", str(locked / "r"), *FAST)
        assert result.exit_code == 2 and "not writable" in result.output


def test_bernoulli_on_data_outside_unit_interval(tmp_path):
    np.save(tmp_path / "wide.npy", np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32) * 10)
    result = run("train", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "wide.npy"), "--scale", "none",
                 "--likelihood", "bernoulli", *FAST)
    assert result.exit_code == 2 and "[0, 1]" in result.output


@pytest.mark.parametrize("spread, likelihood", [(1, "bernoulli"), (3, "gaussian")])
def test_scale_none_picks_the_likelihood_by_the_datas_range(tmp_path, spread, likelihood):
    """As the estimators do: data already in [0, 1] were refused a Bernoulli likelihood with --scale none,
    and data outside it failed over the Bernoulli likelihood the user had not asked for."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(0, spread, size=(50, 5)).astype(np.float32))
    result = run("train", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "x.npy"), "--scale", "none", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "config.json").read_text())["model"]["likelihood"] == likelihood


def test_help_does_not_import_torch():
    code = "import sys; from vaekit.cli import cli; assert 'torch' not in sys.modules; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"


def test_installed_command_and_module(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "vaekit")
    result = subprocess.run([exe, "train", "--out", str(tmp_path / "r"), *FAST], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "figures" / "samples.png").is_file()
    result = subprocess.run([sys.executable, "-m", "vaekit", "train", "--latent-dim", "0"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("vaekit: error: --latent-dim 0")
    assert subprocess.run([exe, "--help"], capture_output=True, text=True).returncode == 0
    bare = subprocess.run([exe], capture_output=True, text=True)  # the help, not "error: Usage: ..."
    assert bare.returncode == 2 and bare.stderr.startswith("Usage: vaekit") and "vaekit: error" not in bare.stderr


def test_datasets_lists_every_named_set():
    result = run("datasets")
    assert result.exit_code == 0
    for name in ("digits", "fashion-mnist", "mnist", "kmnist"):
        assert name in result.output


def test_diverged_run_says_so_without_python_warnings(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "vaekit")
    result = subprocess.run([exe, "train", "--out", str(tmp_path / "r"), "--epochs", "1", "--hidden", "8", "-q",
                             "--lr", "1e10"], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "became non-finite in epoch 1" in result.stderr and "Warning" not in result.stderr, result.stderr
    assert all(line.startswith("vaekit: warning: ") for line in result.stderr.splitlines()), result.stderr
    assert (tmp_path / "r" / "report.html").is_file() and (tmp_path / "r" / "figures" / "loss.png").is_file()
    # the report says why, not that the (untrained) codes collapsed
    page = (tmp_path / "r" / "report.html").read_text()
    assert "diverged: the loss or its gradient became non-finite in epoch 1" in page and "posterior collapse" not in page
    assert "collapse_warning" not in json.loads((tmp_path / "r" / "summary.json").read_text())


def strict_json(text):
    """JSON as jq and JavaScript read it: Python's bare NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_written_as_strict_json(tmp_path):
    """A diverged run's summary.json, metrics.jsonl and eval.json held bare NaN and Infinity, which jq and
    JavaScript refuse: they are written as null, and the report still reads them as NaN."""
    np.save(tmp_path / "big.npy", np.random.default_rng(0).random((50, 10)) * 1e20)
    result = run("train", "--data", str(tmp_path / "big.npy"), "--scale", "none", "--epochs", "1", "--hidden", "8",
                 "--latent-dim", "2", "-q", "--out", str(tmp_path / "r"))
    assert result.exit_code == 1, result.output
    result = run("evaluate", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    summary = strict_json((tmp_path / "r" / "summary.json").read_text())
    assert summary["test_neg_elbo"] is None and summary["stopped"] == "diverged"
    assert strict_json((tmp_path / "r" / "eval.json").read_text())["neg_elbo"] is None
    for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines():
        strict_json(line)
    page = (tmp_path / "r" / "report.html").read_text()
    assert "<td>test_neg_elbo</td><td>nan</td>" in page and "not a number" not in page
    import math

    import vaekit
    from vaekit.report import read_eval

    assert math.isnan(vaekit.load(tmp_path / "r").summary["test_neg_elbo"])  # as training returned it, not None
    (tmp_path / "e.json").write_text('{"mse": 0.0, "psnr_db": null}')  # a perfect reconstruction's
    assert read_eval(tmp_path / "e.json", "")["psnr_db"] == math.inf


def test_json_text_writes_non_finite_floats_as_null_at_any_depth():
    from vaekit.fileio import json_text

    value = {"a": float("nan"), "b": [float("inf"), 1.5, (-float("inf"), 2)], "c": {"d": float("nan"), "e": None}}
    assert json_text(value) == '{"a": null, "b": [null, 1.5, [null, 2]], "c": {"d": null, "e": null}}'


@pytest.mark.parametrize("size", [1e3, 1e20])
def test_unscaled_large_data_that_diverge_are_told_to_scale(tmp_path, size):
    """--scale none on values of 1e3 overflows a VAE's exp(log-variance): the advice was a lower --lr; on 1e20 the
    summary's PSNR raised 'math domain error' after the weights were saved as finished."""
    np.save(tmp_path / "big.npy", np.random.default_rng(0).random((50, 10)) * size)
    result = run("train", "--data", str(tmp_path / "big.npy"), "--scale", "none", "--epochs", "1", "--hidden", "8",
                 "--latent-dim", "2", "-q", "--out", str(tmp_path / "r"))
    assert result.exit_code == 1, result.output
    assert "the data were left as they are (--scale none) and reach " in result.output
    assert "give --scale standard or --scale minmax; else try a lower --lr" in result.output
    assert (tmp_path / "r" / "summary.json").is_file() and (tmp_path / "r" / "report.html").is_file()


@pytest.mark.parametrize("schedule, warning", [
    (["--kl-warmup", "1", "--kl-cycles", "2"], "--kl-warmup 1 --kl-cycles 2 spans 4 epochs, and --epochs 3 ends it in cycle 2"),
    (["--kl-warmup", "4"], "--kl-warmup 4 is longer than --epochs 3: the KL weight reaches only 75% of its full value"),
])
def test_a_kl_schedule_longer_than_the_run_is_warned_about(tmp_path, schedule, warning):
    result = run("train", *schedule, "--epochs", "3", "--hidden", "8", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 0 and f"vaekit: warning: {warning}" in result.stderr, result.output
    assert " spans " not in run("train", "--kl-warmup", "1", "--kl-cycles", "2", "--epochs", "4", "--hidden", "8",
                                "--out", str(tmp_path / "fits"), "--quiet").stderr


@pytest.mark.parametrize("options, panel", [([], "loss"), (["--kl-warmup", "2", "--beta", "2"], "neg_elbo")])
def test_the_loss_figure_compares_train_and_validation_on_one_objective(tmp_path, monkeypatch, options, panel):
    """Under a KL warm-up the training loss weighs the KL by w(t) and the validation loss by beta: the
    figure draws the -ELBO of both instead (it drew the two losses as if they were one)."""
    from vaekit import plots

    drawn = {}
    monkeypatch.setattr(plots, "save_curves", lambda path, records, panels, title: drawn.update(panels=panels, title=title))
    result = run("train", *options, "--epochs", "2", "--hidden", "8", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    assert [key for key, _ in drawn["panels"]] == [panel, "kl"] and "\n" not in drawn["title"]
    records = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert all(f"{split}_{panel}" in r for r in records for split in ("train", "val"))


def test_a_tiny_test_split_is_warned_about(tmp_path):
    (tmp_path / "five.csv").write_text("1,2\n3,4\n5,6\n7,8\n9,10\n")
    result = run("train", "--data", str(tmp_path / "five.csv"), "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    assert "vaekit: warning: the test split holds 1 example(s), so summary.json's test numbers say little" in result.stderr


@pytest.mark.parametrize("native", [True, False])
def test_bf16_without_native_bfloat16_is_warned_about(tmp_path, monkeypatch, native):
    import vaekit.trainer

    monkeypatch.setattr(vaekit.trainer, "native_bf16", lambda device: native)
    result = run("train", "--precision", "bf16", "--epochs", "1", "--hidden", "8", "--out", str(tmp_path / "r"), "--quiet")
    assert result.exit_code == 0, result.output
    warned = "vaekit: warning: this CPU has no bfloat16 arithmetic of its own" in result.stderr
    assert warned == (not native), result.stderr


def test_native_bf16_reads_the_cpu(monkeypatch):
    import torch

    from vaekit.trainer import native_bf16

    for caps, native in [({"architecture": "x86_64", "avx2": True}, False), ({"architecture": "x86_64", "amx_bf16": True}, True),
                         ({"architecture": "x86_64", "avx512_bf16": True}, True), ({"architecture": "aarch64"}, True)]:
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda caps=caps: caps, raising=False)  # (not in older torch)
        assert native_bf16(torch.device("cpu")) == native, caps


def test_out_inside_a_file_says_it_is_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = run("train", "--out", str(tmp_path / "notes.txt" / "run"), *FAST)
    assert result.exit_code == 2 and f"{tmp_path / 'notes.txt'} is a file, not a folder" in result.stderr


def test_the_program_ignores_a_second_ctrl_c_while_it_exits():
    code = ("import signal, sys\nfrom vaekit.cli import main\ntry:\n    main(['datasets'])\nexcept SystemExit:\n"
            "    print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.splitlines()[-1] == "True", result.stderr


def test_a_bernoulli_run_on_unscaled_data_clips_what_it_scores_later(tmp_path):
    """--scale none and a Bernoulli likelihood: later data outside [0, 1] crashed evaluate (binary draws of
    p > 1) and scored an outlier row of -5s as the most normal example."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.uniform(0, 1, size=(60, 5)).astype(np.float32))
    odd = rng.uniform(0, 1, size=(20, 5)).astype(np.float32)
    odd[4] = -5.0
    np.save(tmp_path / "odd.npy", odd)
    result = run("train", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "x.npy"), "--scale", "none",
                 "--binarize", "dynamic", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "config.json").read_text())["scaler"]["clip"] is True
    result = run("evaluate", str(tmp_path / "r"), "--data", str(tmp_path / "odd.npy"), "--iw-samples", "2", "--no-report")
    assert result.exit_code == 0, result.output
    result = run("score", str(tmp_path / "r"), str(tmp_path / "odd.npy"), "--split", "all", "-o", str(tmp_path / "s.csv"))
    assert result.exit_code == 0, result.output
    outside = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)[:, -1]
    assert outside[4] == 5 and outside.sum() == 5  # the clipped values are counted where they were


@pytest.mark.parametrize("spread, taken", [(3, True), (1, False)])
def test_sigma_with_scale_none_is_taken_where_the_likelihood_becomes_gaussian(tmp_path, spread, taken):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(0, spread, size=(50, 5)).astype(np.float32))
    result = run("train", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "x.npy"), "--scale", "none",
                 "--sigma", "4", *FAST)
    assert (result.exit_code == 0) == taken, result.output
    if not taken:
        assert "lies in [0, 1], which with --scale none gives the Bernoulli one; add --likelihood gaussian" in result.output


def test_the_python_api_takes_a_label_column_by_position(tmp_path):
    from vaekit import train

    rows = [f"{i % 2},{i / 60:.3f},{(60 - i) / 60:.3f}" for i in range(60)]
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    trained = train(data=str(tmp_path / "x.csv"), label_column=0, epochs=1, hidden=(8,), latent_dim=2,
                    out=tmp_path / "r", verbose=False)
    assert trained.config["cfg_data"].label_column == "0" and trained.model_cfg.input_shape == (2,)
