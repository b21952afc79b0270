"""Encoder and decoder bodies: an MLP for any data, a small conv net for images.

Both are built from ``ModelConfig`` alone; the input shape comes from the data.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig, out_dim: int):
        super().__init__()
        self.net = mlp([math.prod(cfg.input_shape), *cfg.hidden, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))  # (B, out_dim)


class MLPDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig, in_dim: int):
        super().__init__()
        self.shape = tuple(cfg.input_shape)
        self.net = mlp([in_dim, *reversed(cfg.hidden), math.prod(self.shape)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)  # (B, *input_shape)


def _conv_grid(cfg: ModelConfig) -> tuple[int, int]:
    """Spatial size after the encoder's stride-2 convolutions (each halves, rounding up)."""
    _, h, w = cfg.input_shape
    for _ in cfg.hidden:
        h, w = (h + 1) // 2, (w + 1) // 2
    return h, w


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions, one per entry of ``hidden`` (channels), then a linear head."""

    def __init__(self, cfg: ModelConfig, out_dim: int):
        super().__init__()
        channels = [cfg.input_shape[0], *cfg.hidden]
        layers: list[nn.Module] = []
        for a, b in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        h, w = _conv_grid(cfg)
        self.head = nn.Linear(channels[-1] * h * w, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).flatten(1))  # (B, out_dim)


class ConvDecoder(nn.Module):
    """Mirror of ConvEncoder: linear to a small grid, stride-2 transposed convs, crop to the input size."""

    def __init__(self, cfg: ModelConfig, in_dim: int):
        super().__init__()
        self.shape = tuple(cfg.input_shape)
        self.grid = (cfg.hidden[-1], *_conv_grid(cfg))
        self.head = nn.Linear(in_dim, math.prod(self.grid))
        channels = [*reversed(cfg.hidden), cfg.input_shape[0]]
        layers: list[nn.Module] = [nn.ReLU()]
        for i, (a, b) in enumerate(zip(channels[:-1], channels[1:])):
            layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            if i < len(channels) - 2:
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.deconv(self.head(z).view(-1, *self.grid))  # (B, C, >=H, >=W)
        _, height, width = self.shape
        return h[:, :, :height, :width]  # odd sizes round up on the way down: crop back


BODIES = {"mlp": (MLPEncoder, MLPDecoder), "conv": (ConvEncoder, ConvDecoder)}


def build_body(cfg: ModelConfig, encoder_out: int) -> tuple[nn.Module, nn.Module]:
    """Encoder mapping inputs to ``encoder_out`` numbers, decoder mapping latents back to inputs."""
    encoder_cls, decoder_cls = BODIES[cfg.arch]
    return encoder_cls(cfg, encoder_out), decoder_cls(cfg, cfg.latent_dim)
