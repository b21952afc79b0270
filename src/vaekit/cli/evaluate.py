"""Commands that measure models: evaluate, compare, report."""

from __future__ import annotations

import click

from ..config import DEFAULT_IW_SAMPLES
from . import cli
from .use import SEED, reading_options


@cli.command()
@click.argument("run")
@click.option("--data", default=None,
              help="Evaluate on this data set instead of the run's (same example shape, flat or not).")
@reading_options
@click.option("--split", default="test", show_default=True, help="Held-out split to score: test or val (train for a check).")
@click.option("--iw-samples", type=int, default=DEFAULT_IW_SAMPLES, show_default=True,
              help="Importance samples K for the estimate of log p(x) (VAE family).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seeds binarization, posterior and prior samples.")
@click.option("--offline", is_flag=True, help="Never download data.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (the GPU numbered N).")
@click.option("--no-report", is_flag=True, help="Do not rewrite RUN/report.html.")
def evaluate(run, data, key, label_column, image_size, split, iw_samples, seed, offline, device, no_report):
    """Measure a trained run on held-out data: reconstruction, likelihood, latent and sample quality.

    Writes RUN/eval.json (flat keys, units under "units") and RUN/report.html, and prints a table.
    With --data of another data set, or --split val or train, it writes RUN/eval-NAME[-<digest of a
    file's path>].json, RUN/eval-val.json, ... instead (and says which), and leaves the run's own
    evaluation and report as they are.
    Log-likelihoods are in nats per example; eval.json's likelihood_meaning says whether they are a
    log-likelihood (binarized or 0/1 data, a Gaussian or continuous Bernoulli density) or only a bound
    on a loss (a Bernoulli likelihood of grey levels).
    """
    from ..evaluation import EVAL, eval_file, evaluate_run
    from ..report import metric_table, write_report

    result = evaluate_run(run, data=data, key=key, label_column=label_column, image_size=image_size, split=split,
                          iw_samples=iw_samples, seed=seed, offline=offline, device=device)
    click.echo(f"{result['model']} on {result['data']}, {split} split ({result['n_examples']} examples)")
    click.echo(metric_table({result["model"]: result}))
    click.echo(f"likelihood: {result['likelihood_meaning']}")
    for note in result["notes"]:
        click.echo(f"note: {note}")
    written = eval_file(run, data, split, key=key, label_column=label_column, image_size=image_size)
    click.echo(f"wrote {written}")
    if written.name != EVAL:
        click.echo(f"report.html is left as it was: it shows the run's own data and test split ({EVAL})")
    elif not no_report:
        click.echo(f"wrote {write_report(run, offline=offline)}")


@cli.command()
@click.option("--data", default="digits", show_default=True, help="A named data set or a file, as for `vaekit train`.")
@click.option("--key", default=None, help=".npz: the array holding the data.")
@click.option("--label-column", default=None, help=".csv: the column holding labels [default: none]; .npz: the array holding them [default: y, when present].")
@click.option("--image-size", type=int, default=None, help="Image folders: resize every image to this square size.")
@click.option("--scale", default=None, help="minmax to [0, 1] (the default for float data; uint8 data default to /255), standard, or none; standard "
                                            "trains every model with a Gaussian likelihood.")
@click.option("--epochs", type=int, default=None, help="Training epochs of every model [default: 100 on digits, else 20].")
@click.option("--latent-dim", type=int, default=16, show_default=True, help="Size of every model's code.")
@click.option("--hidden", default=None, help="Hidden widths of every body, e.g. 512,256 [default: vaekit train's].")
@click.option("--binarize", default=None, help="dynamic: train on fresh binary draws, score a fixed binarized test set.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for split, weights, batches and samples.")
@click.option("--iw-samples", type=int, default=DEFAULT_IW_SAMPLES, show_default=True, help="Importance samples K for log p(x).")
@click.option("--offline", is_flag=True, help="Never download data.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (the GPU numbered N).")
@click.option("--out", default=None, help="New folder for the three runs, compare.json and report.html [default: runs/compare-<data>-<time>].")
@click.option("--resume", default=None, metavar="DIR",
              help="Finish an interrupted comparison in DIR, with the settings its models were trained with "
                   "(give its --iw-samples again, if you gave one).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines (one per model).")
@click.pass_context
def compare(ctx, data, key, label_column, image_size, scale, epochs, latent_dim, hidden, binarize, seed, iw_samples,
            offline, device, out, resume, quiet):
    """Train an AE, a denoising AE and a VAE with the same body, seed and budget, and compare them.

    Writes DIR/ae, DIR/dae and DIR/vae (run folders), DIR/compare.json (each model's eval.json)
    and DIR/report.html, and prints the metrics side by side: can random codes be decoded into new
    data (Frechet distance of prior samples), how well do codes reconstruct and separate classes?
    """
    from click.core import ParameterSource

    from ..errors import VaekitError
    from ..evaluation import compare_models
    from ..report import metric_table, reading
    from .train import _int_list

    training = ("data", "key", "label_column", "image_size", "scale", "epochs", "latent_dim", "hidden", "binarize", "seed",
                "out")
    given = [f"--{k.replace('_', '-')}" for k in training if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT]
    if resume is not None and given:
        raise VaekitError(f"--resume {resume} finishes the comparison with its own settings; drop {', '.join(given)}")
    folder, results = compare_models(out, data=data, epochs=epochs, latent_dim=latent_dim, hidden=_int_list(hidden),
                                     binarize=binarize, seed=seed, iw_samples=iw_samples, offline=offline,
                                     device=device, verbose=not quiet, key=key, label_column=label_column,
                                     image_size=image_size, scale=scale, resume=resume)
    click.echo(metric_table(results))
    click.echo("")
    click.echo(reading(results))
    click.echo(f"\nwrote {folder}/compare.json and {folder}/report.html")


@cli.command()
@click.argument("path")
@click.option("--offline", is_flag=True, help="Never download data.")
def report(path, offline):
    """Write PATH/report.html: one self-contained page for a run folder or a `vaekit compare` folder."""
    from ..report import write_report

    click.echo(f"wrote {write_report(path, offline=offline)}")
