"""Encoder and decoder bodies: an MLP for any data, a small conv net for images.

Both are built from ``ModelConfig`` alone; the input shape comes from the data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


# The conv bodies run channels-last on the CPU. oneDNN's convolutions take and give that layout as it
# is, where on NCHW tensors they reorder to and from their own: the 32 -> 64 convolution's input
# gradient alone costs a ~1 ms copy a step at batch 128. The linear heads read and write the grid
# channels-last through a permuted copy of their weight (not of the batch's activations), and the
# ReLUs after convolutions work in place: a fresh (128, 32, 14, 14) tensor a step costs more than the
# ReLU itself. (The ReLU after the decoder's head does not: in place on its permuted view, autograd
# adds copies.) The conv VAE's step on 2 cores takes 5-7% less time than with the NCHW encoder,
# out-of-place ReLUs and a copy to channels-last after the decoder's head (one process alternating
# the two on the same batches: 28x28 grey, 32x32 RGB; the conditional VAE 7.5%; 3% with --precision bf16).


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) laid out channels-last. One channel already is in memory; only its strides are redone."""
    if x.shape[1] == 1:
        b, _, h, w = x.shape
        return x.reshape(b, h, w, 1).permute(0, 3, 1, 2)
    return x.contiguous(memory_format=torch.channels_last)


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class FlattenLinear(nn.Linear):
    """``nn.Linear`` on ``x.flatten(1)`` of a (B, C, H, W) grid in either layout, without copying x.

    A channels-last grid flattens for free in (H, W, C) order; the weight's columns are taken in
    that order instead. Parameters, state dict and function are nn.Linear's on the NCHW flattening.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _is_channels_last(x):
            return super().forward(x.flatten(1))
        b, c, h, w = x.shape
        weight = self.weight.view(-1, c, h, w).permute(0, 2, 3, 1).reshape(self.out_features, -1)
        return F.linear(x.permute(0, 2, 3, 1).reshape(b, -1), weight, self.bias)


class GridLinear(nn.Linear):
    """``nn.Linear`` to a (B, C, H, W) grid (the NCHW view of its output), written channels-last on the CPU.

    The weight's rows and the bias are taken in (H, W, C) order there; parameters, state dict and
    function are nn.Linear's followed by ``view(-1, C, H, W)``.
    """

    def __init__(self, in_features: int, grid: tuple[int, int, int]):
        super().__init__(in_features, math.prod(grid))
        self.grid = grid

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, h, w = self.grid
        if z.device.type != "cpu":
            return super().forward(z).view(-1, c, h, w)
        weight = self.weight.view(c, h, w, -1).permute(1, 2, 0, 3).reshape(c * h * w, -1)
        bias = self.bias.view(c, h, w).permute(1, 2, 0).reshape(-1)
        return F.linear(z, weight, bias).view(-1, h, w, c).permute(0, 3, 1, 2)


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions, one per entry of ``hidden`` (channels), then a linear head."""

    def __init__(self, cfg: ModelConfig, out_dim: int):
        super().__init__()
        channels = [cfg.input_shape[0], *cfg.hidden]
        layers: list[nn.Module] = []
        for a, b in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*layers)
        h, w = _conv_grid(cfg)
        self.head = FlattenLinear(channels[-1] * h * w, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu":
            x = _channels_last(x)
        return self.head(self.conv(x))  # (B, out_dim)


class _FoldConvTranspose(torch.autograd.Function):
    """``fold(weight^T x)``: a transposed convolution as a batched matmul and a col2im, with its gradients.

    The input gradient comes back in the input's memory layout: channels-last for a channels-last
    input, so the ReLU before it and the oneDNN layer below it never mix layouts (a mixed-layout
    elementwise op is 3-4x slower). im2col, the fold's backward, is one strided copy (``F.unfold``
    loops over the batch: 128 x 16 x 196 patches, 2 cores, 0.17 ms against 0.59 ms).
    """

    @staticmethod
    def forward(ctx, x, weight, size, kernel_size, stride, padding):
        batch = x.shape[0]
        ctx.save_for_backward(x, weight)
        ctx.args = (kernel_size, stride, padding)
        # x.flatten(2) is a view in either layout (channels-last: strides (H * W * C, 1, C))
        wt = weight.flatten(1).t().expand(batch, -1, -1)  # (B, out_channels * kh * kw, C)
        patches = torch.bmm(wt, x.flatten(2))  # (B, out_channels * kh * kw, H * W)
        return F.fold(patches, size, kernel_size, stride=stride, padding=padding)  # (B, out_channels, H', W')

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        (kh, kw), (sh, sw), (ph, pw) = ctx.args
        g = F.pad(grad, (pw, pw, ph, ph))  # (B, out_channels, H' + 2 ph, W' + 2 pw)
        b, c, height, width = g.shape
        h, w = (height - kh) // sh + 1, (width - kw) // sw + 1  # the patches' grid: x's H, W
        sb, sc, sy, sx = g.stride()
        # a view, cols[:, :, i, j, y, x] = g[:, :, y * sh + i, x * sw + j]; reshape makes the one copy
        cols = g.as_strided((b, c, kh, kw, h, w), (sb, sc, sy, sx, sy * sh, sx * sw)).reshape(b, c * kh * kw, h * w)
        wf = weight.flatten(1)  # (C, out_channels * kh * kw)
        if x.is_contiguous():
            gx = torch.bmm(wf.expand(b, -1, -1), cols).view_as(x)  # (B, C, H * W)
        else:  # (B, H * W, C): channels-last
            gx = torch.bmm(cols.transpose(1, 2), wf.t().expand(b, -1, -1)).view(b, h, w, -1).permute(0, 3, 1, 2)
        gw = torch.bmm(x.flatten(2), cols.transpose(1, 2)).sum(0)  # (C, out_channels * kh * kw)
        return gx, gw.view_as(weight), None, None, None, None


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same function, same parameters), computed as a matmul and a fold on the
    CPU when it has one output channel: the last layer of a decoder for grey images.

    A transposed convolution spreads every input pixel's channels, times the kernel, over a k x k
    patch of the output: a batched matmul makes the patches (B, k * k, H * W) and ``F.fold`` (col2im)
    adds them up. oneDNN's transposed convolution is slow there (32 -> 1 channels, 14x14 -> 28x28,
    batch 128, 2 cores, forward + backward: 7.2 ms, this 2.3 ms). With more output channels it gains
    nothing (3 channels, and 64 -> 32 on 7x7 -> 14x14: the two are even), so everywhere else, and on
    GPUs, it is the ordinary layer.
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (self.out_channels != 1 or x.device.type != "cpu" or x.ndim != 4 or output_size is not None
                or self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros"):
            return super().forward(x, output_size)
        (sh, sw), (ph, pw), (kh, kw) = self.stride, self.padding, self.kernel_size
        _, _, h, w = x.shape
        size = ((h - 1) * sh - 2 * ph + kh + self.output_padding[0], (w - 1) * sw - 2 * pw + kw + self.output_padding[1])
        x = x if x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last) else x.contiguous()
        # the weight in x's dtype (bfloat16 under autocast), so the backward's matmuls need no autocast
        out = _FoldConvTranspose.apply(x, self.weight.to(x.dtype), size, self.kernel_size, self.stride, self.padding)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class ConvDecoder(nn.Module):
    """Mirror of ConvEncoder: linear to a small grid, stride-2 transposed convs, crop to the input size."""

    def __init__(self, cfg: ModelConfig, in_dim: int):
        super().__init__()
        self.shape = tuple(cfg.input_shape)
        # channels-last on the CPU (see _channels_last): oneDNN's 64 -> 32 transposed convolution on an
        # NCHW tensor reorders its output and its incoming gradient, two ~1 ms copies a step at batch 128
        self.head = GridLinear(in_dim, (cfg.hidden[-1], *_conv_grid(cfg)))
        channels = [*reversed(cfg.hidden), cfg.input_shape[0]]
        layers: list[nn.Module] = [nn.ReLU()]
        for i, (a, b) in enumerate(zip(channels[:-1], channels[1:])):
            layers.append(FoldConvTranspose2d(a, b, 4, stride=2, padding=1))
            if i < len(channels) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.deconv(self.head(z))  # (B, C, >=H, >=W)
        _, height, width = self.shape
        return h[:, :, :height, :width].contiguous()  # odd sizes round up on the way down: crop back; NCHW


BODIES = {"mlp": (MLPEncoder, MLPDecoder), "conv": (ConvEncoder, ConvDecoder)}


def build_body(cfg: ModelConfig, encoder_out: int) -> tuple[nn.Module, nn.Module]:
    """Encoder mapping inputs to ``encoder_out`` numbers, decoder mapping latents back to inputs."""
    encoder_cls, decoder_cls = BODIES[cfg.arch]
    return encoder_cls(cfg, encoder_out), decoder_cls(cfg, cfg.latent_dim)
