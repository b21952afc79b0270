"""vaekit's Adam: the same updates and state dict as torch.optim.Adam, without importing torch._dynamo."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from vaekit.optim import Adam


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))


def _steps(net: torch.nn.Module, optimizer, n: int, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        x = torch.randn(8, 6, generator=g)
        optimizer.zero_grad()
        net(x).pow(2).mean().backward()
        optimizer.step()


def _assert_same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (3e-2, (0.5, 0.9), 1e-3)])
def test_same_updates_as_torch_adam(lr, betas, eps):
    ours, theirs = _net(), _net()
    _steps(ours, Adam(ours.parameters(), lr=lr, betas=betas, eps=eps), 25)
    _steps(theirs, torch.optim.Adam(theirs.parameters(), lr=lr, betas=betas, eps=eps), 25)
    _assert_same(ours, theirs)
    assert not torch.equal(ours[0].weight, _net()[0].weight)  # it did move


@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
def test_state_dict_moves_between_torch_adam_and_ours(direction):
    """A train_state.pt written with either optimizer resumes with the other on the same trajectory."""
    first, second = (torch.optim.Adam, Adam) if direction == "torch-to-ours" else (Adam, torch.optim.Adam)
    resumed = _net()
    before = first(resumed.parameters(), lr=1e-2)
    _steps(resumed, before, 10)
    after = second(resumed.parameters(), lr=1e-2)
    after.load_state_dict(before.state_dict())
    _steps(resumed, after, 10, seed=2)
    reference = _net()
    opt = torch.optim.Adam(reference.parameters(), lr=1e-2)
    _steps(reference, opt, 10)
    _steps(reference, opt, 10, seed=2)
    _assert_same(resumed, reference)


def test_loaded_state_is_copied_not_aliased():
    """The trainer restores a snapshot and trains on; the snapshot must stay as it was."""
    net = _net()
    opt = Adam(net.parameters(), lr=1e-2)
    _steps(net, opt, 3)
    snapshot = copy.deepcopy(opt.state_dict())
    saved = copy.deepcopy(snapshot)
    opt.load_state_dict(snapshot)
    _steps(net, opt, 3)
    for i, s in saved["state"].items():
        assert torch.equal(snapshot["state"][i]["exp_avg"], s["exp_avg"])
        assert torch.equal(snapshot["state"][i]["exp_avg_sq"], s["exp_avg_sq"])
    assert float(opt.state_dict()["state"][0]["step"]) == 6


def test_state_of_another_model_is_refused():
    opt = Adam(_net().parameters())
    other = torch.optim.Adam(torch.nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError, match="parameters"):
        opt.load_state_dict(other.state_dict())


def test_training_never_imports_dynamo(tmp_path):
    """torch.optim imports torch._dynamo (+68 MB resident) on first use; vaekit's training must not."""
    code = ("import sys, vaekit\n"
            "vaekit.train(data='digits', model='vae', hidden=(16,), latent_dim=2, epochs=1, out=sys.argv[1], verbose=False)\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_parameter_without_a_gradient_is_left_alone():
    net = _net()
    opt = Adam(net.parameters(), lr=1e-2)
    frozen = net[2].weight.detach().clone()
    opt.zero_grad()
    net[0](torch.randn(4, 6)).sum().backward()  # only the first layer gets gradients
    opt.step()
    assert torch.equal(net[2].weight, frozen) and net[2].weight.grad is None
    assert not torch.equal(net[0].weight, _net()[0].weight)
