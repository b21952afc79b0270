"""The MLP models' hand-derived training step computes what autograd computes through their loss."""

import dataclasses

import pytest
import torch

from vaekit import fused
from vaekit.config import DataConfig, ModelConfig, TrainConfig
from vaekit.data.datasets import load_data
from vaekit.models import build_model
from vaekit.trainer import fit, set_seed

SHAPE = (1, 6, 5)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _model(device="cpu", **options):
    cfg = {"model": "vae", "arch": "mlp", "input_shape": SHAPE, "latent_dim": 3, "hidden": (16,), **options}
    model = build_model(ModelConfig(**cfg)).double().to(device)
    model.train()
    return model


@pytest.mark.parametrize("options", [
    {},  # the standard model: Bernoulli, one hidden layer
    {"hidden": (12, 8), "likelihood": "gaussian", "sigma": 0.7, "noise": "mask:0.2"},
    {"hidden": (), "noise": "gaussian:0.3", "beta": 2.0, "kl_warmup": 2},  # linear bodies, a KL schedule
    {"kl_warmup": 1, "kl_cycles": 2},  # cyclical: a KL weight of 0.3 at progress 0.3
    {"model": "ae"},
    {"model": "dae", "noise": "salt-pepper:0.2", "likelihood": "gaussian", "hidden": (12, 8)},
])
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_loss_logs_and_gradients_match_autograd(options, device):
    model = _model(device, **options)
    x = torch.rand(9, *SHAPE, dtype=torch.float64, device=device)
    step = fused.step_for(model, "fp32", 1)
    assert step is not None
    torch.manual_seed(5)
    loss, logs = model.loss(x, progress=0.3)
    loss.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    after_autograd = torch.rand(1, device=device)  # the RNG's next draw: both must draw the same noise, in the same order
    torch.manual_seed(5)
    fused_loss, fused_logs = step(x, None, 0.3)
    assert torch.rand(1, device=device) == after_autograd
    assert fused_loss.item() == pytest.approx(loss.item(), rel=1e-12)
    assert list(fused_logs) == list(logs)
    for key in logs:
        assert fused_logs[key].item() == pytest.approx(logs[key].item(), rel=1e-12, abs=1e-12), key
    for (name, p), g in zip(model.named_parameters(), expected):
        torch.testing.assert_close(p.grad, g, rtol=1e-10, atol=1e-12, msg=name)


def test_gradients_are_written_not_accumulated():
    model = _model()
    step = fused.step_for(model, "fp32", 1)
    x = torch.rand(4, *SHAPE, dtype=torch.float64)
    torch.manual_seed(0)
    step(x, None, 0.0)
    first = [p.grad.clone() for p in model.parameters()]
    torch.manual_seed(0)
    step(x, None, 0.0)  # a second step on the same batch and noise gives the same gradient, not twice it
    for p, g in zip(model.parameters(), first):
        torch.testing.assert_close(p.grad, g)


@pytest.mark.parametrize("options, precision, world_size", [
    ({"model": "iwae"}, "fp32", 1),
    ({"model": "cvae", "n_classes": 3}, "fp32", 1),
    ({"arch": "conv", "input_shape": (1, 8, 8), "hidden": (4,)}, "fp32", 1),
    ({"free_bits": 0.5}, "fp32", 1),  # couples the batch: autograd's
    ({"likelihood": "gaussian-learned"}, "fp32", 1),
    ({"likelihood": "continuous-bernoulli"}, "fp32", 1),
    ({}, "bf16", 1),
    ({}, "fp32", 2),  # DDP needs autograd's hooks
])
def test_other_models_and_settings_train_through_autograd(options, precision, world_size):
    assert fused.step_for(_model(**options), precision, world_size) is None


def _changed(change: str):
    """A model the fused step must leave to autograd, changed from outside in one way."""
    if change == "learned sigma":  # VAE.sigma() reads log_sigma, whatever cfg.likelihood says
        model = _model(likelihood="gaussian-learned")
        model.cfg = dataclasses.replace(model.cfg, likelihood="gaussian")
        return model
    model = _model(hidden=(8, 8))
    if change == "loss replaced":
        model.loss = lambda x, y=None, progress=None: (x.sum(), {})
    elif change == "frozen layer":
        model.decoder.net[0].weight.requires_grad_(False)
    elif change == "tied layers":  # the step writes each gradient once: a shared layer's would lose a term
        model.decoder.net[2] = model.encoder.net[2]
    elif change == "forward hook":
        model.encoder.register_forward_hook(lambda module, inputs, output: output * 2)
    elif change == "weight norm":
        torch.nn.utils.parametrizations.weight_norm(model.decoder.net[0])
    elif change == "forward replaced":
        model.encoder.forward = lambda x: x
    elif change == "gradient hook":
        model.decoder.net[0].weight.register_hook(lambda grad: grad * 0)
    return model


@pytest.mark.parametrize("change", ["loss replaced", "frozen layer", "tied layers", "forward hook", "weight norm",
                                    "forward replaced", "gradient hook", "learned sigma"])
def test_models_changed_from_outside_train_through_autograd(change):
    assert fused.step_for(_changed(change), "fp32", 1) is None


@pytest.mark.parametrize("cls, name", [("VAE", "loss"), ("Autoencoder", "reconstruction_loss"),
                                       ("MLPDecoder", "forward"), ("Linear", "forward")])
def test_models_whose_class_is_patched_train_through_autograd(monkeypatch, cls, name):
    from vaekit import models, nn

    owner = {"VAE": models.VAE, "Autoencoder": models.Autoencoder, "MLPDecoder": nn.MLPDecoder,
             "Linear": torch.nn.Linear}[cls]
    model = _model(model="vae" if cls == "VAE" else "ae")
    assert fused.step_for(model, "fp32", 1) is not None
    original = getattr(owner, name)
    monkeypatch.setattr(owner, name, lambda self, *args, **kwargs: original(self, *args, **kwargs))
    assert fused.step_for(model, "fp32", 1) is None


def test_fit_matches_fit_through_autograd(monkeypatch):
    def run():
        set_seed(0)
        data = load_data(DataConfig(), seed=0)
        model = build_model(ModelConfig(model="vae", input_shape=data.shape, latent_dim=4, hidden=(32,)))
        history = fit(model, data, TrainConfig(epochs=2, seed=0, patience=0), device=torch.device("cpu"), verbose=False)
        return model, history

    model, history = run()
    assert fused.step_for(model, "fp32", 1) is not None  # the default digits VAE takes the fused step
    monkeypatch.setattr(fused, "step_for", lambda *args: None)
    reference, reference_history = run()
    for record, expected in zip(history.records, reference_history.records):
        for key in ("train_loss", "train_kl", "train_mse", "val_neg_elbo"):
            assert record[key] == pytest.approx(expected[key], rel=1e-4), key
    for (name, p), q in zip(model.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4, msg=name)
