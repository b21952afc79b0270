"""The device and precision paths of training: CUDA (skipped cleanly without a GPU), bf16 autocast,
batches made on the device, data left on the host going through pinned memory, no wait per step."""

import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vaekit
from vaekit.cli import cli
from vaekit.config import DataConfig, ModelConfig, TrainConfig
from vaekit.data.datasets import Data, load_data
from vaekit.data.scaling import Scaler
from vaekit.errors import VaekitError
from vaekit.models import build_model
from vaekit.trainer import Batches, fit, set_seed

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def _data(x: np.ndarray, scale: str) -> Data:
    n = len(x)
    splits = {"train": np.arange(n - 10), "val": np.arange(0), "test": np.arange(n - 10, n)}
    return Data("t", x, np.arange(n) % 3, ["a", "b", "c"], splits, Scaler.fit(x, scale, splits["train"]))


def _fit_digits(device: str, epochs: int = 2, arch: str = "mlp", **train_options):
    set_seed(0)
    data = load_data(DataConfig(), seed=0)
    hidden = (32,) if arch == "mlp" else (8, 16)
    model = build_model(ModelConfig(input_shape=data.shape, latent_dim=4, hidden=hidden, arch=arch)).to(device)
    cfg = TrainConfig(epochs=epochs, patience=0, device=device, **train_options)
    return model, fit(model, data, cfg, device=torch.device(device), verbose=False)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype,scale", [(np.uint8, "minmax"), (np.float32, "minmax"), (np.float32, "standard")])
def test_batches_equal_the_scaler_and_leave_the_data_alone(device, dtype, scale):
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, (40, 1, 4, 4)) if dtype == np.uint8 else rng.normal(size=(40, 6))).astype(dtype)
    before = x.copy()
    data = _data(x, scale)
    xb, yb = Batches(data, torch.device(device)).get(torch.arange(20, 40))
    assert xb.device.type == device and xb.dtype == torch.float32
    torch.testing.assert_close(xb.cpu(), data.scaler.transform(torch.as_tensor(x[20:40])), rtol=1e-6, atol=1e-6)
    assert yb.tolist() == (np.arange(20, 40) % 3).tolist()
    assert np.array_equal(x, before)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["mlp", "conv"])  # conv: the decoder's one-channel fold layer under autocast too
def test_bf16_training_reaches_the_fp32_loss(device, arch):
    _, fp32 = _fit_digits(device, epochs=3, arch=arch)
    model, bf16 = _fit_digits(device, epochs=3, arch=arch, precision="bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: the weights stay fp32
    a, b = fp32.records[-1]["val_neg_elbo"], bf16.records[-1]["val_neg_elbo"]
    assert np.isfinite(b) and abs(a - b) < 0.05 * a


def test_precision_is_checked():
    with pytest.raises(VaekitError, match="--precision fp16"):
        TrainConfig(precision="fp16").validate()
    result = CliRunner().invoke(cli, ["train", "--precision", "fp16", "--epochs", "1"])
    assert result.exit_code == 2 and "--precision fp16 is not one of fp32, bf16" in result.output


@CUDA
def test_data_left_on_the_host_go_through_pinned_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (0, 0))  # "the GPU is full"
    x = np.random.default_rng(0).integers(0, 256, (40, 1, 4, 4)).astype(np.uint8)
    data = _data(x, "minmax")
    batches = Batches(data, torch.device("cuda"))
    assert batches.pin and batches.x.device.type == "cpu"
    xb, yb = batches.get(torch.arange(40))
    assert xb.device.type == "cuda" and yb.device.type == "cuda"
    torch.testing.assert_close(xb.cpu(), data.scaler.transform(torch.as_tensor(x)), rtol=1e-6, atol=1e-6)


@CUDA
def test_no_wait_for_the_gpu_inside_an_epoch():
    """The number of synchronizing CUDA calls does not grow with the number of steps."""
    def syncs(n_train: int) -> int:
        x = np.random.default_rng(0).integers(0, 256, (n_train + 10, 1, 8, 8)).astype(np.uint8)
        data = _data(x, "minmax")
        model = build_model(ModelConfig(input_shape=data.shape, latent_dim=4, hidden=(32,))).cuda()
        cfg = TrainConfig(epochs=1, batch_size=16, patience=0, device="cuda")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit(model, data, cfg, device=torch.device("cuda"), verbose=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    syncs(16 * 5)  # one-time set-up (CUDA context, cuBLAS) out of the way
    assert syncs(16 * 5) == syncs(16 * 20)


@CUDA
def test_cli_trains_on_the_gpu_in_bf16(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--device", "cuda", "--precision", "bf16", "--epochs", "2",
                                      "--hidden", "32", "--latent-dim", "4", "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    codes = vaekit.load(tmp_path / "run").encode(load_data(DataConfig()).x[:5])
    assert codes.shape == (5, 4) and np.isfinite(codes).all()


@CUDA
def test_an_estimator_fitted_on_the_gpu_pickles_onto_the_cpu():
    """Trained on a GPU, served on CPUs: the pickle holds no CUDA tensors, and the codes are the same."""
    import pickle

    from sklearn.datasets import load_digits

    from vaekit.sklearn import VAETransformer

    X = load_digits().data[:300]
    est = VAETransformer(latent_dim=2, hidden=(16,), epochs=1, device="cuda", random_state=0).fit(X)
    loaded = pickle.loads(pickle.dumps(est))
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    assert all(p.device.type == "cuda" for p in est.module_.parameters())  # the fitted one stays where it was
    np.testing.assert_allclose(loaded.transform(X[:20]), est.transform(X[:20]), atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_labels_may_be_tensors_on_the_models_device(tmp_path, device):
    """np.asarray on a CUDA tensor of labels raised numpy's TypeError from inside Trained."""
    trained = vaekit.train(model="cvae", epochs=1, hidden=(8,), latent_dim=2, out=tmp_path / "r", verbose=False,
                           device=device)
    x = load_data(DataConfig(), seed=0).x[:6]
    y = torch.arange(6, device=device) % 3
    assert trained.reconstruct(x, y).shape == x.shape and trained.generate(4, labels=y[:4]).shape == (4, *x.shape[1:])
