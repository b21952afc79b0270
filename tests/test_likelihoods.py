"""The continuous Bernoulli and the learned-variance Gaussian likelihoods."""

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy.integrate import quad

import vaekit
from vaekit.cli import cli
from vaekit.config import ModelConfig
from vaekit.losses import (continuous_bernoulli_log_norm, continuous_bernoulli_mean, continuous_bernoulli_nll,
                           mean_output, reconstruction_nll)
from vaekit.models import build_model

# logits from saturated to exactly 1/2, on both sides of the series/exact switch (|logit| = 0.2 and 2)
LOGITS = [-40.0, -7.0, -2.0, -1.0, -0.5, -0.21, -0.2, -0.19, -1e-3, -1e-7, 0.0, 1e-7, 1e-4, 0.05, 0.199,
          0.201, 0.999, 1.0, 1.001, 3.0, 15.0, 60.0]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def _density_integrals(logit: float) -> tuple[float, float]:
    """(integral of lambda^x (1-lambda)^(1-x) over [0, 1], the mean of the normalized density), by quadrature."""
    log_lam, log_rest = -np.logaddexp(0, -logit), -np.logaddexp(0, logit)  # log lambda, log(1 - lambda)
    f = lambda x: math.exp(x * log_lam + (1 - x) * log_rest)  # noqa: E731
    z = quad(f, 0, 1, epsabs=0, epsrel=1e-12)[0]
    m = quad(lambda x: x * f(x), 0, 1, epsabs=0, epsrel=1e-12)[0] / z
    return z, m


@pytest.mark.parametrize("logit", LOGITS)
def test_continuous_bernoulli_normalizer_matches_numerical_integration(logit):
    z, mean = _density_integrals(logit)
    t = torch.tensor(logit, dtype=torch.float64)
    assert continuous_bernoulli_log_norm(t).item() == pytest.approx(-math.log(z), abs=1e-9)
    assert continuous_bernoulli_mean(t).item() == pytest.approx(mean, abs=1e-7)
    t32 = torch.tensor(logit)  # float32, as in training: still accurate at lambda = 1/2
    assert continuous_bernoulli_log_norm(t32).item() == pytest.approx(-math.log(z), abs=1e-6)
    assert continuous_bernoulli_mean(t32).item() == pytest.approx(mean, abs=2e-6)


def test_continuous_bernoulli_is_a_normalized_density_with_finite_gradients():
    logits = torch.tensor([[-3.0, -1e-6, 0.0, 2e-3, 0.7]], requires_grad=True)
    xs = torch.linspace(0, 1, 20001)
    for j in range(logits.shape[1]):  # trapezoid rule of p(x) over [0, 1]
        nll = torch.stack([continuous_bernoulli_nll(logits[:, j : j + 1].detach(), x.view(1, 1)) for x in xs[::100]])
        dens = torch.exp(-nll.squeeze(1)).double()
        assert torch.trapezoid(dens, xs[::100].double()).item() == pytest.approx(1.0, abs=1e-4)
    x = torch.full_like(logits, 0.3)
    (continuous_bernoulli_nll(logits, x).sum() + continuous_bernoulli_mean(logits).sum()).backward()
    assert torch.isfinite(logits.grad).all()


def test_continuous_bernoulli_agrees_with_torch_away_from_one_half():
    logits, x = torch.tensor([[-4.0, -1.5, 0.9, 2.5]]), torch.tensor([[0.1, 0.7, 0.35, 1.0]])
    expected = -torch.distributions.ContinuousBernoulli(logits=logits).log_prob(x).sum(1)
    assert torch.allclose(continuous_bernoulli_nll(logits, x), expected, atol=1e-5)
    assert torch.allclose(mean_output("continuous-bernoulli", logits),
                          torch.distributions.ContinuousBernoulli(logits=logits).mean, atol=1e-5)
    assert torch.allclose(reconstruction_nll("continuous-bernoulli", logits, x), expected, atol=1e-5)


def test_gaussian_learned_nll_uses_the_sigma_it_is_given():
    mean, x = torch.zeros(2, 3), torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.1, -0.2]])
    sigma = torch.tensor([0.5, 1.0, 2.0])
    expected = -torch.distributions.Normal(mean, sigma).log_prob(x).sum(1)
    assert torch.allclose(reconstruction_nll("gaussian-learned", mean, x, sigma), expected, atol=1e-5)


def _fit_learned_sigma(likelihood: str, noise: torch.Tensor, steps: int = 400) -> torch.Tensor:
    """Train a small VAE on x = A z + noise * eps (z 2-D) and return its learned sigma."""
    torch.manual_seed(0)
    n, d = 1000, len(noise)
    x = torch.randn(n, 2) @ torch.randn(2, d) + noise * torch.randn(n, d)
    model = build_model(ModelConfig(model="vae", input_shape=(d,), latent_dim=2, hidden=(32,), likelihood=likelihood).validate())
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(steps):
        loss, _ = model.loss(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.sigma().detach()


def test_learned_variance_finds_the_true_noise_level():
    noise = torch.tensor([0.2] * 4 + [0.5] * 4)
    per_feature = _fit_learned_sigma("gaussian-learned", noise)
    assert per_feature.shape == (8,)  # started at sigma = 1 everywhere
    assert per_feature[:4].mean().item() == pytest.approx(0.2, rel=0.2)
    assert per_feature[4:].mean().item() == pytest.approx(0.5, rel=0.1)
    shared = _fit_learned_sigma("gaussian-learned-global", noise)
    assert shared.shape == ()
    assert shared.item() == pytest.approx(noise.pow(2).mean().sqrt().item(), rel=0.1)  # the RMS noise


@pytest.mark.parametrize("likelihood", ["continuous-bernoulli", "gaussian-learned", "gaussian-learned-global"])
def test_train_with_each_likelihood_and_load_it_back(tmp_path, likelihood):
    out = tmp_path / "r"
    gaussian = likelihood.startswith("gaussian")
    result = CliRunner().invoke(cli, ["train", "--out", str(out), "--epochs", "1", "--hidden", "16", "--latent-dim", "2",
                                      "--likelihood", likelihood, *(["--sigma", "0.5"] if gaussian else []), "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["model"]["sigma"] == (0.5 if gaussian else 1.0)  # learned sigmas start there
    summary = json.loads((out / "summary.json").read_text())
    assert np.isfinite(summary["test_neg_elbo"])
    assert ("test_sigma" in summary) == likelihood.startswith("gaussian-learned")
    trained = vaekit.load(out)
    assert (trained.module.log_sigma is not None) == likelihood.startswith("gaussian-learned")
    if likelihood == "continuous-bernoulli":  # samples are means of densities on [0, 1]
        samples = trained.module.sample(16)
        assert samples.min() >= 0 and samples.max() <= 1


@pytest.mark.parametrize("args,needle", [
    (["--model", "ae", "--likelihood", "continuous-bernoulli"], "needs a probabilistic model"),
    (["--model", "dae", "--likelihood", "gaussian-learned"], "needs a probabilistic model"),
    (["--likelihood", "poisson"], "--likelihood poisson is not one of"),
    (["--likelihood", "continuous-bernoulli", "--scale", "standard"], "needs data in [0, 1]"),
    (["--likelihood", "gaussian-learned", "--sigma", "0"], "--sigma 0.0 must be a positive number"),
])
def test_bad_likelihood_options_are_one_line_errors(tmp_path, args, needle):
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "r"), "--epochs", "1", "-q", *args])
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_learned_sigma_shrinking_to_nothing_is_warned_about(tmp_path):
    import math

    from vaekit.api import write_summary
    from vaekit.config import DataConfig, ModelConfig
    from vaekit.data.datasets import load_data
    from vaekit.diagnostics import sigma_warning
    from vaekit.models import build_model
    from vaekit.trainer import History

    assert sigma_warning(torch.full((4,), 0.5)) is None
    data = load_data(DataConfig(), seed=0)
    model = build_model(ModelConfig(input_shape=data.shape, latent_dim=2, hidden=(8,), likelihood="gaussian-learned"))
    summary = write_summary(tmp_path, model, data, History(), torch.device("cpu"), 0.0)
    assert "sigma_warning" not in summary
    with torch.no_grad():
        model.log_sigma.view(-1)[:3] = math.log(1e-4)  # three pixels of digits that never change, say
    summary = write_summary(tmp_path, model, data, History(), torch.device("cpu"), 0.0)
    assert summary["sigma_warning"].startswith("the learned sigma of 3 of 64 features is below 0.001 (smallest 0.0001)")


@pytest.mark.parametrize("likelihood", ["gaussian", "continuous-bernoulli", "bernoulli"])
def test_the_reconstruction_term_is_float32_under_bf16_autocast(likelihood):
    """sigma 0.3 rounded to bfloat16 (0.30078) put the Gaussian term 2 nats an example off on 784 features."""
    from vaekit.config import ModelConfig
    from vaekit.models import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(model="vae", input_shape=(784,), hidden=(8,), latent_dim=2, likelihood=likelihood,
                                    sigma=0.3 if likelihood == "gaussian" else 1.0))
    x, out = torch.rand(4, 784), torch.randn(4, 784)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nll = model.recon_nll(out.bfloat16(), x)
    assert nll.dtype == torch.float32
    torch.testing.assert_close(nll, model.recon_nll(out.bfloat16().float(), x))
