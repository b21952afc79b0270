"""vaekit: autoencoders (AE, DAE, VAE) that train, evaluate and generate on real data.

Importing vaekit is cheap: torch loads only when a model is built or loaded.
"""

import contextlib

__version__ = "0.1.0"


def load(run, device: str = "cpu", *, batch_size: int = 1024, progress: bool = False):
    """Load a trained run folder: ``m = vaekit.load("runs/vae-digits")``, onto ``device`` ("cpu", "cuda",
    "cuda:1", "auto"); ``batch_size`` examples at a time, a progress bar with ``progress``. See
    ``vaekit.trained.Trained``."""
    from .trained import Trained

    with _python_spelling():
        trained = Trained.load(run, device, batch_size=batch_size, progress=progress)
    trained.python_spelling = True
    return trained


def train(out=None, verbose: bool = True, offline: bool = False, resume=None, **options):
    """Train a model and write its run folder, ``vaekit.train(data="digits", model="vae", epochs=20,
    out="runs/vae")``; returns the loaded model. See ``vaekit.api.train`` for the arguments."""
    from .api import train as _train

    with _python_spelling():
        trained = _train(out, verbose=verbose, offline=offline, resume=resume, **options)
    if trained is not None:  # None on the other processes under torchrun
        trained.python_spelling = True
    return trained


@contextlib.contextmanager
def _python_spelling():
    """Errors name the arguments as Python passes them (latent_dim=0), not as the shell does (--latent-dim 0)."""
    from .errors import VaekitError, python_spelling

    try:
        yield
    except VaekitError as e:
        raise VaekitError(python_spelling(str(e))) from None


__all__ = ["load", "train", "__version__"]
