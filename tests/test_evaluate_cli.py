import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vaekit import evaluation, features, metrics
from vaekit.cli import cli
from vaekit.evaluation import eval_file

KEYS = {"neg_elbo", "recon", "kl", "kl_per_dim", "active_units", "iw_log_likelihood", "bits_per_dim", "mse", "bce",
        "psnr_db", "pca_mse", "probe_accuracy", "knn_accuracy", "pca_probe_accuracy", "pca_knn_accuracy",
        "frechet_distance", "frechet_distance_reference", "frechet_distance_sd", "frechet_distance_fitted_codes",
        "sample_confidence", "sample_class_histogram",
        "classifier_test_accuracy"}


@pytest.fixture(autouse=True)
def small_classifier(tmp_path_factory, monkeypatch):
    """A private classifier cache, and a classifier trained briefly: the tests check plumbing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setattr(features, "CLASSIFIER_STEPS", 100)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from vaekit.api import train

    root = tmp_path_factory.mktemp("evaluate")
    tiny = dict(verbose=False, epochs=2, latent_dim=3, hidden=(16,))
    return {"vae": train(out=root / "vae", **tiny).run, "ae": train(out=root / "ae", model="ae", **tiny).run,
            "binarized": train(out=root / "bin", binarize="dynamic", **tiny).run}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_evaluate_writes_eval_json_and_prints_a_table(runs):
    result = invoke("evaluate", runs["vae"], "--iw-samples", 20)
    assert result.exit_code == 0, result.output
    assert "-ELBO (nats)" in result.output and "(K=20)" in result.output
    assert "bound on a loss" in result.output  # a Bernoulli likelihood on grey levels is no likelihood
    assert "importance-weighted bound on -loss (nats; not log p(x) here)" in result.output
    saved = json.loads((runs["vae"] / "eval.json").read_text())
    assert KEYS <= set(saved)
    assert saved["iw_samples"] == 20 and saved["split"] == "test" and saved["seed"] == 0  # --seed picks the draws
    assert set(saved["units"]) <= set(saved)
    assert {"neg_elbo", "iw_log_likelihood", "frechet_distance", "probe_accuracy"} <= set(saved["units"])
    assert saved["units"]["iw_log_likelihood"].endswith("(higher is better); here: bound on a loss, not a log-likelihood")
    assert "bound on a loss" not in saved["units"]["kl"]  # the KL does not depend on the likelihood
    assert saved["likelihood_meaning"].startswith("bound on a loss")
    assert 0 <= saved["active_units"] <= 3 and len(saved["kl_per_dim"]) == 3
    assert saved["neg_elbo"] == pytest.approx(saved["recon"] + saved["kl"])
    summary = json.loads((runs["vae"] / "summary.json").read_text())
    assert summary["test_mse"] == pytest.approx(saved["mse"], rel=1e-4)  # both decode the posterior mean
    assert sum(saved["sample_class_histogram"].values()) == pytest.approx(1.0, abs=1e-3)
    assert list(saved["sample_class_histogram"]) == [str(c) for c in range(10)]  # digits' classes: 0..9
    assert (runs["vae"] / "report.html").is_file()


def test_evaluate_is_reproducible(runs):
    first = invoke("evaluate", runs["vae"], "--iw-samples", 5, "--no-report", "--split", "val")
    a = json.loads((runs["vae"] / "eval-val.json").read_text())
    second = invoke("evaluate", runs["vae"], "--iw-samples", 5, "--no-report", "--split", "val")
    b = json.loads((runs["vae"] / "eval-val.json").read_text())
    assert first.exit_code == second.exit_code == 0
    assert a == b and a["split"] == "val"
    assert a["units"]["frechet_distance"].startswith("squared feature units, val images vs decoded prior samples")
    assert a["units"]["frechet_distance_reference"] == "squared feature units, val vs training images: the floor"


def test_sample_metrics_are_their_own_draws_and_the_callers_rng_is_left_alone(runs):
    """--iw-samples moves no prior sample, --seed no classifier or floor, and evaluate_run (with vaekit.load
    inside it) no draw of the caller's."""
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a = evaluation.evaluate_run(runs["vae"], split="val", iw_samples=3)
    assert torch.equal(torch.rand(3), expected)
    b = evaluation.evaluate_run(runs["vae"], split="val", iw_samples=4)
    c = evaluation.evaluate_run(runs["vae"], split="val", iw_samples=3, seed=1)
    sampled = ("frechet_distance", "frechet_distance_sd", "frechet_distance_fitted_codes", "sample_confidence",
               "sample_class_histogram")
    assert {k: a[k] for k in sampled} == {k: b[k] for k in sampled}
    assert a["frechet_distance"] != c["frechet_distance"]  # --seed draws other prior samples
    for key in ("classifier_test_accuracy", "frechet_distance_reference"):
        assert a[key] == c[key], key


def test_binarized_runs_report_log_likelihoods_in_nats(runs):
    result = invoke("evaluate", runs["binarized"], "--iw-samples", 10, "--no-report")
    assert result.exit_code == 0, result.output
    saved = json.loads((runs["binarized"] / "eval.json").read_text())
    assert saved["binarized"] is True
    assert saved["likelihood_meaning"].startswith("log-likelihood")
    assert saved["bits_per_dim"] == pytest.approx(-saved["iw_log_likelihood"] / (64 * np.log(2)))
    # the run's summary scored the same fixed-seed binarization of the test split, in both of its passes
    summary = json.loads((runs["binarized"] / "summary.json").read_text())
    assert sum(summary["kl_per_dim"]) == pytest.approx(summary["test_kl"], rel=1e-5)
    assert summary["test_kl"] == pytest.approx(saved["kl"], rel=1e-5)
    assert summary["kl_per_dim"] == pytest.approx(saved["kl_per_dim"], rel=1e-5)


def test_an_autoencoder_has_no_likelihood_but_gets_the_rest(runs):
    result = invoke("evaluate", runs["ae"], "--no-report")
    assert result.exit_code == 0, result.output
    assert "no likelihood" in result.output
    saved = json.loads((runs["ae"] / "eval.json").read_text())
    assert "neg_elbo" not in saved and "iw_log_likelihood" not in saved
    assert {"mse", "probe_accuracy", "frechet_distance"} <= set(saved)
    assert saved["likelihood_meaning"].startswith("none")
    assert saved["frechet_distance_sd"] > 0 and saved["frechet_distance_fitted_codes"] > 0  # 5 draws of samples differ


def test_data_without_labels_skips_the_probes_with_a_note(runs, tmp_path):
    from sklearn.datasets import load_digits

    path = tmp_path / "unlabelled.npy"
    np.save(path, load_digits().images.astype(np.float32)[:, None])  # the run's shape, no labels
    result = invoke("evaluate", runs["vae"], "--data", path, "--iw-samples", 5, "--no-report")
    assert result.exit_code == 0, result.output
    assert "no labels" in result.output and f"wrote {eval_file(runs['vae'], str(path))}" in result.output
    saved = json.loads(eval_file(runs["vae"], str(path)).read_text())
    assert "probe_accuracy" not in saved and "frechet_distance" not in saved and "neg_elbo" in saved


def test_data_of_one_class_skip_the_probes_with_a_note(runs, tmp_path):
    """scikit-learn's "This solver needs samples of at least 2 classes" came out as a traceback."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    threes = digits.target == 3
    np.savez(tmp_path / "threes.npz", x=digits.images[threes].astype(np.float32), y=digits.target[threes])
    result = invoke("evaluate", runs["vae"], "--data", tmp_path / "threes.npz", "--iw-samples", 5, "--no-report")
    assert result.exit_code == 0, result.output
    saved = json.loads(eval_file(runs["vae"], str(tmp_path / "threes.npz")).read_text())
    assert "probe_accuracy" not in saved and "frechet_distance" not in saved and "neg_elbo" in saved
    assert any(note.startswith("one class in the training split") for note in saved["notes"])


def test_values_clipped_to_the_training_range_are_counted_and_said(tmp_path):
    """A Gaussian VAE on min-max scaled data scored 3x wider data as the density of the clipped data, silently:
    out-of-range examples looked 26 nats likelier than they are."""
    from vaekit.api import train

    rng = np.random.default_rng(0)
    np.save(tmp_path / "train.npy", rng.normal(size=(200, 5)).astype(np.float32))
    np.save(tmp_path / "wide.npy", 3 * rng.normal(size=(100, 5)).astype(np.float32))
    run = train(out=tmp_path / "r", data=str(tmp_path / "train.npy"), scale="minmax", likelihood="gaussian", epochs=1,
                latent_dim=2, hidden=(8,), verbose=False).run
    result = invoke("evaluate", run, "--data", tmp_path / "wide.npy", "--iw-samples", 2, "--no-report")
    assert result.exit_code == 0, result.output
    saved = json.loads(eval_file(run, str(tmp_path / "wide.npy")).read_text())
    assert saved["clipped_values"] > 20 and "clipped_values" in saved["units"]
    assert (f"{saved['clipped_values']:,} of the split's " in result.output
            and "were clipped to it before scoring (min-max scaling is fitted on those data alone)" in result.output)


def test_a_bernoulli_likelihood_of_data_that_are_0_and_1_is_a_log_likelihood(tmp_path):
    from vaekit.api import train

    np.save(tmp_path / "bits.npy", (np.random.default_rng(0).random((200, 12)) < 0.3).astype(np.float32))
    run = train(out=tmp_path / "r", data=str(tmp_path / "bits.npy"), epochs=1, latent_dim=2, hidden=(8,),
                verbose=False).run
    result = invoke("evaluate", run, "--iw-samples", 2, "--no-report")
    assert result.exit_code == 0, result.output
    meaning = json.loads((run / "eval.json").read_text())["likelihood_meaning"]
    assert meaning == "log-likelihood: Bernoulli likelihood of the data, which are 0 and 1"
    assert "not log p(x)" not in result.output


@pytest.mark.parametrize("args,message", [
    (["--iw-samples", "0"], "--iw-samples 0 must be a positive integer"),
    (["--iw-samples", "-3"], "--iw-samples -3 must be a positive integer"),
    (["--split", "nope"], "--split nope is not one of"),
    (["--data", "no-such-data"], "no such data set"),
])
def test_bad_input_is_one_line_and_exit_2(runs, args, message):
    result = invoke("evaluate", runs["vae"], *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_data_of_another_shape_is_refused(runs, tmp_path):
    path = tmp_path / "wide.npy"
    np.save(path, np.random.default_rng(0).random((50, 10), dtype=np.float32))
    result = invoke("evaluate", runs["vae"], "--data", path)
    assert result.exit_code == 2
    assert "shape (50, 10)" in result.output and "expects (N, 1, 8, 8), (N, 8, 8) or (N, 64)" in result.output


def test_flat_examples_of_an_image_model_are_evaluated_as_images(runs, tmp_path):
    from sklearn.datasets import load_digits

    path = tmp_path / "flat.npy"
    np.save(path, load_digits().data.astype(np.float32))  # (N, 64) for a model of (1, 8, 8), as encode takes them
    result = invoke("evaluate", runs["vae"], "--data", path, "--iw-samples", 5, "--no-report")
    assert result.exit_code == 0, result.output
    flat = json.loads(eval_file(runs["vae"], str(path)).read_text())
    assert invoke("evaluate", runs["vae"], "--iw-samples", 5, "--no-report").exit_code == 0
    assert flat["data"] == str(path) and flat["mse"] == pytest.approx(json.loads((runs["vae"] / "eval.json").read_text())["mse"])  # the same images


def test_another_data_set_leaves_the_runs_own_evaluation_and_report(runs, tmp_path):
    from sklearn.datasets import load_digits

    assert invoke("evaluate", runs["vae"], "--iw-samples", 5).exit_code == 0
    own, report = (runs["vae"] / "eval.json").read_bytes(), (runs["vae"] / "report.html").read_bytes()
    path = tmp_path / "other digits.npy"
    np.save(path, load_digits().images.astype(np.float32)[::-1, None].copy())
    result = invoke("evaluate", runs["vae"], "--data", path, "--iw-samples", 5)
    assert result.exit_code == 0 and "report.html is left as it was" in result.output, result.output
    assert json.loads(eval_file(runs["vae"], str(path)).read_text())["data"] == str(path)
    assert (runs["vae"] / "eval.json").read_bytes() == own and (runs["vae"] / "report.html").read_bytes() == report
    # one file per data set (a/x.npy and b/x.npy too), and per way of reading one: none writes over another
    cases = [("a/x.npy", {}), ("b/x.npy", {}), ("x.npz", {"key": "x_test"}), ("x.npz", {"key": "x_train"}),
             ("x.csv", {"label_column": "kind"}), ("x.csv", {"label_column": "3"}), ("digits", {"image_size": 8}),
             ("digits", {"image_size": 16})]
    names = [eval_file(runs["vae"], data, **reading).name for data, reading in cases]
    assert len(set(names)) == len(cases) and names[-1] == "eval-digits-size16.json", names
    assert names[0].startswith("eval-x.npy-") and names[2].endswith("-x_test.json") and "-label-kind" in names[4]
    assert eval_file(runs["vae"], "digits") == eval_file(runs["vae"]) == runs["vae"] / "eval.json"
    # another split of the run's own data has its file too: eval.json and the report are the test split's
    result = invoke("evaluate", runs["vae"], "--split", "val", "--iw-samples", 5)
    assert result.exit_code == 0 and "report.html is left as it was" in result.output, result.output
    assert json.loads((runs["vae"] / "eval-val.json").read_text())["split"] == "val"
    assert (runs["vae"] / "eval.json").read_bytes() == own and (runs["vae"] / "report.html").read_bytes() == report
    assert eval_file(runs["vae"], "a/x.npy", "train").name == names[0].replace(".json", "-train.json")


def test_another_file_is_read_with_evaluates_own_options_not_the_runs(tmp_path):
    from sklearn.datasets import load_digits

    from vaekit.api import train

    digits = load_digits()
    flat = digits.images.reshape(len(digits.images), -1).astype(np.float32)  # (N, 64)
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    np.savetxt(tmp_path / "train.csv", np.column_stack([flat, digits.target]), delimiter=",", header=header,
               comments="", fmt="%g")
    np.save(tmp_path / "other.npy", flat)
    np.savez(tmp_path / "train.npz", a=flat)
    np.savez(tmp_path / "other.npz", images=flat, junk=np.zeros(3))
    tiny = dict(verbose=False, epochs=1, latent_dim=2, hidden=(8,))
    csv_run = train(out=tmp_path / "csv", data=str(tmp_path / "train.csv"), label_column="label", **tiny).run
    npz_run = train(out=tmp_path / "npz", data=str(tmp_path / "train.npz"), key="a", **tiny).run

    # the run's --label-column names a column of its own .csv: it does not apply to a .npy
    result = invoke("evaluate", csv_run, "--data", tmp_path / "other.npy", "--iw-samples", 5, "--no-report")
    assert result.exit_code == 0, result.output
    assert json.loads(eval_file(csv_run, str(tmp_path / "other.npy")).read_text())["data"] == str(tmp_path / "other.npy")
    # nor does its --key name an array of another .npz: evaluate takes its own
    result = invoke("evaluate", npz_run, "--data", tmp_path / "other.npz", "--iw-samples", 5, "--no-report")
    assert result.exit_code == 2 and "'images', 'junk'" in result.output and "--key" in result.output
    result = invoke("evaluate", npz_run, "--data", tmp_path / "other.npz", "--key", "images", "--iw-samples", 5,
                    "--no-report")
    assert result.exit_code == 0, result.output
    # the run's own file is read as in training unless told otherwise
    result = invoke("evaluate", csv_run, "--iw-samples", 5, "--no-report")
    assert result.exit_code == 0 and "probe_accuracy" in json.loads((csv_run / "eval.json").read_text())
    # another CSV whose header names the run's label column (its columns in another order): read with it
    np.savetxt(tmp_path / "new.csv", np.column_stack([digits.target, flat[:, ::-1]]), delimiter=",", comments="",
               header=",".join(["label"] + [f"p{i}" for i in reversed(range(64))]), fmt="%g")
    result = invoke("evaluate", csv_run, "--data", tmp_path / "new.csv", "--iw-samples", 5, "--no-report")
    assert result.exit_code == 0, result.output
    assert "probe_accuracy" in json.loads(eval_file(csv_run, str(tmp_path / "new.csv")).read_text())  # the labels were found
    # np.savetxt's own header ("# label,p63,...") names it too
    np.savetxt(tmp_path / "hashed.csv", np.column_stack([digits.target, flat[:, ::-1]]), delimiter=",", fmt="%g",
               header=",".join(["label"] + [f"p{i}" for i in reversed(range(64))]))
    result = invoke("evaluate", csv_run, "--data", tmp_path / "hashed.csv", "--iw-samples", 5, "--no-report")
    assert result.exit_code == 0, result.output
    assert "probe_accuracy" in json.loads(eval_file(csv_run, str(tmp_path / "hashed.csv")).read_text())


def test_evaluate_a_folder_that_is_not_a_run(tmp_path):
    result = invoke("evaluate", tmp_path / "missing")
    assert result.exit_code == 2 and "no such run folder" in result.output


def test_compare_trains_three_models_and_writes_the_comparison(tmp_path):
    out = tmp_path / "cmp"
    result = invoke("compare", "--epochs", 2, "--latent-dim", 2, "--hidden", "16", "--iw-samples", 5, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert "times closer" in result.output or "no worse" in result.output
    saved = json.loads((out / "compare.json").read_text())
    assert list(saved) == ["ae", "dae", "vae"]
    assert set(saved["ae"]) <= set(saved["vae"]) and "neg_elbo" in saved["vae"]
    for name in saved:
        assert json.loads((out / name / "config.json").read_text())["model"]["model"] == name
        assert json.loads((out / name / "summary.json").read_text())["epochs_trained"] == 2
    assert (out / "report.html").is_file()
    again = invoke("compare", "--epochs", 1, "--out", out)
    assert again.exit_code == 2 and "not empty" in again.output


def test_an_interrupted_compare_is_finished_by_resume(tmp_path, monkeypatch):
    """Ctrl-C in the second model left a folder nothing could finish: `vaekit train --resume` finished that
    model, but no command trained the third or wrote compare.json and the page."""
    from vaekit import checkpoint

    saved = checkpoint.StateSaver.__call__

    def ctrl_c_after_the_dae_s_first_epoch(self, state, final):
        saved(self, state, final)
        if self.run.name == "dae":
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.StateSaver, "__call__", ctrl_c_after_the_dae_s_first_epoch)
    out = tmp_path / "cmp"
    result = invoke("compare", "--epochs", 2, "--latent-dim", 2, "--hidden", "16", "--iw-samples", 5, "--out", out, "-q")
    assert result.exit_code == 130 and f"finish the comparison with `vaekit compare --resume {out}`" in result.output
    assert checkpoint.awaits_resume(out / "dae") and not (out / "vae").exists() and not (out / "compare.json").exists()
    ae = (out / "ae" / "eval.json").read_bytes()
    monkeypatch.undo()
    refused = invoke("compare", "--resume", out, "--epochs", 5)
    assert refused.exit_code == 2 and "with its own settings; drop --epochs" in refused.output
    result = invoke("compare", "--resume", out, "--iw-samples", 5, "-q")
    assert result.exit_code == 0, result.output
    assert list(json.loads((out / "compare.json").read_text())) == ["ae", "dae", "vae"] and (out / "report.html").is_file()
    for name in ("dae", "vae"):  # trained as the comparison's first model was, to its end
        config = json.loads((out / name / "config.json").read_text())
        assert (config["train"]["epochs"], config["model"]["latent_dim"], config["model"]["hidden"]) == (2, 2, [16])
        assert json.loads((out / name / "summary.json").read_text())["epochs_trained"] == 2
    assert (out / "ae" / "eval.json").read_bytes() == ae  # kept, not evaluated again
    again = invoke("compare", "--resume", out)
    assert again.exit_code == 2 and "this comparison has finished" in again.output
    # a member cut short before its first epoch was saved is named, where train's --out message was a dead end
    for leftover in ("compare.json", "report.html", "vae"):
        shutil.rmtree(out / leftover) if (out / leftover).is_dir() else (out / leftover).unlink()
    (out / "vae").mkdir()
    (out / "vae" / "config.json").write_text("{}")
    result = invoke("compare", "--resume", out, "-q")
    assert result.exit_code == 2 and f"{out / 'vae'} was cut short before its first epoch was saved" in result.output
    shutil.rmtree(out / "vae")
    (out / "vae").mkdir()  # a member stopped as it took its folder: only its lock, its process gone
    (out / "vae" / ".lock").write_text("999999999 elsewhere-host\n")
    os.utime(out / "vae" / ".lock", (0, 0))
    assert invoke("compare", "--resume", out, "--iw-samples", 5, "-q").exit_code == 0


def test_compare_reads_a_file_as_train_does(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)) * [1, 10, 100, 1000] + 50
    rows = ["a,b,c,d,kind"] + [f"{a},{b},{c},{d},{'uv'[int(a > 50)]}" for a, b, c, d in x]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "cmp"
    result = invoke("compare", "--data", tmp_path / "t.csv", "--label-column", "kind", "--scale", "standard",
                    "--epochs", 1, "--latent-dim", 2, "--hidden", "8", "--iw-samples", 5, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    for name in ("ae", "dae", "vae"):
        config = json.loads((out / name / "config.json").read_text())
        assert (config["data"]["label_column"], config["data"]["scale"]) == ("kind", "standard")
    assert "probe_accuracy" in json.loads((out / "compare.json").read_text())["vae"]  # the labels were read


def test_report_command(runs, tmp_path):
    result = invoke("report", runs["vae"])
    assert result.exit_code == 0 and "report.html" in result.output
    missing = invoke("report", tmp_path / "nope")
    assert missing.exit_code == 2 and "no such folder" in missing.output


def test_corrupt_json_files_in_a_run_get_advice_that_fixes_them(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["vae"], run)
    (run / "eval.json").write_text('{"mse": 0.')
    (run / "summary.json").write_text('{"epochs_trai')
    # eval.json: the page goes on without its metrics and says so; `vaekit evaluate` rewrites it, as the advice says
    result = invoke("report", run)
    assert result.exit_code == 0 and "eval.json: not valid JSON; run `vaekit evaluate" in result.stderr
    assert "eval.json: not valid JSON; run `vaekit evaluate" in (run / "report.html").read_text()
    # summary.json (only training writes it) feeds just the training table: neither command fails on it
    result = invoke("evaluate", run, "--iw-samples", 5)
    assert result.exit_code == 0, result.output
    assert "mse" in json.loads((run / "eval.json").read_text())
    advice = f"summary.json: not valid JSON; delete it and run `vaekit train --resume {run}` to write it again"
    assert "vaekit: warning: " in result.stderr and advice in result.stderr
    assert "summary.json: not valid JSON" in (run / "report.html").read_text()
    result = invoke("report", run)
    assert result.exit_code == 0, result.output
    assert (run / "summary.json").read_text() == '{"epochs_trai'  # the user's file is left as it was
    (run / "summary.json").unlink()  # the advice works
    assert invoke("train", "--resume", run, "--quiet").exit_code == 0
    assert json.loads((run / "summary.json").read_text())["epochs_trained"] == 2


def test_the_cached_classifier_is_one_of_these_very_images():
    """A folder whose images were replaced has the same name, shape and split: the old classifier gave its numbers."""
    from vaekit.config import DataConfig
    from vaekit.data.datasets import load_data

    data = load_data(DataConfig())
    key = features._cache_key(data, 100, 0)
    x = np.array(data.x)
    x[0, 0, 0, 0] += 1
    assert features._cache_key(dataclasses.replace(data, x=x), 100, 0) != key
    y = data.y.copy()
    y[0] = (y[0] + 1) % 10
    assert features._cache_key(dataclasses.replace(data, y=y), 100, 0) != key
    assert features._cache_key(load_data(DataConfig()), 100, 0) == key  # the same data: the cache is used


def test_data_files_of_one_name_get_classifiers_of_their_own(tmp_path, monkeypatch):
    """people.csv in two folders: the name's own dot once cut the fingerprint off the cached file's name."""
    from vaekit.config import DataConfig
    from vaekit.data.datasets import load_data

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    made = []
    for folder, shift in (("a", 0.0), ("b", 5.0)):
        (tmp_path / folder).mkdir()
        x = rng.normal(size=(60, 3)) + shift
        lines = ["u,v,w,group"] + [f"{a},{b},{c},{'pq'[int(a > shift)]}" for a, b, c in x]
        (tmp_path / folder / "people.csv").write_text("\n".join(lines) + "\n")
        data = load_data(DataConfig(name=str(tmp_path / folder / "people.csv"), label_column="group"), seed=0,
                         val_fraction=0.0, test_fraction=0.3)
        made.append(features.feature_classifier(data, torch.device("cpu"), steps=5))
    assert made[0].path != made[1].path and made[0].path.name.startswith("people.csv-")
    assert sorted(p.name for p in (tmp_path / "cache" / "vaekit" / "classifiers").iterdir()) == sorted(
        [c.path.name for c in made] + [c.path.with_suffix(".json").name for c in made])


def test_ids_as_labels_give_the_feature_classifier_an_output_per_id(tmp_path):
    """Labels 0, 10^6 and 2 * 10^6 gave it 2,000,001 outputs, and evaluate ran for many minutes."""
    from vaekit.data.datasets import from_arrays

    x = np.random.default_rng(0).random((30, 4))
    data = from_arrays(x, np.repeat([0, 10**6, 2 * 10**6], 10), val_fraction=0.0)
    data.splits["test"] = data.splits["train"][:6]
    classifier = features.feature_classifier(data, torch.device("cpu"), steps=2, cache=False)
    assert classifier.net.head.out_features == 3
    dense = dataclasses.replace(data, y=np.repeat([0, 2, 5], 10))  # class numbers: as many outputs as the largest + 1
    assert features.feature_classifier(dense, torch.device("cpu"), steps=2, cache=False).net.head.out_features == 6


def test_a_read_only_classifier_cache_is_a_warning_not_an_error(runs, tmp_path, monkeypatch):
    import errno
    import tempfile

    from vaekit import fileio

    cache, real_mkstemp = tmp_path / "cache", tempfile.mkstemp
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))

    def mkstemp(dir=None, **kwargs):
        if str(dir).startswith(str(cache)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkstemp(dir=dir, **kwargs)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    result = invoke("evaluate", runs["vae"], "--iw-samples", 5, "--no-report")
    assert result.exit_code == 0, result.output
    assert "vaekit: warning: cannot cache the classifier" in result.stderr and "Read-only file system" in result.stderr


def test_a_run_trained_with_image_size_evaluates_another_folder_at_that_size(tmp_path):
    from PIL import Image

    from vaekit.api import train

    rng = np.random.default_rng(0)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")
    run = train(out=tmp_path / "run", data=str(tmp_path / "a"), image_size=8, verbose=False, epochs=1, latent_dim=2,
                hidden=(8,)).run
    result = invoke("evaluate", run, "--data", tmp_path / "b", "--iw-samples", 2, "--no-report")
    assert result.exit_code == 0, result.output
    result = invoke("evaluate", run, "--data", "digits", "--image-size", 8)
    assert result.exit_code == 2 and "--image-size 8 is for reading files and image folders, not the named" in result.output


def test_help_texts():
    for command in ("evaluate", "compare", "report"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.parametrize("model", ["iwae", "cvae"])
def test_every_model_with_a_posterior_gets_likelihood_metrics(tmp_path, model):
    from vaekit.api import train

    run = train(out=tmp_path / model, verbose=False, model=model, epochs=1, latent_dim=2, hidden=(16,)).run
    result = invoke("evaluate", run, "--iw-samples", 5)
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "eval.json").read_text())
    assert {"neg_elbo", "iw_log_likelihood", "probe_accuracy", "frechet_distance"} <= set(saved)
    assert (run / "figures" / "interpolation.png").is_file()
    # a cvae's densities are of x given its label, and eval.json says so
    conditional = "log p(x | y)" in saved["units"]["iw_log_likelihood"]
    assert conditional == (model == "cvae") and any("log p(x | y)" in n for n in saved["notes"]) == (model == "cvae")


def test_a_run_folder_that_cannot_be_written_is_refused_before_the_work(runs, monkeypatch):
    import os

    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setattr(evaluation, "evaluate", lambda *args, **kwargs: pytest.fail("evaluated anyway"))
    result = invoke("evaluate", runs["vae"])
    assert result.exit_code == 2
    assert f"{runs['vae']}: not writable, and the evaluation goes to {runs['vae'] / 'eval.json'}" in result.output


def test_the_five_draws_of_prior_samples_differ(runs, monkeypatch):
    """frechet_distance_sd comes from five draws: an AE makes no draw before them, so none may repeat another."""
    seen, real = [], metrics.frechet_distance_features
    monkeypatch.setattr(metrics, "frechet_distance_features", lambda a, b: seen.append(real(a, b)) or seen[-1])
    assert invoke("evaluate", runs["ae"], "--no-report").exit_code == 0
    assert len(set(seen[: metrics.FRECHET_DRAWS])) == metrics.FRECHET_DRAWS, seen


def test_a_run_whose_data_changed_is_not_evaluated_on_them(tmp_path):
    """The run's own file, changed since training (rows added, or another test fraction in config.json), no longer
    holds out its test split: evaluate overwrote eval.json with numbers from training rows. --split all still reads it."""
    from vaekit.api import train

    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "a.csv", rng.normal(size=(120, 4)), delimiter=",", header="a,b,c,d", comments="")
    run = train(out=tmp_path / "run", data=str(tmp_path / "a.csv"), scale="standard", latent_dim=2, hidden=(8,),
                epochs=1, verbose=False).run
    assert invoke("evaluate", run, "--no-report").exit_code == 0
    before = (run / "eval.json").read_bytes()
    with open(tmp_path / "a.csv", "a") as f:
        f.write("1,2,3,4\n")
    for args in (["evaluate", run, "--no-report"], ["encode", run, tmp_path / "a.csv", "-o", tmp_path / "z.npy"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "a.csv: changed since the run was trained on it" in result.output, result.output
    assert (run / "eval.json").read_bytes() == before
    assert invoke("encode", run, tmp_path / "a.csv", "--split", "all", "-o", tmp_path / "z.npy").exit_code == 0
    assert np.load(tmp_path / "z.npy").shape == (121, 2)


def test_a_run_whose_data_moved_says_so(tmp_path):
    """The user gave no --data: 'no such data set or file' for '--data a.csv' blamed an option they never passed."""
    from vaekit.api import train

    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "a.csv", rng.normal(size=(60, 3)), delimiter=",", header="a,b,c", comments="")
    run = train(out=tmp_path / "run", data=str(tmp_path / "a.csv"), latent_dim=2, hidden=(8,), epochs=1,
                verbose=False).run
    (tmp_path / "a.csv").rename(tmp_path / "b.csv")
    result = invoke("evaluate", run, "--no-report")
    said = "a.csv: the data this run was trained on (config.json data.name) is not there any more; put it back at"
    assert result.exit_code == 2 and said in result.output, result.output
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")  # as the message advises
    assert invoke("evaluate", run, "--no-report").exit_code == 0
