"""The scikit-learn estimators: the library's own checks, pipelines, grid search, and their own API."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit.sklearn import AutoencoderTransformer, VAETransformer

TINY = {"epochs": 1, "hidden": (4,), "latent_dim": 2, "batch_size": 256, "device": "cpu"}  # one step per epoch
X, Y = load_digits(return_X_y=True)  # (1797, 64) grey levels 0..16, 10 classes
SMALL = {"epochs": 3, "hidden": (32,), "batch_size": 64, "device": "cpu", "random_state": 0}


# Every check applies: none is skipped or expected to fail (check_array_api_input skips itself
# unless SCIPY_ARRAY_API is set; the pandas checks skip themselves without pandas).
@parametrize_with_checks([AutoencoderTransformer(**TINY), AutoencoderTransformer(kind="dae", **TINY), VAETransformer(**TINY)])
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_pipeline_with_logistic_regression():
    clf = make_pipeline(VAETransformer(latent_dim=8, **SMALL), LogisticRegression(max_iter=300))
    clf.fit(X[:800], Y[:800])
    assert clf.score(X[800:], Y[800:]) > 0.3  # ten classes: chance is 0.1 (three epochs: far from the best)


def test_grid_search_over_latent_dim():
    pipe = make_pipeline(AutoencoderTransformer(**SMALL), LogisticRegression(max_iter=300))
    search = GridSearchCV(pipe, {"autoencodertransformer__latent_dim": [2, 6]}, cv=2).fit(X[:600], Y[:600])
    assert search.best_params_["autoencodertransformer__latent_dim"] in (2, 6)
    assert search.predict(X[600:610]).shape == (10,)


def test_grid_search_by_its_own_score():
    search = GridSearchCV(VAETransformer(**SMALL), {"latent_dim": np.array([2, 4])}, cv=2).fit(X[:400])
    assert np.isfinite(search.best_score_)  # the mean ELBO; numpy ints from the grid are fine


def test_transform_inverse_transform_sample_and_names():
    vae = VAETransformer(latent_dim=3, **SMALL).fit(X[:500])
    z = vae.transform(X[:20])
    assert z.shape == (20, 3) and z.dtype == np.float64
    assert vae.transform(X[:20].astype(np.float32)).dtype == np.float32
    back = vae.inverse_transform(z)
    assert back.shape == (20, 64) and back.min() >= 0 and back.max() <= 16.0001  # the user's units
    assert vae.sample(7, random_state=0).shape == (7, 64)
    np.testing.assert_array_equal(vae.sample(3, random_state=1), vae.sample(3, random_state=1))
    assert list(vae.get_feature_names_out()) == ["vaetransformer0", "vaetransformer1", "vaetransformer2"]
    scores = vae.score_samples(X[:20])
    assert scores.shape == (20,) and np.all(scores < 0)  # an ELBO in nats
    assert vae.score(X[:20]) == pytest.approx(scores.mean())
    assert len(vae.history_) == 3 and "train_neg_elbo" in vae.history_[0]
    with pytest.raises(ValueError, match="expecting 3"):
        vae.inverse_transform(np.zeros((2, 5)))


def test_conv_on_square_images_and_standard_scaling():
    ae = AutoencoderTransformer(arch="conv", hidden=(4, 8), latent_dim=2, epochs=1, device="cpu", random_state=0)
    assert ae.fit_transform(X[:100]).shape == (100, 2) and ae.module_.cfg.input_shape == (1, 8, 8)
    vae = VAETransformer(scale="standard", latent_dim=2, hidden=(8,), epochs=1, device="cpu").fit(X[:100])
    assert vae.module_.cfg.likelihood == "gaussian"  # standardized data leave [0, 1]
    assert VAETransformer(**TINY).fit(X[:100]).module_.cfg.likelihood == "bernoulli"


def test_fit_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    AutoencoderTransformer(kind="dae", random_state=0, **{k: v for k, v in TINY.items()}).fit(X[:50])
    assert torch.rand(1) == expected


@pytest.mark.parametrize("estimator,message", [
    (VAETransformer(latent_dim=0), "latent_dim=0 must be a positive integer; try latent_dim=16"),
    (VAETransformer(epochs=0), "epochs=0"),
    (VAETransformer(hidden=(0,)), "hidden="),
    (VAETransformer(hidden="16"), "hidden='16' must be positive integers"),  # it read '1', '6'
    (VAETransformer(hidden=()), "hidden=() must be positive integers"),
    (VAETransformer(lr=-1.0), "lr=-1.0"),
    (VAETransformer(likelihood="poisson"), "likelihood='poisson' is not one of"),
    (VAETransformer(likelihood="bernoulli", scale="standard"), "needs data in [0, 1]"),
    (VAETransformer(likelihood="continuous-bernoulli", scale="standard"), "needs data in [0, 1]"),  # gave +4,000 nats
    (VAETransformer(scale="log"), "scale=log"),
    (VAETransformer(arch="rnn"), "arch='rnn'"),
    (VAETransformer(arch="conv", image_shape=(1, 4, 4)), "C*H*W = 64"),
    (VAETransformer(arch="conv", image_shape=(-1, -8, 8)), "must be (C, H, W), positive integers"),  # numpy's error
    (VAETransformer(arch="conv", image_shape=(1.0, 8.0, 8.0)), "must be (C, H, W), positive integers"),  # a TypeError
    (VAETransformer(arch="conv", image_shape=64), "must be (C, H, W)"),
    (AutoencoderTransformer(kind="vae"), "kind='vae'"),
    (AutoencoderTransformer(noise="gaussian:0.3"), "use kind='dae'"),
    (AutoencoderTransformer(kind="dae", noise="blur:1"), "noise=blur:1"),
])
def test_bad_parameters_are_value_errors_naming_them(estimator, message):
    with pytest.raises(ValueError) as e:
        estimator.set_params(device="cpu").fit(X[:20])
    assert message in str(e.value)
    with pytest.raises(NotFittedError):  # n_features_in_, set before the check, made it look fitted
        estimator.transform(X[:2])


def test_a_failed_refit_leaves_the_estimator_unfitted():
    vae = VAETransformer(**TINY).fit(X[:20])
    with pytest.raises(ValueError):
        vae.set_params(latent_dim=0).fit(X[:20, :10])
    with pytest.raises(NotFittedError):  # it said "expects (N, 64)" from the old model and "expecting 10" from the check
        vae.transform(X[:2, :10])


def test_random_state_reproduces_fits_run_in_threads():
    """The fits drew their weights and noise from torch's global generator, which threads share."""
    from concurrent.futures import ThreadPoolExecutor

    def codes(seed):
        return VAETransformer(**{**TINY, "epochs": 2, "batch_size": 16}, random_state=seed).fit(X[:64]).transform(X[:8])

    alone = [codes(seed) for seed in (0, 1)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(codes, (0, 1)))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_fit_under_no_grad():
    """The models trained through autograd failed under a caller's torch.no_grad(): "does not require grad"."""
    with torch.no_grad():
        vae = VAETransformer(**TINY, likelihood="gaussian-learned", random_state=0).fit(X[:50])
    assert np.isfinite(vae.transform(X[:3])).all()


def test_conv_needs_square_images():
    with pytest.raises(ValueError, match="no square image"):
        VAETransformer(arch="conv", device="cpu").fit(np.zeros((10, 10)))


def test_numpy_numbers_from_a_grid_are_parameters_like_any_other():
    a = VAETransformer(**{**TINY, "lr": np.float32(1e-3), "beta": np.float64(0.5), "latent_dim": np.int64(2)}, random_state=0)
    b = VAETransformer(**{**TINY, "lr": 1e-3, "beta": 0.5}, random_state=0)
    np.testing.assert_allclose(a.fit_transform(X[:50]), b.fit_transform(X[:50]), rtol=1e-5)


def test_sample_checks_n_samples():
    vae = VAETransformer(**TINY).fit(X[:20])
    with pytest.raises(ValueError, match="n_samples=0 must be a positive integer"):
        vae.sample(0)
    with pytest.raises(ValueError, match="n_samples=1000000000000 must be a positive integer, at most"):
        vae.sample(10**12)  # the model's own check named it n=


def test_divergence_warns_with_the_estimators_own_advice():
    with pytest.warns(ConvergenceWarning) as record:
        VAETransformer(**{**TINY, "epochs": 2, "lr": 1e8}, random_state=0).fit(X[:200])
    message = str(record[0].message)
    assert "became non-finite" in message and message.endswith("try a lower lr (now 1e+08)") and "--" not in message


def test_unscaled_large_x_that_diverges_is_told_to_scale():
    with pytest.warns(ConvergenceWarning) as record:
        VAETransformer(**TINY, scale="none", random_state=0).fit(X[:50] * 1e3)
    message = str(record[0].message)
    assert "became non-finite" in message and "give scale='standard' or scale='minmax' (X reaches 1.6e+04 in size), " \
        "or try a lower lr" in message and "--" not in message


@pytest.mark.parametrize("scale", ["standard", "none"])
def test_x_too_large_to_scale_is_refused(scale):
    """X of 1e200 trained to NaN codes behind a 'try a lower lr' warning; the file loader refuses beyond 1e30."""
    with pytest.raises(ValueError, match=r"X has values beyond \+-1e\+30, too large to scale in float32"):
        VAETransformer(**TINY, scale=scale).fit(X[:20] * 1e200)
    vae = VAETransformer(**TINY, scale=scale).fit(X[:20])
    with pytest.raises(ValueError, match="X has values beyond"):
        vae.transform(X[:2] * 1e200)


def test_more_epochs_train_on_instead_of_going_back():
    """The estimator keeps the weights after its last epoch, even where an earlier epoch's running
    training loss was lower (a large lr makes it bounce): 8 epochs are not 4 epochs."""
    X = load_digits().data
    fitted = {n: AutoencoderTransformer(latent_dim=2, hidden=(16,), epochs=n, lr=0.2, random_state=0, device="cpu").fit(X)
              for n in (4, 8)}
    losses = [r["train_loss"] for r in fitted[8].history_]
    assert min(losses[4:]) > min(losses[:4])  # what made the trainer go back to epoch 4
    assert not np.array_equal(fitted[4].transform(X[:20]), fitted[8].transform(X[:20]))


def test_a_torch_device_and_a_numpy_image_shape_are_taken():
    """validate() checks types now: device=torch.device("cpu") and image_shape=np.array(...) were refused."""
    import torch

    X = np.random.default_rng(0).uniform(size=(40, 64)).astype(np.float32)
    assert VAETransformer(**{**TINY, "device": torch.device("cpu", 0)}).fit(X[:20]).transform(X[:2]).shape == (2, 2)  # "cpu:0"
    model = VAETransformer(device=torch.device("cpu"), arch="conv", image_shape=np.array([1, 8, 8]), latent_dim=2,
                           hidden=(4, 8), epochs=1).fit(X)
    assert model.transform(X).shape == (40, 2)
