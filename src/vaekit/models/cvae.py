"""The conditional VAE (Sohn et al. 2015): the label conditions both encoder and decoder."""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import VaekitError
from ..nn import BODIES
from .vae import VAE


def whole_labels(y: torch.Tensor) -> torch.Tensor:
    """Labels as class numbers (long); a fractional one (1.5) is refused, not cut to 1."""
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise VaekitError(f"label {y[y != y.round()][0].item():g} is not a class number; labels are whole numbers "
                          "(0 for the first class)")
    return y.long()


def class_numbers(y: torch.Tensor, k: int, name: str, advice: str) -> torch.Tensor:
    """``whole_labels(y)``, each one of the model's ``k`` classes; else the error names the first that is not
    (as ``name``: --label, label) and gives ``advice``."""
    y = whole_labels(y)
    bad = y[(y < 0) | (y >= k)]
    if len(bad):
        raise VaekitError(f"{name} {bad[0].item()} is not a class of this model, which has {k} (0 to {k - 1}); {advice}")
    return y


class CVAE(VAE):
    """q(z | x, y) and p(x | z, y) with prior p(z) = N(0, I); y is one of ``cfg.n_classes`` labels.

    The label enters as a one-hot vector: appended to the flattened input (mlp) or as constant
    extra input channels (conv), and appended to z for the decoder. ``sample(n, labels=3)`` draws
    that class; without labels the classes are drawn uniformly.
    """

    def networks(self) -> tuple[nn.Module, nn.Module]:
        cfg, n = self.cfg, self.cfg.n_classes
        if cfg.arch == "conv":
            c, h, w = cfg.input_shape
            shape = (c + n, h, w)
        else:
            shape = (math.prod(cfg.input_shape) + n,)
        encoder_cls, decoder_cls = BODIES[cfg.arch]
        encoder = encoder_cls(dataclasses.replace(cfg, input_shape=shape), self.encoder_width())
        return encoder, decoder_cls(cfg, cfg.latent_dim + n)

    def one_hot(self, y: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """labels (B,) -> (B, n_classes) in the dtype of ``like``."""
        if y is None:
            raise VaekitError("the cvae is conditioned on labels but none were given; pass the labels y with the data")
        return F.one_hot(y.long(), self.cfg.n_classes).to(like.dtype)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x (B, *input_shape), y (B,)) -> (mu, logvar), each (B, latent)."""
        onehot = self.one_hot(y, x)  # (B, n_classes)
        if self.cfg.arch == "conv":
            _, h, w = self.cfg.input_shape
            inputs = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, h, w)], dim=1)  # (B, C + n, H, W)
        else:
            inputs = torch.cat([x.flatten(1), onehot], dim=1)  # (B, D + n)
        mu, logvar = self.encoder(inputs).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(z (B, latent), y (B,)) -> decoder output (B, *input_shape)."""
        return self.decoder(torch.cat([z, self.one_hot(y, z)], dim=1))  # input (B, latent + n)

    def sample_labels(self, n: int, labels, generator: torch.Generator | None) -> torch.Tensor:
        """One label for all n samples, n labels, or None: drawn uniformly over the classes."""
        device, k = next(self.parameters()).device, self.cfg.n_classes
        if labels is None:
            return torch.randint(k, (n,), generator=generator, device=device)
        y = class_numbers(torch.as_tensor(labels, device=device), k, "--label", "try --label 0").flatten()
        if len(y) == 1:
            return y.expand(n)
        if len(y) != n:
            raise VaekitError(f"{len(y)} labels for {n} samples; give one label, or one per sample")
        return y
