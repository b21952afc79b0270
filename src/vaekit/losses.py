"""Pure loss functions, in nats. The reconstruction terms return one value per example, shape (B,);
the KL one per example and latent dimension, (B, latent); the continuous Bernoulli's normalizer and
mean and ``mean_output`` work elementwise.

Reconstruction terms are negative log-likelihoods summed over features, so they add to the KL
term to give the negative ELBO of Kingma & Welling (2014).

Which likelihood (``--likelihood``) when:

- ``bernoulli``: binary data, or grey levels binarized with ``--binarize dynamic``. On grey levels
  it is a fine loss but not a density (its normalizer is wrong), so its nats are no log p(x).
- ``continuous-bernoulli``: grey levels in [0, 1] as they are (Loaiza-Ganem & Cunningham 2019):
  the Bernoulli cross-entropy plus the log normalizer that makes it a density on [0, 1]; its
  mean, not sigmoid(logits), is the reconstruction.
- ``gaussian``: real-valued data (``--scale standard``) with a fixed ``--sigma``; sigma sets the
  balance against the KL, too small and the KL is ignored, too large and samples blur.
- ``gaussian-learned`` / ``gaussian-learned-global``: as gaussian, with sigma learned per feature
  or one for all features (starting at ``--sigma``), so the model finds the noise level itself.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)
CB_SERIES_BELOW = 0.1  # |logit / 2| under which log C(lambda) uses its series (the exact form is 0/0 at 0)


def widened(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 where it is a 16-bit float (a decoder's output under autocast), else as it is (float64 stays)."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


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


def continuous_bernoulli_log_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(lambda) of the continuous Bernoulli, lambda = sigmoid(logits); elementwise, same shape.

    C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda) for lambda != 1/2, and 2 at 1/2
    (Loaiza-Ganem & Cunningham 2019, eq. 7). With the logit eta, artanh(1 - 2 lambda) = -eta/2 and
    1 - 2 lambda = -tanh(eta/2), so C = 2u / tanh(u) with u = eta/2: no division by a vanishing
    1 - 2 lambda, and no log of 0 for large |eta| (C grows like |eta|). Near u = 0 the ratio is 0/0,
    so there it uses the series log(u / tanh u) = u^2/3 - 7u^4/90 + 62u^6/2835 + O(u^8).
    """
    u = 0.5 * logits
    small = u.abs() < CB_SERIES_BELOW
    safe = torch.where(small, torch.ones_like(u), u)  # keeps the unused branch (and its gradient) finite
    exact = torch.log(safe / torch.tanh(safe))
    u2 = u * u
    series = u2 * (1 / 3 - u2 * (7 / 90 - u2 * 62 / 2835))
    return math.log(2) + torch.where(small, series, exact)


def continuous_bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log CB(x | sigmoid(logits)) for x in [0, 1]: the Bernoulli cross-entropy minus log C; (B, ...) -> (B,)."""
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none") - continuous_bernoulli_log_norm(logits)
    return nll.flatten(1).sum(1)


def continuous_bernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    """E[x] of the continuous Bernoulli: 1 / (1 - exp(-eta)) - 1/eta, eta = logits (not sigmoid(eta)).

    Near eta = 0 both terms blow up and cancel; there it uses the series
    1/2 + eta/12 - eta^3/720 + eta^5/30240 - eta^7/1209600 (error below 1e-7 for |eta| < 1).
    """
    small = logits.abs() < 1.0
    eta = torch.where(small, torch.ones_like(logits), logits)
    exact = -1 / torch.expm1(-eta) - 1 / eta
    e2 = logits * logits
    series = 0.5 + logits * (1 / 12 - e2 * (1 / 720 - e2 * (1 / 30240 - e2 / 1209600)))
    return torch.where(small, series, exact)


def reconstruction_nll(likelihood: str, out: torch.Tensor, x: torch.Tensor,
                       sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """The reconstruction term -log p(x | z), (B,), for the decoder output ``out``.

    ``out`` are logits for bernoulli and continuous-bernoulli, means for the gaussians; ``sigma``
    is the fixed standard deviation (gaussian) or the model's learned one (gaussian-learned,
    gaussian-learned-global), a tensor that broadcasts against one example.
    """
    if likelihood == "bernoulli":
        return bernoulli_nll(out, x)
    if likelihood == "continuous-bernoulli":
        return continuous_bernoulli_nll(out, x)
    return gaussian_nll(out, x, sigma)


def mean_output(likelihood: str, out: torch.Tensor) -> torch.Tensor:
    """The decoder's expected value E[x | z]: sigmoid of logits, the continuous Bernoulli mean, or the Gaussian mean itself."""
    if likelihood == "bernoulli":
        return torch.sigmoid(out)
    if likelihood == "continuous-bernoulli":
        return continuous_bernoulli_mean(out)
    return out
