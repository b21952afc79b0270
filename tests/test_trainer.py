import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.api import train
from vaekit.config import DataConfig, ModelConfig, TrainConfig
from vaekit.data.datasets import load_data
from vaekit.errors import VaekitError
from vaekit.models import build_model
from vaekit.trainer import fit, set_seed


def _fit(epochs=4, seed=0, **model_options):
    set_seed(seed)
    data = load_data(DataConfig(), seed=seed)
    cfg = ModelConfig(input_shape=data.shape, latent_dim=4, hidden=(32,), **model_options)
    model = build_model(cfg)
    history = fit(model, data, TrainConfig(epochs=epochs, seed=seed, patience=0), device=torch.device("cpu"), verbose=False)
    return model, history


def test_loss_falls_on_digits():
    _, history = _fit(epochs=5)
    losses = [r["train_loss"] for r in history.records]
    assert losses[-1] < 0.85 * losses[0]
    assert history.records[-1]["val_loss"] < history.records[0]["val_loss"]


def test_same_seed_same_weights_other_seed_differs():
    a, _ = _fit(epochs=2, seed=3)
    b, _ = _fit(epochs=2, seed=3)
    c, _ = _fit(epochs=2, seed=4)
    for (name, p), q, r in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(p, q), name
    assert any(not torch.equal(p, r) for p, r in zip(a.state_dict().values(), c.state_dict().values()))


def test_held_out_binarization_is_one_fixed_draw_per_seed_and_training_draws_afresh():
    from vaekit.trainer import Batches

    data = load_data(DataConfig(), seed=0)
    batches, idx = Batches(data, torch.device("cpu"), binarize="dynamic"), data.splits["val"]
    a, b, c = ([x for x, _ in batches.over(idx, seed=seed)] for seed in (5, 5, 6))
    assert all(torch.equal(p, q) for p, q in zip(a, b))  # val_loss is comparable epoch to epoch
    assert not torch.equal(a[0], c[0])
    assert set(a[0].unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(batches.get(torch.as_tensor(idx))[0], batches.get(torch.as_tensor(idx))[0])


def test_held_out_logs_score_the_same_noise_every_pass_and_leave_the_global_rng_alone():
    """The validation loss took fresh posterior noise every epoch (a spread of ~0.1 nats on digits), so early
    stopping and the best epoch followed chance, and scoring used up the training noise."""
    from vaekit.trainer import Batches, mean_logs

    model, _ = _fit(epochs=1)
    data = load_data(DataConfig(), seed=0)
    batches, idx = Batches(data, torch.device("cpu")), data.splits["val"]
    torch.manual_seed(1)
    first = mean_logs(model, batches, idx, seed=0)
    after = torch.rand(3)
    assert mean_logs(model, batches, idx, seed=0) == first
    assert mean_logs(model, batches, idx, seed=1) != first
    torch.manual_seed(1)
    assert torch.equal(torch.rand(3), after)


def test_free_bits_pick_the_best_epoch_by_the_elbo():
    """Below the free-bits floor the KL costs nothing, so the loss passed over a growing KL: here it picked
    epoch 10 where the -ELBO was best at epoch 3."""
    set_seed(0)
    data = load_data(DataConfig(), seed=0)
    model = build_model(ModelConfig(input_shape=data.shape, latent_dim=8, hidden=(32,), free_bits=3.0))
    history = fit(model, data, TrainConfig(epochs=10, lr=1e-2, patience=0), device=torch.device("cpu"), verbose=False)
    by_loss, by_elbo = (1 + int(np.argmin([r[k] for r in history.records])) for k in ("val_loss", "val_neg_elbo"))
    assert by_loss != by_elbo and history.best_epoch == by_elbo


def test_a_resumed_free_bits_run_compares_epochs_by_the_log_it_picks_by_now():
    """A state saved when free bits were judged by their loss holds that loss as its best: every later -ELBO,
    lower by the free bits' floor, beat it, so the first resumed epoch became the best."""
    import copy

    def run(resume=None, on_state=None):
        set_seed(0)
        data = load_data(DataConfig(), seed=0)
        model = build_model(ModelConfig(input_shape=data.shape, latent_dim=8, hidden=(32,), free_bits=3.0))
        return fit(model, data, TrainConfig(epochs=6, lr=1e-2, patience=0), device=torch.device("cpu"), verbose=False,
                   resume=resume, on_state=on_state)

    states = {}
    whole = run(on_state=lambda state, final: states.setdefault(state["epoch"], copy.deepcopy(state)))
    assert whole.best_epoch == 3
    old = states[4]
    old["best"] = old["records"][2]["val_loss"]  # what the state held when val_loss picked the best epoch
    assert run(resume=old).best_epoch == 3


def test_early_stopping_restores_best_weights():
    set_seed(0)
    data = load_data(DataConfig(), seed=0)
    model = build_model(ModelConfig(input_shape=data.shape, latent_dim=4, hidden=(32,)))
    # a huge learning rate makes validation worse after the first epochs
    history = fit(model, data, TrainConfig(epochs=30, lr=0.05, patience=2), device=torch.device("cpu"), verbose=False)
    assert history.stopped in ("early-stopped", "diverged", "completed")
    if history.stopped == "early-stopped":
        best = min(r["val_loss"] for r in history.records)
        assert history.records[history.best_epoch - 1]["val_loss"] == best
        assert len(history.records) == history.best_epoch + 2


def test_nan_loss_stops_and_keeps_last_good_weights():
    set_seed(0)
    data = load_data(DataConfig(), seed=0)
    model = build_model(ModelConfig(input_shape=data.shape, latent_dim=4, hidden=(32,)))
    calls = {"n": 0}
    original = model.loss

    def poisoned(x, y=None, progress=None):
        calls["n"] += 1
        loss, logs = original(x, y=y, progress=progress)
        if progress is not None and progress >= 1.5:  # from the middle of epoch 2 on
            loss = loss * float("nan")
            logs = {**logs, "loss": logs["loss"] * float("nan")}
        return loss, logs

    model.loss = poisoned
    history = fit(model, data, TrainConfig(epochs=4, patience=0), device=torch.device("cpu"), verbose=False)
    assert history.stopped == "diverged"
    assert "epoch 2" in history.message and "--lr" in history.message
    assert len(history.records) == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("restore_best, kept", [(True, 1), (False, 2)])  # False: as the estimators fit
def test_a_divergence_after_the_best_epoch_names_the_epoch_it_keeps(restore_best, kept):
    set_seed(0)
    data = load_data(DataConfig(), seed=0)
    model = build_model(ModelConfig(input_shape=data.shape, latent_dim=4, hidden=(32,)))
    original, epoch = model.loss, {"now": 1}

    def worse_then_nan(x, y=None, progress=None):
        loss, logs = original(x, y=y, progress=progress)
        if progress is not None:
            epoch["now"] = int(progress) + 1
            if progress >= 2.5:  # the middle of epoch 3
                loss, logs = loss * float("nan"), {**logs, "loss": logs["loss"] * float("nan")}
        elif epoch["now"] == 2:  # epoch 2 validates worse than epoch 1: the best stays epoch 1
            loss, logs = loss + 1000, {**logs, "loss": logs["loss"] + 1000}
        return loss, logs

    model.loss = worse_then_nan
    history = fit(model, data, TrainConfig(epochs=4, patience=0), device=torch.device("cpu"), verbose=False,
                  restore_best=restore_best)
    assert history.stopped == "diverged" and history.best_epoch == 1 and len(history.records) == 2
    assert "non-finite in epoch 3, batch" in history.message and f"kept the weights of epoch {kept};" in history.message


def test_without_validation_a_kl_warm_up_run_keeps_its_best_training_elbo_epoch():
    set_seed(0)
    data = load_data(DataConfig(), seed=0, val_fraction=0.0)
    model = build_model(ModelConfig(input_shape=data.shape, latent_dim=4, hidden=(32,), kl_warmup=1))
    original = model.loss

    def low_objective_in_epoch_2(x, y=None, progress=None):  # as the annealed objective is, early in a ramp
        loss, logs = original(x, y=y, progress=progress)
        if progress is not None and 1 <= progress < 2:
            loss, logs = loss - 1000, {**logs, "loss": logs["loss"] - 1000}
        return loss, logs

    model.loss = low_objective_in_epoch_2
    history = fit(model, data, TrainConfig(epochs=3, patience=0, val_fraction=0.0), device=torch.device("cpu"), verbose=False)
    elbos = [r["train_neg_elbo"] for r in history.records]
    assert history.records[1]["train_loss"] < 0 and history.best_epoch == 1 + elbos.index(min(elbos)) != 2


def test_run_folder_reloads_to_identical_outputs(digits_run):
    run = digits_run
    for name in ("config.json", "model.safetensors", "metrics.jsonl", "summary.json"):
        assert (run / name).is_file(), name
    for name in ("reconstructions.png", "samples.png", "loss.png", "latent.png"):
        assert (run / "figures" / name).stat().st_size > 1000, name
    config = json.loads((run / "config.json").read_text())
    assert config["format_version"] == 1 and config["model"]["input_shape"] == [1, 8, 8]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    summary = json.loads((run / "summary.json").read_text())
    assert {"test_neg_elbo", "test_recon", "test_kl", "test_mse"} <= set(summary)
    assert math.isclose(summary["test_neg_elbo"], summary["test_recon"] + summary["test_kl"], rel_tol=1e-6)

    a, b = vaekit.load(run), vaekit.load(run)
    x = np.random.default_rng(0).uniform(0, 16, size=(7, 1, 8, 8)).astype(np.float32)
    assert np.array_equal(a.encode(x), b.encode(x))
    assert a.encode(x).shape == (7, 4)
    assert np.array_equal(a.reconstruct(x), b.reconstruct(x))
    assert np.array_equal(a.generate(5, seed=1), b.generate(5, seed=1))
    assert a.reconstruct(x).max() <= 16 + 1e-4  # back in the original units (digits: 0..16)
    assert isinstance(a.module, torch.nn.Module)


def test_trained_model_outputs_equal_the_training_session(tmp_path):
    trained = train(out=tmp_path / "r", verbose=False, model="ae", epochs=2, latent_dim=3, hidden=(16,))
    x = np.random.default_rng(0).uniform(0, 16, size=(4, 64)).astype(np.float32)
    assert np.allclose(trained.encode(x), vaekit.load(tmp_path / "r").encode(x))


def test_dae_records_its_default_noise(tmp_path):
    trained = train(out=tmp_path / "d", verbose=False, model="dae", epochs=1, hidden=(16,))
    assert trained.config["model"]["noise"] == "gaussian:0.3"


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_user_array_with_vectors_and_images(tmp_path, arch):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 12, 12), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", x)
    trained = train(out=tmp_path / arch, verbose=False, data=str(tmp_path / "imgs.npy"), arch=arch, epochs=1,
                           latent_dim=2, hidden=(8, 8) if arch == "conv" else (16,))
    assert trained.model_cfg.input_shape == (1, 12, 12)
    assert trained.scaler.kind == "uint8"


def test_package_level_train_and_load(tmp_path):
    first = vaekit.train(tmp_path / "a", verbose=False, epochs=1, hidden=(8,))
    second = vaekit.train(out=tmp_path / "b", verbose=False, epochs=1, hidden=(8,))  # still the function
    assert first.run != second.run and vaekit.load(second.run).model_cfg == second.model_cfg


def test_train_takes_numpy_numbers_and_gives_the_callers_rng_back(tmp_path):
    import random

    def draws():
        return random.random(), np.random.rand(), torch.rand(1).item()

    for seed in (1, 2):
        random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
        expected = draws()
        random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
        vaekit.train(out=tmp_path / str(seed), verbose=False, epochs=np.int64(1), latent_dim=np.int64(2), lr=np.float32(1e-3),
                     hidden=[np.int64(8)])
        assert draws() == expected  # training seeded every global RNG with its own seed, 0
    config = json.loads((tmp_path / "1" / "config.json").read_text())
    assert config["model"]["latent_dim"] == 2 and config["train"]["lr"] == pytest.approx(1e-3)


def test_train_refuses_arrays_as_data(tmp_path):
    with pytest.raises(VaekitError, match="data is a ndarray; give a data set's name"):
        vaekit.train(data=np.zeros((10, 4)), out=tmp_path / "x")


def test_loss_curves_leave_out_non_finite_values_and_warn_about_nothing(tmp_path, monkeypatch):
    import warnings

    from vaekit import plots

    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig.axes[0]))
    records = [{"epoch": 1, "train_loss": 3.0, "val_loss": float("nan")},
               {"epoch": 2, "train_loss": float("inf"), "val_loss": float("nan")},
               {"epoch": 3, "train_loss": 2.0, "val_loss": float("nan")}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.save_curves(tmp_path / "a.png", records)
        plots.save_curves(tmp_path / "b.png", [])  # diverged in epoch 1: no epoch to draw
    curves, empty = drawn
    kl = [{"epoch": 1, "train_loss": 3.0, "train_kl": 0.5, "val_kl": 0.25}, {"epoch": 2, "train_loss": 2.0, "train_kl": 0.1}]
    plots.save_curves(tmp_path / "c.png", kl, [("loss", "nats"), ("kl", "KL, nats")])  # a VAE's: loss and KL
    loss_axis, kl_axis = drawn[-1].figure.axes
    assert kl_axis.get_ylabel() == "KL, nats" and [line.get_label() for line in kl_axis.lines] == ["train", "val"]
    assert list(kl_axis.lines[0].get_ydata()) == [0.5, 0.1] and list(loss_axis.lines[0].get_ydata()) == [3.0, 2.0]
    assert [line.get_label() for line in curves.lines] == ["train"]  # val was never finite
    assert curves.get_yscale() == "linear"
    # a first epoch far above the rest (lr 1: 49,395 nats, then 35-73) goes on a log axis, or the rest lie flat on 0
    plots.save_curves(tmp_path / "d.png", [{"epoch": 1, "train_loss": 49395.0}, {"epoch": 2, "train_loss": 73.0},
                                           {"epoch": 3, "train_loss": 35.0, "val_loss": 36.0}])
    assert drawn[-1].get_yscale() == "log"
    assert np.isnan(curves.lines[0].get_ydata()[1]) and np.isfinite(curves.get_ylim()).all()
    assert [t.get_text() for t in curves.get_legend().get_texts()] == ["train"]
    assert not empty.lines and empty.get_legend() is None and "no epoch" in empty.texts[0].get_text()


@pytest.mark.parametrize("n", [1, 2])
def test_principal_components_of_fewer_examples_than_components(n):
    from vaekit.plots import principal_components

    z = np.random.default_rng(0).normal(size=(n, 5))
    pcs = principal_components(z, 2)
    assert pcs.shape == (n, 2) and np.isfinite(pcs).all()
    assert np.allclose(np.abs(pcs[:, 0]), np.linalg.norm(z - z.mean(0), axis=1))  # all the spread is on PC 1


def test_smallest_data_set_gets_its_report_and_no_warnings(tmp_path):
    import warnings

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "three.npz", x=rng.random((3, 64), dtype=np.float32), y=np.array([0, 1, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none may reach the user's terminal
        trained = train(out=tmp_path / "r", verbose=False, data=str(tmp_path / "three.npz"), epochs=1, hidden=(8,))
    assert trained.config["split"] == {"train": 2, "val": 0, "test": 1}
    assert (trained.run / "report.html").is_file()
    for name in ("reconstructions.png", "samples.png", "loss.png", "latent.png"):
        assert (trained.run / "figures" / name).is_file(), name
    assert trained.summary["n_test"] == 1 and "active_units" not in trained.summary  # no spread in one example
    from vaekit.evaluation import evaluate_run

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = evaluate_run(trained.run, iw_samples=4)
    assert "active_units" not in scores and len(scores["kl_per_dim"]) == trained.module.cfg.latent_dim


def test_a_data_files_path_is_saved_whole_so_the_run_finds_it_from_anywhere(tmp_path, monkeypatch):
    from vaekit.evaluation import load_run_data

    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((30, 4)).astype(np.float32))
    monkeypatch.chdir(tmp_path)
    trained = train(out="run", verbose=False, data="x.npy", epochs=1, hidden=(8,), latent_dim=2)
    assert trained.config["cfg_data"].name == str(tmp_path.resolve() / "x.npy")
    monkeypatch.chdir(tmp_path / "run" / "figures")
    assert len(load_run_data(vaekit.load(tmp_path / "run")).splits["test"]) == 6


def test_the_loss_plot_says_what_its_loss_is(tmp_path, monkeypatch):
    from vaekit import plots

    import matplotlib.pyplot as plt

    drawn = {}

    def keep(fig, path):  # the axes, instead of a file
        drawn[Path(path).name] = fig.axes[0]
        plt.close(fig)

    monkeypatch.setattr(plots, "_save", keep)
    for model in ("vae", "ae"):
        train(out=tmp_path / model, verbose=False, model=model, epochs=2, hidden=(8,), latent_dim=2)
        ax = drawn["loss.png"]
        title = {"vae": "VAE: loss = -ELBO (recon + KL), and the KL", "ae": "AE: training loss"}[model]
        assert ax.figure.get_suptitle() == title
        assert [a.get_ylabel() for a in ax.figure.axes] == {
            "vae": ["loss, nats per example", "KL(q(z|x) || p(z)), nats per example"],
            "ae": ["Bernoulli cross-entropy, nats per example"]}[model]
        if model == "vae":  # the KL panel draws the run's own KL per epoch
            assert [line.get_label() for line in ax.figure.axes[1].lines] == ["train", "val"]
            assert np.isfinite(ax.figure.axes[1].lines[0].get_ydata()).all()
        assert all(float(t).is_integer() for t in ax.get_xticks())  # whole epochs, not 1.2, 1.4, ...


def test_training_gives_its_freed_memory_back_at_the_end():
    """fit keeps freed memory for its steps' reuse, then hands the free heap back to the kernel: a
    notebook that trained a model does not keep it (glibc only; the heap's releasable top stays small)."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                           "fsmblks", "uordblks", "fordblks", "keepcost")]

    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        pytest.skip("needs glibc 2.33 or later")
    mallinfo2.restype = Mallinfo2
    from vaekit.data.datasets import from_arrays

    data = from_arrays(np.random.default_rng(0).random((3000, 784)).astype(np.float32), scale="minmax", seed=0)
    model = build_model(ModelConfig(model="vae", input_shape=(784,), latent_dim=4, hidden=(256,)).validate())
    fit(model, data, TrainConfig(epochs=1, batch_size=512, patience=0, val_fraction=0.0), device=torch.device("cpu"),
        verbose=False)
    assert mallinfo2().keepcost < 1 << 20  # 6.6 MB stayed when the trim threshold was left at 1 GiB
