"""What a trained model learned, measured on a held-out split.

- reconstruction: MSE per feature, Bernoulli cross-entropy, PSNR, and PCA with as many components;
- VAE likelihood: negative ELBO with its reconstruction and KL terms, KL per latent dimension,
  active units, and the importance-weighted estimate of log p(x) (Burda et al. 2016);
- latent quality (labels needed): linear-probe and 5-NN accuracy on the codes against PCA codes;
- generation quality: Frechet distance between test images and decoded prior samples in the
  penultimate features of a small classifier trained on the training split (Inception weights
  cannot be fetched offline, so this is the MNIST-style stand-in for FID; values are comparable
  only between models scored with the same classifier), its mean confidence on the samples and
  their class histogram.

Every log-likelihood is in nats per example. It is a log-likelihood only for binarized data (a
fixed-seed binarized split here) or a Gaussian likelihood (a density of the data in model units);
a Bernoulli likelihood on grey levels gives a bound on a cross-entropy loss, and ``eval.json``
says so in ``likelihood_meaning``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import losses
from .config import DEFAULT_IW_SAMPLES
from .errors import VaekitError

log = logging.getLogger(__name__)

EVAL = "eval.json"
FRECHET_DRAWS = 5  # draws of prior samples whose spread frechet_distance_sd reports
_SAFE = re.compile(r"[^\w.-]")  # what a file name made from a data set's name keeps
# offsets from --seed of the generators of the prior samples and of the fitted-code samples: streams of their own,
# which nothing drawn before them (the -ELBO's and the importance samples' draws, K of them) moves
PRIOR_SEED, FITTED_SEED = 1_000_003, 2_000_003
ACTIVE_THRESHOLD = 0.01  # Burda et al. (2016): unit i is active when Cov_x(E_q[z_i | x]) > 0.01
MAX_ROWS = 8192  # decoder rows (examples x samples) per forward pass in the IW estimate
FEATURES = 64  # width of the classifier's penultimate layer, the space of the Frechet distance
CLASSIFIER_STEPS = 2000  # Adam steps of batch 128 for the feature classifier
CLASSIFIER_VERSION = 1  # bump when FeatureNet or its training changes: old caches are retrained

UNITS = {
    "mse": "mean squared error per feature, model units",
    "pca_mse": "mean squared error per feature of PCA with latent_dim components, model units",
    "bce": "nats per example, Bernoulli cross-entropy of the reconstruction mean",
    "psnr_db": "dB, 10 log10(range^2 / mse)",
    "neg_elbo": "nats per example, over one seeded posterior draw per example (an estimate apart from the "
                "importance-weighted one; neg_elbo_stderr: its standard error over examples)",
    "recon": "nats per example",
    "kl": "nats per example",
    "kl_per_dim": "nats per example, one per latent dimension",
    "active_units": f"count of latent dimensions with Cov_x(E_q[z|x]) > {ACTIVE_THRESHOLD}",
    "iw_samples": "importance samples K per example",
    "iw_log_likelihood": "nats per example, importance-weighted estimate of log p(x) (higher is better)",
    "iw_log_likelihood_stderr": "nats, standard error of the mean over examples",
    "neg_elbo_stderr": "nats, standard error of the mean over examples (one posterior draw each)",
    "bits_per_dim": "bits per feature, -iw_log_likelihood / (D ln 2); for a density (Gaussian, continuous "
                    "Bernoulli) in model units, not the 8-bit dequantized bits/dim papers report",
    "probe_accuracy": "fraction, logistic regression on the codes",
    "knn_accuracy": "fraction, 5-nearest-neighbour classifier on the codes",
    "pca_probe_accuracy": "fraction, logistic regression on PCA codes of the same size",
    "pca_knn_accuracy": "fraction, 5-nearest-neighbour classifier on PCA codes of the same size",
    "frechet_distance": "squared feature units, test images vs decoded prior samples (lower is better); another "
                        "--seed draws other samples (frechet_distance_sd: how much that moves it)",
    "frechet_distance_reference": "squared feature units, test vs training images: the floor",
    "frechet_distance_sd": f"squared feature units: the spread (sd) of frechet_distance over {FRECHET_DRAWS} draws of samples",
    "frechet_distance_fitted_codes": "squared feature units, test images vs samples decoded from a Gaussian fitted "
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
    ratio = data_range**2 / max(mse, 1e-12)  # 0 where squares overflowed float32 (raw data of 1e20: mse inf)
    result = {"mse": mse, "psnr_db": math.nan if math.isnan(mse) else 10 * math.log10(ratio) if ratio else -math.inf}
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


def likelihood_meaning(has_likelihood: bool, likelihood: str, binarized: bool) -> str:
    """What the nats in eval.json are: a log-likelihood, or only a bound on a loss."""
    if not has_likelihood:
        return "none: an autoencoder defines no density, so it has no ELBO or log-likelihood"
    if likelihood.startswith("gaussian"):
        return "log-likelihood: Gaussian density of the data in model units"
    if likelihood == "continuous-bernoulli":
        return "log-likelihood: continuous Bernoulli density of the grey levels in [0, 1]"
    if binarized:
        return "log-likelihood: Bernoulli likelihood of the fixed-seed binarized split"
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


class FeatureNet(nn.Module):
    """A small classifier whose penultimate layer (``features``) is the Frechet-distance space."""

    def __init__(self, shape: tuple[int, ...], n_classes: int, width: int = FEATURES):
        super().__init__()
        if len(shape) == 3:  # images: two stride-2 convolutions
            c, h, w = shape
            grid = -(-h // 4) * -(-w // 4)  # each stride-2 convolution halves, rounding up
            self.body = nn.Sequential(nn.Conv2d(c, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                                      nn.Flatten(), nn.Linear(32 * grid, width), nn.ReLU())
        else:
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 256), nn.ReLU(), nn.Linear(256, width), nn.ReLU())
        self.head = nn.Linear(width, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *shape) in model units -> penultimate features (B, width)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, n_classes) logits


@dataclasses.dataclass
class Classifier:
    net: FeatureNet
    test_accuracy: float
    path: Path


def classifier_dir() -> Path:
    """``$XDG_CACHE_HOME/vaekit/classifiers`` (default ``~/.cache/vaekit/classifiers``)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "vaekit" / "classifiers"


def _cache_key(data, steps: int, seed: int) -> tuple[str, str]:
    """(file stem, fingerprint): the fingerprint changes with the data (their values and labels, not
    only their name and shape: a folder whose images were replaced), split and scaling, so a cached
    classifier never saw the examples it is tested on, nor other data than these."""
    from .data.datasets import digest

    shape = "x".join(map(str, data.shape))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(data.name)).name).strip("-") or "data"
    h = hashlib.sha256()
    h.update(json.dumps([str(data.name), data.shape, dataclasses.asdict(data.scaler), len(data.classes or []),
                         CLASSIFIER_VERSION, FEATURES, steps, seed, digest(data)]).encode())
    return f"{stem}-{shape}", h.hexdigest()[:16]


def feature_classifier(data, device, *, steps: int | None = None, seed: int = 0, cache: bool = True) -> Classifier:
    """The feature classifier for ``data``: loaded from the cache, or trained on the training split
    (grey levels, model units; ``steps`` Adam steps, default ``CLASSIFIER_STEPS``) and cached as
    safetensors + json with its test accuracy."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save

    from .data.datasets import spread_out
    from .fileio import atomic_write, write_json

    if data.y is None:
        raise VaekitError(f"{data.name}: no labels, so no feature classifier; give labels (--label-column, or a .npz key y)")
    if data.classes is None and spread_out(data.y):  # ids as labels: an output per distinct id, not per number up to the largest
        data = dataclasses.replace(data, y=np.unique(data.y, return_inverse=True)[1].reshape(-1))
    steps = steps or CLASSIFIER_STEPS
    stem, fingerprint = _cache_key(data, steps, seed)
    base = classifier_dir() / f"{stem}-{fingerprint}"
    # suffixes appended, not put in place with with_suffix: a file's name (people.csv) has a dot of its
    # own, and with_suffix would cut the fingerprint after it, sharing one classifier between data sets
    weights, meta_path = base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json")
    n_classes = int(max(len(data.classes or []), int(data.y.max()) + 1))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the initial weights, on the CPU (the GPUs' streams untouched)
        net = FeatureNet(data.shape, n_classes).to(device)
    if cache and weights.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            if meta["fingerprint"] != fingerprint:
                raise ValueError(f"it was trained for other data (fingerprint {meta['fingerprint']})")
            net.load_state_dict(load_file(weights, device=str(device)))
            return Classifier(net.eval(), float(meta["test_accuracy"]), weights)
        except (SafetensorError, RuntimeError, OSError, ValueError, KeyError, TypeError) as e:
            log.warning("cached classifier %s unreadable (%s); training it again", weights, e)
    accuracy = _train_classifier(net, data, device, steps, seed)
    if cache:
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(weights, save({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}))
            write_json(meta_path, {"dataset": str(data.name), "shape": list(data.shape), "classes": data.classes,
                                   "n_classes": n_classes, "features": FEATURES, "steps": steps, "seed": seed,
                                   "fingerprint": fingerprint, "test_accuracy": accuracy, "version": CLASSIFIER_VERSION})
        except OSError as e:  # a read-only home: the classifier is retrained next time, nothing worse
            log.warning("cannot cache the classifier in %s (%s)", base.parent, e.strerror)
    return Classifier(net.eval(), accuracy, weights)


def _train_classifier(net: FeatureNet, data, device, steps: int, seed: int) -> float:
    from .optim import Adam
    from .trainer import Batches

    batches = Batches(data, device)
    train_idx = torch.as_tensor(data.splits["train"])
    generator = torch.Generator().manual_seed(seed)
    optimizer = Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(steps):
        xb, yb = batches.get(train_idx[torch.randint(len(train_idx), (128,), generator=generator)])
        loss = nn.functional.cross_entropy(net(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in batches.over(data.splits["test"]):
            correct += (net(xb).argmax(1) == yb).sum().item()
    return correct / len(data.splits["test"])


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Frechet distance between N(mu1, cov1) and N(mu2, cov2) (Dowson & Landau 1982):
    |mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2)).

    tr (cov1 cov2)^(1/2) = tr (A cov2 A)^(1/2) with A = cov1^(1/2): A cov2 A is symmetric positive
    semi-definite, so two symmetric eigen-decompositions replace a general matrix square root.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    w, v = np.linalg.eigh(cov1)
    a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # cov1^(1/2)
    middle = a @ cov2 @ a
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def frechet_distance_features(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets, (N1, F) and (N2, F)."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    return frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))


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
    check_iw_samples(iw_samples)
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # CPU and GPU generators
        return _evaluate(model.eval(), data, split, binarize, iw_samples, seed, classifier)


def _evaluate(model, data, split, binarize, iw_samples, seed, classifier) -> dict:
    cfg = model.cfg
    device = next(model.parameters()).device
    x, y = split_tensor(data, split, device, binarize, seed)
    x_train, y_train = split_tensor(data, "train", device, binarize, seed + 1)
    meaning = likelihood_meaning(is_vae(model), cfg.likelihood, bool(binarize))
    result: dict = {"model": cfg.model, "data": str(data.name), "split": split, "n_examples": len(x),
                    "latent_dim": cfg.latent_dim, "likelihood": cfg.likelihood, "binarized": bool(binarize),
                    "likelihood_meaning": meaning}
    notes = []
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
    result["notes"] = notes
    result["units"] = {k: UNITS[k] for k in result if k in UNITS}
    if is_vae(model):
        given = "; of x given its label y (log p(x | y), not log p(x))" if cfg.model == "cvae" else ""
        for key in ("neg_elbo", "recon", "iw_log_likelihood", "bits_per_dim"):  # the KL is what it is either way
            result["units"][key] += f"; here: {meaning.split(':')[0]}{given}"
    return result


def load_run_data(trained, name: str | None = None, offline: bool = False, *, key: str | None = None,
                  label_column: str | None = None, image_size: int | None = None, split: bool = True):
    """The run's data set (or ``name``, another with the same example shape, flat or not), split and scaled
    as in training, its examples shaped as the model's.

    ``key``, ``label_column`` and ``image_size`` say how to read the file, as for ``vaekit train``;
    those not given are the run's for its own data, and unset for another file (but for the run's label
    column, by name, in another CSV file whose header has it). ``split=False``: all
    examples in "train", however few (see ``load_data``).
    """
    from .data.datasets import check_reading_options, digest, is_named, load_data

    cfg_data, cfg_train = trained.config["cfg_data"], trained.config["cfg_train"]
    given = {"key": key, "label_column": label_column, "image_size": image_size}
    check_reading_options(name or cfg_data.name, **given)
    if name is not None and not same_data(name, cfg_data.name):
        # the run's key and label column name arrays of its own file; its image size, the model's input,
        # fits any other folder of images
        size = cfg_data.image_size if Path(name).is_dir() else None
        label = cfg_data.label_column if _csv_header_names(name, cfg_data.label_column) else None
        cfg_data = dataclasses.replace(cfg_data, name=name, key=None, label_column=label, image_size=size)
    cfg_data = dataclasses.replace(cfg_data, **{k: v for k, v in given.items() if v is not None})
    if name is None and not is_named(cfg_data.name) and not Path(cfg_data.name).exists():
        raise VaekitError(f"{cfg_data.name}: the data this run was trained on (config.json data.name) is not there any "
                          "more; put it back at that path (a symbolic link to where it is now will do)")
    data = load_data(cfg_data, seed=cfg_train.seed, val_fraction=cfg_train.val_fraction,
                     test_fraction=cfg_train.test_fraction, offline=offline, scaler=trained.scaler, split=split)
    if cfg_data == trained.config["cfg_data"] and split:  # the run's own data: its test split is held out only if they are as in training
        saved, sizes = trained.config.get("data_digest"), trained.config.get("split")  # (older runs have neither)
        if sizes not in (None, {k: len(v) for k, v in data.splits.items()}) or saved not in (None, digest(data)):
            raise VaekitError(f"{cfg_data.name}: changed since the run was trained on it (its examples, labels or "
                              "split differ), so its test split is no longer the held-out one; restore it (encode, "
                              "score and the other commands with --split all read every example of it as it is now)")
    x = _run_columns(trained, data)  # a view, unless the columns were reordered
    folder = Path(cfg_data.name).is_dir()
    if folder and x.ndim == 4 and x.shape[1] == 1 and tuple(trained.input_shape[:1]) == (3,):
        # a folder of grey images for a model of colour images: each grey level in all three channels, as
        # Pillow's convert("RGB") gives it (a folder with any colour image loads as RGB by itself)
        x = np.repeat(x, 3, axis=1)
    try:  # flat examples of an image model take its shape
        x = trained.examples(x)  # a view
    except VaekitError as e:
        _, *size = trained.input_shape
        if folder and len(size) == 2 and size[0] == size[1] and x.shape[2:] != tuple(size):
            raise VaekitError(f"{cfg_data.name}: its images are {x.shape[3]}x{x.shape[2]} but the model takes "
                              f"{size[1]}x{size[0]}; resize them with --image-size {size[0]}") from None
        raise VaekitError(f"{cfg_data.name}: {e}") from None
    return dataclasses.replace(data, x=x, **_run_labels(trained, data))


def _csv_header_names(path: str, column: str | None) -> bool:
    """Whether ``path`` is a CSV file whose first row names the column ``column`` (the run's label
    column, taken by name in another CSV file with the same header: columns go by name)."""
    from .data.files import header_names

    if column is None or Path(path).suffix.lower() != ".csv" or not Path(path).is_file():
        return False
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            first = next(csv.reader(file), [])
    except (OSError, csv.Error, UnicodeDecodeError):
        return False  # the reader says what is wrong with the file
    return column in header_names(first)


def same_data(name: str, run_name: str) -> bool:
    """Whether ``name`` is the run's data set: the same name, or the same file or folder by another path."""
    if name == run_name:
        return True
    try:
        return os.path.samefile(name, run_name)
    except OSError:  # either path is not there (a named set, or a run trained elsewhere)
        return False


def _run_columns(trained, data) -> np.ndarray:
    """The data's columns in the run's order, when both the run's CSV file and this one have a header:
    columns are matched by name, not by position. Names that do not match are refused."""
    run_columns = trained.config.get("columns")
    if not run_columns or not data.columns or data.columns == run_columns:
        return data.x
    missing = [c for c in run_columns if c not in data.columns]
    extra = [c for c in data.columns if c not in run_columns]
    if missing or extra or len(set(data.columns)) != len(data.columns):
        found = ", ".join(filter(None, (missing and "missing " + ", ".join(map(repr, missing[:5])),
                                        extra and "unexpected " + ", ".join(map(repr, extra[:5])))))
        label = "; name the label column with --label-column" if len(extra) == 1 and not missing else ""
        if "" in missing or any(name.startswith("# ") for name in missing):
            label = ("; this run comes from an older vaekit, which read pandas' row index (an unnamed first column) "
                     "or np.savetxt's '# ' as part of the data: train it again")
        raise VaekitError(f"{data.name}: its header does not name the columns the model was trained on "
                          f"({found or 'a name repeated'}); give the same columns{label}")
    return data.x[:, [data.columns.index(c) for c in run_columns]]


def _run_labels(trained, data) -> dict:
    """The data's class names numbered as the run's: a file with some of the classes, or its own order,
    numbers them from 0 by itself. A conditional model refuses classes it was not trained on."""
    run_classes = trained.config.get("classes")
    if data.y is None or not data.classes or not run_classes or data.classes == run_classes:
        return {}
    unknown = [c for c in data.classes if c not in run_classes]
    if not unknown:
        number = np.array([run_classes.index(c) for c in data.classes])
        return {"y": number[data.y], "classes": list(run_classes)}
    if trained.conditional:
        raise VaekitError(f"{data.name}: classes {', '.join(map(repr, unknown[:5]))} are not among the model's "
                          f"({', '.join(map(repr, run_classes[:10]))}); pass data of the classes it was trained on")
    return {}  # another labelling altogether: its own numbers serve probes and plots


def evaluate_run(run, *, data: str | None = None, split: str = "test", iw_samples: int = DEFAULT_IW_SAMPLES,
                 seed: int = 0, offline: bool = False, device: str = "auto", key: str | None = None,
                 label_column: str | None = None, image_size: int | None = None) -> dict:
    """Evaluate a run folder and write ``RUN/eval.json`` (``eval_file``: another data set's has its own name);
    returns the dict written.

    ``data`` (default: the run's) is read with ``key``, ``label_column`` and ``image_size`` as in
    ``load_run_data``.
    """
    from .fileio import write_json
    from .trainer import resolve_device
    from .trained import Trained

    check_iw_samples(iw_samples)
    trained = Trained.load(run, device=str(resolve_device(device)))
    if not os.access(run, os.W_OK | os.X_OK):  # before minutes of work, not after
        raise VaekitError(f"{run}: not writable, and the evaluation goes to {Path(run) / EVAL}; copy the run folder "
                          "somewhere you can write and evaluate the copy")
    loaded = load_run_data(trained, data, offline, key=key, label_column=label_column, image_size=image_size)
    result = evaluate(trained.module, loaded, split=split, binarize=trained.config["cfg_data"].binarize,
                      iw_samples=iw_samples, seed=seed)
    write_json(eval_file(run, data, split, key=key, label_column=label_column, image_size=image_size), result)
    return result


def eval_file(run, data: str | None = None, split: str = "test", **reading) -> Path:
    """RUN/eval.json for the run's own data set's test split, read as in training; for another data set,
    another way of reading it (``key``, ``label_column``, ``image_size``) or another split,
    RUN/eval-<name>[-<key>][-label-<column>][-size<N>][-<split>].json, which leaves the run's own
    evaluation, the one its report shows, as it was. A file's (not a named set's) name is followed by a
    digest of its full path: a/test.csv and b/test.csv do not write over each other."""
    from .checkpoint import read_config
    from .data.datasets import is_named

    own = read_config(run)["cfg_data"]
    own_data = (data is None or same_data(data, own.name)) and all(v is None or v == getattr(own, k) for k, v in reading.items())
    if own_data and split == "test":
        return Path(run) / EVAL
    parts = []
    if not own_data:
        name = data or own.name
        where = "" if is_named(name) else hashlib.sha256(os.path.abspath(name).encode()).hexdigest()[:8]
        parts = [Path(name).name, where, reading.get("key"), reading.get("label_column") and f"label-{reading['label_column']}",
                 reading.get("image_size") and f"size{reading['image_size']}"]
    name = "-".join(str(part) for part in (*parts, None if split == "test" else split) if part)
    return Path(run) / f"eval-{_SAFE.sub('_', name)}.json"


COMPARED = ("ae", "dae", "vae")  # the models `vaekit compare` trains


def compare_models(out=None, *, data: str = "digits", epochs: int | None = None, latent_dim: int = 16,
                   hidden: tuple[int, ...] | None = None, binarize: str | None = None, seed: int = 0,
                   iw_samples: int = DEFAULT_IW_SAMPLES, offline: bool = False, device: str = "auto",
                   verbose: bool = True, key: str | None = None, label_column: str | None = None,
                   image_size: int | None = None, scale: str | None = None, resume=None) -> tuple[Path, dict]:
    """Train an AE, a DAE and a VAE with the same body, seed and epochs on the same data, evaluate
    each, and write ``OUT/compare.json`` and ``OUT/report.html``; returns (OUT, {model: eval dict}).

    ``epochs`` defaults to 100 on the small embedded digits and 20 elsewhere; early stopping is
    off so every model gets the same budget. ``key``, ``label_column``, ``image_size`` and ``scale``
    read and scale a file as for ``vaekit train``. ``resume``: an interrupted comparison's folder, to
    finish with the settings its models were trained with (the training arguments are not used): its
    finished models are kept, an interrupted one continues from its last saved epoch (``iw_samples`` is not
    kept: give the first run's again).
    """
    from .api import _interrupted, prepare_out, resume_run, train
    from .checkpoint import SUMMARY, awaits_resume
    from .fileio import write_json
    from .report import COMPARE, read_eval, write_report

    check_iw_samples(iw_samples)
    if resume is not None:
        folder, settings = Path(resume), _compared_settings(Path(resume))
    else:
        folder = prepare_out(out, "compare", data)
        settings = dict(data=data, epochs=epochs if epochs is not None else (100 if data == "digits" else 20),
                        latent_dim=latent_dim, hidden=hidden, binarize=binarize, seed=seed, key=key,
                        label_column=label_column, image_size=image_size, scale=scale)
    settings = {k: v for k, v in settings.items() if v is not None}
    results = {}
    try:
        for name in COMPARED:
            start, run = time.perf_counter(), folder / name
            if (run / SUMMARY).is_file() and (run / EVAL).is_file():  # finished and evaluated before an interruption
                results[name] = read_eval(run / EVAL, f"`vaekit evaluate {run}` writes it again")
                continue
            if awaits_resume(run):
                resume_run(run, verbose=False, offline=offline, device=device)
            elif resume is not None and run.exists() and any(run.iterdir()) and not (run / SUMMARY).is_file():
                raise VaekitError(f"--resume {folder}: {run} was cut short before its first epoch was saved; remove "
                                  f"that folder and run `vaekit compare --resume {folder}` again")
            elif not (run / SUMMARY).is_file():
                train(out=run, verbose=False, offline=offline, model=name, patience=0, device=device, **settings)
            results[name] = evaluate_run(run, iw_samples=iw_samples, seed=settings["seed"], offline=offline,
                                         device=device)
            write_report(run, offline=offline)  # now with its metrics
            if verbose:
                print(f"{name}: trained {settings['epochs']} epochs and evaluated in {time.perf_counter() - start:.1f}s "
                      f"({run})", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        _interrupted(f"finish the comparison with `vaekit compare --resume {folder}`")
        raise
    write_json(folder / COMPARE, results)
    write_report(folder, offline=offline)
    return folder, results


def _compared_settings(folder: Path) -> dict:
    """The training settings of the comparison in ``folder``, from the first of its models that started."""
    from .checkpoint import CONFIG, read_config
    from .report import COMPARE

    if (folder / COMPARE).is_file():
        raise VaekitError(f"--resume {folder}: this comparison has finished (it has a {COMPARE}); nothing to resume")
    started = [folder / name for name in COMPARED if (folder / name / CONFIG).is_file()]
    if not started:
        raise VaekitError(f"--resume {folder}: no model of a comparison was started there (no "
                          f"{'/'.join(COMPARED)}/{CONFIG}); start `vaekit compare` again with a new --out")
    config = read_config(started[0])
    d, m, t = config["cfg_data"], config["cfg_model"], config["cfg_train"]
    return dict(data=d.name, epochs=t.epochs, latent_dim=m.latent_dim, hidden=m.hidden, binarize=d.binarize,
                seed=t.seed, key=d.key, label_column=d.label_column, image_size=d.image_size, scale=d.scale)
