"""A trained run folder as a numpy-in, numpy-out object: ``vaekit.load(RUN)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import ModelConfig
from .errors import VaekitError


class Trained:
    """A trained model with numpy in, numpy out, in the user's original units.

    ``module`` is the plain ``nn.Module`` (for fine-tuning or embedding in other code).
    """

    def __init__(self, module, config: dict, run: Path):
        self.module, self.config, self.run = module, config, Path(run)
        self.scaler = config["cfg_scaler"]
        self.model_cfg: ModelConfig = config["cfg_model"]

    @classmethod
    def load(cls, run, device: str = "cpu") -> Trained:
        from .checkpoint import load_run

        module, config = load_run(run, device)
        return cls(module, config, run)

    def _device(self):
        return next(self.module.parameters()).device

    def _inputs(self, x):
        import torch

        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        shape = tuple(self.model_cfg.input_shape)
        if tuple(x.shape[1:]) != shape:
            if x.ndim >= 2 and int(np.prod(x.shape[1:])) == int(np.prod(shape)):
                x = x.reshape(len(x), *shape)
            else:
                raise VaekitError(f"input has shape {tuple(x.shape)} but the model expects (N, {', '.join(map(str, shape))}); "
                                  "pass data shaped like the training data")
        return self.scaler.transform(x.to(self._device()))

    def _batched(self, fn, x, batch_size: int = 1024) -> np.ndarray:
        import torch

        with torch.no_grad():
            parts = [fn(self._inputs(x[i : i + batch_size])).cpu().numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.empty((0,))

    def encode(self, x) -> np.ndarray:
        """Codes (N, latent): the posterior mean for a VAE."""
        return self._batched(self.module.code, x)

    def reconstruct(self, x) -> np.ndarray:
        """E[x | code(x)], in the original units."""
        return self.scaler.inverse(self._batched(self.module.reconstruct, x))

    def decode(self, z) -> np.ndarray:
        """Decoder means for codes z (N, latent), in the original units."""
        import torch

        z = torch.as_tensor(np.asarray(z, dtype=np.float32)).to(self._device())
        if z.ndim != 2 or z.shape[1] != self.model_cfg.latent_dim:
            raise VaekitError(f"latents have shape {tuple(z.shape)} but the model expects (N, {self.model_cfg.latent_dim})")
        with torch.no_grad():
            return self.scaler.inverse(self.module.mean(self.module.decode(z)).cpu().numpy())

    def generate(self, n: int, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """Decode z ~ N(0, temperature^2 I): new data for a VAE (an AE's latent space is no distribution)."""
        import torch

        generator = torch.Generator(device=self._device())
        generator.manual_seed(seed) if seed is not None else generator.seed()
        with torch.no_grad():
            out = self.module.sample(n, temperature=temperature, generator=generator)
        return self.scaler.inverse(out.cpu().numpy())
