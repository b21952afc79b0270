"""vaekit: autoencoders (AE, DAE, VAE) that train, evaluate and generate on real data.

Importing vaekit is cheap: torch loads only when a model is built or loaded.
"""

__version__ = "0.1.0"


def load(run, device: str = "cpu", *, batch_size: int = 1024, progress: bool = False):
    """Load a trained run folder: ``m = vaekit.load("runs/vae-digits")``, onto ``device`` ("cpu", "cuda",
    "cuda:1", "auto"); ``batch_size`` examples at a time, a progress bar with ``progress``. See
    ``vaekit.trained.Trained``."""
    from .errors import python_spelled
    from .trained import Trained

    with python_spelled():
        trained = Trained.load(run, device, batch_size=batch_size, progress=progress)
    trained.python_spelling = True
    return trained


def train(out=None, verbose: bool = True, offline: bool = False, resume=None, **options):
    """Train a model and write its run folder, ``vaekit.train(data="digits", model="vae", epochs=20,
    out="runs/vae")``; returns the loaded model. See ``vaekit.api.train`` for the arguments."""
    from .api import train as _train
    from .errors import python_spelled

    with python_spelled():
        trained = _train(out, verbose=verbose, offline=offline, resume=resume, **options)
    if trained is not None:  # None on the other processes under torchrun
        trained.python_spelling = True
    return trained


__all__ = ["load", "train", "__version__"]
