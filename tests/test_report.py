import base64
import io
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaekit import evaluation, features
from vaekit.errors import VaekitError
from vaekit.report import REPORT, metric_table, reading, write_report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


class Page(HTMLParser):
    """Collects the tags, the <img> sources and the text of a page; fails on unbalanced tags."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.open, self.images, self.text, self.headers = [], [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    page.feed(text)
    page.close()
    assert page.open == [], f"unclosed tags {page.open}"
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:40]  # inlined: the page stands alone
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    return page


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny VAE with a 2-D latent (its report is written by train), and a tiny comparison."""
    from vaekit.api import train

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        mp.setattr(features, "CLASSIFIER_STEPS", 100)
        root = tmp_path_factory.mktemp("report")
        vae = train(out=root / "vae2d", verbose=False, epochs=2, latent_dim=2, hidden=(16,)).run
        folder, results = evaluation.compare_models(root / "cmp", epochs=2, latent_dim=2, hidden=(16,), iw_samples=10,
                                                 verbose=False)
        yield {"vae": vae, "compare": folder, "results": results}


def test_train_writes_a_self_contained_report(runs):
    page = parse(runs["vae"] / REPORT)
    text = " ".join(page.text)
    assert len(page.images) == 6  # loss, reconstructions, samples, latent, manifold (2-D), interpolation
    assert "Manifold" in text and "Interpolation" in text
    assert "Not evaluated yet" in text  # train does not evaluate; the page says how to
    assert "latent_dim" in text  # the config table


def test_compare_report_puts_the_models_side_by_side(runs):
    folder = runs["compare"]
    page = parse(folder / REPORT)
    text = " ".join(page.text)
    assert len(page.images) == 3 * 6
    for name in ("ae", "dae", "vae"):
        assert name in text
        assert (folder / name / REPORT).is_file()  # each run keeps its own page, with its metrics
        assert "Not evaluated yet" not in (folder / name / REPORT).read_text()
    assert "Frechet distance" in text and "Reading" in text
    saved = json.loads((folder / "compare.json").read_text())
    assert list(saved) == ["ae", "dae", "vae"]
    for name, result in saved.items():
        assert result == json.loads((folder / name / "eval.json").read_text())
    assert "evaluated again since" not in text


def test_a_compare_page_says_which_member_was_evaluated_again(runs, tmp_path):
    """The page shows each member's eval.json; one rewritten since the comparison is said to differ from compare.json."""
    import shutil

    folder = tmp_path / "compare"
    shutil.copytree(runs["compare"], folder)
    result = json.loads((folder / "vae" / "eval.json").read_text())
    (folder / "vae" / "eval.json").write_text(json.dumps({**result, "iw_samples": 20}))  # as `vaekit evaluate --iw-samples 20`
    page = write_report(folder).read_text()
    assert "vae: evaluated again since `vaekit compare`; this page shows its eval.json, and compare.json keeps" in page
    assert "ae: evaluated again" not in page.replace("vae: evaluated again", "")


def test_a_compare_page_with_a_member_not_evaluated_renders(runs, tmp_path):
    """Its reading took the PCA numbers from the first member, which had none: a TypeError traceback."""
    folder = tmp_path / "compare"
    shutil.copytree(runs["compare"], folder)
    (folder / "ae" / "eval.json").unlink()
    page = write_report(folder).read_text()
    assert "Not evaluated yet: ae." in page and "on PCA codes of the same size" in page


def test_class_names_with_dollar_signs_are_drawn_as_written(tmp_path):
    """matplotlib read low_$ as the start of mathtext: ParseSyntaxException, and no figure nor report."""
    import matplotlib

    from vaekit.plots import save_latent, save_rows

    save_latent(tmp_path / "latent.png", np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2,
                classes=["low_$", "high_$"])
    save_rows(tmp_path / "rows.png", [np.zeros((3, 1, 4, 4))], ["low_$ -> high_$"], "interpolation")  # one $ pair
    assert (tmp_path / "rows.png").is_file() and matplotlib.rcParams["text.parse_math"]  # the caller's setting back


def test_report_command_rewrites_a_page(runs, tmp_path):
    path = write_report(runs["vae"])
    assert path == runs["vae"] / REPORT
    parse(path)
    # the run's column is its model, not its folder ("vae2d"), which the reading took for a model ("the VAE2D's ...")
    assert "<th>vae</th>" in path.read_text() and "vae2d</th>" not in path.read_text()


def test_report_of_a_missing_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(VaekitError, match="no such folder"):
        write_report(tmp_path / "nope")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(runs, tmp_path):
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,2400", (runs["compare"] / REPORT).as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape[0] >= 2000
    assert pixels.std() > 10  # not a blank page: text, tables and figures
    assert (pixels < 128).mean() > 0.01


def test_reading_says_which_samples_look_like_data():
    ae = {"mse": 0.01, "pca_mse": 0.02, "frechet_distance": 300.0, "frechet_distance_reference": 5.0,
          "probe_accuracy": 0.9, "pca_probe_accuracy": 0.95, "knn_accuracy": 0.97, "pca_knn_accuracy": 0.99,
          "frechet_distance_fitted_codes": 20.0}
    vae = {**ae, "mse": 0.03, "frechet_distance": 50.0, "probe_accuracy": 0.85, "neg_elbo": 25.0, "kl": 3.0,
           "iw_log_likelihood": -24.0, "iw_samples": 1000, "bits_per_dim": 0.54, "active_units": 4, "latent_dim": 16,
           "likelihood_meaning": "bound on a loss, not a log-likelihood: grey levels"}
    text = reading({"ae": ae, "vae": vae})
    assert "50.0 from the test images for the VAE, against the AE's 300.0 (lower is closer" in text
    assert "6.6 times closer above the floor" in text  # (300 - 5) / (50 - 5), not 300 / 50
    assert "The AE reconstructs best" in text
    dae = {**ae, "mse": 0.01002}  # the same to 4 decimals: no winner to name
    assert "Reconstruction error per feature: AE 0.0100, DAE 0.0100, VAE 0.0300" in reading({"ae": ae, "dae": dae, "vae": vae})
    assert "The AE and the DAE reconstruct best, alike to the digits shown" in reading({"ae": ae, "dae": dae, "vae": vae})
    assert "PCA codes of the same size 95.0%" in text and "5 nearest neighbours: AE 97.0%, VAE 97.0%; PCA codes 99.0%" in text
    assert "the VAE's error is 1.5 times PCA's" in text
    assert "the AE's samples are at 20.0: closer than the VAE's prior samples" in text  # fitted to its codes
    assert "bound on a loss" in text and "4 of 16" in text
    assert "importance-weighted bound (on the negative loss here, not on log p(x)) with K=1000" in text
    assert "Unusually" not in text
    without_fitted = reading({"ae": {k: v for k, v in ae.items() if k != "frechet_distance_fitted_codes"}, "vae": vae})
    assert "6.6 times closer" in without_fitted and "Unusually" not in without_fitted and "fitted" not in without_fitted
    ae_first = reading({"ae": {**ae, "frechet_distance": 40.0}, "vae": vae})  # the AE nearer even at N(0, I)
    assert "Unusually, the AE's prior samples (Frechet distance 40.0) are no worse than the VAE's (50.0)" in ae_first
    assert "the AE's samples are at 20.0: closer than the VAE's prior samples" in ae_first
    unlabelled = reading({"ae": {"mse": 0.01}})
    assert "not probed with a classifier: that needs labels of two classes or more" in unlabelled
    at_the_floor = reading({"ae": ae, "vae": {**vae, "frechet_distance": 4.99}})  # was "18000000000000.0 times closer"
    assert "the floor): as close as the floor itself." in at_the_floor and "times closer" not in at_the_floor
    # a member of a comparison without its eval.json: the PCA numbers come from one that has them
    assert "PCA codes of the same size 95.0%" in reading({"ae": {}, "vae": vae})
    for cut in ("kl", "iw_log_likelihood", "bits_per_dim", "frechet_distance_reference"):  # hand-cut files: no KeyError
        assert "Reconstruction error per feature" in reading({"ae": ae, "vae": {k: v for k, v in vae.items() if k != cut}})
    assert "not been evaluated" in reading({})


def test_metric_table_marks_what_does_not_apply():
    table = metric_table({"ae": {"mse": 0.01}, "vae": {"mse": 0.02, "neg_elbo": 20.0, "iw_log_likelihood": -19.5,
                                                      "iw_samples": 5}})
    lines = table.splitlines()
    assert lines[0].split() == ["ae", "vae"]
    elbo = next(line for line in lines if line.startswith("-ELBO"))
    assert elbo.split()[-2:] == ["-", "20.00"]
    assert "(K=5)" in table


def test_latent_plot_projects_on_the_principal_axes_as_scikit_learn_does(tmp_path):
    from sklearn.decomposition import PCA

    from vaekit.plots import principal_components

    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 3.0
    np.testing.assert_allclose(principal_components(z, 2), PCA(n_components=2).fit_transform(z), atol=1e-10)
    # training draws this plot; scikit-learn's import alone would take ~1.5 s of it
    script = ("import sys\nfrom pathlib import Path\nimport numpy as np\nfrom vaekit.plots import save_latent\n"
              f"save_latent(Path({str(tmp_path / 'latent.png')!r}), np.random.rand(50, 5), np.arange(50) % 3)\n"
              "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False" and Image.open(tmp_path / "latent.png").size[0] > 100


@pytest.mark.parametrize("n_classes", [3, 12, 25])
def test_every_class_in_the_latent_plot_has_a_colour_of_its_own(tmp_path, monkeypatch, n_classes):
    from vaekit import plots

    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.setdefault("fig", fig))
    labels = np.arange(5 * n_classes) % n_classes
    plots.save_latent(tmp_path / "latent.png", np.random.default_rng(0).normal(size=(len(labels), 2)), labels)
    points = drawn["fig"].axes[0].collections[0]
    faces = points.to_rgba(points.get_array())[:, :3]  # one per point, in the labels' order
    colour = {tuple(np.round(faces[i], 4)) for i in range(n_classes)}
    assert len(colour) == n_classes
    assert len(drawn["fig"].axes[0].get_legend().get_texts()) == n_classes


def test_originals_and_reconstructions_share_one_grey_scale():
    import torch

    from vaekit.api import _display

    original = torch.tensor([[-1.0, 2.0]])  # standardized data: not in [0, 1]
    recon = torch.tensor([[0.0, 1.0]])
    np.testing.assert_allclose(_display(original), [[0.0, 1.0]])
    np.testing.assert_allclose(_display(recon, original), [[1 / 3, 2 / 3]], rtol=1e-6)  # not stretched to 0..1 itself
    np.testing.assert_allclose(_display(torch.tensor([[0.2, 1.3]]), torch.tensor([[0.0, 1.0]])), [[0.2, 1.0]])  # clipped


def test_training_table_shows_the_test_numbers_and_a_collapse_warning():
    from vaekit.report import RunView, _summary_html

    summary = {"epochs_trained": 3, "test_neg_elbo": 251.2, "test_mse": 0.02,
               "collapse_warning": "posterior collapse: the KL is 0.01 nats per example; remedies: --kl-warmup 10"}
    pruned = {"epochs_trained": 3, "latent_note": "4 of 16 latent dimensions are active"}
    page = _summary_html([RunView("vae", {}, {}, summary), RunView("ae", {}, {}, {"epochs_trained": 3}),
                          RunView("vae2", {}, {}, pruned)])
    assert "<td>test_neg_elbo</td><td>251.2</td><td>-</td><td>-</td>" in page
    assert '<p class="warning">vae: posterior collapse: the KL is 0.01 nats per example; remedies: --kl-warmup 10</p>' in page
    assert '<p class="notes">vae2: 4 of 16 latent dimensions are active</p>' in page  # a note, not a warning
    # floats to 4 digits (summary.json keeps them all), and why a run stopped early
    stopped = {"test_neg_elbo": 35.01749651810585, "stopped": "early-stopped", "message": "no better val_loss for 2 epochs"}
    page = _summary_html([RunView("vae", {}, {}, stopped)])
    assert "<td>35.02</td>" in page and '<p class="notes">vae: early-stopped: no better val_loss for 2 epochs</p>' in page


def test_a_run_without_its_summary_says_so(runs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["vae"], run)
    (run / "summary.json").unlink()
    page = write_report(run).read_text()
    assert f"summary.json: missing; run `vaekit train --resume {run}` to write it again" in page
    assert "until then the report&#x27;s training table is empty" in page


def test_a_run_whose_data_moved_is_reported_with_the_figures_it_has(tmp_path):
    """A figure that cannot be drawn (here: removed; an interpolation with no pair in a one-class test split is
    never drawn) made every report reload the data, and fail once the data had moved."""
    from vaekit.api import train

    np.savetxt(tmp_path / "a.csv", np.random.default_rng(0).normal(size=(60, 3)), delimiter=",", header="a,b,c",
               comments="")
    run = train(out=tmp_path / "run", data=str(tmp_path / "a.csv"), latent_dim=2, hidden=(8,), epochs=1,
                verbose=False).run
    (run / "figures" / "interpolation.png").unlink()
    (tmp_path / "a.csv").rename(tmp_path / "b.csv")
    page = write_report(run).read_text()
    assert "is not there any more" in page and "until then the report lacks interpolation.png" in page


def test_metric_units_are_printed_in_the_table_not_hidden_in_tooltips():
    from vaekit.report import _metrics_html

    page = _metrics_html({"vae": {"mse": 0.02, "units": {"mse": "per feature, model units"}}})
    assert '<td class="units">per feature, model units</td>' in page and "title=" not in page


def test_the_manifold_grid_says_which_codes_it_decodes(monkeypatch, tmp_path):
    from vaekit import plots

    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig.axes[0]))
    z0, z1 = np.linspace(-1.5, 1.5, 5), np.linspace(1.5, -1.5, 5)  # columns: z[0] rising; rows: z[1] falling
    plots.save_grid(tmp_path / "m.png", np.zeros((25, 1, 8, 8)), "grid", ncol=5, codes=(z0, z1))
    ax = drawn[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-1.5", "0", "1.5"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1.5", "0", "-1.5"]
    assert list(ax.get_xticks()) == [3.5, 21.5, 39.5]  # the centres of 8-pixel cells, 1 pixel apart
    assert ax.get_xlabel() == "z[0]" and ax.get_ylabel() == "z[1]"


def test_a_cvae_interpolation_says_each_strip_is_decoded_with_its_start_class(tmp_path, monkeypatch):
    from vaekit import plots
    from vaekit.api import train

    drawn = {}
    save_rows = plots.save_rows
    monkeypatch.setattr(plots, "save_rows", lambda path, rows, labels, title, features=None: (
        drawn.__setitem__(path.name, (labels, title)), save_rows(path, rows, labels, title))[-1])
    train(out=tmp_path / "cvae", verbose=False, model="cvae", epochs=1, latent_dim=2, hidden=(8,))
    labels, title = drawn["interpolation.png"]
    assert title.endswith("each decoded with its start's class")
    assert all(label.split(" to ")[0] == label.rsplit("decoded as ", 1)[1] for label in labels)


def test_a_table_gets_no_manifold_and_its_heat_maps_a_colour_bar(tmp_path, monkeypatch):
    """A 2-D latent of table rows has no picture as a grid (it was a 225-row heat map without its codes);
    heat maps of rows say what their colours are."""
    from vaekit import plots
    from vaekit.api import train

    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "t.csv", rng.normal(size=(120, 6)), delimiter=",", header="a,b,c,d,e,f", comments="")
    run = train(out=tmp_path / "run", data=str(tmp_path / "t.csv"), scale="standard", latent_dim=2, hidden=(8,),
                epochs=1, verbose=False).run
    assert not (run / "figures" / "manifold.png").exists() and (run / "figures" / "interpolation.png").is_file()
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig))
    plots.save_rows(tmp_path / "r.png", [np.zeros((4, 6)), np.ones((4, 6))], ["original", "reconstruction"], "t")
    plots.save_grid(tmp_path / "g.png", np.zeros((8, 6)), "t")
    assert [fig.axes[-1].get_ylabel() for fig in drawn] == ["value, rescaled to 0..1"] * 2


def test_heat_maps_of_a_csv_name_its_columns(tmp_path, monkeypatch):
    """Rows of a table are drawn with the file's column names under them, not feature numbers; too many to read
    (over plots.NAMED_FEATURES) stay numbered."""
    from vaekit import plots
    from vaekit.api import train

    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "t.csv", rng.normal(size=(120, 5)), delimiter=",", header="age,height,weight,pulse,sleep",
               comments="")
    drawn = {}

    def save(fig, path):  # the x tick labels of the figure's first axes
        drawn[Path(path).name] = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        plots._pyplot().close(fig)

    monkeypatch.setattr(plots, "_save", save)
    run = train(out=tmp_path / "run", data=str(tmp_path / "t.csv"), scale="standard", latent_dim=2, hidden=(8,),
                epochs=1, verbose=False).run
    from click.testing import CliRunner

    from vaekit.cli import cli

    result = CliRunner().invoke(cli, ["interpolate", str(run), str(tmp_path / "t.csv"), "--pairs", "0:1", "-o",
                                      str(tmp_path / "i.png")])
    assert result.exit_code == 0, result.output
    for name in ("reconstructions.png", "samples.png", "interpolation.png", "i.png"):
        assert drawn[name] == ["age", "height", "weight", "pulse", "sleep"], name
    plots.save_grid(tmp_path / "g.png", np.zeros((8, 41)), "t", features=[f"c{i}" for i in range(41)])
    assert "c0" not in drawn["g.png"]


@pytest.mark.parametrize("text,message", [
    ('{"format_version": 1,', "config.json: not valid JSON"),
    ("", "config.json: not valid JSON"),
    ("[1]", "config.json: not a JSON object"),
    ('{"format_version": 1, "model": "vae"}', "config.json: ModelConfig in config.json is not an object"),
])
def test_a_damaged_config_is_a_one_line_error(runs, tmp_path, text, message):
    """report reads config.json as every command does (it took a bare json.loads: tracebacks, or a page
    for a config every other command refuses)."""
    shutil.copytree(runs["vae"], tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text(text)
    with pytest.raises(VaekitError, match=message):
        write_report(tmp_path / "run")


def test_damaged_eval_and_metrics_files_are_named(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["vae"], run)
    (run / "eval.json").write_text('{"mse": "x", "neg_elbo": [1]}')
    page = write_report(run).read_text()  # the page goes on without the metrics, and says why
    assert "eval.json: mse is &quot;x&quot;, not a number; run `vaekit evaluate" in page
    (run / "eval.json").write_text('{"mse": 0.1, "units": null}')  # an AttributeError traceback
    assert "eval.json: units is not an object of strings" in write_report(run).read_text()
    (run / "eval.json").write_text('{"mse": 0.1, "neg_elbo": 30.0, "kl": 2.0, "iw_log_likelihood": -29.0, '
                                   '"bits_per_dim": 0.6}')  # no likelihood_meaning: a KeyError traceback
    assert "30.00" in write_report(run).read_text()
    (run / "eval.json").unlink()
    (run / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 3.5}\n{"epoch": "x", "train_loss": "y"}\n')
    shutil.rmtree(run / "figures")  # the curves are drawn again from metrics.jsonl
    with pytest.raises(VaekitError, match=r"metrics.jsonl: line 2 is not an epoch's record \(a JSON object of numbers\)"):
        write_report(run)


@pytest.mark.parametrize("member", ["../victim", "/tmp/victim", "..", "a/b"])
def test_compare_members_are_folders_beside_compare_json(runs, tmp_path, member):
    """A member's name is joined to the folder and its figures drawn there: a path would write outside it."""
    folder = tmp_path / "compare"
    shutil.copytree(runs["compare"], folder)
    compared = json.loads((folder / "compare.json").read_text())
    (folder / "compare.json").write_text(json.dumps({**compared, member: {}}))
    with pytest.raises(VaekitError, match=f"member '{re.escape(member)}' is not the name of a folder beside it"):
        write_report(folder)
