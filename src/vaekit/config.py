"""Configuration: plain dataclasses that travel with every run folder (``config.json``).

Validation lives here too, so the CLI, the Python API and the scikit-learn estimators
all reject the same bad values with the same one-line message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import VaekitError

FORMAT_VERSION = 1  # bump when config.json changes incompatibly
NOISE_KINDS = ("gaussian", "mask", "salt-pepper")
# bernoulli: binary-ish data in [0, 1]; continuous-bernoulli: grey levels in [0, 1] (a true density there);
# gaussian: fixed sigma; gaussian-learned: sigma learned per feature; gaussian-learned-global: one learned sigma
LIKELIHOODS = ("bernoulli", "gaussian", "continuous-bernoulli", "gaussian-learned", "gaussian-learned-global")
UNIT_LIKELIHOODS = ("bernoulli", "continuous-bernoulli")  # densities of data in [0, 1] only
ARCHS = ("mlp", "conv")
ON_NAN = ("stop", "skip")
DEVICES = ("auto", "cpu", "cuda")
SEEDS = 2**32  # seeds are in [0, SEEDS): what every RNG vaekit seeds (numpy's too) takes
PRECISIONS = ("fp32", "bf16")
DEFAULT_IW_SAMPLES = 1000  # importance samples K of `vaekit evaluate`'s estimate of log p(x)
SCALES = ("minmax", "standard", "none")  # how float data are brought to the model's units (data/scaling.py)


@dataclass
class ModelConfig:
    model: str = "vae"  # a key of vaekit.models.MODELS: ae, dae, vae, iwae, cvae
    arch: str = "mlp"  # body: mlp (any data) or conv (images)
    input_shape: tuple[int, ...] = ()  # (D,) or (C, H, W); filled in from the data, never typed
    latent_dim: int = 16  # enough for digits; 2 makes the latent space drawable directly
    hidden: tuple[int, ...] = (256, 128)  # mlp: hidden widths; conv: channels per stride-2 layer
    likelihood: str = "bernoulli"  # bernoulli for data in [0, 1], gaussian otherwise; all in LIKELIHOODS
    sigma: float = 1.0  # standard deviation of the gaussian likelihood (fixed; learned ones start here)
    beta: float = 1.0  # weight of the KL term (VAE); 1 is the true ELBO
    noise: str | None = None  # corruption for denoising training, "kind:amount"; None = none
    kl_warmup: int = 0  # VAE: epochs over which the KL weight rises linearly from 0 to beta
    kl_cycles: int = 0  # VAE: repeat the warm-up ramp this often, each then held as long (Fu et al. 2019); 0 = once
    free_bits: float = 0.0  # VAE: nats per latent dimension the KL keeps for free (Kingma et al. 2016); 0 = off
    k: int = 5  # iwae: importance samples per example in the training bound (Burda et al. 2016)
    n_classes: int = 0  # cvae: number of label classes; filled in from the data, never typed

    def validate(self) -> ModelConfig:
        from .models import MODELS  # the registry is the single list of model names

        check_choice("model", self.model, tuple(MODELS))
        check_choice("arch", self.arch, ARCHS)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        _positive_int("latent-dim", self.latent_dim, "16")
        if (not isinstance(self.hidden, (tuple, list)) or not self.hidden
                or any(isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= MAX_SIZE for h in self.hidden)):
            shown = (",".join(map(shown_number, self.hidden)) if isinstance(self.hidden, (tuple, list)) and self.hidden
                     else repr(self.hidden))
            raise VaekitError(f"--hidden {shown} must be positive integers, at most {MAX_SIZE}; try --hidden 256,128")
        _positive("sigma", self.sigma, "1.0")
        # the loss is float32: 1 / sigma^2, beta * KL and free bits * dimensions must fit it (1e-300 divided by
        # zero, 1e300 overflowed in torch)
        if not 1 / WEIGHT_LIMIT <= self.sigma <= WEIGHT_LIMIT:
            raise VaekitError(f"--sigma {self.sigma!r} must be between {1 / WEIGHT_LIMIT:g} and {WEIGHT_LIMIT:g}; "
                              "try --sigma 1.0")
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or not 0 <= self.beta <= WEIGHT_LIMIT:  # NaN too
            raise VaekitError(f"--beta {self.beta!r} must be a number from 0 to {WEIGHT_LIMIT:g}; try --beta 1")
        _positive_int("kl-warmup", self.kl_warmup, "10", zero_ok=True)
        _positive_int("kl-cycles", self.kl_cycles, "4", zero_ok=True)
        if self.kl_cycles and not self.kl_warmup:
            raise VaekitError(f"--kl-cycles {self.kl_cycles} repeats the warm-up ramp, so it needs --kl-warmup EPOCHS "
                              "(the length of each ramp); try --kl-warmup 5")
        if (isinstance(self.free_bits, bool) or not isinstance(self.free_bits, (int, float))
                or not 0 <= self.free_bits <= WEIGHT_LIMIT):
            raise VaekitError(f"--free-bits {self.free_bits!r} must be a number of nats from 0 to {WEIGHT_LIMIT:g} (per latent "
                              "dimension); try --free-bits 0.5")
        _positive_int("k", self.k, "5")
        self._check_model_kind(MODELS)
        if self.noise is not None:
            parse_noise(self.noise)
        if self.input_shape and self.arch == "conv" and len(self.input_shape) != 3:
            raise VaekitError(
                f"--arch conv needs images (C, H, W) but the data are vectors of shape {self.input_shape}; use --arch mlp"
            )
        _check_types(self, in_file=False)  # what the checks above leave: a bool for a number, a number for a name
        return self

    def refuse_unused(self) -> ModelConfig:
        """Refuse options the user gave that this model would ignore (a run's saved config may hold them:
        it is not checked with this)."""
        from .models import MODELS, VAE

        defaults, probabilistic = ModelConfig(), issubclass(MODELS[self.model], VAE)
        kl_options = [f"--{name.replace('_', '-')} {getattr(self, name)}" for name in ("beta", "kl_warmup", "free_bits")
                      if getattr(self, name) != getattr(defaults, name)]
        if kl_options and not probabilistic:
            several = len(kl_options) > 1
            raise VaekitError(f"{', '.join(kl_options)} appl{'y' if several else 'ies'} to a VAE's KL term, which --model "
                              f"{self.model} does not have; drop {'them' if several else 'it'} or use --model vae")
        if self.model == "ae" and self.noise:  # an AE trained on corrupted input is a DAE: say so in its name
            raise VaekitError(f"--noise {self.noise} makes a denoising autoencoder; use --model dae --noise {self.noise}, "
                              "or drop --noise")
        if self.k != defaults.k and self.model != "iwae":
            raise VaekitError(f"--k {self.k} is the number of importance samples of --model iwae; drop it or use --model iwae")
        if self.sigma != defaults.sigma and not (probabilistic and self.likelihood.startswith("gaussian")):
            raise VaekitError(f"--sigma {self.sigma} is the standard deviation of a VAE's Gaussian likelihood, which --model "
                              f"{self.model} with --likelihood {self.likelihood} does not have; drop --sigma")
        return self

    def _check_model_kind(self, models: dict) -> None:
        """Options that only some models have: refuse them where they would be silently wrong."""
        from .models import VAE

        if self.likelihood not in ("bernoulli", "gaussian") and not issubclass(models[self.model], VAE):
            raise VaekitError(f"--likelihood {self.likelihood} needs a probabilistic model (vae, iwae, cvae) but --model "
                              f"{self.model} trains on cross-entropy or squared error; use --likelihood bernoulli or gaussian")
        if self.model == "iwae" and (self.beta != 1 or self.kl_warmup or self.free_bits):
            raise VaekitError("--model iwae trains on the importance-weighted bound, which has no KL term to weigh; drop "
                              "--beta, --kl-warmup, --kl-cycles and --free-bits, or use --model vae")
        if self.model == "cvae" and self.input_shape and (isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int)
                                                          or self.n_classes < 1):
            raise VaekitError(f"--model cvae needs labels: n_classes={self.n_classes}, but training fills it in from the "
                              "data's labels; train the cvae on labelled data")
        if self.model != "cvae" and self.n_classes != 0:  # it would be taken for a conditional model's classes
            raise VaekitError(f"n_classes={shown_number(self.n_classes)} is the number of classes a cvae is conditioned "
                              f"on, and a {self.model} has none; leave it 0")


@dataclass
class TrainConfig:
    epochs: int = 150  # full passes over the training split; early stopping usually ends sooner
    batch_size: int = 128  # examples per Adam step
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # seeds the split, the initial weights, the batches and the noise
    patience: int = 20  # stop after this many epochs without a better validation loss; 0 = never
    val_fraction: float = 0.1  # of the training data, held out for early stopping
    test_fraction: float = 0.2  # used only when the data set has no official test split
    device: str = "auto"  # auto picks cuda when present, else cpu
    checkpoint_every: int = 1  # write RUN/train_state.pt (for --resume) every N epochs; 0 = only on Ctrl-C
    on_nan: str = "stop"  # a non-finite loss or gradient: stop on the last good epoch, or skip the batch
    grad_clip: float = 0.0  # clip the global gradient norm to this; 0 = no clipping
    precision: str = "fp32"  # bf16: autocast the training step to bfloat16 (GPUs; CPUs with AVX512-BF16/AMX)

    def validate(self) -> TrainConfig:
        _positive_int("epochs", self.epochs, "30", zero_ok=False)
        _positive_int("batch-size", self.batch_size, "128")
        _positive("lr", self.lr, "1e-3")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < SEEDS:
            raise VaekitError(f"--seed {self.seed} must be an integer in [0, 2^32); try --seed 0")
        _positive_int("patience", self.patience, "10", zero_ok=True)
        for name, value in (("val-fraction", self.val_fraction), ("test-fraction", self.test_fraction)):
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise VaekitError(f"--{name} {value} must be in [0, 1); try --{name} 0.1")
        check_device(self.device)
        _positive_int("checkpoint-every", self.checkpoint_every, "1", zero_ok=True)
        check_choice("on-nan", self.on_nan, ON_NAN)
        if isinstance(self.grad_clip, bool) or not isinstance(self.grad_clip, (int, float)) or not 0 <= self.grad_clip < float("inf"):
            raise VaekitError(f"--grad-clip {self.grad_clip} must be a number >= 0 (0 = no clipping); try --grad-clip 1.0")
        check_choice("precision", self.precision, PRECISIONS)
        _check_types(self, in_file=False)  # what the checks above leave: a bool for a number, a number for a name
        return self


@dataclass
class DataConfig:
    name: str = "digits"  # a named data set (vaekit datasets) or a path to the user's file/folder
    key: str | None = None  # .npz: which array holds the data
    label_column: str | None = None  # .csv: which column holds the labels
    image_size: int | None = None  # image folders: resize every image to this square size
    scale: str = "minmax"  # float data: minmax to [0, 1], standard (zero mean, unit variance) or none (as they are)
    binarize: str | None = None  # "dynamic": a fresh Bernoulli draw of every batch (Burda et al. 2016); None: grey levels

    def validate(self) -> DataConfig:
        if not isinstance(self.name, str) or not self.name:
            raise VaekitError(f"the data set {self.name!r} is neither a name nor a path; name one, e.g. digits")
        if self.image_size is not None:
            _positive_int("image-size", self.image_size, "64")
        check_choice("scale", self.scale, SCALES)
        if self.binarize not in (None, "dynamic"):
            raise VaekitError(f"--binarize {self.binarize} is not a way to binarize: the only one is dynamic; try "
                              "--binarize dynamic")
        _check_types(self, in_file=False)  # what the checks above leave: a bool for a number, a number for a name
        return self


def default_hidden(arch: str) -> tuple[int, ...]:
    """Hidden widths (mlp) or channels (conv) when --hidden is not given."""
    return (32, 64) if arch == "conv" else (256, 128)


def parse_noise(text: str) -> tuple[str, float]:
    """Parse ``kind:amount`` (e.g. ``gaussian:0.3``) into ``("gaussian", 0.3)``."""
    hint = "try --noise gaussian:0.3, mask:0.3 or salt-pepper:0.1"
    if not isinstance(text, str):
        raise VaekitError(f"--noise {text!r} is not a kind:amount text; {hint}")
    kind, _, amount = text.partition(":")
    if kind not in NOISE_KINDS:
        raise VaekitError(f"--noise {text}: unknown corruption {kind!r}; {hint}")
    try:
        value = float(amount)
    except ValueError:
        raise VaekitError(f"--noise {text}: amount {amount!r} is not a number; {hint}") from None
    upper = float("inf") if kind == "gaussian" else 1.0
    if not 0 < value < upper or value != value:
        raise VaekitError(f"--noise {text}: amount must be > 0{'' if kind == 'gaussian' else ' and < 1'}; {hint}")
    return kind, value


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls, data: dict):
    """Build ``cls`` from a dict read from config.json, refusing unknown or mistyped fields."""
    if not isinstance(data, dict):
        raise VaekitError(f"{cls.__name__} in config.json is not an object; retrain or fix the file")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise VaekitError(f"config.json has unknown {cls.__name__} fields {sorted(unknown)}; was it written by a newer vaekit?")
    values = {}
    for name, value in data.items():
        if isinstance(value, list):
            value = tuple(value)  # JSON has no tuples
        values[name] = value
    obj = cls(**values)
    _check_types(obj)
    return obj


def _check_types(obj, in_file: bool = True) -> None:
    """Each field of ``obj`` of its default's type (a float field takes an int, a bool is no number);
    ``in_file``: the fields were read from config.json, else given in Python (an API call, an estimator)."""
    defaults = obj.__class__()
    for f in dataclasses.fields(obj):
        value, default = getattr(obj, f.name), getattr(defaults, f.name)
        if default is None or value is None:  # an optional field: its annotation ("str | None") says its type
            expected = str if str(f.type).startswith("str") else int
            ok = value is None or (not isinstance(value, bool) and isinstance(value, expected))
        else:
            expected = float if isinstance(default, float) else type(default)
            ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
            if isinstance(default, tuple):
                ok = isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            if isinstance(value, bool) and expected is not bool:
                ok = False
        if not ok:
            allowed = ("a list of int" if in_file else "a tuple of int") if isinstance(default, tuple) else (
                expected.__name__ + (" or null" if in_file else " or None") * (default is None))
            raise VaekitError(f"config.json field {f.name}={value!r} should be {allowed}; retrain or fix the file" if in_file
                              else f"{f.name}={value!r} should be {allowed}")


def plain(value):
    """numpy numbers (from a parameter grid, an array's max, ...) as the Python numbers a config holds
    (and config.json can store), in lists and tuples too; everything else as it is."""
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def check_device(device: str) -> tuple[str, int | None]:
    """auto, cpu, cuda, or cuda:N (the GPU numbered N) -> (kind, N or None); a one-line error for anything else."""
    kind, colon, index = str(device).partition(":")
    if colon and (kind not in ("cuda", "cpu") or not index.isdigit()):
        raise VaekitError(f"--device {device}: after 'cuda:' comes the GPU's number, e.g. --device cuda:0")
    check_choice("device", kind, DEVICES)
    return kind, int(index) if colon and kind == "cuda" else None  # cpu:0, as str(torch.device("cpu", 0)) says, is the CPU


def check_choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise VaekitError(f"--{name} {value} is not one of {', '.join(allowed)}; try --{name} {allowed[0]}")


MAX_SIZE = 2**31 - 1  # the largest layer width, latent size or count torch takes as a size
WEIGHT_LIMIT = 1e6  # the largest --beta, --free-bits or 1 / --sigma (and --sigma) a float32 loss holds comfortably


def _positive_int(name: str, value, example: str, zero_ok: bool = False) -> None:
    low = 0 if zero_ok else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_SIZE:
        what = f"at most {MAX_SIZE}" if isinstance(value, int) and value > MAX_SIZE else (
            "an integer >= 0" if zero_ok else "a positive integer")
        raise VaekitError(f"--{name} {shown_number(value)} must be {what}; try --{name} {example}")


def shown_number(value) -> str:
    """``repr(value)``, but for an integer too long to print (Python refuses str() beyond 4300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"{'-' if value < 0 else ''}{value.bit_length() * 30103 // 100000}-digit number"
    return repr(value)


def _positive(name: str, value, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise VaekitError(f"--{name} {value!r} must be a positive number; try --{name} {example}")


__all__ = ["ModelConfig", "TrainConfig", "DataConfig", "parse_noise", "to_dict", "from_dict", "FORMAT_VERSION"]
