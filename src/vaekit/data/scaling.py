"""The affine transform between the user's units and the model's: ``x_model = (x - shift) / scale``.

It is fitted on the training split, saved in config.json and applied batch by batch, so uint8 data
stays uint8 in memory and ``decode`` can hand results back in the user's original units.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np

from ..config import SCALES, UNIT_LIKELIHOODS
from ..errors import VaekitError


@dataclass
class Scaler:
    shift: float | list[float] = 0.0  # subtracted first; a list holds one value per feature
    scale: float | list[float] = 1.0  # then divided by
    clip: bool = False  # clip to [0, 1] after scaling (minmax: test data may stray past the train range)
    kind: str = "none"  # how it was fitted: uint8, minmax, standard or none
    # fitted on float64 data: the inverse works in float64 and returns float64, so values far from zero
    # (a feature near 1e6 with a spread of 1) come back with their digits, not in float32's steps of 0.06
    wide: bool = False

    @classmethod
    def fit(cls, x: np.ndarray, kind: str, rows: np.ndarray | None = None) -> Scaler:
        """Fit on ``x[rows]`` (the training split; all of x when None), shape (N, D) or (N, C, H, W)."""
        if kind not in SCALES:
            raise VaekitError(f"--scale {kind} is not one of {', '.join(SCALES)}; try --scale minmax")
        if x.dtype == np.uint8 and kind == "minmax":
            step = chunk_rows(x)
            if len(x) and not any(x[i:i + step].max() > 1 for i in range(0, len(x), step)):  # stops at a grey level
                logging.getLogger(__name__).warning(
                    "the data are uint8 with no value above 1: as 8-bit grey levels (divided by 255) they become 0 and "
                    "1/255; if they are 0/1 masks, give --scale none, or store them as floats")
            return cls(0.0, 255.0, False, "uint8")
        if kind == "none":
            return cls()
        # Vectors get one statistic per feature (columns have their own units); images one in all.
        axis = 0 if x.ndim == 2 else None
        stats = _chunked_stats(x, np.arange(len(x)) if rows is None else rows, axis)
        if kind == "minmax":
            shift, scale = stats["min"], stats["max"] - stats["min"]
        else:
            shift, scale = stats["mean"], stats["std"]
        scale = np.where(scale > 0, scale, 1.0)  # a constant feature: leave it at 0 instead of dividing by 0
        return cls(_plain(shift), _plain(scale), kind == "minmax", kind, x.dtype == np.float64)

    def in_unit_range(self, x: np.ndarray) -> bool:
        """Whether all of ``x`` lies in [0, 1] once scaled: always for minmax (it clips), else looked at
        (~16 MB of it at a time)."""
        if self.clip or self.kind == "uint8":
            return True
        rows = chunk_rows(x)
        return all(0 <= t.min() and t.max() <= 1 for t in (self.transform(x[i:i + rows]) for i in range(0, len(x), rows)))

    def clipped_values(self, x: np.ndarray, rows: np.ndarray) -> int:
        """How many values of ``x[rows]`` this scaling clips to [0, 1] beyond rounding (0 where it does not clip)."""
        if not self.clip:
            return 0
        rows, step = np.sort(rows), chunk_rows(x)
        return sum(int(self.transform_counted(np.asarray(x[rows[i:i + step]]))[1].sum()) for i in range(0, len(rows), step))

    def why_clipped(self) -> str:
        """Why this scaling clips to [0, 1]."""
        return ("min-max scaling is fitted on those data alone" if self.kind == "minmax"
                else "the model's likelihood is a density on [0, 1] only")

    def for_likelihood(self, likelihood: str) -> Scaler:
        """This scaling, clipping to [0, 1] where ``likelihood`` is a density on [0, 1] only (data left as they
        are, --scale none): data met later outside it are clipped and counted as minmax's are."""
        if self.kind == "none" and likelihood in UNIT_LIKELIHOODS:
            return dataclasses.replace(self, clip=True)
        return self

    def matches(self, other: Scaler) -> bool:
        """Whether ``other`` is the same scaling, up to float rounding: how the statistics are summed
        changes their last digits between vaekit versions (a run resumed across one still fits)."""
        return (self.kind, self.clip) == (other.kind, other.clip) and all(
            np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=1e-9, atol=0)
            for a, b in ((self.shift, other.shift), (self.scale, other.scale)))

    def constants(self, like) -> tuple:
        """(shift, scale) as arrays or tensors on ``like``'s device, float64 for float64 ``like`` and
        float32 for the rest: make them once for many batches."""
        return self._like(like, self.shift), self._like(like, self.scale)

    def transform(self, x, constants: tuple | None = None):
        """Works on numpy arrays and torch tensors alike (the batch's own device) -> float32.

        ``constants`` from ``self.constants(...)`` on data of ``x``'s dtype saves making them per call
        (on a GPU each one is a host-to-device copy that waits for the GPU).
        """
        out = self._scaled(x, constants)
        return _clipped(out) if self.clip else out

    def transform_counted(self, x) -> tuple:
        """``transform(x)``, and how many values of each example (N,) it clipped to [0, 1] beyond
        rounding (None without clipping)."""
        out = self._scaled(x)
        if not self.clip:
            return out, None
        return _clipped(out), ((out < -1e-5) | (out > 1 + 1e-5)).reshape(len(out), -1).sum(1)

    def _scaled(self, x, constants: tuple | None = None):
        # float64 data are shifted before they are rounded to float32: a feature whose mean is 1e6
        # times its spread keeps its digits (shifted after rounding, every value would be the same)
        wide = _is_float64(x)
        shift, scale = constants or self.constants(x)
        if not wide and hasattr(x, "float") and x.dtype != torch_float32():
            # a fresh float32 copy (uint8 images) is scaled in place: no second and third batch-sized buffer
            out = x.float()
            if not (np.isscalar(self.shift) and self.shift == 0):
                out.sub_(shift)
            return out.div_(scale)
        if not wide:
            x = x.float() if hasattr(x, "float") else np.asarray(x, dtype=np.float32)
        out = (x - shift) / scale
        if wide:
            out = out.float() if hasattr(out, "float") else out.astype(np.float32)
        return out

    def inverse(self, x):
        """Model units -> the user's: ``x * scale + shift``, in float64 for a scaler fitted on float64 data."""
        if self.wide and not _is_float64(x):
            x = x.double() if hasattr(x, "double") else np.asarray(x, dtype=np.float64)
        shift, scale = self.constants(x)
        return x * scale + shift

    def _like(self, x, value):
        dtype = np.float64 if _is_float64(x) else np.float32
        if isinstance(value, list):
            value = np.asarray(value, dtype=dtype)
        if hasattr(x, "new_tensor"):
            return x.new_tensor(value, dtype=x.dtype if dtype is np.float64 else torch_float32())
        return dtype(value) if np.isscalar(value) else value


def chunk_rows(x) -> int:
    """Rows of ``x`` to read at a time: ~4M values (16 MB of float32), so a memory-mapped set is never read whole."""
    return max(1, (1 << 22) // max(1, math.prod(x.shape[1:])))


def _clipped(x):
    return x.clamp(0, 1) if hasattr(x, "clamp") else np.clip(x, 0, 1)


def _is_float64(x) -> bool:
    return str(x.dtype) in ("float64", "torch.float64")


def torch_float32():
    import torch  # only when a tensor is being scaled: this module stays importable without torch

    return torch.float32


def _chunked_stats(x: np.ndarray, rows: np.ndarray, axis) -> dict:
    """min, max, mean, std of x[rows] over the first axis (or everything), reading a memmap in chunks.

    Each chunk's mean and squared deviations from it are merged into the running ones (Chan, Golub
    and LeVeque, 1979): E[x^2] - mean^2 would cancel to noise for a feature far from 0.
    """
    lo = hi = None
    count, mean, m2 = 0, 0.0, 0.0  # m2: the sum of squared deviations from the mean so far
    for start in range(0, len(rows), 8192):
        chunk = np.asarray(x[rows[start : start + 8192]], dtype=np.float64)
        lo = chunk.min(axis=axis) if lo is None else np.minimum(lo, chunk.min(axis=axis))
        hi = chunk.max(axis=axis) if hi is None else np.maximum(hi, chunk.max(axis=axis))
        n = chunk.size if axis is None else len(chunk)
        chunk_mean = chunk.mean(axis=axis)
        delta = chunk_mean - mean
        m2 = m2 + ((chunk - chunk_mean) ** 2).sum(axis=axis) + delta**2 * count * n / (count + n)
        mean = mean + delta * n / (count + n)
        count += n
    return {"min": lo, "max": hi, "mean": mean, "std": np.sqrt(m2 / count)}


def _plain(value) -> float | list[float]:
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else [float(v) for v in value]
