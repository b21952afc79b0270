"""How much the KL term weighs, and how far it is pushed: the knobs of the VAE's rate/distortion balance.

- constant ``beta`` (Higgins et al. 2017): ``recon + beta * KL``; beta = 1 is the true -ELBO;
- linear warm-up over ``warmup`` epochs (Bowman et al. 2016): the weight rises 0 -> beta;
- cyclical annealing (Fu et al. 2019): the warm-up ramp repeated ``cycles`` times, each ramp followed
  by as many epochs at full weight (their R = 0.5), then beta for good;
- free bits (Kingma et al. 2016): each latent dimension's KL, averaged over the batch, counts as at
  least ``free_bits`` nats, so the optimizer gains nothing by pushing it lower.

``progress`` is the fractional epoch count; ``None`` means "after training": the final objective,
which validation, early stopping and the summary use.
"""

from __future__ import annotations

import torch


def kl_weight(beta: float, progress: float | None, warmup: int = 0, cycles: int = 0) -> float:
    """The KL weight at ``progress`` epochs: beta, ramped by the warm-up or cyclical schedule."""
    if progress is None or not warmup:
        return beta
    if cycles and progress < 2 * warmup * cycles:
        progress = progress % (2 * warmup)  # position within the current cycle: ramp, then hold
    return beta * min(1.0, progress / warmup)


def free_bits_kl(kl: torch.Tensor, free_bits: float = 0.0) -> torch.Tensor:
    """sum_j max(free_bits, mean over the batch of KL_j): the KL term with free bits; kl is (B, latent).

    With ``free_bits = 0`` this is the plain batch-mean KL, since every KL_j >= 0.
    """
    return kl.mean(0).clamp(min=free_bits).sum()  # (latent,) -> scalar


def describe(beta: float, warmup: int = 0, cycles: int = 0, free_bits: float = 0.0) -> str:
    """The objective these settings give, in words, for logs and summary.json."""
    if beta == 1 and not warmup and not free_bits:
        return "-ELBO (recon + KL)"
    kl = f"sum_j max({free_bits:g}, KL_j) (free bits)" if free_bits else "KL"
    if not warmup:
        return f"recon + {beta:g} * {kl}"
    ramp = f"0 -> {beta:g} linearly over {warmup} epochs"
    if cycles > 1:
        ramp += f" then held {warmup}, {cycles} cycles"
    return f"recon + w(t) * {kl}, w(t): {ramp}; evaluated at w = {beta:g}"
