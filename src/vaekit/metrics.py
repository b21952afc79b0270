"""What a trained model learned, measured on a held-out split (``evaluation`` applies these measures
to run folders; ``features`` holds the classifier behind the Frechet distance).

- reconstruction: MSE per feature, Bernoulli cross-entropy, PSNR, and PCA with as many components;
- VAE likelihood: negative ELBO with its reconstruction and KL terms, KL per latent dimension,
  active units, and the importance-weighted estimate of log p(x) (Burda et al. 2016);
- latent quality (labels needed): linear-probe and 5-NN accuracy on the codes against PCA codes;
- generation quality: Frechet distance between test images and decoded prior samples in the
  penultimate features of a small classifier trained on the training split (Inception weights
  cannot be fetched offline, so this is the MNIST-style stand-in for FID; values are comparable
  only between models scored with the same classifier), its mean confidence on the samples and
  their class histogram.

Every log-likelihood is in nats per example. It is a log-likelihood for binarized data (a fixed-seed
binarized split here) or data that are 0 and 1, and for a density (Gaussian or continuous Bernoulli:
of the data in model units); a Bernoulli likelihood on grey levels gives a bound on a cross-entropy
loss, and ``eval.json`` says so in ``likelihood_meaning``.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from . import losses
from .config import DEFAULT_IW_SAMPLES
from .errors import VaekitError
from .features import Classifier, FeatureNet, feature_classifier, frechet_distance_features

log = logging.getLogger(__name__)

FRECHET_DRAWS = 5  # draws of prior samples whose spread frechet_distance_sd reports
# offsets from --seed of the generators of the prior samples and of the fitted-code samples: streams of their own,
# which nothing drawn before them (the -ELBO's and the importance samples' draws, K of them) moves
PRIOR_SEED, FITTED_SEED = 1_000_003, 2_000_003
ACTIVE_THRESHOLD = 0.01  # Burda et al. (2016): unit i is active when Cov_x(E_q[z_i | x]) > 0.01
MAX_ROWS = 8192  # decoder rows (examples x samples) per forward pass in the IW estimate

UNITS = {  # "{split}": the split that was scored (test, val, train)
    "mse": "mean squared error per feature, model units",
    "pca_mse": "mean squared error per feature of PCA with latent_dim components, model units",
    "bce": "nats per example, Bernoulli cross-entropy of the reconstruction mean",
    "psnr_db": "dB, 10 log10(range^2 / mse)",
    "clipped_values": "count of the split's values outside the range of the training data, clipped to it before "
                      "scoring",
    "neg_elbo": "nats per example, over one seeded posterior draw per example (an estimate apart from the "
                "importance-weighted one; neg_elbo_stderr: its standard error over examples)",
    "recon": "nats per example",
    "kl": "nats per example",
    "kl_per_dim": "nats per example, one per latent dimension",
    "active_units": f"count of latent dimensions with Cov_x(E_q[z|x]) > {ACTIVE_THRESHOLD}",
    "iw_samples": "importance samples K per example",
    "seed": "the seed of the split's binarization, the posterior draws and the prior samples (evaluate --seed)",
    "iw_log_likelihood": "nats per example, importance-weighted estimate of log p(x) (higher is better)",
    "iw_log_likelihood_stderr": "nats, standard error of the mean over examples",
    "neg_elbo_stderr": "nats, standard error of the mean over examples (one posterior draw each)",
    "bits_per_dim": "bits per feature, -iw_log_likelihood / (D ln 2); for a density (Gaussian, continuous "
                    "Bernoulli) in model units, not the 8-bit dequantized bits/dim papers report",
    "probe_accuracy": "fraction, logistic regression on the codes",
    "knn_accuracy": "fraction, 5-nearest-neighbour classifier on the codes",
    "pca_probe_accuracy": "fraction, logistic regression on PCA codes of the same size",
    "pca_knn_accuracy": "fraction, 5-nearest-neighbour classifier on PCA codes of the same size",
    "frechet_distance": "squared feature units, {split} images vs decoded prior samples (lower is better); another "
                        "--seed draws other samples (frechet_distance_sd: how much that moves it). A sample is the "
                        "decoder's mean, without the likelihood's noise: with a Gaussian likelihood on noisy data the "
                        "means are smoother than the data, which adds to the distance",
    "frechet_distance_reference": "squared feature units, {split} vs training images: the floor",
    "frechet_distance_sd": f"squared feature units: the spread (sd) of frechet_distance over {FRECHET_DRAWS} draws of samples",
    "frechet_distance_fitted_codes": "squared feature units, {split} images vs samples decoded from a Gaussian fitted "
                                     "to the training codes instead of N(0, I) (ex-post density estimation)",
    "sample_confidence": "mean max softmax probability of the classifier on prior samples",
    "sample_class_histogram": "fraction of prior samples the classifier puts in each class, by class name",
    "classifier_test_accuracy": "fraction, the feature classifier on the test split",
}


def check_iw_samples(iw_samples) -> None:
    if isinstance(iw_samples, bool) or not isinstance(iw_samples, int) or iw_samples < 1:
        raise VaekitError(f"--iw-samples {iw_samples} must be a positive integer; try --iw-samples {DEFAULT_IW_SAMPLES}")


# ----------------------------------------------------------------------------- data


def split_tensor(data, split: str, device, binarize: str | None = None,
                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """All examples of one split in model units, (N, ...), and their labels (N,) or None.

    With ``binarize`` the grey levels become one fixed-seed Bernoulli draw, the standard
    binarized evaluation set: every model scored on it sees the same zeros and ones.
    """
    from .trainer import Batches

    if split not in data.splits:
        raise VaekitError(f"--split {split} is not one of {', '.join(data.splits)}; try --split test")
    idx = data.splits[split]
    if not len(idx):
        raise VaekitError(f"--split {split}: the split is empty; try --split test")
    parts = list(Batches(data, device, binarize).over(idx, seed=seed))
    x = torch.cat([xb for xb, _ in parts])
    y = None if data.y is None else torch.cat([yb for _, yb in parts])
    return x, y


def _batches(x: torch.Tensor, y: torch.Tensor | None, size: int = 1024):
    """(x, y) slices of ``size`` examples; y stays None for unlabelled data."""
    for start in range(0, len(x), size):
        yield x[start : start + size], None if y is None else y[start : start + size]


def _check_model_units(x) -> None:
    if not isinstance(x, torch.Tensor):
        raise VaekitError(f"x is a {type(x).__name__}, but these metrics take a tensor in the model's units; pass "
                          "torch.as_tensor(trained.scaler.transform(x)) (vaekit evaluate and Trained.score take your units)")


def is_vae(model) -> bool:
    """True for models with a posterior and a likelihood (vae, iwae, cvae)."""
    from .models import VAE

    return isinstance(model, VAE)


# ----------------------------------------------------------------------------- reconstruction


def _psnr(data_range: float, mse: float) -> float:
    """10 log10(range^2 / mse) in dB: infinite for a perfect reconstruction, NaN for a NaN error."""
    if math.isnan(mse) or mse == 0:
        return math.inf if mse == 0 else math.nan
    ratio = data_range**2 / mse  # 0 where squares overflowed float32 (raw data of 1e20: mse inf)
    return 10 * math.log10(ratio) if ratio else -math.inf


@torch.no_grad()
def reconstruction(model, x: torch.Tensor, y: torch.Tensor | None = None) -> dict:
    """MSE per feature, Bernoulli cross-entropy (data in [0, 1] only) and PSNR of the reconstruction
    ``E[x | code(x)]``."""
    sq, bce = 0.0, 0.0
    in_unit_range = bool(x.min() >= 0 and x.max() <= 1)
    for xb, yb in _batches(x, y):
        out = model.decode(model.code(xb, yb), yb)
        mean = model.mean(out)
        sq += (mean - xb).pow(2).sum().item()
        if in_unit_range:
            if model.cfg.likelihood == "bernoulli":
                bce += losses.bernoulli_nll(out, xb).sum().item()
            else:
                p = mean.clamp(1e-6, 1 - 1e-6)
                bce += -(xb * p.log() + (1 - xb) * (1 - p).log()).flatten(1).sum(1).sum().item()
    mse = sq / x.numel()
    data_range = 1.0 if in_unit_range else (x.max() - x.min()).item()
    result = {"mse": mse, "psnr_db": _psnr(data_range, mse)}
    if in_unit_range:
        result["bce"] = bce / len(x)
    return result


def pca_reconstruction_mse(x_train: torch.Tensor, x_test: torch.Tensor, n_components: int) -> float:
    """Test MSE per feature of PCA fitted on the training split: the linear baseline an AE must beat."""
    pca = _pca(x_train, n_components)
    flat = x_test.flatten(1).cpu().numpy()
    back = pca.inverse_transform(pca.transform(flat))
    return float(((back - flat) ** 2).mean())


def _pca(x_train: torch.Tensor, n_components: int):
    from sklearn.decomposition import PCA

    flat = x_train.flatten(1).cpu().numpy()
    return PCA(n_components=min(n_components, *flat.shape), random_state=0).fit(flat)


# ----------------------------------------------------------------------------- VAE likelihood
# Posterior draws use torch's global RNG, as the models do: seed it (``evaluate`` does).


@torch.no_grad()
def elbo(model, x: torch.Tensor, y: torch.Tensor | None = None) -> dict:
    """Negative ELBO = recon + KL (one posterior sample per example, closed-form KL), KL per
    dimension, and active units (Burda et al. 2016) from the variance of the posterior means.

    ``x``: a tensor of examples in the model's units, on its device: ``trained.scaler.transform(x)``
    for a ``vaekit.load`` run (``Trained.score`` takes the user's units)."""
    _check_model_units(x)
    recon, per_example, posteriors = 0.0, [], []  # per_example: each example's -ELBO, for its standard error
    for xb, yb in _batches(x, y):
        mu, logvar = model.encode(xb, yb)  # (B, L) each
        log_px, _, _ = model.importance_terms(mu, logvar, xb, yb, 1)  # (1, B)
        recon -= log_px.sum().item()
        per_example.append(losses.kl_to_standard_normal(mu, logvar).sum(1) - log_px[0])
        posteriors.append((mu, logvar))
    usage = _usage(posteriors)
    kl_total = sum(usage["kl_per_dim"])
    return {"neg_elbo": recon / len(x) + kl_total, "recon": recon / len(x), "kl": kl_total,
            "neg_elbo_stderr": _stderr(torch.cat(per_example)), **usage}


def _stderr(values: torch.Tensor) -> float:
    """The standard error of the mean of per-example ``values`` (N,); 0 for a single example."""
    return (values.std() / math.sqrt(len(values))).item() if len(values) > 1 else 0.0


@torch.no_grad()
def latent_usage(model, batches) -> dict:
    """KL per latent dimension and active units, as in ``elbo``, from (x, y) batches (``Batches.over``):
    the encoder alone, and no copy of the whole split in memory."""
    return _usage(model.encode(xb, yb) for xb, yb in batches)


def _usage(posteriors) -> dict:
    """Mean KL per dimension, and the dimensions whose posterior mean varies over the data (Burda et al.
    2016; left out for a single example), from the posteriors' (mu, logvar) of every batch."""
    kl, mus = 0.0, []
    for mu, logvar in posteriors:  # (B, L) each
        kl = kl + losses.kl_to_standard_normal(mu, logvar).sum(0)  # (L,)
        mus.append(mu)
    means = torch.cat(mus)  # (N, L)
    usage = {"kl_per_dim": (kl / len(means)).tolist()}
    if len(means) > 1:  # active units are the codes' spread over examples: one example has none to measure
        variances = means.var(0)  # Cov_x(E_q[z_i | x]), (L,)
        usage["active_units"] = int((variances > ACTIVE_THRESHOLD).sum())
    return usage


@torch.no_grad()
def iw_log_likelihood(model, x: torch.Tensor, samples: int = DEFAULT_IW_SAMPLES, y: torch.Tensor | None = None, *,
                      max_rows: int = MAX_ROWS) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per example (Burda et al. 2016), shape (N,), nats.

    log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, z_k ~ q(z|x),
    with the weights from ``model.log_weights``. It is a lower bound in expectation that tightens
    as K grows. Work is batched over examples and samples, at most ``max_rows`` decoder rows at a
    time: with many samples the K axis is cut into chunks whose log-sum-exps are combined at the
    end, so K = 5,000 fits in memory. ``x``: a tensor in the model's units, as for ``elbo``.
    """
    _check_model_units(x)
    check_iw_samples(samples)
    per_pass = max(1, max_rows // samples)  # examples per pass when K is small
    chunk = min(samples, max_rows)  # samples per pass when K is large
    estimates = []
    for xb, yb in _batches(x, y, per_pass):
        parts = [torch.logsumexp(model.log_weights(xb, yb, min(chunk, samples - start)), dim=0)  # (B,) per chunk
                 for start in range(0, samples, chunk)]
        estimates.append(torch.logsumexp(torch.stack(parts), dim=0) - math.log(samples))
    return torch.cat(estimates)


def likelihood_meaning(has_likelihood: bool, likelihood: str, binarized: bool, binary: bool = False) -> str:
    """What the nats in eval.json are: a log-likelihood, or only a bound on a loss. ``binary``: the data
    themselves are 0 and 1, so a Bernoulli likelihood is exact on them without binarizing."""
    if not has_likelihood:
        return "none: an autoencoder defines no density, so it has no ELBO or log-likelihood"
    if likelihood.startswith("gaussian"):
        return "log-likelihood: Gaussian density of the data in model units"
    if likelihood == "continuous-bernoulli":
        return "log-likelihood: continuous Bernoulli density of the grey levels in [0, 1]"
    if binarized:
        return "log-likelihood: Bernoulli likelihood of the fixed-seed binarized split"
    if binary:
        return "log-likelihood: Bernoulli likelihood of the data, which are 0 and 1"
    return ("bound on a loss, not a log-likelihood: Bernoulli cross-entropy on grey levels "
            "(train and evaluate with --binarize dynamic for nats comparable with the literature)")


# ----------------------------------------------------------------------------- latent quality


def probe(train_codes: np.ndarray, y_train: np.ndarray, test_codes: np.ndarray, y_test: np.ndarray) -> dict:
    """Linear-probe (standardized logistic regression) and 5-NN test accuracy of codes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(train_codes, y_train)
    knn = KNeighborsClassifier(n_neighbors=min(5, len(train_codes))).fit(train_codes, y_train)
    return {"probe_accuracy": float(linear.score(test_codes, y_test)), "knn_accuracy": float(knn.score(test_codes, y_test))}


@torch.no_grad()
def fitted_code_sampler(model, x_train: torch.Tensor, generator: torch.Generator):
    """n -> n decoded samples of z ~ N(mean, covariance) of the model's codes of ``x_train``; None when
    there is no covariance to fit (fewer than 2 examples, or codes that are not finite)."""
    z = torch.as_tensor(codes(model, x_train), dtype=torch.float64)
    if len(z) < 2 or not torch.isfinite(z).all():
        return None
    cov = torch.cov(z.T).reshape(z.shape[1], z.shape[1])
    # a square root of the covariance that a singular one (codes in a subspace, constant codes) has too
    eigenvalues, vectors = torch.linalg.eigh(cov)
    mean, root = z.mean(0), vectors * eigenvalues.clamp(min=0).sqrt()
    device = next(model.parameters()).device

    def draw(n: int) -> torch.Tensor:
        eps = torch.randn(n, len(mean), generator=generator, device=generator.device, dtype=torch.float64)
        codes_ = (mean.to(eps.device) + eps @ root.T.to(eps.device)).to(device, torch.float32)
        return model.mean(model.decode(codes_))

    return draw


@torch.no_grad()
def codes(model, x: torch.Tensor, y: torch.Tensor | None = None) -> np.ndarray:
    """Deterministic codes (the posterior mean for a VAE), (N, L)."""
    return torch.cat([model.code(xb, yb) for xb, yb in _batches(x, y)]).cpu().numpy()


def latent_quality(model, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                   conditional: bool = False) -> dict:
    """Probes on the model's codes and on PCA codes with as many components (``conditional``:
    the encoder also sees the label, as a cvae's does)."""
    labels_train, labels_test = y_train.cpu().numpy(), y_test.cpu().numpy()
    train_codes = codes(model, x_train, y_train if conditional else None)
    result = probe(train_codes, labels_train, codes(model, x_test, y_test if conditional else None), labels_test)
    pca = _pca(x_train, model.cfg.latent_dim)
    baseline = probe(pca.transform(x_train.flatten(1).cpu().numpy()), labels_train,
                     pca.transform(x_test.flatten(1).cpu().numpy()), labels_test)
    return {**result, **{f"pca_{k}": v for k, v in baseline.items()}}


# ----------------------------------------------------------------------------- generation quality


@torch.no_grad()
def _features(net: FeatureNet, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    feats = torch.cat([net.features(xb) for xb, _ in _batches(x, None)])
    return feats.cpu().numpy(), torch.softmax(net.head(feats), 1).cpu().numpy()


@torch.no_grad()
def generation(model, classifier: Classifier, x_test: torch.Tensor, x_reference: torch.Tensor,
               seed: int = 0, x_train: torch.Tensor | None = None, classes: list[str] | None = None) -> dict:
    """Frechet distance of decoded prior samples (as many as test examples, at least 2) to the test
    images, the train-vs-test floor, and the classifier's confidence and class histogram on the samples
    (keyed by the data's class names, ``classes``, or else by class number).

    Also the spread of that distance over FRECHET_DRAWS draws of samples (``seed`` seeds them all),
    and, given ``x_train`` (an unconditional model), the distance of samples decoded from a Gaussian
    fitted to the training codes instead of N(0, I): ex-post density estimation (Ghosh et al. 2020),
    the fair way to sample an autoencoder, whose codes no prior describes."""
    def decoded(draw):  # as many samples as test images, a batch at a time
        return torch.cat([draw(len(xb)) for xb, _ in _batches(x_test, None)])

    prior = torch.Generator(x_test.device).manual_seed(seed + PRIOR_SEED)  # not the global stream
    samples = decoded(lambda n: model.sample(n, generator=prior))
    f_test, _ = _features(classifier.net, x_test)
    f_ref, _ = _features(classifier.net, x_reference)
    f_samples, probs = _features(classifier.net, samples)
    hist = np.bincount(probs.argmax(1), minlength=probs.shape[1]) / len(probs)
    distances = {}
    if len(f_test) >= 2:  # a Gaussian fitted to one example has no covariance: no distance for a single test example
        fd = [frechet_distance_features(f_test, f_samples)]
        for _ in range(FRECHET_DRAWS - 1):
            fd.append(frechet_distance_features(f_test, _features(classifier.net, decoded(
                lambda n: model.sample(n, generator=prior)))[0]))
        distances = {"frechet_distance": fd[0], "frechet_distance_sd": float(np.std(fd, ddof=1)),
                     "frechet_distance_reference": frechet_distance_features(f_test, f_ref)}
        draw = None if x_train is None else fitted_code_sampler(
            model, x_train, torch.Generator(x_test.device).manual_seed(seed + FITTED_SEED))
        if draw is not None:
            distances["frechet_distance_fitted_codes"] = frechet_distance_features(
                f_test, _features(classifier.net, decoded(draw))[0])
    return {
        **distances,
        "sample_confidence": float(probs.max(1).mean()),
        "sample_class_histogram": {str(name): round(float(v), 4)
                                   for name, v in zip(classes or range(len(hist)), hist)},
        "classifier_test_accuracy": classifier.test_accuracy,
        "classifier": str(classifier.path),
    }


# ----------------------------------------------------------------------------- all together


def evaluate(model, data, *, split: str = "test", binarize: str | None = None, iw_samples: int = DEFAULT_IW_SAMPLES,
             seed: int = 0, classifier: bool = True) -> dict:
    """Every metric that applies to ``model`` on ``data.splits[split]``, as one flat dict.

    Parameters
    ----------
    model : nn.Module
        A vaekit model (``Trained.module``).
    data : Data
        Loaded with the run's scaler, so its model units match the model's.
    split : str
        The held-out split to score ("test"; "val" for model selection).
    binarize : str or None
        The run's ``DataConfig.binarize``: the split is scored as one fixed-seed binary draw.
    iw_samples : int
        K of the importance-weighted estimate (models with a likelihood only).
    seed : int
        Seeds the binarization, posterior samples and prior samples (torch's global RNG is
        restored afterwards).
    classifier : bool
        Compute the classifier-feature Frechet distance (trains or loads the cached classifier).
    """
    from .trainer import seeded

    check_iw_samples(iw_samples)
    with seeded(seed, next(model.parameters()).device):  # the CPU's and the model's GPU's generators
        return _evaluate(model.eval(), data, split, binarize, iw_samples, seed, classifier)


def _evaluate(model, data, split, binarize, iw_samples, seed, classifier) -> dict:
    cfg = model.cfg
    device = next(model.parameters()).device
    x, y = split_tensor(data, split, device, binarize, seed)
    x_train, y_train = split_tensor(data, "train", device, binarize, seed + 1)
    meaning = likelihood_meaning(is_vae(model), cfg.likelihood, bool(binarize), bool(((x == 0) | (x == 1)).all()))
    result: dict = {"model": cfg.model, "data": str(data.name), "split": split, "n_examples": len(x),
                    "latent_dim": cfg.latent_dim, "likelihood": cfg.likelihood, "binarized": bool(binarize),
                    "seed": seed, "likelihood_meaning": meaning}
    notes = []
    if clipped := data.scaler.clipped_values(data.x, data.splits[split]):
        result["clipped_values"] = clipped
        notes.append(f"{clipped:,} of the split's {x.numel():,} values lie outside the range of the model's training "
                     f"data and were clipped to it before scoring ({data.scaler.why_clipped()}): every number here is "
                     "of the clipped data, so outliers look less unusual than they are")
    if cfg.model == "cvae" and y is None:
        raise VaekitError(f"--data {data.name}: the cvae needs labels to encode and decode but the data have none; "
                          "evaluate on labelled data")
    model_y, model_y_train = (y, y_train) if cfg.model == "cvae" else (None, None)
    result.update(reconstruction(model, x, model_y))
    result["pca_mse"] = pca_reconstruction_mse(x_train, x, cfg.latent_dim)
    if is_vae(model):
        result.update(elbo(model, x, model_y))
        ll = iw_log_likelihood(model, x, iw_samples, model_y)
        result["iw_samples"] = iw_samples
        result["iw_log_likelihood"] = ll.mean().item()
        result["iw_log_likelihood_stderr"] = _stderr(ll)
        result["bits_per_dim"] = -result["iw_log_likelihood"] / (x[0].numel() * math.log(2))
    else:
        notes.append(f"{cfg.model.upper()}: an autoencoder has no likelihood, so no ELBO, log p(x) or bits/dim; "
                     "reconstruction, probes and sample quality are reported")
    if y is None:
        notes.append("no labels: linear-probe, 5-NN and Frechet-distance metrics skipped")
    elif len(torch.unique(y_train)) < 2:  # the probes and the feature classifier need two (scikit-learn raised)
        notes.append("one class in the training split: linear-probe, 5-NN and Frechet-distance metrics skipped "
                     "(they need labels of two classes or more)")
    else:
        result.update(latent_quality(model, x_train, y_train, x, y, conditional=model_y is not None))
        if classifier:
            # one classifier, and one floor, whatever --seed: their distances are comparable across evaluations
            net = feature_classifier(data, device)
            # generated samples are grey levels: compare them, and the floor, with grey-level images
            x_grey, _ = split_tensor(data, split, device)
            x_train_grey, _ = split_tensor(data, "train", device)
            pick = torch.randperm(len(x_train_grey), generator=torch.Generator().manual_seed(0))[: len(x_grey)]
            reference = x_train_grey[pick.to(x_train_grey.device)]
            result.update(generation(model, net, x_grey, reference, seed=seed,
                                     x_train=None if cfg.model == "cvae" else x_train, classes=data.classes))
    if cfg.model == "cvae":  # the encoder and the decoder get the label: every density number is conditional
        notes.append("CVAE: the ELBO, the log-likelihood and bits/dim are of x given its label, log p(x | y), which can "
                     "exceed an unconditional model's log p(x) by up to log K nats for K balanced classes; compare them "
                     "with other conditional models only")
    if split == "train" and "frechet_distance_reference" in result:
        notes.append("split train: the Frechet floor compares the training images with a sample of themselves (about 0)")
    result["notes"] = notes
    result["units"] = {k: UNITS[k].replace("{split}", split) for k in result if k in UNITS}  # the split scored
    if is_vae(model):
        given = "; of x given its label y (log p(x | y), not log p(x))" if cfg.model == "cvae" else ""
        for key in ("neg_elbo", "recon", "iw_log_likelihood", "bits_per_dim"):  # the KL is what it is either way
            result["units"][key] += f"; here: {meaning.split(':')[0]}{given}"
    return result
