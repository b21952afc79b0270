"""The variational autoencoder (Kingma & Welling 2014)."""

from __future__ import annotations

import torch

from .. import losses
from .autoencoder import Autoencoder


class VAE(Autoencoder):
    """Gaussian posterior q(z|x) = N(mu, diag(exp(logvar))), prior N(0, I), likelihood p(x|z).

    ``loss`` is beta * KL + reconstruction NLL (the negative ELBO when beta = 1), in nats per
    example; the KL weight rises linearly from 0 to beta over ``kl_warmup`` epochs when set.
    """

    def encoder_width(self) -> int:
        return 2 * self.cfg.latent_dim  # mu and logvar

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, *input_shape) -> (mu, logvar), each (B, latent)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)[0]  # the posterior mean

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): a sample that gradients flow through."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x -> (decoder output of a posterior sample, mu, logvar)."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    def kl_weight(self, progress: float | None) -> float:
        """beta, scaled by the linear warm-up at ``progress`` epochs (None: fully warmed up)."""
        if progress is None or not self.cfg.kl_warmup:
            return self.cfg.beta
        return self.cfg.beta * min(1.0, progress / self.cfg.kl_warmup)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, progress: float | None = None) -> tuple[torch.Tensor, dict]:
        out, mu, logvar = self.forward(self.corrupted(x))
        recon = losses.reconstruction_nll(self.cfg.likelihood, out, x, self.cfg.sigma).mean()
        kl = losses.kl_to_standard_normal(mu, logvar).sum(1).mean()
        loss = recon + self.kl_weight(progress) * kl
        mse = (self.mean(out.detach()) - x).pow(2).mean()
        logs = {"loss": loss.detach(), "neg_elbo": (recon + kl).detach(), "recon": recon.detach(), "kl": kl.detach(), "mse": mse}
        return loss, logs
