"""The bodies' layers compute what the plain layers compute, in value and in gradient: FoldConvTranspose2d is
nn.ConvTranspose2d, the channels-last linear heads are nn.Linear, the conv bodies are the NCHW stack."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import torch.nn.functional as F

from vaekit.config import ModelConfig
from vaekit.nn import ConvDecoder, ConvEncoder, FlattenLinear, FoldConvTranspose2d, GridLinear


@pytest.mark.parametrize("cin, cout, size, kernel, stride, padding, output_padding", [
    (32, 1, (14, 14), 4, 2, 1, 0),  # the grey decoder's last layer on 28x28 images
    (5, 1, (4, 7), 4, 2, 1, 0),  # odd, non-square
    (3, 1, (5, 5), 3, 2, 1, 1),  # output_padding
    (4, 1, (6, 6), 5, 3, 2, 0),
    (6, 3, (5, 5), 4, 2, 1, 0),  # several output channels: the ordinary layer
])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])  # the conv decoder's on the CPU
def test_fold_conv_transpose_is_conv_transpose(cin, cout, size, kernel, stride, padding, output_padding, bias, layout):
    torch.manual_seed(0)
    ours = FoldConvTranspose2d(cin, cout, kernel, stride=stride, padding=padding, output_padding=output_padding, bias=bias)
    theirs = nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=padding, output_padding=output_padding, bias=bias)
    theirs.load_state_dict(ours.state_dict())  # the same parameters under the same names
    x = torch.randn(3, cin, *size, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_()
    ours, theirs = ours.double(), theirs.double()
    out, expected = ours(x), theirs(x)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [x, *ours.parameters()], g)
    expected_grads = torch.autograd.grad(expected, [x, *theirs.parameters()], g)
    for a, b in zip(grads, expected_grads):
        torch.testing.assert_close(a, b)
    assert grads[0].is_contiguous(memory_format=layout)  # no layout change for the layers below to undo


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_flatten_linear_is_linear_on_the_nchw_flattening(layout):
    torch.manual_seed(0)
    ours = FlattenLinear(4 * 3 * 5, 7).double()
    x = torch.randn(6, 4, 3, 5, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_()
    out, expected = ours(x), F.linear(x.flatten(1), ours.weight, ours.bias)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, [x, *ours.parameters()], g), torch.autograd.grad(expected, [x, *ours.parameters()], g)):
        torch.testing.assert_close(a, b)


def test_grid_linear_is_linear_then_view_written_channels_last():
    torch.manual_seed(0)
    ours = GridLinear(5, (4, 3, 2)).double()
    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    out, expected = ours(z), F.linear(z, ours.weight, ours.bias).view(-1, 4, 3, 2)
    torch.testing.assert_close(out, expected)
    assert out.is_contiguous(memory_format=torch.channels_last)  # what oneDNN's layers below take as it is
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, [z, *ours.parameters()], g), torch.autograd.grad(expected, [z, *ours.parameters()], g)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("shape, hidden", [((1, 28, 28), (32, 64)), ((3, 8, 8), (4, 6)), ((1, 7, 9), (3, 4, 2))])
def test_conv_bodies_are_the_plain_nchw_stack(shape, hidden):
    """Channels-last layers, in-place ReLUs and permuted heads change nothing a user can see: the
    numbers, the gradients, the input left as it was, the NCHW layout of what comes out."""
    torch.manual_seed(0)
    cfg = ModelConfig(model="vae", arch="conv", input_shape=shape, latent_dim=3, hidden=hidden)
    encoder, decoder = ConvEncoder(cfg, 6).double(), ConvDecoder(cfg, 3).double()
    x = torch.rand(5, *shape, dtype=torch.float64, requires_grad=True)
    kept = x.detach().clone()

    def plain(x):
        h = x
        for conv in encoder.conv[::2]:
            h = F.relu(F.conv2d(h, conv.weight, conv.bias, stride=2, padding=1))
        code = F.linear(h.flatten(1), encoder.head.weight, encoder.head.bias)
        h = F.linear(code[:, :3], decoder.head.weight, decoder.head.bias).view(-1, *decoder.head.grid)
        for layer in decoder.deconv:
            h = F.relu(h) if isinstance(layer, nn.ReLU) else F.conv_transpose2d(h, layer.weight, layer.bias, stride=2, padding=1)
        return code, h[:, :, : shape[1], : shape[2]]

    code = encoder(x)
    out = decoder(code[:, :3])
    expected_code, expected = plain(x)
    torch.testing.assert_close(code, expected_code)
    torch.testing.assert_close(out, expected)
    assert out.is_contiguous() and torch.equal(x.detach(), kept)
    params = [x, *encoder.parameters(), *decoder.parameters()]
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, params, g), torch.autograd.grad(expected, params, g)):
        torch.testing.assert_close(a, b)
