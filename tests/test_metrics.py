import math

import numpy as np
import pytest
import torch
from torch import nn

from vaekit import losses
from vaekit.config import ModelConfig
from vaekit.errors import VaekitError
from vaekit.features import frechet_distance, frechet_distance_features
from vaekit.metrics import elbo, iw_log_likelihood, latent_usage, likelihood_meaning, reconstruction
from vaekit.models import build_model

D, L, SIGMA = 6, 2, 0.5


def ppca_vae(seed=0, widen=3.0, orthogonal=False):
    """A VAE whose decoder is linear with a Gaussian likelihood of fixed sigma: probabilistic PCA,
    x ~ N(b, W W^T + sigma^2 I). Its encoder is the exact posterior mean with the diagonal of the
    exact posterior covariance, widened ``widen`` times: a good but imperfect q, as trained VAEs
    have. With orthogonal columns of W and widen=1, q is the exact posterior."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(D, L, generator=g, dtype=torch.float64)
    if orthogonal:
        w = torch.linalg.qr(w)[0] * torch.tensor([2.0, 0.7], dtype=torch.float64)
    b = torch.randn(D, generator=g, dtype=torch.float64)
    model = build_model(ModelConfig(model="vae", input_shape=(D,), latent_dim=L, hidden=(4,), likelihood="gaussian",
                                    sigma=SIGMA).validate()).double()
    model.decoder.net = nn.Linear(L, D).double()
    model.encoder.net = nn.Linear(D, 2 * L).double()
    m = w.T @ w + SIGMA**2 * torch.eye(L, dtype=torch.float64)  # (L, L)
    post_mean = torch.linalg.solve(m, w.T)  # E[z|x] = M^-1 W^T (x - b)
    post_var = SIGMA**2 * torch.linalg.inv(m).diagonal() * widen
    with torch.no_grad():
        model.decoder.net.weight.copy_(w)
        model.decoder.net.bias.copy_(b)
        model.encoder.net.weight.zero_()
        model.encoder.net.weight[:L] = post_mean
        model.encoder.net.bias[:L] = -post_mean @ b
        model.encoder.net.bias[L:] = post_var.log()
    x = torch.distributions.MultivariateNormal(b, w @ w.T + SIGMA**2 * torch.eye(D, dtype=torch.float64))
    return model.eval(), x


def test_ppca_bounds_are_ordered_and_iw_converges_to_exact():
    model, dist = ppca_vae()
    torch.manual_seed(1)
    x = dist.sample((200,))
    exact = dist.log_prob(x)  # (N,) closed form
    torch.manual_seed(0)
    elbo_mean = -elbo(model, x)["neg_elbo"]
    iw = {k: iw_log_likelihood(model, x, k) for k in (1, 100, 5000)}  # K=5000: the K axis cut into chunks

    def mean_and_error(k):  # Monte-Carlo error of the mean gap to the exact value (3 standard errors)
        gap = iw[k] - exact
        return iw[k].mean().item(), 3 * gap.std().item() / math.sqrt(len(x))

    (iw1, err1), (iw100, err100), (iw5000, _) = mean_and_error(1), mean_and_error(100), mean_and_error(5000)
    exact = exact.mean().item()
    assert elbo_mean <= iw1 + err1  # equal in expectation: IW(K=1) is the ELBO with a sampled KL
    assert iw1 < iw100 <= exact + err100
    assert elbo_mean < exact - 0.5  # the diagonal, widened q is visibly imperfect: the test has teeth
    assert abs(iw5000 - exact) < 0.5
    assert abs(iw5000 - exact) <= abs(iw100 - exact) + err100


def test_iw_is_exact_with_the_exact_posterior_however_k_is_chunked():
    # q(z|x) = p(z|x) makes every importance weight p(x, z) / q(z|x) equal p(x): any K, any
    # chunking of examples and samples must give log p(x) to rounding error
    model, dist = ppca_vae(seed=2, widen=1.0, orthogonal=True)
    x = dist.sample((7,))
    exact = dist.log_prob(x)
    for k, max_rows in ((1, 4096), (64, 10_000), (64, 8), (100, 30)):
        estimate = iw_log_likelihood(model, x, k, max_rows=max_rows)
        assert estimate.shape == (7,)
        assert torch.allclose(estimate, exact, atol=1e-6), (k, max_rows)


def test_iw_refuses_zero_samples():
    model, dist = ppca_vae()
    with pytest.raises(VaekitError, match="iw-samples"):
        iw_log_likelihood(model, dist.sample((2,)), 0)


def test_frechet_distance_of_gaussians_with_known_answer():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    c1, c2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, abs=1e-9)
    assert frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-9)
    # a rotation applied to both leaves the distance unchanged (non-commuting covariances)
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rotated = frechet_distance(rot @ mu1, rot @ c1 @ rot.T, rot @ mu2, rot @ c2 @ rot.T)
    assert rotated == pytest.approx(expected, abs=1e-8)


def test_frechet_distance_general_covariances_match_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    c1, c2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    covmean = scipy_linalg.sqrtm(c1 @ c2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_from_features():
    rng = np.random.default_rng(0)
    f1 = rng.normal(size=(20_000, 2))
    f2 = rng.normal(size=(20_000, 2)) * 2 + np.array([3.0, 0.0])
    # N(0, I) vs N((3, 0), 4 I): 9 + 2 * (1 + 4 - 2 * 2) = 11
    assert frechet_distance_features(f1, f2) == pytest.approx(11.0, rel=0.03)


def test_reconstruction_metrics_on_a_perfect_and_a_constant_model():
    model = build_model(ModelConfig(model="ae", input_shape=(4,), latent_dim=4, hidden=(4,), likelihood="gaussian"))
    model.encoder.net = nn.Identity()
    model.decoder.net = nn.Identity()
    x = torch.rand(10, 4)
    perfect = reconstruction(model, x)
    assert perfect["mse"] == 0.0 and perfect["psnr_db"] == math.inf  # it was 120: a floor of 1e-12 under the error
    assert reconstruction(model, -3e-7 * x)["psnr_db"] == math.inf  # that floor gave a tiny range -11.3 dB
    model.decoder.net = nn.Sequential(nn.Linear(4, 4))
    with torch.no_grad():
        model.decoder.net[0].weight.zero_()
        model.decoder.net[0].bias.fill_(0.5)
    half = reconstruction(model, x)
    assert half["mse"] == pytest.approx(((x - 0.5) ** 2).mean().item(), rel=1e-5)
    assert half["bce"] == pytest.approx(4 * math.log(2), rel=1e-4)  # p = 1/2 costs log 2 per feature
    assert half["psnr_db"] == pytest.approx(10 * math.log10(1 / half["mse"]), rel=1e-6)


def test_likelihood_meaning_is_honest():
    assert likelihood_meaning(False, "bernoulli", False).startswith("none")
    assert likelihood_meaning(True, "bernoulli", True).startswith("log-likelihood")
    assert likelihood_meaning(True, "gaussian", False).startswith("log-likelihood")
    assert likelihood_meaning(True, "gaussian-learned", False).startswith("log-likelihood")
    assert likelihood_meaning(True, "bernoulli", False).startswith("bound on a loss")
    assert likelihood_meaning(True, "bernoulli", False, binary=True).startswith("log-likelihood")  # exact on 0/1 data


def test_latent_usage_from_batches_is_elbos_without_the_decoder():
    torch.manual_seed(0)
    model = build_model(ModelConfig(model="vae", input_shape=(D,), latent_dim=3, hidden=(8,))).eval()
    x = torch.rand(50, D)
    whole = elbo(model, x)
    usage = latent_usage(model, [(x[i : i + 16], None) for i in range(0, 50, 16)])
    assert usage["active_units"] == whole["active_units"]
    np.testing.assert_allclose(usage["kl_per_dim"], whole["kl_per_dim"], rtol=1e-6)


def test_latent_usage_of_one_example_leaves_active_units_out_without_a_warning():
    import warnings

    torch.manual_seed(0)
    model = build_model(ModelConfig(model="vae", input_shape=(D,), latent_dim=3, hidden=(8,))).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's var() of one row warns about its degrees of freedom
        usage = latent_usage(model, [(torch.rand(1, D), None)])
    assert "active_units" not in usage and len(usage["kl_per_dim"]) == 3


def test_fitted_code_samples_follow_the_gaussian_of_the_codes():
    """Ex-post density estimation: z ~ N(mean, cov) of the training codes, decoded (identity here)."""
    from vaekit.metrics import fitted_code_sampler

    class Identity(torch.nn.Module):  # codes = the first two features; decode and mean pass z through
        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))

        def code(self, x, y=None):
            return x[:, :2]

        def decode(self, z, y=None):
            return z

        def mean(self, out):
            return out

    rng = np.random.default_rng(0)
    x = rng.multivariate_normal([1.0, -2.0], [[2.0, 0.6], [0.6, 0.5]], size=5000)
    x = torch.as_tensor(np.hstack([x, rng.random((5000, 3))]), dtype=torch.float32)
    draw = fitted_code_sampler(Identity(), x, torch.Generator().manual_seed(0))
    z = torch.cat([draw(10000), draw(10000)]).numpy()
    np.testing.assert_allclose(z.mean(0), x[:, :2].numpy().mean(0), atol=0.03)
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.cov(x[:, :2].numpy(), rowvar=False), atol=0.05)
    # codes on a line (a singular covariance, at any scale): samples on that line, no failure
    line = torch.stack([x[:, 0] * 1e5, x[:, 0] * 2e5], 1)
    z = fitted_code_sampler(Identity(), line, torch.Generator().manual_seed(0))(1000).numpy()
    np.testing.assert_allclose(z[:, 1], 2 * z[:, 0], rtol=1e-4)
    assert fitted_code_sampler(Identity(), x[:1], torch.Generator()) is None  # one example: no covariance


def test_the_density_metrics_say_they_take_tensors():
    """A numpy array failed deep inside torch (TypeError: order must be str, not int)."""
    model = build_model(ModelConfig(model="vae", input_shape=(64,), latent_dim=2, hidden=(8,)).validate())
    for metric in (elbo, iw_log_likelihood):
        with pytest.raises(VaekitError, match="x is a ndarray, but these metrics take a tensor in the model's units"):
            metric(model, np.zeros((3, 64), np.float32))


def test_the_elbo_comes_with_its_standard_error_over_examples():
    torch.manual_seed(0)
    model = build_model(ModelConfig(model="vae", input_shape=(64,), latent_dim=2, hidden=(8,)).validate()).eval()
    x = (torch.rand(50, 64) < 0.3).float()
    torch.manual_seed(1)
    result = elbo(model, x)
    torch.manual_seed(1)  # the same draw: each example's -ELBO = -log p(x | z) + KL(q(z|x) || N(0, I))
    mu, logvar = model.encode(x)
    log_px, _, _ = model.importance_terms(mu, logvar, x, None, 1)
    per_example = (losses.kl_to_standard_normal(mu, logvar).sum(1) - log_px[0]).double()
    assert result["neg_elbo"] == pytest.approx(per_example.mean().item(), rel=1e-5)
    assert result["neg_elbo_stderr"] == pytest.approx(per_example.std().item() / math.sqrt(50), rel=1e-4)
