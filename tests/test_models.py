import math

import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.losses import bernoulli_nll, gaussian_nll, kl_to_standard_normal
from vaekit.models import MODELS, build_model, corrupt

SHAPES = {"vector": (64,), "digits": (1, 8, 8), "mnist": (1, 28, 28), "rgb-odd": (3, 15, 13)}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("arch,shape", [("mlp", SHAPES["vector"]), ("mlp", SHAPES["digits"]),
                                        ("conv", SHAPES["digits"]), ("conv", SHAPES["mnist"]), ("conv", SHAPES["rgb-odd"])])
def test_shapes_and_gradients(name, arch, shape):
    cfg = ModelConfig(model=name, arch=arch, input_shape=shape, latent_dim=3, hidden=(8, 16),
                      noise="mask:0.2" if name == "dae" else None, n_classes=3 if name == "cvae" else 0).validate()
    model = build_model(cfg)
    x, y = torch.rand(5, *shape), torch.randint(3, (5,))  # labels: used by conditional models, ignored by others
    code = model.code(x, y)
    assert code.shape == (5, 3)
    assert model.decode(code, y).shape == (5, *shape)
    assert model.reconstruct(x, y).shape == (5, *shape)
    assert model.sample(4).shape == (4, *shape)
    loss, logs = model.loss(x, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert {"loss", "recon", "mse"} <= set(logs)


def test_vae_interface_names():
    model = build_model(ModelConfig(model="vae", input_shape=(10,), latent_dim=2, hidden=(8,)))
    x = torch.rand(6, 10)
    mu, logvar = model.encode(x)
    recon, mu2, logvar2 = model(x)
    assert mu.shape == logvar.shape == (6, 2) and recon.shape == (6, 10)
    assert torch.equal(mu, mu2) and torch.equal(logvar, logvar2)
    z = model.reparameterize(mu, logvar)
    assert z.shape == (6, 2)


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([[0.7, -1.2, 0.0]]), torch.tensor([[-0.5, 0.8, 0.0]])
    closed = kl_to_standard_normal(mu, logvar).sum()
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn(400_000, 3)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    mc = (log_q - log_p).mean()
    assert abs(closed.item() - mc.item()) < 0.01
    assert kl_to_standard_normal(torch.zeros(1, 4), torch.zeros(1, 4)).sum() == 0


def test_likelihoods_match_torch_distributions():
    torch.manual_seed(1)
    logits, x = torch.randn(3, 7), torch.randint(0, 2, (3, 7)).float()
    expected = -torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(1)
    assert torch.allclose(bernoulli_nll(logits, x), expected, atol=1e-5)
    mean, y = torch.randn(3, 7), torch.randn(3, 7)
    expected = -torch.distributions.Normal(mean, 0.5).log_prob(y).sum(1)
    assert torch.allclose(gaussian_nll(mean, y, 0.5), expected, atol=1e-5)


def test_vae_loss_is_recon_plus_kl_and_warmup_scales_kl():
    torch.manual_seed(0)
    cfg = ModelConfig(model="vae", input_shape=(10,), latent_dim=2, hidden=(8,), kl_warmup=4)
    model = build_model(cfg).eval()
    x = torch.rand(6, 10)
    torch.manual_seed(1)
    _, logs = model.loss(x)
    assert math.isclose(logs["neg_elbo"].item(), logs["recon"].item() + logs["kl"].item(), rel_tol=1e-6)
    assert math.isclose(logs["loss"].item(), logs["neg_elbo"].item(), rel_tol=1e-6)
    torch.manual_seed(1)
    _, half = model.loss(x, progress=2.0)
    assert math.isclose(half["loss"].item(), half["recon"].item() + 0.5 * half["kl"].item(), rel_tol=1e-5)


@pytest.mark.parametrize("noise", ["gaussian:0.5", "mask:0.5", "salt-pepper:0.5"])
def test_corruption_only_in_training(noise):
    torch.manual_seed(0)
    x = torch.full((200, 50), 0.5)
    noisy = corrupt(x, noise)
    assert not torch.equal(noisy, x)
    changed = (noisy != x).float().mean().item()
    assert 0.4 < changed <= 1.0
    model = build_model(ModelConfig(model="dae", input_shape=(50,), latent_dim=2, hidden=(8,), noise=noise))
    model.eval()
    assert torch.equal(model.corrupted(x), x)  # encode / evaluation never corrupts
    model.train()
    assert not torch.equal(model.corrupted(x), x)
