"""Model registry: ``MODELS[name](cfg)`` builds a model from its config."""

from .autoencoder import Autoencoder, corrupt
from .cvae import CVAE
from .iwae import IWAE
from .vae import VAE

MODELS = {"ae": Autoencoder, "dae": Autoencoder, "vae": VAE, "iwae": IWAE, "cvae": CVAE}
DAE_DEFAULT_NOISE = "gaussian:0.3"  # what --model dae corrupts with when --noise is not given


def build_model(cfg):
    """Build the model named by ``cfg.model`` (an ``nn.Module``) from its config alone."""
    return MODELS[cfg.model](cfg)


__all__ = ["Autoencoder", "VAE", "IWAE", "CVAE", "MODELS", "DAE_DEFAULT_NOISE", "build_model", "corrupt"]
