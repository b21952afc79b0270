"""The pieces of bench/run.py that its numbers rest on: the FLOP count, the reference loop, the data,
the targets. (The whole ``python bench/run.py --quick`` takes longer than a unit test should.)"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import reference  # noqa: E402
import run  # noqa: E402


def test_flops_of_the_mlp_vae_are_counted_from_the_layer_sizes():
    model = run.build_model(run.vaekit_config("mlp"))
    macs = 784 * 400 + 400 * 40 + 20 * 400 + 400 * 784
    # forward 2, weight gradient 2, input gradient 2 per multiply-add; no input gradient for the data
    assert run.train_flops_per_example(model, torch.rand(2, 1, 28, 28)) == 6 * macs - 2 * 784 * 400


def test_encode_flops_are_the_encoders_forward():
    model = run.build_model(run.vaekit_config("mlp"))
    assert 2 * sum(run._multiply_adds(model.encoder, torch.rand(1, 1, 28, 28))) == 2 * (784 * 400 + 400 * 40)


def test_flops_of_the_conv_body_count_every_layer():
    model = run.build_model(run.vaekit_config("conv"))
    conv1, conv2 = 14 * 14 * 32 * 9, 7 * 7 * 64 * 32 * 9
    heads = 64 * 7 * 7 * 40 + 20 * 64 * 7 * 7
    deconv1, deconv2 = 7 * 7 * 64 * 32 * 16, 14 * 14 * 32 * 16
    flops = run.train_flops_per_example(model, torch.rand(2, 1, 28, 28))
    assert flops == 6 * (conv1 + conv2 + heads + deconv1 + deconv2) - 2 * conv1


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_reference_loop_trains_on_a_slice(arch):
    x = np.random.default_rng(0).integers(0, 256, (192, 28, 28), dtype=np.uint8)
    result = reference.train(arch, x[:128], x[128:], epochs=1, batch_size=64)
    assert result["samples_per_s"] > 0 and np.isfinite(result["test_neg_elbo"])
    # 784 pixels of Bernoulli cross-entropy: a fresh model scores about 784 * log 2 nats
    assert 300 < result["test_neg_elbo"] < 2000


def test_reference_and_vaekit_models_have_the_same_size():
    for arch, ref in (("mlp", reference.MLPVAE()), ("conv", reference.ConvVAE())):
        mine = run.build_model(run.vaekit_config(arch))
        assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in ref.parameters()), arch


@pytest.mark.skipif(not run.FASHION_DIR.is_dir(), reason="no Debian copy of Fashion-MNIST")
def test_the_idx_fallback_reads_what_the_catalog_reads():
    x_train, x_test = run.load_fashion(quick=True)
    direct = run._read_idx_gz(run.FASHION_DIR / "t10k-images-idx3-ubyte.gz")
    assert direct.shape == (10000, 28, 28) and direct.dtype == np.uint8
    assert np.array_equal(direct[: len(x_test)], x_test)
    data = run.vaekit_data(x_train, x_test)
    assert data.x.shape == (len(x_train) + len(x_test), 1, 28, 28)
    assert np.array_equal(data.x[data.splits["test"], 0], x_test) and len(data.splits["val"]) == 0


def test_targets_compare_each_value_with_its_bound():
    results = {
        "mlp": {"ratio": 2.5, "fraction_of_peak": 0.4, "elbo_gap_nats": 0.3},
        "conv": {"ratio": 1.2, "elbo_gap_nats": 1.5, "ratio_bf16": 2.1, "elbo_gap_nats_bf16": 1.2},
        "memory": {"over_budget_mb": -10.0},
        "cli": {"help_over_import_torch": 0.05},
    }
    targets = run.check_targets(results)
    missed = {k for k, v in targets.items() if not v["met"]}
    assert missed == {"conv_ratio", "mlp_fraction_of_peak", "conv_elbo_gap_nats", "conv_elbo_gap_nats_bf16"}


def test_compare_keeps_each_loops_best_run_and_takes_the_fraction_of_the_highest_peak(monkeypatch):
    runs = iter([
        {"samples_per_s": 10_000.0, "test_neg_elbo": 250.5, "page_faults_per_step": 900},  # reference
        {"samples_per_s": 20_000.0, "test_neg_elbo": 250.2, "page_faults_per_step": 5, "train_flops_per_example": 5e6,
         "peak_gflops_before": 180.0, "peak_gflops_after": 220.0},
        {"samples_per_s": 12_000.0, "test_neg_elbo": 250.5, "page_faults_per_step": 900},
        {"samples_per_s": 15_000.0, "test_neg_elbo": 250.2, "page_faults_per_step": 5, "train_flops_per_example": 5e6,
         "peak_gflops_before": 90.0, "peak_gflops_after": 90.0},
    ])
    monkeypatch.setattr(run, "_child", lambda options, args: next(runs))
    args = run.parse_args(["--quick"])
    args.sizes = {**args.sizes, "train_repeats": 2}
    result = run.compare("mlp", args, peak=200.0)
    assert result["ratio"] == pytest.approx(20_000 / 12_000)  # best of each loop, not of the same round
    assert result["vaekit_gflops"] == pytest.approx(100.0)
    # a slow minute's peak (90) may not flatter it: the highest peak measured is the machine's
    assert result["peak_gflops"] == 220.0 and result["fraction_of_peak"] == pytest.approx(100 / 220)
    assert result["fraction_of_peak_same_process"] == pytest.approx(100 / 200)
    assert result["samples_per_s_of_every_run"]["reference"] == [10_000.0, 12_000.0]
    assert [r["peak_gflops_before"] for r in result["every_run"]["vaekit"]] == [180.0, 90.0]


def test_compare_has_only_the_first_vaekit_child_save_its_model(monkeypatch, tmp_path):
    calls = []
    result = {"samples_per_s": 1.0, "test_neg_elbo": 250.0, "page_faults_per_step": 0, "train_flops_per_example": 1,
              "peak_gflops_before": 1.0, "peak_gflops_after": 1.0}
    monkeypatch.setattr(run, "_child", lambda options, args: calls.append(options) or result)
    args = run.parse_args(["--quick"])
    args.sizes = {**args.sizes, "train_repeats": 2}
    run.compare("mlp", args, peak=1.0, save=tmp_path)
    saving = [options for options in calls if "--save" in options]
    assert saving == [["--loop", "vaekit", "--arch", "mlp", "--precision", "fp32", "--save", str(tmp_path)]]
    assert calls.index(saving[0]) == 1  # the reference runs first, then vaekit
