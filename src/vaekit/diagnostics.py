"""Is a VAE using its latent space? Posterior-collapse checks run after training (and one on a
learned likelihood's sigma).

A VAE whose KL term wins the balance against reconstruction lets q(z|x) fall back to the prior:
the codes then carry no information about x and the decoder models the data alone (posterior
collapse). Two symptoms tell: the KL itself, and the active units of Burda et al. (2016), the
dimensions whose posterior mean varies with x; ``vaekit.api.write_summary`` measures both on the
test split with ``vaekit.metrics.elbo`` and passes them here.
"""

from __future__ import annotations

from .metrics import ACTIVE_THRESHOLD

SIGMA_FLOOR = 1e-3  # model units: a learned std below this is fitting a (near-)constant feature
KL_NEAR_ZERO = 0.1  # nats per example: below this the posterior is the prior for practically every x
REMEDIES = ("a KL warm-up (--kl-warmup 10) or cyclical annealing (--kl-warmup 5 --kl-cycles 4), free bits "
            "(--free-bits 0.5), a lower --beta, or a weaker decoder")


def collapse_warning(kl_per_dim, active_units: int, latent_dim: int) -> str | None:
    """A one-line warning naming the remedies when the KL is near zero (the codes say nothing about x);
    None when the latent space is in use."""
    kl = float(sum(kl_per_dim))
    if kl >= KL_NEAR_ZERO and active_units > 0:
        return None
    return (f"posterior collapse: the KL is {kl:.3g} nats per example, so the codes carry almost nothing about x "
            f"({active_units} of {latent_dim} latent dimensions active); remedies: {REMEDIES}; or, if the data need "
            "fewer dimensions, a smaller --latent-dim")


def latent_note(kl_per_dim, active_units: int, latent_dim: int) -> str | None:
    """A one-line note when the codes carry information but fewer than half the dimensions do: the KL
    term switches off dimensions the data do not need, which is the ELBO at work rather than a failure
    (the remedies of a collapse rarely change the fit then). None otherwise."""
    kl = float(sum(kl_per_dim))
    if collapse_warning(kl_per_dim, active_units, latent_dim) or active_units >= latent_dim / 2:
        return None
    return (f"{active_units} of {latent_dim} latent dimensions are active (Cov_x E[z|x] > {ACTIVE_THRESHOLD}; KL "
            f"{kl:.3g} nats): the KL term switched off the ones the data do not need, and --latent-dim "
            f"{max(active_units, 1)} would fit about as well; to make every dimension carry information: {REMEDIES}")


def sigma_warning(sigma) -> str | None:
    """A one-line warning when a learned per-feature std (a tensor) has shrunk below SIGMA_FLOOR; None
    otherwise. On a (near-)constant feature the Gaussian density, and with it log p(x), grows without
    bound as training goes on, so the model's nats measure that feature's constancy, not the fit."""
    small = int((sigma < SIGMA_FLOOR).sum())
    if not small:
        return None
    return (f"the learned sigma of {small} of {sigma.numel()} features is below {SIGMA_FLOOR:g} (smallest "
            f"{float(sigma.min()):.2g}): on (near-)constant features log p(x) grows without bound as training goes "
            "on; drop constant features, or use --likelihood gaussian-learned-global or gaussian with --sigma")
