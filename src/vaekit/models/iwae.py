"""The importance weighted autoencoder (Burda et al. 2016): the VAE's networks, a tighter bound."""

from __future__ import annotations

import math

import torch

from .. import losses
from .vae import VAE


class IWAE(VAE):
    """Trains on the k-sample importance-weighted bound instead of the ELBO.

    ``loss`` = -log (1/k) sum_i w_i, w_i = p(x, z_i) / q(z_i | x), z_i ~ q(z | x), which is >= the
    ELBO and tends to log p(x) as k grows (Burda et al. 2016, theorem 1); ``k = cfg.k``. The logs
    also hold ``neg_elbo`` (closed-form KL plus the k draws' mean reconstruction), so an IWAE is
    compared with a VAE on the same footing; ``log_weights`` is the estimator shared with every VAE.
    There is no KL weight: beta, warm-up and free bits are refused by the config.
    """

    def objective(self) -> str:
        return f"-IWAE bound, k={self.cfg.k} (Burda et al. 2016)"

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, progress: float | None = None) -> tuple[torch.Tensor, dict]:
        k = self.cfg.k
        mu, logvar = self.encode(self.corrupted(x), y)
        log_px, log_ratio, out = self.importance_terms(mu, logvar, x, y, k)  # (k, B), (k, B)
        bound = torch.logsumexp(log_px + log_ratio, dim=0) - math.log(k)  # (B,)
        loss = -bound.mean()
        recon = -log_px.mean()
        kl = losses.kl_to_standard_normal(mu, logvar).sum(1).mean()
        return loss, self.logs(loss, recon + kl, recon, kl, out, x)
