"""One entry point, ``load_data``, for every source: the embedded digits, the named benchmark
sets (``catalog``) and the user's own files (``files``).

A data set is held once, in the user's dtype (uint8 stays uint8), with index arrays for the
train / validation / test splits and the fitted ``Scaler``; batches are gathered and scaled later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import DataConfig
from ..errors import VaekitError
from .scaling import Scaler

EMBEDDED = ("digits",)


@dataclass
class Data:
    name: str
    x: np.ndarray  # (N, D) or (N, C, H, W), raw units; may be a read-only memmap
    y: np.ndarray | None  # (N,) int64 labels, or None
    classes: list[str] | None  # label names, index = label
    splits: dict[str, np.ndarray]  # "train", "val", "test" -> sorted indices into x
    scaler: Scaler
    columns: list[str] | None = None  # the names of x's columns, from a CSV file's header
    official_test: bool = False  # the test split is the data set's own (Fashion-MNIST's 10,000), not a share

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one example, (D,) or (C, H, W)."""
        return tuple(self.x.shape[1:])

    def part(self, split: str) -> np.ndarray:
        """The raw examples of one split (a copy for fancy-indexed memmaps; fine for eval sizes)."""
        return self.x[self.splits[split]]


def load_data(cfg: DataConfig, *, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2,
              offline: bool = False, scaler: Scaler | None = None, split: bool = True) -> Data:
    """Load the data set ``cfg.name`` and split it; fit a Scaler on the train split unless given one.

    ``split=False`` (for a trained model's use of every example): no minimum size, all in "train".
    """
    x, y, classes, n_test, columns = _read(cfg, offline)
    if not split:
        none = np.arange(0)
        return Data(cfg.name, x, y, classes, {"train": np.arange(len(x)), "val": none, "test": none},
                    scaler or Scaler.fit(x, cfg.scale), columns)
    if len(x) < 3:
        use = "" if scaler is None else ("; `vaekit evaluate` scores a test split of them, while score, encode and the "
                                         "other commands take every example with --split all")
        raise VaekitError(f"{cfg.name}: only {len(x)} examples; vaekit needs at least 3 (train, validation, test){use}")
    if n_test is None and test_fraction == 0 and scaler is None:  # a new run, which is scored on its test split
        raise VaekitError(f"{cfg.name} has no official test split, and --test-fraction 0 leaves none to score the run "
                          "on; give a share in (0, 1), e.g. --test-fraction 0.2")
    splits = split_indices(len(x), n_test, seed, val_fraction, test_fraction)
    if not len(splits["train"]) and scaler is None:  # the scaler divided by zero, or the run trained on nothing
        shares = f"--val-fraction {val_fraction:g}" + ("" if n_test is not None else f" and --test-fraction {test_fraction:g}")
        raise VaekitError(f"{cfg.name}: {shares} leave none of its {len(x)} examples to train on; give smaller shares")
    if scaler is None:
        scaler = Scaler.fit(x, cfg.scale, splits["train"])
    return Data(cfg.name, x, y, classes, splits, scaler, columns, n_test is not None)


def digest(data: Data) -> str:
    """16 hex digits of SHA-256 over the examples, their labels and the split: the same for the same
    data, read and split alike; another value for a replaced image or row, an added or removed one."""
    h = hashlib.sha256(f"{data.x.dtype}{data.x.shape}".encode())
    for start in range(0, len(data.x), 4096):  # a chunk at a time, so a memmap is never read whole (Fashion-MNIST: 0.03 s)
        h.update(np.ascontiguousarray(data.x[start : start + 4096]))
    if data.y is not None:
        h.update(np.ascontiguousarray(data.y, dtype=np.int64))
    for split in ("train", "val", "test"):
        h.update(np.ascontiguousarray(data.splits[split], dtype=np.int64))
    return h.hexdigest()[:16]


def spread_out(y: np.ndarray) -> bool:
    """Whether label numbers are ids rather than classes counted from 0: the largest reaches 256 and
    more than twice the number of distinct labels (0, 10^6 and 2 * 10^6 would be 2,000,001 classes)."""
    return int(y.max()) + 1 > max(2 * len(np.unique(y)), 256)


def is_named(name: str) -> bool:
    """Whether ``name`` is a named data set (which wins over a file of that name)."""
    from . import catalog

    return name in (*EMBEDDED, *catalog.NAMES)


def check_reading_options(name: str, **given) -> None:
    """Refuse the options for reading a file (``key``, ``label_column``, ``image_size``) that the user
    gave with a named data set: it has one size and one layout, and would ignore them."""
    if is_named(name):
        for option, value in given.items():
            if value is not None:
                flag = "--" + option.replace("_", "-")
                raise VaekitError(f"{flag} {value} is for reading files and image folders, not the named data set "
                                  f"{name}; drop {flag}")


def from_arrays(x: np.ndarray, y: np.ndarray | None = None, *, scale: str = "minmax", seed: int = 0,
                val_fraction: float = 0.0, name: str = "array") -> Data:
    """In-memory data (no files): train and validation splits of ``x`` (no test split), a Scaler fitted on train."""
    splits = split_indices(len(x), 0, seed, val_fraction, 0.0)
    return Data(name, x, y, None, splits, Scaler.fit(x, scale, splits["train"]))


def split_indices(n: int, n_test: int | None, seed: int, val_fraction: float, test_fraction: float) -> dict:
    """Seeded splits. ``n_test`` set: the last n_test examples are the official test split."""
    rng = np.random.default_rng(seed)
    if n_test is None:
        order = rng.permutation(n)
        n_test = max(1, int(round(test_fraction * n)))
        test, rest = order[:n_test], order[n_test:]
    else:
        test, rest = np.arange(n - n_test, n), rng.permutation(n - n_test)
    n_val = int(round(val_fraction * len(rest)))
    val, train = rest[:n_val], rest[n_val:]
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def _read(cfg: DataConfig, offline: bool):
    """-> (x, y, classes, n_test or None, column names or None) with x in (N, D) or (N, C, H, W)."""
    from . import catalog

    if cfg.name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = digits.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8), grey levels 0..16
        return x, digits.target.astype(np.int64), [str(i) for i in range(10)], None, None
    if cfg.name in catalog.NAMES:
        joined = catalog.load_joined(cfg.name, offline=offline)
        x = joined["x"][:, None]  # (N, 1, 28, 28) uint8, a view: the images are held once
        return x, joined["y"], joined["classes"], joined["n_test"], None
    if not Path(cfg.name).exists():
        known = ", ".join([*EMBEDDED, *catalog.NAMES])
        raise VaekitError(f"--data {cfg.name}: no such data set or file; use one of {known}, or a path to a .npy, .npz, .csv file or an image folder")
    from .files import load_file

    loaded = load_file(cfg.name, key=cfg.key, label_column=cfg.label_column, image_size=cfg.image_size)
    return loaded.x, loaded.y, loaded.classes, None, loaded.columns
