"""A trained run folder as a numpy-in, numpy-out object: ``vaekit.load(RUN)``.

Every method takes examples in the user's original units (numpy arrays, memmaps or tensors,
(N, D) or (N, C, H, W), flattened or not), scales them with the run's scaler batch by batch,
and returns numpy arrays in the original units again. Only one batch of the input is ever
held as floats, so a 70,000-image uint8 set never needs a float copy of itself.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import sys
from pathlib import Path

import numpy as np

from .config import MAX_SIZE, SEEDS, ModelConfig, parse_noise, shown_number
from .errors import VaekitError, python_spelled

# Posterior draws decoded per example and pass when score averages many (the same for every batch, so
# a score does not depend on the batch size): at most 64, fewer for large inputs (at most SCORE_VALUES
# output values). All of them at once, `score --samples 100000` was killed for memory.
SCORE_DRAWS, SCORE_VALUES = 64, 2**18


def _spelled(method):
    """``method``, whose errors name arguments as Python passes them (latent_dim=0) where the model is a
    Python caller's (``python_spelling``), as the shell does (--latent-dim 0) where it is the CLI's."""
    @functools.wraps(method)
    def spelled(self, *args, **kwargs):
        with python_spelled(self.python_spelling):
            return method(self, *args, **kwargs)

    return spelled


class Trained:
    """A trained model with numpy in, numpy out, in the user's original units.

    Attributes
    ----------
    module : torch.nn.Module
        The plain model (``Autoencoder`` or ``VAE``), for fine-tuning or embedding in other code.
    config : dict
        The run's config.json, with the dataclasses under ``cfg_model``, ``cfg_train``, ...
    scaler : vaekit.data.scaling.Scaler
        Original units -> model units.
    batch_size : int
        Examples per forward pass.
    progress : bool
        Show a progress bar on stderr (only on a terminal) for work of more than one batch.
    summary : dict or None
        The run's summary.json (test numbers, epochs trained, why training stopped); None without one.
    history : vaekit.trainer.History or None
        The epochs' records, for a model trained in this process by ``vaekit.train``; None after
        ``vaekit.load`` (the run's metrics.jsonl holds them).
    python_spelling : bool
        Errors name arguments as Python passes them (``label=30``), not as the shell does
        (``--label 30``): set by ``vaekit.load`` and ``vaekit.train``.
    """

    def __init__(self, module, config: dict, run: Path | None = None, *, batch_size: int = 1024, progress: bool = False):
        from .models import VAE

        self.module, self.config = module, config
        self.run = None if run is None else Path(run)
        self.scaler = config["cfg_scaler"]
        self.model_cfg: ModelConfig = config["cfg_model"]
        self.is_vae = isinstance(module, VAE)
        self.conditional = bool(getattr(self.model_cfg, "n_classes", 0))  # decodes need labels (cvae)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise VaekitError(f"batch_size={batch_size!r} must be a positive integer, e.g. 1024")
        self.batch_size, self.progress = int(batch_size), progress
        self.summary: dict | None = None
        self.history = None
        self.python_spelling = False  # errors name arguments as Python passes them (vaekit.load and train set it)

    @classmethod
    def load(cls, run, device: str = "cpu", **options) -> Trained:
        """Load a run folder written by ``vaekit train`` onto ``device`` ("cpu", "cuda", "cuda:1", "auto");
        ``options`` are ``batch_size`` and ``progress``."""
        from .checkpoint import load_run, read_summary
        from .trainer import resolve_device

        module, config = load_run(run, str(resolve_device(device)))
        trained = cls(module, config, run, **options)
        try:
            trained.summary = read_summary(run, "") or None  # NaN where training gave NaN (null in the file)
        except VaekitError:  # it feeds no use of the model: the report says what is wrong with it
            pass
        return trained

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model_cfg.input_shape)

    @property
    def latent_dim(self) -> int:
        return self.model_cfg.latent_dim

    # -- the API -------------------------------------------------------------------------------

    @_spelled
    def encode(self, x, y=None, *, sample: bool = False, with_logvar: bool = False, seed: int | None = None):
        """Codes z, (N, latent): the posterior mean for a VAE.

        ``y``: labels for conditional models only, one per example or one for all: class numbers or the
        run's class names (every method takes labels so). ``sample`` (VAE) draws z ~ q(z|x)
        instead, seeded by ``seed``; ``with_logvar`` (VAE) returns ``(z, logvar)``, both (N, latent).
        """
        import torch

        x = self.examples(x)
        if (sample or with_logvar) and not self.is_vae:
            raise VaekitError(f"sampling z and log-variances need a VAE, but this run is an {self.model_cfg.model}; "
                              "drop --sample/--with-logvar")
        if not self.is_vae:
            return self._collect(len(x), (self.module.code(xb, yb) for xb, yb in self._batches(x, y)))
        noise = _RowNoise(self._generator(seed), (self.latent_dim,), torch.randn)

        def posterior(xb, yb):
            mu, logvar = self.module.encode(xb, yb)  # (B, latent) each
            z = mu + torch.exp(0.5 * logvar) * noise.take(len(mu)) if sample else mu
            return (z, logvar) if with_logvar else z

        return self._collect(len(x), (posterior(xb, yb) for xb, yb in self._batches(x, y)))

    @_spelled
    def decode(self, z, y=None) -> np.ndarray:
        """Decoder means E[x | z] for codes z (N, latent), in the original units, (N, *input_shape).

        ``y``: conditional models only, one label for all codes or one per code.
        """
        z = self._latents(z)
        if y is not None:
            y = self.module.sample_labels(len(z), self._label_values(y), None).cpu().numpy()  # checked, one per code
        return self._collect(len(z), (self._decode(zb, yb) for zb, yb in self._latent_batches(z, y)))

    @_spelled
    def reconstruct(self, x, y=None) -> np.ndarray:
        """E[x | code(x)], in the original units. ``y``: labels, for conditional models only."""
        x = self.examples(x)
        return self._collect(len(x), (self.scaler.inverse(self.module.reconstruct(xb, yb)) for xb, yb in self._batches(x, y)))

    @_spelled
    def generate(self, n: int, seed: int | None = None, temperature: float = 1.0, labels=None) -> np.ndarray:
        """Decode z ~ N(0, temperature^2 I), (n, *input_shape) in the original units.

        New data for a VAE; for an AE the latent space is no distribution, so the decodes
        show what an AE does off its training codes rather than new data. ``labels``
        (conditional models): one class for all samples or one per sample; by default every class
        in turn, sample i of class i mod K, so each sample's class is known.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= MAX_SIZE:
            raise VaekitError(f"-n {shown_number(n)} must be a positive integer, at most {MAX_SIZE}, e.g. 64")
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not 0 < temperature < math.inf:
            raise VaekitError(f"--temperature {temperature!r} must be a positive number, e.g. 1")
        import torch

        if labels is None and self.conditional:
            labels = np.arange(n) % self.model_cfg.n_classes
        if labels is not None:
            labels = self.module.sample_labels(n, self._label_values(labels), None)  # checked, one per sample
        noise = _RowNoise(self._generator(seed), (self.latent_dim,), torch.randn)
        starts = range(0, n, self.batch_size)
        parts = (self._decode(temperature * noise.take(min(self.batch_size, n - i)),
                              None if labels is None else labels[i : i + self.batch_size]) for i in starts)
        return self._collect(n, parts)

    @_spelled
    def interpolate(self, a, b, steps: int = 8, slerp: bool = False, ya=None, yb=None) -> np.ndarray:
        """Decodes along the path from code(a) to code(b): (P, steps, *input_shape) for P pairs.

        Linear by default; ``slerp`` (VAE) follows the great circle, which keeps the path where
        a Gaussian prior puts its mass (norms near sqrt(latent)). ``ya``, ``yb``: labels of a and b
        (conditional models; the path is decoded with a's labels).
        """
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not 2 <= steps <= MAX_SIZE:
            raise VaekitError(f"--steps {shown_number(steps)} must be an integer from 2 to {MAX_SIZE}, e.g. 8")
        if slerp and not self.is_vae:
            raise VaekitError(f"spherical interpolation assumes a Gaussian prior, but this run is an {self.model_cfg.model}; "
                              "drop --slerp")
        za, zb = self.encode(a, ya), self.encode(b, yb)  # (P, latent) each
        if za.shape != zb.shape:
            raise VaekitError(f"interpolation needs as many end points as start points; got {len(za)} and {len(zb)}")
        t = np.linspace(0, 1, steps, dtype=np.float32)[None, :, None]  # (1, steps, 1)
        path = _slerp(za, zb, t) if slerp else za[:, None] * (1 - t) + zb[:, None] * t  # (P, steps, latent)
        labels = np.repeat(_numpy(ya), steps) if self.conditional and ya is not None else None
        return self.decode(path.reshape(-1, self.latent_dim), labels).reshape(len(za), steps, *self.input_shape)

    @_spelled
    def denoise(self, x, noise: str, seed: int | None = 0, y=None) -> tuple[np.ndarray, np.ndarray]:
        """Corrupt x with ``noise`` (``kind:amount``, applied in model units as in training), then reconstruct.

        Returns ``(noisy, denoised)``, both in the original units.
        """
        import torch

        from .models import corrupt

        kind, _ = parse_noise(noise)
        x = self.examples(x)
        draws = _RowNoise(self._generator(seed), self.input_shape, torch.randn if kind == "gaussian" else torch.rand)

        def step(xb, yb):
            noisy = corrupt(xb, noise, draws.take(len(xb)))
            return self.scaler.inverse(noisy), self.scaler.inverse(self.module.reconstruct(noisy, yb))

        return self._collect(len(x), (step(xb, yb) for xb, yb in self._batches(x, y)))

    @_spelled
    def score(self, x, y=None, samples: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
        """Per-example anomaly scores (higher = worse fit), each (N,), in model units:

        ``mse``: mean squared error of the reconstruction E[x | code(x)] over features;
        ``recon``: the model's reconstruction loss term (AE: as in training; VAE: -log p(x|z));
        VAE only: ``kl`` (KL(q(z|x) || N(0, I))) and ``neg_elbo`` = recon + kl, nats per example;
        ``outside`` (min-max scaled models): how many of the example's values lie outside the range of the
        training data. Those are clipped to it before scoring (a Bernoulli likelihood has no values
        beyond it), so an outlier made of such values shows there, not in the scores.

        The VAE's recon averages ``samples`` posterior draws z = mu + sigma * eps; the eps are
        drawn once (seeded) and shared by all examples, so each example's score depends on that
        example alone, not on the batch it came in.
        """
        import torch

        from . import losses

        if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 1:
            raise VaekitError(f"--samples {samples!r} must be a positive integer, e.g. 1")
        x = self.examples(x)
        module = self.module
        eps = self._randn((samples, 1, self.latent_dim), self._generator(seed))  # (K, 1, latent)
        draws = max(1, min(SCORE_DRAWS, SCORE_VALUES // math.prod(self.model_cfg.input_shape)))

        def mse(out, xb):
            return (module.mean(out) - xb).pow(2).flatten(1).mean(1)  # (B,)

        def terms(xb, yb):
            if not self.is_vae:
                out = module.decode(module.code(xb, yb), yb)  # (B, *input_shape)
                return mse(out, xb), module.reconstruction_loss(out, xb)
            mu, logvar = module.encode(xb, yb)  # (B, latent) each
            std, total = torch.exp(0.5 * logvar), 0
            for e in eps.split(draws):  # a few draws at a time (SCORE_DRAWS)
                total = total + module.draws_nll(mu + std * e, xb, yb)[0].sum(0)  # (B,)
            recon = total / samples
            kl = losses.kl_to_standard_normal(mu, logvar).sum(1)
            return mse(module.decode(mu, yb), xb), recon, kl, recon + kl

        names = ("mse", "recon", "kl", "neg_elbo") if self.is_vae else ("mse", "recon")
        counts = [] if self.scaler.clip else None
        scores = dict(zip(names, self._collect(len(x), (terms(xb, yb) for xb, yb in self._batches(x, y, counts)),
                                               tuple_out=True)))
        if counts is not None:  # what clipping hides from the scores above
            scores["outside"] = torch.cat(counts).cpu().numpy()
        return scores

    # -- helpers -------------------------------------------------------------------------------

    def _device(self):
        return next(self.module.parameters()).device

    def examples(self, x):
        """Check x against the model's input shape; -> x (never copied) shaped (N, *input_shape).

        Flat examples (N, C * H * W) of an image model, grey images (N, H, W), channels-last images
        (N, H, W, C) (as a .npy file may hold them), and images of a model of vectors with as many
        features, take the model's shape."""
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach()
        elif not isinstance(x, np.ndarray):
            x = _numpy(x)
        if isinstance(x, torch.Tensor):
            numeric = not x.is_complex()
        else:
            numeric = (np.issubdtype(x.dtype, np.number) or x.dtype == bool) and not np.issubdtype(x.dtype, np.complexfloating)
        shape, given = self.input_shape, tuple(x.shape)
        expected = f"(N, {', '.join(map(str, shape))})"
        if not numeric:
            raise VaekitError(f"input has dtype {x.dtype}, not numbers; the model expects numbers shaped {expected}")
        if len(shape) == 3 and given[1:] == (*shape[1:], shape[0]) != shape:  # channels last, as files may hold them
            x = x.transpose(0, 3, 1, 2) if isinstance(x, np.ndarray) else x.permute(0, 3, 1, 2)  # a view
            given = tuple(x.shape)
        # the model's shape, flat examples, images for a model of vectors, grey images without their channel axis;
        # never another image shape of as many values ((N, 4, 16) for 8x8): reshaped, they would be noise
        same_size = x.ndim >= 2 and math.prod(given[1:]) == math.prod(shape)
        if given[1:] != shape and not (same_size and (x.ndim == 2 or len(shape) == 1 or given[1:] == shape[1:])):
            taken = [expected]  # and the other layouts taken above, the flat one last
            if len(shape) == 3:
                c, h, w = shape
                taken += [f"(N, {h}, {w})" if c == 1 else f"(N, {h}, {w}, {c})", f"(N, {math.prod(shape)})"]
            raise VaekitError(f"input has shape {given} but the model expects {', '.join(taken[:-1])}"
                              f"{' or ' * (len(taken) > 1)}{taken[-1]}; pass data shaped like the training data")
        if len(x) == 0:
            raise VaekitError(f"input has no examples (shape {given}); pass at least one")
        return x.reshape(len(x), *shape)  # a view

    def _latents(self, z):
        z = _numpy(z)
        if not np.issubdtype(z.dtype, np.number) or np.issubdtype(z.dtype, np.complexfloating):
            raise VaekitError(f"latents have dtype {z.dtype}, not real numbers; pass codes written by `vaekit encode`")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise VaekitError(f"latents have shape {z.shape} but the model expects (N, {self.latent_dim}); "
                              "pass codes written by `vaekit encode` (without --with-logvar)")
        if len(z) == 0:
            raise VaekitError("latents have no rows; pass at least one code")
        finite = (np.abs(z) <= np.finfo(np.float32).max).all(axis=1)  # NaN: False; the model computes in float32
        if not finite.all():
            row = int(np.argmin(finite))
            if np.isfinite(z[row]).all():  # 1e300 became inf in float32, and the decoded output all NaN
                raise VaekitError(f"latents have a value beyond float32's range (+-3.4e38) in row {row}; codes must be "
                                  "finite float32 numbers")
            raise VaekitError(f"latents have a NaN or infinite value in row {row}; codes must be finite numbers")
        return z

    def _batches(self, x, y=None, counts: list | None = None):
        """(x in model units, labels or None) as tensors on the model's device, one batch at a time;
        ``counts`` gets each batch's values clipped per example, where the scaling clips."""
        import torch

        y = y if self.conditional else None  # other models ignore labels
        if y is not None:
            from .models.cvae import class_numbers

            y = self._label_values(y)
            y = np.full(len(x), y) if y.ndim == 0 else y  # one label for every example, as decode takes it
            if y.ndim != 1 or len(y) != len(x):
                raise VaekitError(f"{y.size} labels for {len(x)} examples; pass one label per example")
            y = class_numbers(torch.as_tensor(y), self.model_cfg.n_classes, "label",
                              "pass labels numbered as in its training data").numpy()
        clipped = 0
        for start in range(0, len(x), self.batch_size):
            xb = x[start : start + self.batch_size]
            xb = xb if isinstance(xb, torch.Tensor) else torch.from_numpy(np.array(xb))  # a batch-sized copy
            if xb.is_floating_point() and not torch.isfinite(xb).all():
                row = start + int(torch.isfinite(xb.flatten(1)).all(1).logical_not().nonzero()[0, 0])
                raise VaekitError(f"input row {row} has a NaN or infinite value; remove or fill such values first")
            xb, outside = self.scaler.transform_counted(xb.to(self._device()))
            if outside is not None:
                clipped += int(outside.sum())
                if counts is not None:
                    counts.append(outside)
            yield xb, self._labels(y, start)
        if clipped:
            logging.getLogger(__name__).warning(
                f"{clipped:,} values of the {len(x):,} examples scaled here lie outside the range of the model's training "
                f"data and were clipped to it ({self.scaler.why_clipped()}), so outliers there look less unusual than "
                "they are; `vaekit score` and Trained.score count them per example (outside)")

    def _label_values(self, y) -> np.ndarray:
        """Labels as given (one, or one per example) with names of the run's classes turned into their
        numbers, for ``class_numbers`` to check; names it does not know and shapes it cannot use are refused."""
        a = _numpy(y)
        if a.dtype.kind in "USO":
            classes = self.config.get("classes") or []
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in a.reshape(-1).tolist()]
            if all(v in classes for v in names):  # the run's class names first, as the CLI's --label: "10" may be one
                return np.array([classes.index(v) for v in names]).reshape(a.shape)
            try:
                a = a.astype(np.float64)  # numbers as text or objects
            except (TypeError, ValueError):
                known = (f"its classes are {', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''}" if classes
                         else "labels are class numbers (0 for the first class)")
                raise VaekitError(f"label {next(v for v in names if v not in classes)!r} is not a class of this model; "
                                  f"{known}") from None
        if a.dtype.kind not in "biuf" or a.ndim > 1:
            raise VaekitError(f"labels of shape {a.shape} and type {a.dtype}; pass one class number or name per example")
        return a

    def _latent_batches(self, z, y=None):
        import torch

        for start in range(0, len(z), self.batch_size):
            zb = torch.from_numpy(np.array(z[start : start + self.batch_size], dtype=np.float32))
            yield zb.to(self._device()), self._labels(y, start)

    def _labels(self, y, start: int):
        import torch

        if y is None:
            return None
        return torch.as_tensor(np.asarray(y[start : start + self.batch_size]), dtype=torch.long, device=self._device())

    def _decode(self, z, y=None):
        return self.scaler.inverse(self.module.mean(self.module.decode(z, y)))

    def _generator(self, seed: int | None):
        import torch

        generator = torch.Generator(device=self._device())
        if _checked_seed(seed) is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        return generator

    def _randn(self, shape, generator):
        import torch

        return torch.randn(shape, generator=generator, device=self._device(), dtype=torch.float32)

    def _collect(self, n: int, parts, tuple_out: bool = False):
        """Run ``parts`` (tensors or tuples of tensors, one per batch, in order) in eval mode and copy
        them into numpy arrays of n rows allocated once, float32 (float64 for float64 parts: values in
        the units of float64 data); returns one array or a tuple of arrays."""
        import torch

        outs, start = None, 0
        bar = self._bar(n)
        was_training = self.module.training  # a module being fine-tuned goes back to training afterwards
        self.module.eval()
        try:
            with torch.no_grad():
                for part in parts:
                    part = part if isinstance(part, tuple) else (part,)
                    if outs is None:
                        outs = tuple(np.empty((n, *p.shape[1:]), dtype=np.float64 if p.dtype == torch.float64 else np.float32)
                                     for p in part)
                    for out, p in zip(outs, part):
                        out[start : start + len(p)] = p.cpu().numpy()
                    start += len(part[0])
                    if bar is not None:
                        bar.update(len(part[0]))
        finally:
            self.module.train(was_training)
            if bar is not None:
                bar.close()
        return outs if tuple_out or len(outs) > 1 else outs[0]

    def _bar(self, total: int):
        if not (self.progress and total > self.batch_size and sys.stderr.isatty()):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="ex", leave=False, dynamic_ncols=True)


def _numpy(x) -> np.ndarray:
    """x as a numpy array: tensors (on any device, with or without grad) copied to the CPU, sparse refused."""
    if hasattr(x, "toarray") or type(x).__module__.startswith("scipy.sparse"):
        raise VaekitError(f"input is a sparse {type(x).__name__}; pass a dense array (x.toarray())")
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


NOISE_BLOCK = 2**16  # numbers of seeded noise drawn at a time, in whole rows (see _RowNoise)


class _RowNoise:
    """Seeded noise for rows 0, 1, 2, ... of an input, ``draw((rows, *row_shape))`` a fixed number of rows at a
    time (about NOISE_BLOCK numbers; one row, if a row holds more).

    Row i's numbers depend on the seed and on i alone: not on the batch size, nor on how many rows
    there are. Drawn a batch at a time they did not: on the CPU, ``torch.randn`` draws a count under
    16, or one that is no multiple of 16, differently from the same numbers within a longer draw, so
    `generate`, `encode --sample` and `denoise` gave other samples for another --batch-size or --limit.
    """

    def __init__(self, generator, row_shape: tuple[int, ...], draw):
        self.generator, self.row_shape, self.draw = generator, tuple(row_shape), draw
        self.rows = max(1, NOISE_BLOCK // math.prod(row_shape))  # a block's rows: fixed for the shape
        self.left = None  # rows of the last block not yet taken

    def take(self, n: int):
        """The next n rows, (n, *row_shape)."""
        import torch

        parts = []
        while n > 0:
            if self.left is None or len(self.left) == 0:
                self.left = self.draw((self.rows, *self.row_shape), generator=self.generator,
                                      device=self.generator.device, dtype=torch.float32)
            parts.append(self.left[:n])
            self.left, n = self.left[n:], n - len(parts[-1])
        if not parts:  # no rows
            return torch.empty((0, *self.row_shape), device=self.generator.device)
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _checked_seed(seed):
    """``seed`` if it is None or an integer that every RNG takes, else a VaekitError."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < SEEDS):
        raise VaekitError(f"seed={seed!r} must be None or an integer from 0 to {SEEDS - 1}, e.g. 0")
    return seed


def _slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between rows of a and b (P, L) at fractions t (1, S, 1) -> (P, S, L).

    Angles and norms are interpolated separately (Shoemake 1985, with the norm blended linearly),
    falling back to a straight line where a and b point the same way.
    """
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)  # (P,)
    ua, ub = a / np.maximum(na, 1e-12)[:, None], b / np.maximum(nb, 1e-12)[:, None]
    omega = np.arccos(np.clip((ua * ub).sum(1), -1, 1))[:, None, None]  # (P, 1, 1)
    sin = np.sin(omega)
    safe = sin > 1e-6
    wa = np.where(safe, np.sin((1 - t) * omega) / np.where(safe, sin, 1), 1 - t)
    wb = np.where(safe, np.sin(t * omega) / np.where(safe, sin, 1), t)
    direction = wa * ua[:, None] + wb * ub[:, None]  # (P, S, L), unit length on the great circle
    norm = (1 - t) * na[:, None, None] + t * nb[:, None, None]
    return (direction * norm).astype(np.float32)
