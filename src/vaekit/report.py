"""One self-contained HTML page for a run folder, or for a comparison folder written by
``vaekit compare`` (``compare.json`` beside one run folder per model).

The page holds the config, the metrics table, a plain-language reading of the numbers, and the
figures, inlined as base64 PNG so the file can be mailed or archived alone: loss curves,
reconstructions, prior samples, the latent scatter, a manifold grid when the latent is 2-D and
interpolation strips. Comparisons put the models side by side.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import VaekitError

log = logging.getLogger(__name__)

REPORT = "report.html"
COMPARE = "compare.json"
FIGURES = (  # file under RUN/figures, caption
    ("loss.png", "Loss curves (train and validation; the -ELBO under a KL warm-up); a VAE's KL beside them"),
    ("reconstructions.png", "Test examples and their reconstructions"),
    ("samples.png", "Decoded prior samples, z ~ N(0, I)"),
    ("latent.png", "Codes of the test split"),
    ("manifold.png", "Manifold: a grid over the 2-D latent space, decoded"),
    ("interpolation.png", "Interpolation between test examples in latent space"),
)
METRIC_ROWS = (  # eval.json key, label, format
    ("mse", "reconstruction MSE per feature", "{:.4f}"),
    ("pca_mse", "  PCA, same number of components", "{:.4f}"),
    ("bce", "reconstruction cross-entropy (nats)", "{:.2f}"),
    ("psnr_db", "PSNR (dB)", "{:.2f}"),
    ("neg_elbo", "-ELBO (nats)", "{:.2f}"),
    ("neg_elbo_stderr", "  its standard error", "{:.2f}"),
    ("recon", "  reconstruction term (nats)", "{:.2f}"),
    ("kl", "  KL term (nats)", "{:.2f}"),
    ("active_units", "active latent units", "{}"),
    ("iw_log_likelihood", "log p(x), importance-weighted (nats)", "{:.2f}"),
    ("iw_log_likelihood_stderr", "  its standard error", "{:.2f}"),
    ("bits_per_dim", "bits per dimension", "{:.4f}"),
    ("probe_accuracy", "linear-probe accuracy on codes", "{:.3f}"),
    ("pca_probe_accuracy", "  PCA codes, same size", "{:.3f}"),
    ("knn_accuracy", "5-NN accuracy on codes", "{:.3f}"),
    ("pca_knn_accuracy", "  PCA codes, same size", "{:.3f}"),
    ("frechet_distance", "Frechet distance of prior samples", "{:.2f}"),
    ("frechet_distance_sd", "  its sd over 5 draws of samples", "{:.2f}"),
    ("frechet_distance_reference", "  floor: training vs test examples", "{:.2f}"),
    ("frechet_distance_fitted_codes", "  codes drawn from a Gaussian fitted to the training codes", "{:.2f}"),
    ("sample_confidence", "classifier confidence on samples", "{:.3f}"),
    ("classifier_test_accuracy", "feature classifier test accuracy", "{:.3f}"),
)


@dataclass
class RunView:
    """What the page shows of one run."""

    name: str
    config: dict  # config.json as checkpoint.read_config gives it (with the cfg_model, cfg_train, cfg_data configs)
    metrics: dict  # eval.json, or {} when the run was not evaluated
    summary: dict  # summary.json
    figures: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG bytes
    problems: list[str] = field(default_factory=list)  # files the page had to do without, and how to fix them


# ----------------------------------------------------------------------------- text


LOSS_LABELS = {"iw_log_likelihood": "importance-weighted bound on -loss (nats; not log p(x) here)",
               "bits_per_dim": "  the loss in bits per dimension"}


def metric_table(results: dict[str, dict]) -> str:
    """A plain-text table of the metrics of one or more models (columns), for the terminal."""
    names = list(results)
    rows = [("", *names)]
    for key, label, fmt in _metric_rows(results):
        cells = [_cell(results[n], key, fmt) for n in names]
        if any(c != "-" for c in cells):
            rows.append((label, *cells))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    return "\n".join(lines)


def _metric_rows(results: dict[str, dict]):
    """METRIC_ROWS, where a Bernoulli loss on grey levels (no likelihood) is not labelled log p(x): when
    every model with that number has it as a loss (a mixed table keeps the likelihood's label)."""
    scored = [r for r in results.values() if "iw_log_likelihood" in r]
    loss_only = bool(scored) and all(map(_bounds_a_loss, scored))
    return [(key, LOSS_LABELS.get(key, label) if loss_only else label, fmt) for key, label, fmt in METRIC_ROWS]


def _bounds_a_loss(result: dict) -> bool:
    """Whether a result's nats bound a loss (Bernoulli on grey levels), not a log-likelihood (metrics.likelihood_meaning)."""
    return result.get("likelihood_meaning", "").startswith("bound on a loss")


def _cell(result: dict, key: str, fmt: str) -> str:
    value = result.get(key)
    if value is None:
        return "-"
    if key == "iw_log_likelihood" and "iw_samples" in result:
        return fmt.format(value) + f" (K={result['iw_samples']})"
    return fmt.format(value)


def _fitted_codes_reading(results: dict[str, dict], vae: str, ae: str) -> str:
    """The autoencoder sampled the fair way, from a Gaussian fitted to its training codes, beside the VAE."""
    f, v = results[ae]["frechet_distance_fitted_codes"], results[vae]["frechet_distance"]
    vae_fitted = results[vae].get("frechet_distance_fitted_codes")
    also = f" (the {vae.upper()}'s own codes sampled that way: {vae_fitted:.1f})" if vae_fitted is not None else ""
    if f < v:
        costs = results[vae].get("mse", 0) > results[ae].get("mse", float("inf"))
        verdict = (f"closer than the {vae.upper()}'s prior samples{also}: an autoencoder generates once its codes are "
                   f"given a density, which the {vae.upper()} builds in as its prior"
                   + (", and pays for in reconstruction" if costs else ""))
    else:
        verdict = f"still farther than the {vae.upper()}'s prior samples{also}"
    return (f"Drawn instead from a Gaussian fitted to its training codes (ex-post density estimation, Ghosh et al. "
            f"2020), the {ae.upper()}'s samples are at {f:.1f}: {verdict}.")


def reading(results: dict[str, dict]) -> str:
    """One paragraph in plain words: what the numbers of these models say (of those that have numbers)."""
    results = {n: r for n, r in results.items() if r}  # a member of a comparison may lack its eval.json
    vae = next((n for n, r in results.items() if "neg_elbo" in r), None)
    ae = next((n for n, r in results.items() if "neg_elbo" not in r), None)
    said = [*_samples_reading(results, vae, ae), *_mse_reading(results, vae), *_probes_reading(results)]
    if vae and {"kl", "iw_log_likelihood", "bits_per_dim"} <= set(results[vae]):  # (a hand-cut eval.json may lack them)
        said.append(_likelihood_reading(results[vae], vae))
    if not said:
        return "This run has not been evaluated yet: run `vaekit evaluate RUN` for log-likelihoods, probes and sample quality."
    return " ".join(said)


def _samples_reading(results: dict[str, dict], vae: str | None, ae: str | None) -> list[str]:
    """What the Frechet distances of prior samples say: the VAE's against the AE's, or one model's alone."""
    if (vae and ae and "frechet_distance" in results[vae] and "frechet_distance" in results[ae]
            and "frechet_distance_reference" in results[vae]):
        v, a = results[vae]["frechet_distance"], results[ae]["frechet_distance"]
        floor = results[vae].get("frechet_distance_reference")
        if v < a:
            others = "".join(f", the {n.upper()}'s {r['frechet_distance']:.1f}" for n, r in results.items()
                             if n not in (vae, ae) and "frechet_distance" in r)
            closer = (f"{(a - floor) / (v - floor):.1f} times closer above the floor" if v > floor else
                      "as close as the floor itself")  # a ratio of a difference near 0 said 18000000000000.0 times
            said = [f"Random codes z ~ N(0, I) decode to samples at Frechet distance {v:.1f} from the test images for "
                    f"the {vae.upper()}, against the {ae.upper()}'s {a:.1f}{others} (lower is closer; training "
                    f"images sit at {floor:.1f} from the test images, the floor): {closer}. "
                    f"The {vae.upper()} was trained to keep its codes "
                    "where the prior puts its mass, so prior draws land where its decoder learned to draw data; "
                    f"the {ae.upper()}'s codes sit wherever training left them, and most of N(0, I) decodes to "
                    "blends that resemble no training example."]
        else:
            said = [f"Unusually, the {ae.upper()}'s prior samples (Frechet distance {a:.1f}) are no worse than the "
                    f"{vae.upper()}'s ({v:.1f})."]
        if "frechet_distance_fitted_codes" in results[ae]:  # the fair way to sample an autoencoder
            said.append(_fitted_codes_reading(results, vae, ae))
        return said
    if len(results) == 1 and {"frechet_distance", "frechet_distance_reference"} <= set(next(iter(results.values()))):
        r = next(iter(results.values()))
        caveat = "" if "neg_elbo" in r else (" An autoencoder's codes are not distributed as N(0, I), so its prior "
                                             "samples are not expected to look like data.")
        if "frechet_distance_fitted_codes" in r:
            caveat += (f" Decoded from a Gaussian fitted to the training codes instead (ex-post density estimation), "
                       f"samples are at {r['frechet_distance_fitted_codes']:.1f}.")
        return [f"Decoded prior samples are at Frechet distance {r['frechet_distance']:.1f} from the test images "
                f"(lower is better; training vs test examples: {r['frechet_distance_reference']:.1f}).{caveat}"]
    return []


def _mse_reading(results: dict[str, dict], vae: str | None) -> list[str]:
    """The reconstruction errors side by side, PCA's beside them."""
    mse = {n: r["mse"] for n, r in results.items() if "mse" in r}
    if not mse:
        return []
    shown = {n: f"{v:.4f}" for n, v in mse.items()}
    best = [n.upper() for n in mse if shown[n] == shown[min(mse, key=mse.get)]]  # ties to the digits shown
    pca = _baseline(results, "pca_mse")
    parts = ", ".join(f"{n.upper()} {v}" for n, v in shown.items())
    return [f"Reconstruction error per feature: {parts}" + (f"; PCA with as many components: {pca:.4f}" if pca else "")
            + ("" if len(mse) == 1 else f". The {best[0]} reconstructs best" if len(best) == 1 else
               f". The {' and the '.join(best)} reconstruct best, alike to the digits shown")
            + (f"; the {vae.upper()}'s error is {mse[vae] / pca:.1f} times PCA's: it gives up reconstruction for "
               "a latent space it can sample from." if vae in mse and pca and len(mse) > 1 else ".")]


def _probes_reading(results: dict[str, dict]) -> list[str]:
    """The linear probes' and nearest neighbours' accuracies on the codes, PCA codes' beside them."""
    probes = {n: r["probe_accuracy"] for n, r in results.items() if "probe_accuracy" in r}
    if not probes:
        if results:
            return ["The codes were not probed with a classifier: that needs labels of two classes or more."]
        return []
    pca = _baseline(results, "pca_probe_accuracy")
    parts = ", ".join(f"{n.upper()} {100 * v:.1f}%" for n, v in probes.items())
    said = [f"A linear classifier on the codes reaches {parts}" + (f"; on PCA codes of the same size {100 * pca:.1f}%."
                                                                   if pca is not None else ".")]
    knn = {n: r["knn_accuracy"] for n, r in results.items() if "knn_accuracy" in r}
    if knn:
        pca_knn = _baseline(results, "pca_knn_accuracy")
        said.append("5 nearest neighbours: " + ", ".join(f"{n.upper()} {100 * v:.1f}%" for n, v in knn.items())
                    + (f"; PCA codes {100 * pca_knn:.1f}%." if pca_knn is not None else "."))
    return said


def _baseline(results: dict[str, dict], key: str) -> float | None:
    """PCA's number ``key``, the same in every member's results: from the first member that has it."""
    return next((r[key] for r in results.values() if key in r), None)


def _likelihood_reading(r: dict, vae: str) -> str:
    """The VAE's -ELBO, importance-weighted estimate and what its nats measure."""
    meaning = r.get("likelihood_meaning", "")
    estimate = ("importance-weighted bound (on the negative loss here, not on log p(x))"
                if _bounds_a_loss(r) else "importance-weighted estimate of log p(x)")
    return (f"The {vae.upper()}'s negative ELBO is {r['neg_elbo']:.2f} nats per example (KL {r['kl']:.2f}); "
            f"the {estimate} with K={r.get('iw_samples')} samples is "
            f"{r['iw_log_likelihood']:.2f} nats ({r['bits_per_dim']:.4f} bits per dimension). "
            f"What these nats are: {meaning}." + (f" {r['active_units']} of {r['latent_dim']} latent "
            "dimensions are active (their posterior mean varies across examples)." if "active_units" in r else ""))


# ----------------------------------------------------------------------------- figures


def write_extra_figures(run: Path, trained, data, pairs: int = 4, steps: int = 10, grid: int = 15) -> None:
    """RUN/figures/interpolation.png, and manifold.png when the latent is 2-D."""
    import torch

    from . import plots
    from .api import _display

    def model_units(x: np.ndarray) -> torch.Tensor:  # original units -> what _display draws
        return torch.as_tensor(trained.scaler.transform(x))

    figures = Path(run) / "figures"
    figures.mkdir(exist_ok=True)
    a, b = _pair_indices(data.splits["test"], data.y, pairs)
    if len(a):  # a test split of one example, or of one class, has no pair to join
        ya, yb = (data.y[a], data.y[b]) if trained.model_cfg.model == "cvae" else (None, None)
        path = trained.interpolate(data.x[a], data.x[b], steps=steps, ya=ya, yb=yb)  # (P, steps, *shape), original units
        names = data.classes or []

        def name(k):  # an example by its class's name, or by its number
            return names[data.y[k]] if data.y is not None and names else f"#{k}"

        labels = [f"{name(i)} to {name(j)}" for i, j in zip(a, b)]
        title = f"{trained.model_cfg.model.upper()}: decoded straight lines between the codes of test examples"
        if ya is not None:  # the decoder gets one label per frame: the start's, so a strip never turns into its end's class
            labels = [f"{label}, decoded as {name(i)}" for label, i in zip(labels, a)]
            title += ", each decoded with its start's class"
        path = model_units(path)
        plots.save_rows(figures / "interpolation.png", [_display(p, path) for p in path], labels, title,  # one grey scale
                        features=trained.config.get("columns"))
    if _has_manifold(dataclasses.asdict(trained.model_cfg)):
        z = _manifold_grid(trained, data, grid)
        images = _display(model_units(trained.decode(z)))
        where = ("prior quantiles 5%..95%" if trained.is_vae
                 else "quantiles 5%..95% of the test codes (an AE has no prior)")
        plots.save_grid(figures / "manifold.png", images, f"{trained.model_cfg.model.upper()}: decoded grid over {where}",
                        ncol=grid, codes=(z[:grid, 0], z[::grid, 1]))


def _has_manifold(model_config: dict) -> bool:
    """A 2-D latent of images can be drawn as a grid of images (a cvae's would need one grid per class,
    and a table's decodes would be a heat map of 225 rows with no place for their codes: not drawn)."""
    return model_config["latent_dim"] == 2 and model_config["model"] != "cvae" and len(model_config["input_shape"]) == 3


def _pair_indices(test: np.ndarray, y: np.ndarray | None, pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end examples from the test split; of different classes when there are labels."""
    a, b = [], []
    for i in test:
        if len(b) == pairs:
            break
        if len(a) == len(b):
            a.append(i)
        elif y is None or y[i] != y[a[-1]]:
            b.append(i)
    return np.asarray(a[: len(b)]), np.asarray(b)


def _manifold_grid(trained, data, n: int) -> np.ndarray:
    """(n*n, 2) codes: the prior's quantiles for a VAE, the test codes' quantiles otherwise."""
    q = np.linspace(0.05, 0.95, n)
    if trained.is_vae:
        axes = [np.array([statistics.NormalDist().inv_cdf(p) for p in q])] * 2
    else:
        codes = trained.encode(data.part("test"))
        axes = [np.quantile(codes[:, d], q) for d in range(2)]
    zy, zx = np.meshgrid(axes[1][::-1], axes[0], indexing="ij")  # rows: z[1] from high to low
    return np.stack([zx.ravel(), zy.ravel()], axis=1).astype(np.float32)


def collect(run: Path, name: str | None = None, trained=None, data=None, offline: bool = False) -> RunView:
    """Read a run folder into a RunView named ``name`` (default: its model, vae, ae, ...), first drawing
    the figures it lacks (a run's figures never change: a finished run is not trained again)."""
    from .checkpoint import METRICS, STATE, SUMMARY, read_config, read_summary
    from .evaluation import EVAL, load_run_data

    run = Path(run)
    config = read_config(run)  # checked as every command checks it
    figures = run / "figures"
    wanted = [file for file, _ in FIGURES if file != "manifold.png" or _has_manifold(dataclasses.asdict(config["cfg_model"]))]
    missing = [file for file in wanted if not (figures / file).is_file()]
    view = RunView(name or config["cfg_model"].model, config, {}, {})
    if missing:
        if trained is None:
            from .trained import Trained

            trained = Trained.load(run)
        try:
            data = load_run_data(trained, offline=offline) if data is None else data
        except VaekitError as e:  # moved or deleted data: the page goes on with the figures there are
            # (an interpolation a test split of one class or one example has no pair for is never drawn)
            view.problems.append(f"{e}; until then the report lacks {', '.join(missing)}")
            log.warning("%s", view.problems[-1])
        if data is not None:
            figures.mkdir(exist_ok=True)
            if set(missing) - {"manifold.png", "interpolation.png"}:
                from .api import write_figures

                records = _records(run / METRICS)
                write_figures(run, trained.module, data, records, next(trained.module.parameters()).device)
            write_extra_figures(run, trained, data)
    evaluate_again = f"run `vaekit evaluate {run}` again to rewrite it"
    try:
        view.metrics = read_eval(run / EVAL, evaluate_again)
    except VaekitError as e:
        view.problems.append(f"{e}; until then the report shows no metrics of {view.name}")
        log.warning("%s", view.problems[-1])
    # only the training table needs summary.json, so the page goes on without it; training writes it
    # again when the run's state is there to resume from (the same run, to the bit)
    rewrite = f"run `vaekit train --resume {run}` to write it again" if (run / STATE).is_file() else None
    backup = "restore it from a backup (only `vaekit train` writes it)"
    try:
        if not (run / SUMMARY).is_file():
            raise VaekitError(f"{run / SUMMARY}: missing; {rewrite or backup}")
        fix = f"delete it and {rewrite}" if rewrite else backup
        summary = read_summary(run, fix)
        view.summary = _typed(summary, run / SUMMARY, fix, numbers={k for k in summary if k.startswith("test_")},
                              texts=("stopped", "message", "latent_note", "collapse_warning", "sigma_warning"))
    except VaekitError as e:
        view.problems.append(f"{e}; until then the report's training table is empty")
        log.warning("%s", view.problems[-1])
    for file, _ in FIGURES:
        if (figures / file).is_file():
            view.figures[file] = (figures / file).read_bytes()
    return view


# eval.json's numbers that the page formats or compares
NUMBERS = {key for key, _, _ in METRIC_ROWS} | {"pca_mse", "iw_samples", "seed"}


def read_eval(path: Path, fix: str) -> dict:
    """An eval.json's metrics ({} when there is none), checked; a file that cannot be read is an error saying ``fix``."""
    from .checkpoint import read_json_object

    metrics = _typed(read_json_object(path, fix), path, fix, numbers=NUMBERS, texts=("likelihood_meaning",))
    if metrics.get("mse") == 0 and math.isnan(metrics.get("psnr_db", 0)):  # a perfect reconstruction's, written as null
        metrics["psnr_db"] = math.inf
    return metrics


def _typed(values: dict, path: Path, fix: str, numbers=(), texts=()) -> dict:
    """``values`` (a JSON file's object), checked: each of ``numbers`` present is a number, each of ``texts`` a
    string. A number written as null (vaekit writes NaN and infinities so, as strict JSON has none) reads as NaN."""
    values = {k: math.nan if k in numbers and v is None else v for k, v in values.items()}
    for key, value in values.items():  # in the file's order: the first wrong value is named
        if key in numbers and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise VaekitError(f"{path}: {key} is {json.dumps(value)[:40]}, not a number; {fix}")
        if key in texts and not isinstance(value, str):
            raise VaekitError(f"{path}: {key} is {json.dumps(value)[:40]}, not a string; {fix}")
    if not isinstance(values.get("notes", []), list) or not all(isinstance(n, str) for n in values.get("notes", [])):
        raise VaekitError(f"{path}: notes is not a list of strings; {fix}")
    units = values.get("units", {})
    if not isinstance(units, dict) or not all(isinstance(u, str) for u in units.values()):
        raise VaekitError(f"{path}: units is not an object of strings; {fix}")
    return values


def _records(path: Path) -> list[dict]:
    """metrics.jsonl: one object of numbers per epoch, as training writes them."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise VaekitError(f"{path}: cannot read ({why}); is this a complete run folder?") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                                   for v in record.values()):
            raise VaekitError(f"{path}: line {number} is not an epoch's record (a JSON object of numbers); the loss "
                              "curves are drawn from it: restore it from a backup (only `vaekit train` writes it)")
        records.append(record)
    return records


# ----------------------------------------------------------------------------- HTML


def write_report(path, *, trained=None, data=None, offline: bool = False) -> Path:
    """Write ``report.html`` into a run folder, or a comparison folder holding ``compare.json``.

    ``trained`` and ``data`` (a run's, already loaded) save loading them again.
    Returns the path of the page.
    """
    from .checkpoint import read_json_object
    from .fileio import atomic_write, json_text

    path = Path(path)
    if not path.is_dir():
        what = "a file, not a folder" if path.exists() else "no such folder"
        raise VaekitError(f"{path}: {what}; pass a run folder (vaekit train) or a comparison folder (vaekit compare)")
    if (path / COMPARE).is_file():
        compared = read_json_object(path / COMPARE, "run `vaekit compare` again into a new --out folder")
        if not compared:
            raise VaekitError(f"{path / COMPARE}: holds no models; run `vaekit compare` again")
        for n in compared:  # a member is a folder beside compare.json, and the page draws into its figures
            if n in ("", ".", "..") or Path(n).name != n or "\\" in n:
                raise VaekitError(f"{path / COMPARE}: member {n!r} is not the name of a folder beside it; run "
                                  "`vaekit compare` again into a new --out folder")
        views = [collect(path / n, n, offline=offline) for n in compared]
        for view in views:  # the page shows each member's eval.json, which `vaekit evaluate` may have rewritten since
            if view.metrics and json_text(view.metrics) != json_text(compared[view.name]):  # NaN read as null
                view.problems.append(f"{view.name}: evaluated again since `vaekit compare`; this page shows its "
                                     f"eval.json, and {COMPARE} keeps the numbers of the comparison")
        names = list(compared)
        title = f"vaekit: {', '.join(n.upper() for n in names)} on {views[0].config['cfg_data'].name}"
    else:
        views = [collect(path, None, trained, data, offline)]  # named by its model: the page reads "the VAE's ..."
        title = f"vaekit: {views[0].config['cfg_model'].model.upper()} on {views[0].config['cfg_data'].name}"
    out = path / REPORT
    atomic_write(out, render(title, views))
    return out


def render(title: str, views: list[RunView]) -> str:
    """The page as one string."""
    e = html.escape
    results = {v.name: v.metrics for v in views}
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{e(title)}</title>\n"
             f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{e(title)}</h1>"]
    parts.append(f"<h2>Reading</h2>\n<p class=\"reading\">{e(reading(results) if any(results.values()) else reading({}))}</p>")
    parts.append("<h2>Metrics</h2>")
    if any(results.values()):
        parts.append(_metrics_html(results))
        notes = sorted({n for v in views for n in v.metrics.get("notes", [])} |
                       {f"{v.name}: {v.metrics.get('likelihood_meaning', '?')}" for v in views if "neg_elbo" in v.metrics})
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
        parts.append("<p class=\"notes\">Frechet distances are computed in the penultimate features of a small classifier "
                     "that vaekit trains on the training split (Inception weights are not available offline): they "
                     "compare models scored with the same classifier, not numbers from papers.</p>")
    parts.append(_summary_html(views))
    parts.append("<h2>Figures</h2>")
    for file, caption in FIGURES:
        shown = [(v.name, v.figures[file]) for v in views if file in v.figures]
        if shown:
            cells = "".join(f"<figure><img alt=\"{e(name)}: {e(caption)}\" src=\"data:image/png;base64,"
                            f"{base64.b64encode(png).decode()}\"><figcaption>{e(name)}</figcaption></figure>"
                            for name, png in shown)
            parts.append(f"<h3>{e(caption)}</h3>\n<div class=\"row\">{cells}</div>")
    parts.append("<h2>Configuration</h2>")
    parts.append(_config_html(views))
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


def _metrics_html(results: dict[str, dict]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(n)}</th>" for n in results)
    body = []
    for key, label, fmt in _metric_rows(results):
        cells = [_cell(r, key, fmt) for r in results.values()]
        if any(c != "-" for c in cells):
            unit = next((r.get("units", {}).get(key) for r in results.values() if r.get("units", {}).get(key)), "")
            body.append(f"<tr><td>{e(label)}</td>" + "".join(f"<td>{e(c)}</td>" for c in cells)
                        + f"<td class=\"units\">{e(unit)}</td></tr>")
    return f"<table><tr><th>metric</th>{head}<th class=\"units\">units</th></tr>\n" + "\n".join(body) + "</table>"


def _summary_html(views: list[RunView]) -> str:
    e = html.escape
    keys = ("epochs_trained", "best_epoch", "stopped", "train_seconds", "test_neg_elbo", "test_mse")
    keys = [k for k in keys if any(k in v.summary for v in views)]
    rows = "".join(f"<tr><td>{e(k)}</td>" + "".join(f"<td>{e(_shown(v.summary.get(k, '-')))}</td>" for v in views)
                   + "</tr>" for k in keys)
    head = "".join(f"<th>{e(v.name)}</th>" for v in views)
    missing = [v.name for v in views if not v.metrics]
    note = (f"<p class=\"notes\">Not evaluated yet: {e(', '.join(missing))}. Run <code>vaekit evaluate RUN</code> for "
            "log-likelihoods, probes and sample quality, then <code>vaekit report RUN</code>.</p>" if missing else "")
    note += "".join(f"<p class=\"notes\">{e(problem)}.</p>" for v in views for problem in v.problems)
    note += "".join(f"<p class=\"notes\">{e(v.name)}: {e(v.summary['latent_note'])}</p>"
                    for v in views if v.summary.get("latent_note"))
    note += "".join(f"<p class=\"warning\">{e(v.name)}: {e(v.summary[key])}</p>"
                    for v in views for key in ("collapse_warning", "sigma_warning") if v.summary.get(key))
    # why training stopped where it did not complete: a diverged run's numbers are of its last finite weights
    note += "".join(f"<p class=\"{'warning' if v.summary['stopped'] == 'diverged' else 'notes'}\">{e(v.name)}: "
                    f"{e(v.summary['stopped'])}: {e(v.summary['message'])}</p>"
                    for v in views if v.summary.get("stopped", "completed") != "completed" and v.summary.get("message"))
    return f"<h2>Training</h2>\n{note}<table><tr><th></th>{head}</tr>{rows}</table>"


def _shown(value) -> str:
    """A summary value for the table: floats to 4 significant digits (summary.json keeps them all)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _config_html(views: list[RunView]) -> str:
    e = html.escape
    keys = []
    for v in views:
        for section in ("model", "train", "data"):
            for k in v.config.get(section, {}):
                if (section, k) not in keys:
                    keys.append((section, k))
    head = "".join(f"<th>{e(v.name)}</th>" for v in views)
    rows = "".join(f"<tr><td>{e(s)}.{e(k)}</td>" + "".join(f"<td>{e(json.dumps(v.config.get(s, {}).get(k)))}</td>"
                                                         for v in views) + "</tr>" for s, k in keys)
    return f"<table><tr><th></th>{head}</tr>{rows}</table>"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
.warning { color: #a33; font-weight: 600; }
td.units, th.units { text-align: left; font-size: 0.85em; color: #555; white-space: normal; max-width: 28em; }
td:first-child, th:first-child { text-align: left; white-space: pre; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; flex: 1 1 300px; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { text-align: center; font-weight: bold; }
.reading { font-size: 1.05em; line-height: 1.5; background: #f6f8fa; padding: 0.8em 1em; border-radius: 6px; }
.notes { color: #555; font-size: 0.9em; }
"""
