"""scikit-learn estimators: an autoencoder or a VAE as a transformer, ``X (N, D) -> codes (N, latent)``.

They train through the library's in-memory path (configs, ``Data`` from the array, ``vaekit.trainer.fit``)
and write no run folder. Data arrive as floats in the user's units and are min-max scaled to [0, 1]
by default, which is what makes the Bernoulli likelihood (the default where it applies) valid::

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from vaekit.sklearn import VAETransformer

    clf = make_pipeline(VAETransformer(latent_dim=8), LogisticRegression(max_iter=1000)).fit(X, y)
"""

from __future__ import annotations

import math
import numbers
import threading
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .config import ARCHS, LIKELIHOODS, MAX_SIZE, UNIT_LIKELIHOODS, ModelConfig, TrainConfig, default_hidden, plain
from .errors import VaekitError, python_spelling

FLOATS = [np.float64, np.float32]  # kept as given; anything else becomes float64
# A fit seeds torch's global generator, which draws the initial weights and the training noise: fits in
# threads (joblib's threading backend) take turns, so random_state gives the same model however they are
# scheduled. Each fit uses every core already.
_SEEDED_FIT = threading.Lock()


def _in_range(X: np.ndarray) -> np.ndarray:
    """X, unless it holds values so large that scaling them overflows float32 (the files' limit)."""
    from .data.files import TOO_LARGE

    if X.size and max(X.max(), -X.min()) > TOO_LARGE:  # no |X| copy of a large X
        raise ValueError(f"X has values beyond +-{TOO_LARGE:.0e}, too large to scale in float32; rescale them first "
                         "(divide by a power of ten)")
    return X


class _Autoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """What both estimators share; subclasses say which model (``_model_name``) and its extra parameters."""

    def fit(self, X, y=None):
        """Train on X (N, D) in the user's units; ``y`` is ignored. Returns self.

        A fit that fails (bad parameters or data) leaves the estimator unfitted, not half-fitted."""
        try:
            with _SEEDED_FIT:
                return self._fit(X)
        except BaseException:
            for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
                delattr(self, name)  # n_features_in_ is set before the parameters are checked
            raise

    def _fit(self, X):
        from .data.datasets import from_arrays
        from .models import build_model
        from .trainer import fit, resolve_device, seeded

        X = _in_range(validate_data(self, X, dtype=FLOATS))
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        shape = self._input_shape(X.shape[1])
        with _as_value_error():
            train_cfg = TrainConfig(epochs=plain(self.epochs), batch_size=plain(self.batch_size), lr=plain(self.lr), seed=seed,
                                    patience=0, val_fraction=0.0, device=str(self.device)).validate()
            device = resolve_device(str(self.device))
            data = from_arrays(X.reshape(len(X), *shape), scale=self.scale, seed=seed)
            model_cfg = self._model_config(shape, self._likelihood(data)).validate()
            data.scaler = data.scaler.for_likelihood(model_cfg.likelihood)  # scale='none': later data clipped
        with seeded(seed, device):  # seeded weights and noise; the caller's RNG is left alone
            module = build_model(model_cfg).to(device)
            # the weights after the last epoch: with no held-out data there is no better epoch to go back to
            history = fit(module, data, train_cfg, device=device, verbose=bool(self.verbose), restore_best=False)
        if history.stopped == "diverged":  # the trainer's advice names command-line options: give the estimator's
            what = "; ".join(history.message.split("; ")[:2])  # what went non-finite, and which weights were kept
            advice = f"try a lower lr (now {self.lr:g})"
            if "(--scale none)" in history.message:
                advice = f"give scale='standard' or scale='minmax' (X reaches {max(X.max(), -X.min()):.3g} in size), or {advice}"
            warnings.warn(f"{type(self).__name__}: {what}; {advice}", ConvergenceWarning, stacklevel=2)
        self.module_ = module.eval()
        self.scaler_ = data.scaler
        self.history_ = history.records
        return self

    def transform(self, X):
        """Codes (N, latent_dim) of X; the posterior mean for a VAE."""
        X = self._validate(X)
        return self._trained().encode(X).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """Decoder means (N, D) in the user's units for codes X (N, latent_dim)."""
        check_is_fitted(self)
        Z = check_array(X, dtype=FLOATS)
        if Z.shape[1] != self.module_.cfg.latent_dim:
            raise ValueError(f"X has {Z.shape[1]} features, but {type(self).__name__}.inverse_transform is expecting "
                             f"{self.module_.cfg.latent_dim} (latent_dim) features as input")
        return self._trained().decode(Z).reshape(len(Z), -1).astype(Z.dtype, copy=False)

    def score_samples(self, X):
        """Per-example score, higher is better, in the scaled units: the ELBO for a VAE (nats); for an
        AE minus its training loss: with a Bernoulli likelihood log p(x | code(x)), a log-probability
        for 0/1 data only (on grey levels it is minus a cross-entropy, no density), and with a
        Gaussian one minus the summed squared error (no likelihood).

        With scale='minmax', values outside the range of the data it was fitted on are clipped to
        that range first (with a warning on the 'vaekit' logger), so an example is not scored lower
        for them; to score such outliers, fit with scale='standard'."""
        X = self._validate(X)
        scores = self._trained().score(X)
        return -scores.get("neg_elbo", scores["recon"]).astype(np.float64)

    def score(self, X, y=None):
        """Mean of ``score_samples`` over X; ``y`` is ignored.

        Scores are in the scaled units and depend on the likelihood, so they compare models of one
        ``scale`` and ``likelihood`` only: a grid search over ``scale`` by this score is meaningless
        (a Gaussian's log-density rises as the data shrink); search it by a downstream task.

        A VAE's ELBO here takes one seeded posterior draw of the noise, shared by every example (so
        each example's score is its own, whatever else is in X): its error does not shrink with the
        size of X (about 2 nats on digits). ``vaekit evaluate`` reports the ELBO over independent draws
        and the importance-weighted log-likelihood."""
        return float(np.mean(self.score_samples(X)))

    def __getstate__(self):
        """Pickled with its model on the CPU, so an estimator fitted on a GPU loads on a machine without
        one (torch refuses CUDA tensors there); a loaded estimator runs on the CPU."""
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and any(p.device.type != "cpu" for p in module.parameters()):
            import copy

            state = {**state, "module_": copy.deepcopy(module).cpu()}
        return state

    @property
    def _n_features_out(self):
        return self.module_.cfg.latent_dim  # AttributeError before fit: get_feature_names_out says not fitted

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -- helpers --

    def _validate(self, X):
        check_is_fitted(self)
        return _in_range(validate_data(self, X, dtype=FLOATS, reset=False))

    def _trained(self):
        from .trained import Trained

        return Trained(self.module_, {"cfg_model": self.module_.cfg, "cfg_scaler": self.scaler_})

    def _input_shape(self, n_features: int) -> tuple[int, ...]:
        """(D,) for arch='mlp'; image_shape, or a square grey image, for arch='conv'."""
        if self.arch not in ARCHS:
            raise ValueError(f"arch={self.arch!r} is not one of {', '.join(ARCHS)}; e.g. arch='mlp'")
        if self.arch == "mlp":
            return (n_features,)
        if self.image_shape is not None:
            listed = isinstance(self.image_shape, (list, tuple, np.ndarray))
            shape = plain(tuple(self.image_shape)) if listed else ()  # numpy numbers too
            positive = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
            if len(shape) != 3 or not positive or math.prod(shape) != n_features:
                raise ValueError(f"image_shape={self.image_shape!r} must be (C, H, W), positive integers with "
                                 f"C*H*W = {n_features} features")
            return shape
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(f"arch='conv' needs images: {n_features} features are no square image; "
                             "pass image_shape=(C, H, W) or use arch='mlp'")
        return (1, side, side)

    def _likelihood(self, data) -> str:
        """The likelihood asked for, else bernoulli when the scaled training data lie in [0, 1], else gaussian."""
        likelihood = getattr(self, "likelihood", None)
        if likelihood is not None and likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood={likelihood!r} is not one of {', '.join(LIKELIHOODS)}; e.g. likelihood='bernoulli'")
        in_unit = data.scaler.in_unit_range(data.x)
        if likelihood in UNIT_LIKELIHOODS and not in_unit:
            raise ValueError(f"likelihood={likelihood!r} needs data in [0, 1] but scale={self.scale!r} leaves it outside; "
                             "use scale='minmax' or likelihood='gaussian'")
        return likelihood or ("bernoulli" if in_unit else "gaussian")

    def _model_config(self, shape: tuple[int, ...], likelihood: str) -> ModelConfig:
        hidden = self.hidden if self.hidden is not None else default_hidden(self.arch)
        if isinstance(hidden, (int, np.integer)):
            hidden = (hidden,)
        elif isinstance(hidden, (list, tuple, np.ndarray)):
            hidden = tuple(hidden)  # anything else (a string) is refused as it is, not read a character at a time
        hidden = plain(hidden)
        return ModelConfig(model=self._model_name(), arch=self.arch, input_shape=shape, latent_dim=plain(self.latent_dim),
                           hidden=hidden, likelihood=likelihood, **{k: plain(v) for k, v in self._model_options().items()})


class AutoencoderTransformer(_Autoencoder):
    """A plain (``kind='ae'``) or denoising (``kind='dae'``) autoencoder as a scikit-learn transformer.

    Parameters
    ----------
    kind : {'ae', 'dae'}
        'dae' trains on corrupted input (``noise``) to reconstruct the clean one.
    latent_dim : int
        Width of the code: the number of output features of ``transform``.
    hidden : tuple of int, optional
        mlp: hidden widths (default (256, 128)); conv: channels (default (32, 64)).
    arch : {'mlp', 'conv'}
        'conv' needs images: ``image_shape`` (C, H, W), or square grey images when it is None.
    image_shape : tuple of int, optional
        For arch='conv': the shape each row of X is reshaped to.
    noise : str, optional
        DAE corruption ``kind:amount`` in scaled units (default 'gaussian:0.3' for kind='dae').
    epochs, batch_size, lr : int, int, float
        Adam training: passes over X, examples per step, learning rate; the model is the one after
        the last epoch (no early stopping).
    scale : {'minmax', 'standard', 'none'}
        How X is scaled for the network (fitted on X). The reconstruction loss is the Bernoulli
        cross-entropy when the scaled data lie in [0, 1] (always with 'minmax'), else squared error.
    random_state : int, RandomState or None
        Seeds the weights, batch order and noise; the same integer gives the same model, also for fits
        in threads (they take turns; each uses every core).
    device : {'auto', 'cpu', 'cuda', 'cuda:N'}
    verbose : bool
        Print one line per epoch on stderr.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained autoencoder (``vaekit.models.Autoencoder``).
    scaler_ : vaekit.data.scaling.Scaler
        The fitted scaling, user units -> network units.
    history_ : list of dict
        One record per epoch: epoch, train_loss, train_recon, train_mse, seconds.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X has feature names.
    """

    def __init__(self, kind="ae", latent_dim=16, hidden=None, arch="mlp", image_shape=None, noise=None, epochs=50,
                 batch_size=128, lr=1e-3, scale="minmax", random_state=None, device="auto", verbose=False):
        self.kind = kind
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.arch = arch
        self.image_shape = image_shape
        self.noise = noise
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.scale = scale
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _model_name(self) -> str:
        if self.kind not in ("ae", "dae"):
            raise ValueError(f"kind={self.kind!r} is not one of ae, dae; e.g. kind='ae' (use VAETransformer for a VAE)")
        return self.kind

    def _model_options(self) -> dict:
        from .models import DAE_DEFAULT_NOISE

        if self.kind == "ae" and self.noise is not None:
            raise ValueError(f"noise={self.noise!r} corrupts the input of a denoising autoencoder; use kind='dae'")
        return {"noise": self.noise or (DAE_DEFAULT_NOISE if self.kind == "dae" else None)}


class VAETransformer(_Autoencoder):
    """A variational autoencoder as a scikit-learn transformer: ``transform`` gives the posterior means.

    Parameters
    ----------
    latent_dim : int
        Width of the code: the number of output features of ``transform``.
    hidden : tuple of int, optional
        mlp: hidden widths (default (256, 128)); conv: channels (default (32, 64)).
    arch : {'mlp', 'conv'}
        'conv' needs images: ``image_shape`` (C, H, W), or square grey images when it is None.
    image_shape : tuple of int, optional
        For arch='conv': the shape each row of X is reshaped to.
    beta : float
        Weight of the KL term; 1 is the true ELBO.
    likelihood : {'bernoulli', 'gaussian', 'continuous-bernoulli', 'gaussian-learned', 'gaussian-learned-global'}, optional
        p(x | z). Default: bernoulli when the scaled data lie in [0, 1] (always with 'minmax'),
        else gaussian; bernoulli or continuous-bernoulli on data outside [0, 1] is an error.
    epochs, batch_size, lr : int, int, float
        Adam training: passes over X, examples per step, learning rate; the model is the one after
        the last epoch (no early stopping).
    scale : {'minmax', 'standard', 'none'}
        How X is scaled for the network (fitted on X).
    random_state : int, RandomState or None
        Seeds the weights, batch order and the reparameterization noise; the same integer gives the
        same model, also for fits in threads (they take turns; each uses every core).
    device : {'auto', 'cpu', 'cuda', 'cuda:N'}
    verbose : bool
        Print one line per epoch on stderr.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained ``vaekit.models.VAE``.
    scaler_ : vaekit.data.scaling.Scaler
        The fitted scaling, user units -> network units.
    history_ : list of dict
        One record per epoch: epoch, train_loss, train_neg_elbo, train_recon, train_kl, train_mse, seconds
        (and train_sigma, the mean learned standard deviation, with a learned Gaussian likelihood).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X has feature names.
    """

    def __init__(self, latent_dim=16, hidden=None, arch="mlp", image_shape=None, beta=1.0, likelihood=None, epochs=50,
                 batch_size=128, lr=1e-3, scale="minmax", random_state=None, device="auto", verbose=False):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.arch = arch
        self.image_shape = image_shape
        self.beta = beta
        self.likelihood = likelihood
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.scale = scale
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def sample(self, n_samples=1, random_state=None):
        """Draw n_samples new examples (n_samples, D) in the user's units: decodes of z ~ N(0, I)."""
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or not 1 <= n_samples <= MAX_SIZE:
            raise ValueError(f"n_samples={n_samples!r} must be a positive integer, at most {MAX_SIZE}")
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        with _as_value_error():
            x = self._trained().generate(n_samples, seed=seed)
        return x.reshape(n_samples, -1).astype(np.float64)

    def _model_name(self) -> str:
        return "vae"

    def _model_options(self) -> dict:
        return {"beta": self.beta}


@contextmanager
def _as_value_error():
    """Turn vaekit's VaekitError into the ValueError scikit-learn code expects, naming parameters
    as the estimator does: "--latent-dim 0 ...; try --latent-dim 16" -> "latent_dim=0 ...; try latent_dim=16"."""
    try:
        yield
    except VaekitError as e:
        raise ValueError(python_spelling(str(e))) from None


__all__ = ["AutoencoderTransformer", "VAETransformer"]
