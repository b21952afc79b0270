"""The variational autoencoder (Kingma & Welling 2014), with the knobs of its KL term."""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import losses, schedules
from ..config import ModelConfig
from .autoencoder import Autoencoder

LEARNED_SIGMA = {"gaussian-learned": "feature", "gaussian-learned-global": "global"}  # likelihood -> sigma's shape


class VAE(Autoencoder):
    """Gaussian posterior q(z|x) = N(mu, diag(exp(logvar))), prior N(0, I), likelihood p(x|z).

    ``loss`` is the optimized objective, recon + w * KL, in nats per example: w follows the KL
    schedule (``beta``, ``kl_warmup``, ``kl_cycles``) and the KL may have free bits (``free_bits``);
    with the defaults it is the negative ELBO. The logs always hold the true ``neg_elbo`` next to
    it, and ``objective()`` says in words what ``loss`` is.

    Every method takes optional labels ``y``; the VAE ignores them, the conditional VAE needs them.
    With a learned Gaussian likelihood, ``log_sigma`` holds log std per feature or one for all,
    starting at log(cfg.sigma).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        shape = {"feature": tuple(cfg.input_shape), "global": ()}.get(LEARNED_SIGMA.get(cfg.likelihood))
        log_sigma = None if shape is None else nn.Parameter(torch.full(shape, math.log(cfg.sigma)))
        self.register_parameter("log_sigma", log_sigma)

    def encoder_width(self) -> int:
        return 2 * self.cfg.latent_dim  # mu and logvar

    def monitored_log(self, held_out: bool) -> str:
        """The log that picks the best epoch (and stops early): the loss, but for what only trains the model.
        Free bits make the KL free below a floor: the -ELBO. On the training split under a KL warm-up the loss
        is the annealed objective, lowest where the KL weight is: the -ELBO (held-out splits are scored at the
        final weight)."""
        return "neg_elbo" if self.cfg.free_bits or (self.cfg.kl_warmup and not held_out) else "loss"

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, *input_shape) -> (mu, logvar), each (B, latent)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def code(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode(x, y)[0]  # the posterior mean

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): a sample that gradients flow through."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x -> (decoder output of a posterior sample, mu, logvar)."""
        mu, logvar = self.encode(x, y)
        return self.decode(self.reparameterize(mu, logvar), y), mu, logvar

    def sigma(self) -> float | torch.Tensor:
        """Standard deviation of the Gaussian likelihood: the fixed cfg.sigma or the learned one."""
        return self.cfg.sigma if self.log_sigma is None else self.log_sigma.exp()

    def recon_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) for the decoder output ``out``, (B,) nats; in float32 under bf16 autocast too (sigma 0.3
        in bfloat16 is 0.30078: 2 nats an example off on 784 features)."""
        return losses.reconstruction_nll(self.cfg.likelihood, losses.widened(out), x, self.sigma())

    def kl_weight(self, progress: float | None) -> float:
        """The KL weight at ``progress`` epochs (None: after training, i.e. beta)."""
        c = self.cfg
        return schedules.kl_weight(c.beta, progress, c.kl_warmup, c.kl_cycles)

    def objective(self) -> str:
        """What ``loss`` is, in words (for summary.json)."""
        c = self.cfg
        return schedules.describe(c.beta, c.kl_warmup, c.kl_cycles, c.free_bits)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, progress: float | None = None) -> tuple[torch.Tensor, dict]:
        out, mu, logvar = self.forward(self.corrupted(x), y)
        recon = self.recon_nll(out, x).mean()
        kl = losses.kl_to_standard_normal(mu, logvar)  # (B, latent)
        loss = recon + self.kl_weight(progress) * schedules.free_bits_kl(kl, self.cfg.free_bits)
        kl_total = kl.sum(1).mean()
        return loss, self.logs(loss, recon + kl_total, recon, kl_total, out, x)

    def logs(self, loss, neg_elbo, recon, kl, out, x) -> dict:
        """The detached batch means every VAE reports; ``sigma`` (mean learned std) when it is learned."""
        mse = (self.mean(out.detach()) - x).pow(2).mean()
        logs = {"loss": loss, "neg_elbo": neg_elbo, "recon": recon, "kl": kl, "mse": mse}
        if self.log_sigma is not None:
            logs["sigma"] = self.log_sigma.exp().mean()
        return {k: v.detach() for k, v in logs.items()}

    def log_weights(self, x: torch.Tensor, y: torch.Tensor | None = None, k: int = 1) -> torch.Tensor:
        """log w_i = log p(x, z_i) - log q(z_i | x) for k draws z_i ~ q(z | x): (k, B) nats.

        The estimator of log p(x) every vaekit model shares: logmeanexp over k is the IWAE bound
        (Burda et al. 2016), tight as k grows; with k = 1 its mean is the ELBO.
        """
        mu, logvar = self.encode(x, y)
        log_px, log_ratio, _ = self.importance_terms(mu, logvar, x, y, k)
        return log_px + log_ratio

    def importance_terms(self, mu, logvar, x, y, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For k posterior draws: (log p(x|z) (k, B), log p(z) - log q(z|x) (k, B), decoder output of the first draw)."""
        eps = torch.randn(k, *mu.shape, dtype=mu.dtype, device=mu.device)  # (k, B, latent)
        z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, latent)
        # log N(z; 0, I) - log N(z; mu, sigma^2): the 2 pi terms cancel
        log_ratio = 0.5 * (eps.pow(2) + logvar - z.pow(2)).sum(-1)  # (k, B)
        nll, out = self.draws_nll(z, x, y)
        return -nll, log_ratio, out[: len(x)]

    def draws_nll(self, z: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """-log p(x | z_i) for k draws z (k, B, latent) of each example of x: ((k, B) nats, the decoder's
        output (k*B, *input_shape)), all k decoded as one batch."""
        k = len(z)
        out = self.decode(z.flatten(0, 1), None if y is None else y.repeat(k))
        return self.recon_nll(out, x.repeat(k, *[1] * (x.ndim - 1))).view(k, len(x)), out
