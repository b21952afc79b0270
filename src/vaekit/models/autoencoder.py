"""The plain autoencoder, and the denoising autoencoder (the same network trained on corrupted input)."""

from __future__ import annotations

import torch
from torch import nn

from .. import losses
from ..config import ModelConfig, parse_noise
from ..errors import VaekitError
from ..nn import build_body


def corrupt(x: torch.Tensor, noise: str, draws: torch.Tensor | None = None) -> torch.Tensor:
    """Return a corrupted copy of ``x`` (``noise`` is ``kind:amount``). ``draws``: x's shape, standard normal
    for gaussian noise, uniform on [0, 1) for the others; drawn from torch's global RNG where not given."""
    kind, amount = parse_noise(noise)
    if kind == "gaussian":  # additive noise with standard deviation `amount`
        return x + amount * (torch.randn_like(x) if draws is None else draws)
    u = torch.rand_like(x) if draws is None else draws
    if kind == "mask":  # each feature dropped to 0 with probability `amount`
        return x * (u >= amount)
    # salt-pepper: a fraction `amount` of features set to 0 or 1, half each
    salted = torch.where(u < amount / 2, torch.zeros_like(x), x)
    return torch.where((u >= amount / 2) & (u < amount), torch.ones_like(x), salted)


class Autoencoder(nn.Module):
    """Deterministic encoder ``x -> z`` and decoder ``z -> x``.

    With ``cfg.noise`` set it is a denoising autoencoder: in training the encoder sees a corrupted
    input and the loss compares the reconstruction with the clean one. ``encode`` never corrupts.
    The reconstruction loss is the Bernoulli cross-entropy from logits or the squared error, summed
    over features and averaged over the batch.
    """

    def monitored_log(self, held_out: bool) -> str:
        """The log that picks the best epoch (and stops early): the loss."""
        return "loss"

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = self.networks()

    def networks(self) -> tuple[nn.Module, nn.Module]:
        """(encoder, decoder); conditional models widen their inputs here."""
        return build_body(self.cfg, self.encoder_width())

    def encoder_width(self) -> int:
        return self.cfg.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *input_shape) -> z: (B, latent)."""
        return self.encoder(x)

    def code(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The deterministic code of x, (B, latent): what ``vaekit encode`` writes. ``y``: labels, for conditional models."""
        return self.encode(x)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z: (B, latent) -> decoder output (B, *input_shape): logits (bernoulli) or means (gaussian)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """Decoder output -> E[x | z], in the data's (scaled) units."""
        return losses.mean_output(self.cfg.likelihood, out)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.mean(self.decode(self.code(x, y), y))

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               labels=None) -> torch.Tensor:
        """Decode z ~ N(0, temperature^2 I). For a plain AE this is *not* a generative model.

        ``labels`` (one class, or one per sample) only exist for conditional models (cvae).
        """
        device = next(self.parameters()).device
        z = temperature * torch.randn(n, self.cfg.latent_dim, generator=generator, device=device, dtype=torch.float32)
        return self.mean(self.decode(z, self.sample_labels(n, labels, generator)))

    def sample_labels(self, n: int, labels, generator: torch.Generator | None) -> torch.Tensor | None:
        """The labels (n,) to decode samples with; an unconditional model takes none."""
        if labels is not None:
            raise VaekitError(f"--label needs a conditional model but this is a {self.cfg.model}; train one with --model cvae")
        return None

    def corrupted(self, x: torch.Tensor) -> torch.Tensor:
        return corrupt(x, self.cfg.noise) if self.training and self.cfg.noise else x

    def reconstruction_loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = losses.widened(out)  # float32 under bf16 autocast too
        if self.cfg.likelihood == "bernoulli":
            return losses.bernoulli_nll(out, x)
        return losses.squared_error(out, x)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, progress: float | None = None) -> tuple[torch.Tensor, dict]:
        """Objective on a clean batch x: (loss, logs); logs are detached batch means.

        ``y`` (labels, unused here) is for conditional models; ``progress`` is the epoch count,
        fractional, for objectives with schedules (None: the final objective, as in evaluation).
        """
        out = self.forward(self.corrupted(x))
        recon = self.reconstruction_loss(out, x)  # (B,)
        loss = recon.mean()
        mse = (self.mean(out.detach()) - x).pow(2).mean()
        return loss, {"loss": loss.detach(), "recon": loss.detach(), "mse": mse}
