"""`vaekit train` and `vaekit datasets`."""

from __future__ import annotations

import click

from ..config import ModelConfig, TrainConfig
from ..errors import VaekitError
from . import cli


def _int_list(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise VaekitError(f"--hidden {text} must be comma-separated integers; try --hidden 256,128") from None


@cli.command()
@click.option("--model", default="vae", show_default=True,
              help="ae, dae (denoising), vae, iwae (importance weighted, see --k) or cvae (conditioned on the data's labels).")
@click.option("--arch", default="mlp", show_default=True, help="Body: mlp (any data) or conv (images).")
@click.option("--data", default="digits", show_default=True,
              help="A named data set (see `vaekit datasets`) or a .npy/.npz/.csv file or an image folder.")
@click.option("--latent-dim", type=int, default=None, help=f"Size of the code z [default: {ModelConfig.latent_dim:g}].")
@click.option("--hidden", default=None, help="mlp: hidden widths, e.g. 512,256 (default 256,128); conv: channels (default 32,64).")
@click.option("--likelihood", default=None,
              help="p(x|z): bernoulli (data in [0, 1], near binary; default), continuous-bernoulli (grey levels in [0, 1]), "
                   "gaussian (fixed --sigma; default with --scale standard, and with --scale none on data outside [0, 1]), "
                   "gaussian-learned (a sigma per feature) or gaussian-learned-global (one sigma). AE and DAE: bernoulli "
                   "or gaussian only.")
@click.option("--sigma", type=float, default=None,
              help=f"gaussian: standard deviation of p(x|z) [default: {ModelConfig.sigma:g}]; gaussian-learned*: its starting value.")
@click.option("--epochs", type=int, default=None, help=f"Passes over the training data [default: {TrainConfig.epochs:g}; early stopping usually ends sooner].")
@click.option("--batch-size", type=int, default=None, help=f"Examples per step [default: {TrainConfig.batch_size:g}].")
@click.option("--lr", type=float, default=None, help=f"Adam learning rate [default: {TrainConfig.lr:g}].")
@click.option("--beta", type=float, default=None, help=f"VAE: weight of the KL term [default: {ModelConfig.beta:g}, the true ELBO].")
@click.option("--kl-warmup", type=int, default=None, help=f"VAE: epochs of linear KL warm-up from 0 to beta [default: {ModelConfig.kl_warmup:g}].")
@click.option("--kl-cycles", type=int, default=None,
              help=f"VAE: cyclical annealing, the warm-up ramp N times, each followed by as many epochs at beta [default: {ModelConfig.kl_cycles:g}].")
@click.option("--free-bits", type=float, default=None,
              help=f"VAE: nats of KL per latent dimension that cost nothing (against collapse) [default: {ModelConfig.free_bits:g}, off].")
@click.option("--k", type=int, default=None, help=f"iwae: importance samples per example [default: {ModelConfig.k:g}].")
@click.option("--noise", default=None, help="Train on corrupted input: gaussian:STD, mask:P or salt-pepper:P (dae default gaussian:0.3).")
@click.option("--seed", type=int, default=None, help=f"Seed for split, weights, batches and noise [default: {TrainConfig.seed:g}].")
@click.option("--patience", type=int, default=None, help=f"Early stopping after N epochs without a better validation loss; 0 never [default: {TrainConfig.patience:g}]. Either way "
                   "the run ends on its best epoch's weights (by validation loss, or validation -ELBO with --free-bits; "
                   "with --val-fraction 0, by training loss, or training -ELBO under --kl-warmup or --free-bits).")
@click.option("--val-fraction", type=float, default=None, help=f"Share of training data held out for validation [default: {TrainConfig.val_fraction:g}].")
@click.option("--test-fraction", type=float, default=None, help=f"Test share when the data set has no official test split [default: {TrainConfig.test_fraction:g}].")
@click.option("--key", default=None, help=".npz: the array holding the data.")
@click.option("--label-column", default=None, help=".csv: the column holding labels (header name or index) [default: none]; .npz: the array holding them [default: y, when present].")
@click.option("--image-size", type=int, default=None, help="Image folders: resize every image to this square size.")
@click.option("--scale", default=None, help="minmax to [0, 1] (the default for float data; uint8 data default to /255), standard, or none.")
@click.option("--binarize", default=None, help="dynamic: train on a fresh Bernoulli draw of each batch (grey levels -> 0/1), as in the log-likelihood literature.")
@click.option("--offline", is_flag=True, help="Never download data.")
@click.option("--device", default=None, help=f"auto, cpu, cuda or cuda:N (the GPU numbered N) [default: {TrainConfig.device}].")
@click.option("--checkpoint-every", type=int, default=None,
              help=f"Save RUN/train_state.pt (for --resume) every N epochs; 0: only on Ctrl-C [default: {TrainConfig.checkpoint_every:g}].")
@click.option("--on-nan", default=None,
              help="A non-finite loss or gradient: stop (keep the last good epoch; default) or skip (drop the batch, count it).")
@click.option("--grad-clip", type=float, default=None, help=f"Clip the global gradient norm to this [default: {TrainConfig.grad_clip:g}, off].")
@click.option("--precision", default=None,
              help="fp32 (default) or bf16: train under bfloat16 autocast (GPUs; CPUs with AVX512-BF16 or AMX).")
@click.option("--out", default=None, help="New run folder [default: runs/<model>-<data>-<time>].")
@click.option("--resume", default=None, metavar="RUN",
              help="Continue an interrupted run from its last saved epoch, with its own settings (--device may differ).")
@click.option("--quiet", "-q", is_flag=True, help="No progress or per-epoch output.")
@click.pass_context
def train(ctx, out, quiet, offline, resume, **options):
    """Train a model and write its run folder (config, weights, metrics, summary, figures).

    Under `torchrun --nproc-per-node N -m vaekit train ...` the N processes share every batch
    (--batch-size is the global batch) and rank 0 writes the run folder.
    """
    from click.core import ParameterSource

    from ..api import train as run_training

    options["hidden"] = _int_list(options["hidden"])
    if resume is not None:  # only what was typed: api.train refuses settings that would change the run
        options = {k: v for k, v in options.items() if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT}
    trained = run_training(out=out, verbose=not quiet, offline=offline, resume=resume, **options)
    if trained is None:  # a torchrun process other than rank 0: rank 0 reports
        return 0
    s = trained.summary
    terms = "  ".join(f"{k[5:]} {v:.4g}" for k, v in s.items() if k.startswith("test_"))
    click.echo(f"{trained.model_cfg.model} on {trained.config['data']['name']}: {s['epochs_trained']} epochs "
               f"(best {s['best_epoch']}, {s['stopped']}) in {s['train_seconds']:.1f}s")
    click.echo(f"test: {terms}")
    if "objective" in s:
        click.echo(f"objective (loss): {s['objective']}")
    if "latent_note" in s:
        click.echo(f"latent: {s['latent_note']}")
    for warning in ("collapse_warning", "sigma_warning"):
        if warning in s:
            click.echo(f"vaekit: warning: {s[warning]}", err=True)
    click.echo(f"run folder: {trained.run}  (report.html; figures in {trained.run / 'figures'})")
    if s["stopped"] == "diverged":
        click.echo(f"vaekit: warning: {s['message']}", err=True)
        return 1
    return 0


@cli.command()
@click.option("--download", "names", multiple=True, metavar="NAME",
              help="Download (or find and verify) this named data set first, e.g. before an --offline job; repeatable.")
def datasets(names):
    """List the named data sets: size, shape, where each was found or would be downloaded from."""
    from ..data import catalog

    for name in names:
        if name != "digits":  # embedded in scikit-learn: nothing to fetch
            catalog.fetch_files(name)  # a one-line error for an unknown name or a failed download
    rows = [("digits", "1797 (no official test split)", "8x8", "embedded in scikit-learn", "yes")]
    for d in catalog.describe():
        shape = "x".join(str(v) for v in d["shape"])
        on_disk = "yes" if d["cached"] else "damaged copy (fails its SHA-256)" if d["damaged"] else "no"
        rows.append((d["name"], f"{d['n_train']} + {d['n_test']} test", shape, str(d["source"]), on_disk))
    header = ("name", "examples", "shape", "found at / downloaded from", "on disk")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
