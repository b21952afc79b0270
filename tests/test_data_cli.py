"""User files and named sets through `vaekit train`, and the scaling that travels with the model."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import vaekit
from vaekit.cli import cli
from vaekit.config import DataConfig
from vaekit.data.datasets import load_data, split_indices
from vaekit.data.scaling import Scaler

FAST = ["--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--quiet"]


def train(tmp_path, *args):
    return CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "run"), *FAST, *args])


def test_csv_with_header_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["a,b,c,kind"] + [f"{x:.3f},{y:.3f},{z:.3f},{'cat' if i % 2 else 'dog'}"
                             for i, (x, y, z) in enumerate(rng.normal(size=(40, 3)) * [1, 100, 0.01])]
    (tmp_path / "my.csv").write_text("\n".join(rows) + "\n")
    result = train(tmp_path, "--data", str(tmp_path / "my.csv"), "--label-column", "kind")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["input_shape"] == [3] and config["classes"] == ["cat", "dog"]
    assert config["columns"] == ["a", "b", "c"]  # to match another file's columns by name
    assert config["scaler"]["kind"] == "minmax" and len(config["scaler"]["shift"]) == 3  # one range per column
    m = vaekit.load(tmp_path / "run")
    raw = rng.normal(size=(4, 3)) * [1, 100, 0.01]
    out = m.reconstruct(raw)
    assert out.shape == (4, 3) and np.abs(out[:, 1]).max() > 1  # back in the column's own units


def test_image_folder_with_classes_and_resize(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("circles", "squares"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(6):
            size = 10 + i  # mixed sizes: --image-size makes them one size
            Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(tmp_path / "imgs" / label / f"{i}.png")
    result = train(tmp_path, "--data", str(tmp_path / "imgs"))
    assert result.exit_code == 2 and "--image-size" in result.output
    result = train(tmp_path, "--data", str(tmp_path / "imgs"), "--image-size", "8", "--arch", "conv", "--hidden", "4,4")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["input_shape"] == [1, 8, 8] and config["classes"] == ["circles", "squares"]


def test_npz_key_and_missing_key(tmp_path):
    np.savez(tmp_path / "d.npz", pixels=np.random.default_rng(0).random((30, 6, 6)).astype(np.float32))
    result = train(tmp_path, "--data", str(tmp_path / "d.npz"), "--key", "nope")
    assert result.exit_code == 2 and "pixels" in result.output
    assert train(tmp_path, "--data", str(tmp_path / "d.npz"), "--key", "pixels").exit_code == 0


@pytest.mark.parametrize("make,needle", [
    (lambda p: np.save(p, np.array([1.0, np.nan] * 20).reshape(20, 2)), "NaN"),
    (lambda p: np.save(p, np.arange(10.0)), "1-D"),
    (lambda p: p.write_bytes(b""), "empty"),
])
def test_bad_files_one_line_exit_2(tmp_path, make, needle):
    path = tmp_path / "bad.npy"
    make(path)
    before = path.read_bytes()
    result = train(tmp_path, "--data", str(path))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith(f"vaekit: error: {path}")
    assert needle.lower() in result.output.lower()
    assert path.read_bytes() == before  # never modify the user's file
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_official_split_and_uint8_memory():
    data = load_data(DataConfig(name="fashion-mnist"), offline=True)
    assert data.x.dtype == np.uint8 and data.x.shape == (70000, 1, 28, 28)
    assert len(data.splits["test"]) == 10000 and data.splits["test"][0] == 60000
    assert len(data.splits["train"]) + len(data.splits["val"]) == 60000
    assert data.scaler.kind == "uint8" and data.classes[0] == "T-shirt/top"


@pytest.mark.parametrize("options,shares", [(["--val-fraction", "0.99"], "--val-fraction 0.99 and --test-fraction 0.2"),
                                            (["--test-fraction", "0.99"], "--val-fraction 0.1 and --test-fraction 0.99")])
def test_shares_that_leave_nothing_to_train_on_are_refused(tmp_path, options, shares):
    """A ZeroDivisionError traceback from the scaler, or (uint8 data) a run trained on no batch that blamed NaN values."""
    np.save(tmp_path / "d.npy", np.random.default_rng(0).random((40, 4)).astype(np.float32))
    np.save(tmp_path / "u.npy", np.zeros((40, 6, 6), np.uint8))
    for name in ("d.npy", "u.npy"):
        result = train(tmp_path, "--data", str(tmp_path / name), *options)
        assert result.exit_code == 2 and result.output == (
            f"vaekit: error: {tmp_path / name}: {shares} leave none of its 40 examples to train on; give smaller shares\n")


def test_seeded_split_is_reproducible_and_disjoint():
    a, b = split_indices(100, None, 3, 0.1, 0.2), split_indices(100, None, 3, 0.1, 0.2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(a["test"]) == 20 and len(a["val"]) == 8 and len(a["train"]) == 72
    assert len(np.union1d(np.union1d(a["train"], a["val"]), a["test"])) == 100


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_scaler_round_trip(kind):
    x = np.random.default_rng(0).normal(5, 3, size=(200, 4)).astype(np.float32)
    s = Scaler.fit(x, kind)
    y = s.transform(x)
    if kind == "minmax":
        assert y.min() >= 0 and y.max() <= 1
    else:
        assert np.allclose(y.mean(0), 0, atol=1e-4) and np.allclose(y.std(0), 1, atol=1e-3)
    assert np.allclose(s.inverse(y), x, atol=1e-4)


def test_uint8_data_of_only_0_and_1_are_said_to_become_1_255(caplog):
    """A 0/1 mask saved as uint8 is divided by 255 as grey levels are: nearly empty data, without a word."""
    mask = (np.random.default_rng(0).random((50, 8, 8)) < 0.5).astype(np.uint8)
    assert Scaler.fit(mask, "minmax").scale == 255.0
    assert "uint8 with no value above 1" in caplog.text and "give --scale none" in caplog.text
    caplog.clear()
    Scaler.fit(mask * 200, "minmax")  # grey levels: nothing to say
    assert caplog.text == ""


def test_standard_scaling_keeps_features_far_from_zero():
    """A float64 feature whose mean is 1e8 times its spread (a timestamp, say) scales to mean 0, std 1."""
    import torch

    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(1e8, 1, 20_000), rng.normal(-3e6, 0.5, 20_000)], axis=1)  # (N, 2) float64
    expected = (x - x.mean(0)) / x.std(0)
    s = Scaler.fit(x, "standard")
    np.testing.assert_allclose(s.scale, x.std(0), rtol=1e-6)  # over chunks of 8192 rows
    y = s.transform(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, atol=1e-4)
    np.testing.assert_allclose(s.transform(torch.from_numpy(x), s.constants(torch.from_numpy(x[:0]))).numpy(),
                               expected, atol=1e-4)


def test_values_far_from_zero_come_back_with_their_digits():
    """The way back to the user's units: float32 rounds a value near 1e6 to steps of 0.0625, 6% of this
    feature's spread; a scaler fitted on float64 data inverts in float64."""
    import torch

    from vaekit.sklearn import VAETransformer

    x = np.random.default_rng(0).normal(size=(200, 3)) + [1e6, 0.0, -5e5]
    s = Scaler.fit(x, "standard")
    assert s.wide and not Scaler.fit(x.astype(np.float32), "standard").wide
    back = s.inverse(torch.from_numpy(s.transform(x)))
    assert back.dtype == torch.float64
    np.testing.assert_allclose(back.numpy(), x, rtol=0, atol=1e-5)
    vae = VAETransformer(latent_dim=2, hidden=(8,), epochs=2, scale="standard", random_state=0, device="cpu").fit(x)
    decoded = vae.inverse_transform(vae.transform(x))[:, 0]
    assert decoded.dtype == np.float64 and np.abs(decoded * 16 - np.round(decoded * 16)).max() > 0.01  # off float32's grid


def test_a_scaler_matches_itself_up_to_rounding_only():
    x = np.random.default_rng(0).normal(5, 3, size=(200, 4))
    s = Scaler.fit(x, "standard")
    assert s.matches(Scaler([v * (1 + 1e-13) for v in s.shift], s.scale, s.clip, s.kind))  # another summation order
    assert not s.matches(Scaler([v * (1 + 1e-6) for v in s.shift], s.scale, s.clip, s.kind))
    assert not s.matches(Scaler(s.shift[:3], s.scale[:3], s.clip, s.kind))
    assert not s.matches(Scaler.fit(x, "minmax"))
