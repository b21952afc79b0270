"""Pure loss functions. Every function returns one value per example, shape (B,), in nats.

Reconstruction terms are negative log-likelihoods summed over features, so they add to the KL
term to give the negative ELBO of Kingma & Welling (2014).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log Bernoulli(x | sigmoid(logits)), from logits for stability. x in [0, 1]; (B, ...) -> (B,)."""
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return nll.flatten(1).sum(1)


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """-log N(x | mean, sigma^2 I), constant included so it is a true likelihood; (B, ...) -> (B,)."""
    sigma = torch.as_tensor(sigma, dtype=mean.dtype, device=mean.device)
    nll = 0.5 * ((x - mean) / sigma) ** 2 + torch.log(sigma) + 0.5 * LOG_2PI
    return nll.flatten(1).sum(1)


def squared_error(mean: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors per example (the AE's MSE objective summed over features); (B,)."""
    return (x - mean).pow(2).flatten(1).sum(1)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per latent dimension, shape (B, latent).

    Closed form from Kingma & Welling (2014), appendix B:
    -KL = 1/2 * sum(1 + log(sigma^2) - mu^2 - sigma^2).
    """
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def reconstruction_nll(likelihood: str, out: torch.Tensor, x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """The reconstruction term of the model's likelihood: ``out`` are logits (bernoulli) or means (gaussian)."""
    if likelihood == "bernoulli":
        return bernoulli_nll(out, x)
    return gaussian_nll(out, x, sigma)


def mean_output(likelihood: str, out: torch.Tensor) -> torch.Tensor:
    """The decoder's expected value E[x | z]: sigmoid of logits, or the Gaussian mean itself."""
    return torch.sigmoid(out) if likelihood == "bernoulli" else out
