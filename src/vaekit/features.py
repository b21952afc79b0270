"""The yardstick of generation quality: a small classifier trained on a data set's training split
(cached per data set), and the Frechet distance between Gaussians fitted to its penultimate
features. Inception weights cannot be fetched offline, so this is the MNIST-style stand-in for FID:
values are comparable only between models scored with the same classifier.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import VaekitError

log = logging.getLogger(__name__)

FEATURES = 64  # width of the classifier's penultimate layer, the space of the Frechet distance
CLASSIFIER_STEPS = 2000  # Adam steps of batch 128 for the feature classifier
CLASSIFIER_VERSION = 1  # bump when FeatureNet or its training changes: old caches are retrained


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
    from .trainer import seeded

    with seeded(seed):  # the initial weights, on the CPU (the GPUs' streams untouched)
        net = FeatureNet(data.shape, n_classes).float().to(device)
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
