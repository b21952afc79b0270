"""The bodies' layers: FoldConvTranspose2d is nn.ConvTranspose2d, in value and in gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vaekit.nn import FoldConvTranspose2d


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
