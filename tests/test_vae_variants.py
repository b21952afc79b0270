"""KL schedules and free bits, the IWAE, the conditional VAE, collapse diagnostics, and their bad inputs."""

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vaekit
from vaekit import schedules
from vaekit.cli import cli
from vaekit.config import ModelConfig
from vaekit.diagnostics import collapse_warning, latent_note
from vaekit.errors import VaekitError
from vaekit.losses import kl_to_standard_normal
from vaekit.models import build_model

FAST = ["--epochs", "1", "--hidden", "16", "--latent-dim", "2", "-q"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def tiny(model: str = "vae", **fields):
    fields = {"input_shape": (10,), "latent_dim": 3, "hidden": (16,), **fields}
    cfg = ModelConfig(model=model, **fields)
    return build_model(cfg.validate()).eval()


# -- schedules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("progress,expected", [(None, 2.0), (0.0, 0.0), (1.0, 0.5), (3.0, 1.5), (4.0, 2.0), (9.5, 2.0)])
def test_linear_warmup(progress, expected):
    assert schedules.kl_weight(2.0, progress, warmup=4) == pytest.approx(expected)


def test_constant_beta_ignores_progress():
    assert [schedules.kl_weight(0.5, p) for p in (None, 0.0, 3.7, 100.0)] == [0.5] * 4


@pytest.mark.parametrize("progress,expected", [
    (0.0, 0.0), (1.0, 0.5), (2.0, 1.0), (3.9, 1.0),  # cycle 1: ramp over 2 epochs, hold 2
    (4.0, 0.0), (5.0, 0.5), (7.0, 1.0),  # cycle 2 restarts from 0
    (8.0, 0.0), (9.5, 0.75),  # cycle 3
    (12.0, 1.0), (13.0, 1.0), (100.0, 1.0), (None, 1.0),  # after 3 cycles: beta for good
])
def test_cyclical_annealing(progress, expected):
    assert schedules.kl_weight(1.0, progress, warmup=2, cycles=3) == pytest.approx(expected)


def test_one_cycle_is_the_plain_warmup():
    for p in np.linspace(0, 10, 41):
        assert schedules.kl_weight(3.0, p, warmup=3, cycles=1) == schedules.kl_weight(3.0, p, warmup=3)


def test_free_bits_clamps_each_dimensions_batch_mean():
    kl = torch.tensor([[0.1, 2.0, 0.0], [0.3, 1.0, 0.0]], requires_grad=True)  # per-dim batch means 0.2, 1.5, 0.0
    assert schedules.free_bits_kl(kl, 0.0).item() == pytest.approx(1.7)  # no free bits: the plain KL
    term = schedules.free_bits_kl(kl, 0.5)
    assert term.item() == pytest.approx(0.5 + 1.5 + 0.5)
    term.backward()
    assert kl.grad[:, 1].tolist() == [0.5, 0.5]  # only the dimension above its free bits is pushed down
    assert kl.grad[:, [0, 2]].abs().sum() == 0


def test_vae_loss_uses_beta_and_free_bits_and_logs_the_true_elbo():
    torch.manual_seed(0)
    model = tiny(beta=2.0, free_bits=0.5)
    x = torch.rand(64, 10)
    torch.manual_seed(1)
    loss, logs = model.loss(x)
    per_dim = kl_to_standard_normal(*model.encode(x)).mean(0)  # (latent,)
    expected = logs["recon"] + 2.0 * per_dim.clamp(min=0.5).sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["neg_elbo"].item() == pytest.approx((logs["recon"] + per_dim.sum()).item(), rel=1e-5)
    assert logs["kl"].item() == pytest.approx(per_dim.sum().item(), rel=1e-5)


def test_objective_says_what_the_loss_is():
    assert tiny().objective() == "-ELBO (recon + KL)"
    assert tiny(beta=4.0).objective() == "recon + 4 * KL"
    assert "max(0.5, KL_j)" in tiny(free_bits=0.5).objective()
    text = tiny(kl_warmup=5, kl_cycles=4).objective()
    assert "over 5 epochs" in text and "4 cycles" in text
    assert tiny("iwae", k=7).objective().startswith("-IWAE bound, k=7")


# -- IWAE -----------------------------------------------------------------------------------------


def _vae_and_iwae(k: int):
    torch.manual_seed(0)
    vae = tiny()
    iwae = tiny("iwae", k=k)
    iwae.load_state_dict(vae.state_dict())  # the same networks
    return vae, iwae


def test_iwae_with_k1_is_the_vae_elbo_estimator_in_expectation():
    vae, iwae = _vae_and_iwae(k=1)
    x = torch.rand(4, 10).repeat(5000, 1)  # many draws per example
    torch.manual_seed(1)
    _, elbo = vae.loss(x)
    torch.manual_seed(2)
    iw_loss, iw_logs = iwae.loss(x)
    torch.manual_seed(2)
    log_w = vae.log_weights(x, k=1)  # (1, N): the shared estimator gives the same draws
    assert iw_loss.item() == pytest.approx(-log_w.mean().item(), rel=1e-5)
    stderr = log_w.std().item() / math.sqrt(log_w.numel())
    assert abs(iw_loss.item() - elbo["neg_elbo"].item()) < 5 * stderr + 1e-3
    assert iw_logs["neg_elbo"].item() == pytest.approx(elbo["neg_elbo"].item(), abs=5 * stderr + 1e-3)


def test_iwae_bound_is_above_the_elbo_and_tightens_with_k():
    vae, iwae = _vae_and_iwae(k=5)
    x = torch.rand(8, 10).repeat(500, 1)
    torch.manual_seed(1)
    loss, logs = iwae.loss(x)
    assert loss.item() < logs["neg_elbo"].item()  # -IWAE bound < -ELBO: the bound is higher
    torch.manual_seed(3)
    log_w = vae.log_weights(torch.rand(8, 10), k=200)  # (200, 8)
    # the k-sample bound, averaged over the 200 / k disjoint groups of draws
    bounds = [(torch.logsumexp(log_w.view(200 // k, k, 8), 1) - math.log(k)).mean().item() for k in (1, 10, 200)]
    assert bounds[0] < bounds[1] < bounds[2]


def test_iwae_trains_and_its_gradients_reach_every_parameter():
    _, iwae = _vae_and_iwae(k=3)
    iwae.train()
    loss, logs = iwae.loss(torch.rand(6, 10))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in iwae.parameters())
    assert {"loss", "neg_elbo", "recon", "kl", "mse"} <= set(logs)


# -- CVAE -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_cvae_shapes_and_conditioning(arch):
    torch.manual_seed(0)
    model = tiny("cvae", arch=arch, input_shape=(1, 8, 8), hidden=(8, 16), n_classes=10)
    x, y = torch.rand(5, 1, 8, 8), torch.tensor([0, 3, 9, 3, 1])
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(mu, y).shape == model.reconstruct(x, y).shape == (5, 1, 8, 8)
    assert not torch.allclose(model.encode(x, y)[0], model.encode(x, (y + 1) % 10)[0])  # the encoder sees y
    loss, _ = model.train().loss(x, y)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()

    def draw(labels):
        return model.sample(4, labels=labels, generator=torch.Generator().manual_seed(0))

    assert torch.equal(draw(2), draw(2))
    assert not torch.allclose(draw(2), draw(7))  # same z, another class: another image
    assert draw([0, 1, 2, 3]).shape == (4, 1, 8, 8)
    assert model.sample(6).shape == (6, 1, 8, 8)  # no labels: classes drawn uniformly


def test_cvae_refuses_missing_or_impossible_labels():
    model = tiny("cvae", n_classes=4)
    with pytest.raises(VaekitError, match="--label 12 is not a class of this model, which has 4"):
        model.sample(3, labels=12)
    with pytest.raises(VaekitError, match="--label -1"):
        model.sample(3, labels=[0, -1, 2])
    with pytest.raises(VaekitError, match="2 labels for 3 samples"):
        model.sample(3, labels=[0, 1])
    with pytest.raises(VaekitError, match="no.*labels|none were given"):
        model.loss(torch.rand(2, 10))
    with pytest.raises(VaekitError, match="--label needs a conditional model"):
        tiny("vae").sample(2, labels=1)
    with pytest.raises(VaekitError, match="cvae needs labels"):
        ModelConfig(model="cvae", input_shape=(10,)).validate()  # n_classes comes from the data


def test_cvae_generates_the_asked_class():
    """A tiny CVAE on the digits: samples of class c lie nearest the mean image of class c."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = torch.tensor(digits.data / 16, dtype=torch.float32), torch.tensor(digits.target)
    torch.manual_seed(0)
    model = build_model(ModelConfig(model="cvae", input_shape=(64,), latent_dim=2, hidden=(64,), n_classes=10).validate())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        idx = torch.randint(len(x), (256,))
        loss, _ = model.loss(x[idx], y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    wanted = torch.arange(10).repeat_interleave(20)
    samples = model.sample(len(wanted), labels=wanted, generator=torch.Generator().manual_seed(0))
    means = torch.stack([x[y == c].mean(0) for c in range(10)])  # (10, 64)
    nearest = torch.cdist(samples, means).argmin(1)
    assert (nearest == wanted).float().mean() > 0.7  # chance: 0.1


# -- diagnostics ----------------------------------------------------------------------------------


def test_collapse_warning_and_latent_note():
    assert collapse_warning([1.2, 0.8, 2.0, 0.5], active_units=4, latent_dim=4) is None
    assert latent_note([1.2, 0.8, 2.0, 0.5], active_units=4, latent_dim=4) is None
    assert latent_note([3.0, 2.0, 0.01, 0.0], active_units=2, latent_dim=4) is None  # half is enough
    # dimensions pruned while the codes carry information: the ELBO at work, a note, not a warning
    assert collapse_warning([3.0, 0.01, 0.0, 0.0], active_units=1, latent_dim=4) is None
    pruned = latent_note([3.0, 0.01, 0.0, 0.0], active_units=1, latent_dim=4)
    assert pruned.startswith("1 of 4 latent dimensions are active") and "--latent-dim 1 would fit about as well" in pruned
    full = collapse_warning([0.01, 0.02], active_units=2, latent_dim=2)
    assert full.startswith("posterior collapse: the KL is 0.03") and latent_note([0.01, 0.02], 2, 2) is None
    for text in (pruned, full):
        assert all(r in text for r in ("--kl-warmup", "--kl-cycles", "--free-bits", "--beta", "--latent-dim"))
        assert "\n" not in text


def test_collapse_is_reported_after_training(tmp_path):
    out = tmp_path / "r"
    result = run("train", "--out", out, *FAST, "--beta", "50")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert "--free-bits" in summary["collapse_warning"]
    assert "vaekit: warning:" in result.stderr and "collapse" in result.stderr
    assert summary["objective"] == "recon + 50 * KL" and "objective (loss): recon + 50 * KL" in result.stdout
    assert len(summary["kl_per_dim"]) == 2 and summary["active_units"] <= 2


# -- end to end -----------------------------------------------------------------------------------


def test_train_iwae_from_the_cli(tmp_path):
    out = tmp_path / "iwae"
    result = run("train", "--out", out, *FAST, "--model", "iwae", "--k", "3")
    assert result.exit_code == 0, result.output
    assert "objective (loss): -IWAE bound, k=3" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_loss"] <= summary["test_neg_elbo"] + 1.0  # a bound at least about as tight
    assert json.loads((out / "config.json").read_text())["model"]["k"] == 3


def test_train_cvae_and_generate_a_class(tmp_path):
    out = tmp_path / "cvae"
    result = run("train", "--out", out, *FAST, "--model", "cvae", "--arch", "conv", "--hidden", "8,8")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["model"]["n_classes"] == 10  # from the digits' labels
    assert (out / "figures" / "samples.png").is_file()
    assert vaekit.load(out).generate(5, seed=0, labels=3).shape == (5, 1, 8, 8)
    result = run("generate", out, "-n", 8, "--label", 3, "-o", tmp_path / "threes.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "threes.npy").shape == (8, 1, 8, 8)
    # without --label every class in turn, so each sample's class is known: the same as asking for them
    result = run("generate", out, "-n", 12, "-o", tmp_path / "all.npy")
    assert result.exit_code == 0 and "12 samples of the 10 classes in turn (sample i: class i mod 10)" in result.output
    asked = vaekit.load(out).generate(12, seed=0, labels=np.arange(12) % 10)
    np.testing.assert_array_equal(np.load(tmp_path / "all.npy"), asked)
    result = run("generate", out, "-n", 8, "--label", 12, "-o", tmp_path / "none.npy")
    assert result.exit_code == 2
    assert "--label 12 is not a class of this model, which has 10 (0 to 9)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "none.npy").exists()


def test_generate_with_a_label_needs_a_cvae(digits_run, tmp_path):
    result = run("generate", digits_run, "-n", 4, "--label", 3, "-o", tmp_path / "x.npy")
    assert result.exit_code == 2
    assert "--label needs a conditional model but this is a vae" in result.output


@pytest.mark.parametrize("args,needle", [
    (["--k", "0"], "--k 0 must be a positive integer"),
    (["--model", "iwae", "--k", "-3"], "--k -3 must be a positive integer"),
    (["--free-bits", "-1"], "--free-bits -1.0 must be a number of nats from 0 to 1e+06"),
    # the float32 loss overflowed (a RuntimeError from torch) or divided by zero (a ZeroDivisionError)
    (["--free-bits", "1e39"], "--free-bits 1e+39 must be a number of nats from 0 to 1e+06"),
    (["--beta", "1e300"], "--beta 1e+300 must be a number from 0 to 1e+06"),
    (["--likelihood", "gaussian", "--sigma", "1e-300"], "--sigma 1e-300 must be between 1e-06 and 1e+06"),
    (["--free-bits", "nan"], "--free-bits nan"),
    (["--kl-cycles", "3"], "needs --kl-warmup"),
    (["--kl-cycles", "-1", "--kl-warmup", "2"], "--kl-cycles -1"),
    (["--model", "iwae", "--beta", "4"], "has no KL term to weigh"),
    (["--model", "iwae", "--free-bits", "0.5"], "has no KL term to weigh"),
    (["--model", "gan"], "--model gan is not one of ae, dae, vae, iwae, cvae"),
    (["--model", "cvae", "--data", "UNLABELLED"], "--model cvae needs labels but --data"),
    # ids as labels made 2,000,001 classes and an "out of memory" error
    (["--model", "cvae", "--data", "IDS"], "its labels are numbers up to 2,000,000 with 3 distinct values, so a cvae "
                                           "would have 2,000,001 classes; number the classes 0 to 2, or write the labels as names"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, args, needle):
    unlabelled, ids = tmp_path / "unlabelled.npy", tmp_path / "ids.npz"
    np.save(unlabelled, np.random.default_rng(0).random((40, 6), dtype=np.float32))
    np.savez(ids, x=np.random.default_rng(0).random((40, 6), dtype=np.float32), y=np.arange(40) % 3 * 10**6)
    args = [str(unlabelled) if a == "UNLABELLED" else str(ids) if a == "IDS" else a for a in args]
    result = run("train", "--out", tmp_path / "r", *FAST, *args)
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_latent_note_is_printed_and_saved_not_warned(tmp_path, monkeypatch):
    import vaekit.diagnostics

    monkeypatch.setattr(vaekit.diagnostics, "latent_note", lambda kl, active, latent: f"{active} of {latent} in use")
    monkeypatch.setattr(vaekit.diagnostics, "collapse_warning", lambda kl, active, latent: None)
    out = tmp_path / "r"
    result = run("train", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    note = json.loads((out / "summary.json").read_text())["latent_note"]
    assert f"latent: {note}" in result.stdout and "warning" not in result.stderr
