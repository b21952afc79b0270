"""vaekit: autoencoders (AE, DAE, VAE) that train, evaluate and generate on real data.

Importing vaekit is cheap: torch loads only when a model is built or loaded.
"""

__version__ = "0.1.0"


def load(run):
    """Load a trained run folder: ``m = vaekit.load("runs/vae-digits")``; see ``vaekit.trained.Trained``."""
    from .trained import Trained

    return Trained.load(run)


def train(**kwargs):
    """Train a model and write its run folder; see ``vaekit.api.train`` for the arguments."""
    from .api import train as _train

    return _train(**kwargs)


__all__ = ["load", "train", "__version__"]
