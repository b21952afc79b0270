"""The Python API of a trained model: vaekit.load(RUN) -> numpy in, numpy out, in the user's units."""

import json
import re
import tracemalloc

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.datasets import load_digits

import vaekit
from vaekit.config import ModelConfig
from vaekit.data.scaling import Scaler
from vaekit.errors import VaekitError
from vaekit.models import build_model
import vaekit.trained as trained_module
from vaekit.trained import Trained

DIGITS = load_digits().images[:, None].astype(np.float32)  # (1797, 1, 8, 8), grey levels 0..16


def untrained(model="vae", shape=(1, 8, 8), scaler=Scaler(0.0, 16.0, True, "minmax"), **cfg):
    """A Trained around fresh weights: enough for shapes, batching and errors, no training needed."""
    torch.manual_seed(0)
    cfg = ModelConfig(model=model, input_shape=shape, latent_dim=3, hidden=(16,), **cfg).validate()
    m = Trained(build_model(cfg).eval(), {"cfg_model": cfg, "cfg_scaler": scaler})
    m.python_spelling = True  # as vaekit.load's: errors name arguments as Python passes them
    return m


@pytest.fixture(scope="module")
def vae(digits_run):
    return vaekit.load(digits_run)


def test_load_gives_numpy_in_the_original_units(vae):
    x = DIGITS[:50]
    assert isinstance(vae.module, torch.nn.Module)
    z = vae.encode(x)
    assert z.shape == (50, vae.latent_dim) and z.dtype == np.float32
    recon = vae.reconstruct(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 16  # grey levels, not [0, 1]
    assert vae.decode(z).shape == x.shape
    np.testing.assert_allclose(vae.decode(z), recon, rtol=1e-5, atol=1e-5)
    assert vae.generate(5, seed=1).shape == (5, 1, 8, 8)


def test_the_module_can_be_fine_tuned_and_used_again():
    m = untrained()
    m.module.train()
    x = m.scaler.transform(torch.from_numpy(DIGITS[:32]))
    loss, _ = m.module.loss(x)
    loss.backward()  # gradients flow: a plain nn.Module
    z = m.encode(DIGITS[:4])
    assert m.module.training and z.shape == (4, 3)  # evaluated in eval mode, handed back in training mode
    np.testing.assert_array_equal(z, m.encode(DIGITS[:4]))


def test_inputs_may_be_flat_tensors_or_lists(vae):
    x = DIGITS[:10]
    z = vae.encode(x)
    np.testing.assert_allclose(vae.encode(x.reshape(10, 64)), z, rtol=1e-6)
    np.testing.assert_allclose(vae.encode(torch.from_numpy(x)), z, rtol=1e-6)
    np.testing.assert_allclose(vae.encode(x.astype(np.uint8).tolist()), vae.encode(x.astype(np.uint8)), rtol=1e-6)


def test_score_matches_the_training_loss_terms(vae, digits_run):
    from vaekit.config import DataConfig
    from vaekit.data.datasets import load_data
    from vaekit.trainer import Batches, mean_logs

    cfg = vae.config
    data = load_data(DataConfig(), seed=cfg["cfg_train"].seed, val_fraction=cfg["cfg_train"].val_fraction,
                     test_fraction=cfg["cfg_train"].test_fraction, scaler=vae.scaler)
    logs = mean_logs(vae.module, Batches(data, torch.device("cpu")), data.splits["test"])
    scores = vae.score(data.part("test"), samples=64)
    assert set(scores) == {"mse", "recon", "kl", "neg_elbo", "outside"}  # digits: min-max scaled
    assert scores["kl"].mean() == pytest.approx(logs["kl"], rel=1e-4)  # closed form: exact
    assert scores["neg_elbo"].mean() == pytest.approx(logs["neg_elbo"], rel=0.02)  # Monte Carlo
    np.testing.assert_allclose(scores["neg_elbo"], scores["recon"] + scores["kl"], rtol=1e-5)


def test_score_averages_many_draws_a_few_at_a_time(monkeypatch):
    """All K draws were decoded at once, K x batch x features values: `score --samples 100000` was killed
    for memory. A few at a time gives the same scores."""
    m = untrained()
    whole = m.score(DIGITS[:20], samples=50)
    monkeypatch.setattr(trained_module, "SCORE_DRAWS", 7)
    rows, decode = [], m.module.decode
    monkeypatch.setattr(m.module, "decode", lambda z, y=None: rows.append(len(z)) or decode(z, y))
    chunked = m.score(DIGITS[:20], samples=50)
    assert max(rows) == 7 * 20  # (the examples' means, decoded once, are 20 rows)
    for key in whole:
        np.testing.assert_allclose(chunked[key], whole[key], rtol=1e-6)


def test_ae_score_is_its_training_loss():
    m = untrained("ae")
    x = m.scaler.transform(torch.from_numpy(DIGITS[:40]))
    loss, logs = m.module.loss(x)
    scores = m.score(DIGITS[:40])
    assert set(scores) == {"mse", "recon", "outside"}
    assert scores["recon"].mean() == pytest.approx(logs["recon"].item(), rel=1e-5)


@pytest.mark.parametrize("method", ["encode", "reconstruct", "score"])
def test_batches_do_not_change_results(method):
    m = untrained()
    whole = getattr(m, method)(DIGITS[:100])
    m.batch_size = 7
    batched = getattr(m, method)(DIGITS[:100])
    subset = getattr(m, method)(DIGITS[3:10])
    for key in whole if isinstance(whole, dict) else [None]:
        w, b, s = (r if key is None else r[key] for r in (whole, batched, subset))
        np.testing.assert_allclose(b, w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s, w[3:10], rtol=1e-5, atol=1e-6)  # an example's score is its own


def test_a_large_uint8_memmap_is_never_copied_as_floats(tmp_path):
    n = 20_000
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=(n, 1, 28, 28))
    x[::97] = 255
    x.flush()
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    m = untrained(shape=(1, 28, 28), scaler=Scaler(0.0, 255.0, False, "uint8"))
    tracemalloc.start()
    z = m.encode(x)
    scores = m.score(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert z.shape == (n, 3) and scores["mse"].shape == (n,)
    assert peak < x.size  # not even one uint8 copy of x (a float32 copy would be 4 * x.size bytes)


@pytest.mark.parametrize("method", ["generate", "encode", "denoise"])
def test_seeded_draws_do_not_change_with_the_batch_size_or_the_count(method, monkeypatch):
    """Row i's noise depends on the seed and on i alone. Drawn a batch at a time it did not: torch.randn draws
    a count under 16 (3 latents x 5 rows) differently from the same numbers within a longer draw."""
    rows = DIGITS.reshape(len(DIGITS), -1)[:, :5]  # denoise: 5 features a row, 25 numbers a batch of 5
    m = untrained(model="dae", shape=(5,), noise="gaussian:0.3") if method == "denoise" else untrained()
    run = {"generate": lambda n: m.generate(n, seed=5),
           "encode": lambda n: m.encode(DIGITS[:n], sample=True, seed=5),
           "denoise": lambda n: m.denoise(rows[:n], "gaussian:0.5", seed=5)[0]}[method]
    monkeypatch.setattr(trained_module, "NOISE_BLOCK", 40)  # blocks of 8 to 13 rows: batches cross them
    whole = run(300)
    m.batch_size = 5
    np.testing.assert_allclose(run(300), whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run(7), whole[:7], rtol=1e-5, atol=1e-5)  # fewer rows: the same first ones
    m.batch_size = 1024
    assert not np.allclose(run(7), {"generate": lambda: m.generate(7, seed=6),
                                    "encode": lambda: m.encode(DIGITS[:7], sample=True, seed=6),
                                    "denoise": lambda: m.denoise(rows[:7], "gaussian:0.5", seed=6)[0]}[method]())


def test_generate_is_seeded():
    m = untrained()
    np.testing.assert_array_equal(m.generate(4, seed=3), m.generate(4, seed=3))
    assert not np.allclose(m.generate(4, seed=3), m.generate(4, seed=4))
    m.batch_size = 3
    assert m.generate(10, seed=0).shape == (10, 1, 8, 8)


def test_encode_sample_and_logvar():
    m = untrained()
    mean = m.encode(DIGITS[:20])
    z, logvar = m.encode(DIGITS[:20], sample=True, with_logvar=True, seed=0)
    assert z.shape == logvar.shape == (20, 3)
    assert not np.allclose(z, mean)
    np.testing.assert_array_equal(z, m.encode(DIGITS[:20], sample=True, seed=0))


def test_interpolation_ends_at_the_codes():
    m = untrained()
    a, b = DIGITS[:2], DIGITS[2:4]
    for slerp in (False, True):
        path = m.interpolate(a, b, steps=5, slerp=slerp)
        assert path.shape == (2, 5, 1, 8, 8)
        np.testing.assert_allclose(path[:, 0], m.reconstruct(a), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(path[:, -1], m.reconstruct(b), rtol=1e-4, atol=1e-4)


def test_slerp_keeps_the_norm_between_the_ends():
    from vaekit.trained import _slerp

    a, b = np.array([[3.0, 0.0]]), np.array([[0.0, 3.0]])
    path = _slerp(a, b, np.linspace(0, 1, 5)[None, :, None])
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), 3.0, rtol=1e-6)
    np.testing.assert_allclose(_slerp(a, a, np.linspace(0, 1, 3)[None, :, None])[0], np.repeat(a, 3, 0), rtol=1e-6)


def test_denoise_is_seeded_and_leaves_the_global_rng_alone():
    m = untrained()
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    noisy, denoised = m.denoise(DIGITS[:8], "gaussian:0.5", seed=1)
    assert torch.rand(1) == expected
    assert noisy.shape == denoised.shape == (8, 1, 8, 8)
    assert not np.allclose(noisy, DIGITS[:8])
    np.testing.assert_array_equal(noisy, m.denoise(DIGITS[:8], "gaussian:0.5", seed=1)[0])


def test_flat_and_channel_free_images_take_the_models_shape():
    m = untrained()
    z = m.encode(DIGITS[:4])
    np.testing.assert_array_equal(m.encode(DIGITS[:4].reshape(4, 64)), z)
    np.testing.assert_array_equal(m.encode(DIGITS[:4].reshape(4, 8, 8)), z)  # grey images without their channel axis


def test_channels_last_images_take_the_models_shape():
    """(N, H, W, C), as Pillow and matplotlib hold images, has as many values as (N, C, H, W): reshaped, it was
    noise; it is read as a .npy file of them is."""
    m = untrained(model="ae", shape=(3, 4, 4))
    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    z = m.encode(x)
    np.testing.assert_array_equal(m.encode(x.transpose(0, 2, 3, 1)), z)
    np.testing.assert_array_equal(m.encode(torch.from_numpy(x).permute(0, 2, 3, 1)), z)
    with pytest.raises(VaekitError, match=re.escape("expects (N, 3, 4, 4), (N, 4, 4, 3) or (N, 48); pass data")):
        m.encode(x[:, :2])  # the error names every layout taken


@pytest.mark.parametrize("call,message", [
    (lambda m: m.encode(np.zeros((3, 65))), "input has shape (3, 65) but the model expects (N, 1, 8, 8), (N, 8, 8) or (N, 64)"),
    (lambda m: m.reconstruct(np.zeros((3, 1, 9, 9))), "expects (N, 1, 8, 8)"),
    (lambda m: m.encode(np.zeros(64)), "input has shape (64,)"),
    (lambda m: m.encode(np.zeros((3, 4, 16))), "input has shape (3, 4, 16) but the model expects (N, 1, 8, 8), (N, 8, 8) or (N, 64)"),
    (lambda m: m.encode(np.zeros((3, 2, 4, 8))), "input has shape (3, 2, 4, 8)"),  # as many values, read as an image: noise
    (lambda m: m.encode(np.zeros((0, 64))), "no examples"),
    (lambda m: m.encode([["a"] * 64]), "not numbers"),
    (lambda m: m.decode(np.zeros((2, 4))), "latents have shape (2, 4) but the model expects (N, 3)"),
    (lambda m: m.generate(0), "n=0 must be a positive integer"),
    (lambda m: m.generate(2, temperature=0), "temperature=0 must be a positive number"),
    (lambda m: m.interpolate(DIGITS[:1], DIGITS[1:2], steps=1), "steps=1"),
    (lambda m: m.interpolate(DIGITS[:1], DIGITS[1:3]), "as many end points"),
    (lambda m: m.denoise(DIGITS[:2], "blur:1"), "unknown corruption"),
    (lambda m: m.score(DIGITS[:2], samples=0), "samples=0"),
    (lambda m: m.decode(np.zeros((2, 3)), 1), "needs a conditional model"),
    (lambda m: m.decode(np.zeros((2, 3), bool)), "latents have dtype bool, not real numbers"),
    (lambda m: m.decode(np.r_[np.zeros((1, 3)), np.full((1, 3), 1e300)]), "beyond float32's range (+-3.4e38) in row 1"),
    (lambda m: m.generate("3"), "n='3' must be a positive integer"),
    (lambda m: m.generate(2, seed=2**64), "seed=18446744073709551616 must be None or an integer from 0 to 4294967295"),
    (lambda m: m.generate(2, seed=1.5), "seed=1.5 must be None or an integer"),
    (lambda m: m.denoise(DIGITS[:2], "gaussian:0.1", seed=-1), "seed=-1"),
    (lambda m: m.encode(np.r_[DIGITS[:2], np.full((1, 1, 8, 8), np.nan)]), "input row 2 has a NaN or infinite value"),
    (lambda m: m.score(np.r_[np.full((1, 64), np.inf), np.zeros((1, 64))]), "input row 0 has a NaN or infinite value"),
    (lambda m: m.encode(scipy.sparse.csr_matrix(np.zeros((2, 64)))), "input is a sparse csr_matrix; pass a dense array"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(VaekitError) as e:
        call(untrained())
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("call,message", [
    (lambda m: m.encode(DIGITS[:3], [1.5, 2, 3]), "label 1.5 is not a class number"),  # it was cut to class 1
    (lambda m: m.decode(np.zeros((2, 3)), [0, 2.5]), "label 2.5 is not a class number"),
    (lambda m: m.generate(2, labels=0.5), "label 0.5 is not a class number"),
])
def test_a_fractional_label_is_refused(call, message):
    with pytest.raises(VaekitError, match=message):
        call(untrained("cvae", n_classes=4))
    m = untrained("cvae", n_classes=4)
    np.testing.assert_array_equal(m.encode(DIGITS[:3], [1.0, 2, 3]), m.encode(DIGITS[:3], [1, 2, 3]))  # whole floats are numbers


@pytest.mark.parametrize("call,message", [
    (lambda m: m.decode(np.zeros((3, 3)), "bird"), "label 'bird' is not a class of this model; its classes are cat, dog"),
    (lambda m: m.reconstruct(DIGITS[:5], np.zeros((5, 2), int)), "labels of shape (5, 2) and type int64; pass one"),
    (lambda m: m.encode(DIGITS[:2], [1]), "1 labels for 2 examples"),
    (lambda m: m.generate(2, labels=[[0, 1]]), "labels of shape (1, 2) and type int64; pass one class number or name"),
    (lambda m: m.generate(2, labels=[None, 1]), "label nan is not a class number"),
])
def test_labels_torch_cannot_take_are_one_clear_error(call, message):
    """They raised torch's TypeError "new(): invalid data type 'str'" and "Tensors must have same number of dimensions"."""
    m = untrained("cvae", n_classes=2)
    m.config["classes"] = ["cat", "dog"]
    with pytest.raises(VaekitError) as e:
        call(m)
    assert message in str(e.value)


def test_labels_may_be_the_runs_class_names():
    m = untrained("cvae", n_classes=2)
    m.config["classes"] = ["cat", "dog"]
    z = np.zeros((3, 3))
    np.testing.assert_array_equal(m.decode(z, ["dog", "cat", "dog"]), m.decode(z, [1, 0, 1]))
    np.testing.assert_array_equal(m.decode(z, "dog"), m.decode(z, 1))
    np.testing.assert_array_equal(m.decode(z, np.array([b"dog"] * 3)), m.decode(z, 1))
    np.testing.assert_array_equal(m.reconstruct(DIGITS[:2], ["cat", "dog"]), m.reconstruct(DIGITS[:2], [0, 1]))
    np.testing.assert_array_equal(m.generate(2, labels="dog", seed=0), m.generate(2, labels=1, seed=0))
    np.testing.assert_array_equal(m.decode(z, ["1", "0", "1"]), m.decode(z, [1, 0, 1]))  # numbers as text
    np.testing.assert_array_equal(m.encode(DIGITS[:3], "dog"), m.encode(DIGITS[:3], [1, 1, 1]))  # one for all
    m.config["classes"] = ["1", "0"]  # names that read as numbers mean their classes, as the CLI's --label does
    np.testing.assert_array_equal(m.decode(z, "0"), m.decode(z, 1))


@pytest.mark.parametrize("size", [0, -1, 2.5, True, "64"])
def test_load_checks_the_batch_size(digits_run, size):
    with pytest.raises(VaekitError, match=f"batch_size={size!r} must be a positive integer"):
        vaekit.load(digits_run, batch_size=size)


def test_a_loaded_run_has_its_summary(digits_run, vae):
    assert vae.summary == json.loads((digits_run / "summary.json").read_text()) and vae.history is None
    assert untrained().summary is None


@pytest.mark.parametrize("call", [lambda m: m.encode(DIGITS[:2], sample=True), lambda m: m.encode(DIGITS[:2], with_logvar=True),
                                  lambda m: m.interpolate(DIGITS[:1], DIGITS[1:2], slerp=True)])
def test_vae_only_options_refuse_an_ae(call):
    with pytest.raises(VaekitError, match="this run is an ae"):
        call(untrained("ae"))


def test_numpy_numbers_and_tensors_with_gradients_are_taken_as_they_are():
    m = untrained()
    z = torch.zeros(2, 3, requires_grad=True)
    np.testing.assert_array_equal(m.decode(z), m.decode(np.zeros((2, 3))))
    x = torch.from_numpy(DIGITS[:2]).requires_grad_()
    np.testing.assert_array_equal(m.encode(x), m.encode(DIGITS[:2]))
    np.testing.assert_array_equal(m.generate(np.int64(2), seed=np.int64(1), temperature=np.float32(0.5)),
                                  m.generate(2, seed=1, temperature=0.5))


def test_load_checks_the_device(digits_run):
    assert vaekit.trained.Trained.load(digits_run, device="auto").module is not None
    small = vaekit.load(digits_run, device="cpu", batch_size=7)  # the package's load takes Trained.load's options
    assert small.batch_size == 7 and np.allclose(small.encode(DIGITS[:20]), vaekit.load(digits_run).encode(DIGITS[:20]), atol=1e-6)
    for device, message in [("gpu", "--device gpu is not one of auto, cpu, cuda"), ("cuda:x", "after 'cuda:' comes the GPU's number")]:
        with pytest.raises(VaekitError, match=message):
            Trained.load(digits_run, device=device)
    if not torch.cuda.is_available():
        with pytest.raises(VaekitError, match="no CUDA GPU is visible"):
            Trained.load(digits_run, device="cuda")


def test_values_past_the_training_range_are_clipped_with_a_warning(caplog):
    m = untrained()  # min-max scaling of grey levels 0..16
    x = np.r_[DIGITS[:2].reshape(2, 64), np.full((1, 64), 1000.0)]
    with caplog.at_level("WARNING", logger="vaekit"):
        m.encode(DIGITS[:3])
        assert not caplog.records
        clipped = m.score(x)
    assert "64 values of the 3 examples scaled here lie outside the range of the model's training data" in caplog.text
    np.testing.assert_array_equal(clipped["mse"][2], m.score(np.full((1, 64), 16.0))["mse"][0])  # what clipping does
    assert clipped["outside"].tolist() == [0, 0, 64]  # what the scores cannot show: which example was clipped
    x[0, :10] = -5
    assert m.score(x)["outside"].tolist() == [10, 0, 64]


@pytest.mark.parametrize("scaler", [Scaler(0.0, 255.0, False, "uint8"), Scaler(3.0, 40.0, True, "minmax"),
                                    Scaler([1.0, 2.0, 0.5], [2.0, 4.0, 8.0], False, "standard")])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.float16, torch.float32])
def test_scaling_gives_the_formula_and_leaves_the_input_alone(scaler, dtype):
    x = torch.randint(0, 256, (5, 3), dtype=torch.int64).to(dtype)
    before = x.clone()
    shift, scale = (torch.tensor(v, dtype=torch.float32) for v in (scaler.shift, scaler.scale))
    expected = ((x.float() - shift) / scale).clamp(0, 1) if scaler.clip else (x.float() - shift) / scale
    for out in (scaler.transform(x), scaler.transform(x, scaler.constants(x)), scaler.transform_counted(x)[0]):
        assert out.dtype == torch.float32
        assert torch.equal(out, expected)  # bit for bit: the same operations in the same order
    assert torch.equal(x, before)


def test_train_options_from_python_take_one_hidden_width_as_an_int():
    """vaekit.train(hidden=16) is one hidden layer, as in the estimators (it failed inside the config's check)."""
    from vaekit.api import split_options

    assert split_options({"hidden": 16})[0].hidden == (16,)
    with pytest.raises(VaekitError, match="unknown option") as e:
        split_options({"hiden": 16})
    listed = str(e.value).split("the options are ")[1].split(", ")
    assert "data" in listed and "hidden" in listed and "input_shape" not in listed and "n_classes" not in listed
    with pytest.raises(VaekitError, match="--hidden '16' must be positive integers"):
        split_options({"hidden": "16"})[0].validate()


def test_train_takes_a_torch_device_and_refuses_a_number_for_a_folder(tmp_path):
    """The estimators took device=torch.device("cpu") and vaekit.train refused it; out=5 raised a TypeError."""
    trained = vaekit.train(data="digits", epochs=1, hidden=(8,), latent_dim=2, device=torch.device("cpu"),
                           out=tmp_path / "r", verbose=False)
    assert trained.config["cfg_train"].device == "cpu"
    with pytest.raises(VaekitError, match=r"^out=5 must be a folder's path \(str or pathlib.Path\)$"):
        vaekit.train(data="digits", out=5)
    # each was dropped without a word: name= for data=, input_shape= for the data's own shape
    with pytest.raises(VaekitError, match=r"^data='digits' and name='fashion-mnist' both name the data set; give one$"):
        vaekit.train(data="digits", name="fashion-mnist", out=tmp_path / "s")
    with pytest.raises(VaekitError, match="input_shape is read from the data"):
        vaekit.train(data="digits", input_shape=(1, 2, 2), out=tmp_path / "s")
    with pytest.raises(VaekitError, match=r"n_classes is read from the data \(a cvae's, from its labels\); drop it"):
        vaekit.train(data="digits", model="cvae", n_classes=3, out=tmp_path / "s")


def test_python_callers_get_arguments_named_as_python_passes_them(digits_run, tmp_path):
    """vaekit.load and vaekit.train, and the models they return, name latent_dim=0, not --latent-dim 0;
    the same model in the CLI's hands keeps the shell's spelling."""
    from vaekit.errors import python_spelling

    assert python_spelling("--latent-dim 0 must be a positive integer; try --latent-dim 16") == (
        "latent_dim=0 must be a positive integer; try latent_dim=16")
    assert python_spelling("--label needs a cvae; drop --sample/--with-logvar") == "label needs a cvae; drop sample/with_logvar"
    assert python_spelling("--lr -1.0 must be; run `vaekit train --resume r`") == "lr=-1.0 must be; run `vaekit train --resume r`"
    assert python_spelling("-n 0 must be; --steps 1 too") == "n=0 must be; steps=1 too"
    assert python_spelling("own settings (--device aside); drop --lr") == "own settings (device aside); drop lr"  # was device=aside);
    with pytest.raises(VaekitError, match=r"^device=gpu is not one of auto, cpu, cuda") as e:
        vaekit.load(digits_run, device="gpu")
    assert "--" not in str(e.value)
    m = vaekit.load(digits_run)
    with pytest.raises(VaekitError, match="label needs a conditional model") as e:
        m.decode(np.zeros((2, m.latent_dim)), 1)
    assert "--" not in str(e.value)
    with pytest.raises(VaekitError, match=r"^lr='0.01' must be a positive number; try lr=") as e:
        vaekit.train(data="digits", lr="0.01", out=tmp_path / "r", verbose=False)
    with pytest.raises(VaekitError, match=r"^beta='1' must be a number from 0 to 1e\+06; try beta=1$"):
        vaekit.train(data="digits", beta="1", out=tmp_path / "r", verbose=False)  # it said beta=1 ...; try beta=1
    internal = Trained.load(digits_run)  # as the CLI and evaluate load it
    with pytest.raises(VaekitError, match="--label needs a conditional model"):
        internal.decode(np.zeros((2, m.latent_dim)), 1)


def test_a_float64_default_dtype_changes_nothing(tmp_path, monkeypatch):
    """torch.set_default_dtype(torch.float64) built float64 models for float32 data: every call failed
    with "mat1 and mat2 must have the same dtype"."""
    from vaekit import features
    from vaekit.evaluation import evaluate_run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(features, "CLASSIFIER_STEPS", 20)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for arch in ("mlp", "conv"):
            run = vaekit.train(out=tmp_path / arch, verbose=False, arch=arch, epochs=1, latent_dim=2, hidden=(4, 8)[:1 + (arch == "conv")])
            assert run.encode(DIGITS[:4]).dtype == np.float32 and run.generate(3).shape == (3, 1, 8, 8)
            assert np.isfinite(run.score(DIGITS[:4])["neg_elbo"]).all()
        assert np.isfinite(evaluate_run(tmp_path / "conv", iw_samples=2)["frechet_distance"])  # its classifier too
    finally:
        torch.set_default_dtype(before)
