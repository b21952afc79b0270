"""Model registry: ``MODELS[name](cfg)`` builds a model from its config."""

from ..errors import VaekitError
from .autoencoder import Autoencoder, corrupt
from .cvae import CVAE
from .iwae import IWAE
from .vae import VAE

MODELS = {"ae": Autoencoder, "dae": Autoencoder, "vae": VAE, "iwae": IWAE, "cvae": CVAE}
DAE_DEFAULT_NOISE = "gaussian:0.3"  # what --model dae corrupts with when --noise is not given


def build_model(cfg):
    """Build the model named by ``cfg.model`` (an ``nn.Module``) from its config alone."""
    try:
        return MODELS[cfg.model](cfg).float()  # float32 whatever torch.set_default_dtype says: the data are float32
    except RuntimeError as e:  # a layer of 2**31 x 2**31 weights: torch's size arithmetic overflows (on meta too)
        if "overflow" not in str(e):
            raise
        raise VaekitError(f"hidden sizes {','.join(map(str, cfg.hidden))} with latent size {cfg.latent_dim} make layers "
                          "too large for torch to hold; use smaller sizes") from None


__all__ = ["Autoencoder", "VAE", "IWAE", "CVAE", "MODELS", "DAE_DEFAULT_NOISE", "build_model", "corrupt"]
