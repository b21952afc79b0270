"""Commands that use a trained run folder: encode, decode, reconstruct, generate, interpolate, denoise, score.

Each one starts from RUN (and nothing else), reads INPUT the way `vaekit train --data` does, works
in batches through `vaekit.trained.Trained`, and writes one output file atomically, its type
chosen by the suffix of -o.
"""

from __future__ import annotations

import click

from ..config import SEEDS
from ..errors import VaekitError, first_line
from . import cli

SEED = click.IntRange(0, SEEDS - 1)  # as `vaekit train` checks it
SHOWN = 16  # examples drawn side by side in a PNG (originals above reconstructions, ...)


def input_argument(splits: bool = True):
    """INPUT and the options that say how to read it (as for `vaekit train --data`)."""

    def decorate(f):
        options = [
            click.argument("input_name", metavar="INPUT"),
            *([click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default=None,
                            help="Which examples of INPUT, split as when RUN was trained. [default: test of RUN's "
                                 "own data, all of any other INPUT]")] if splits else []),
            click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N examples."),
            reading_options,
            click.option("--offline", is_flag=True, help="Never download data."),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def reading_options(f):
    """--key, --label-column and --image-size: how to read a file, as for `vaekit train --data`."""
    options = [
        click.option("--key", default=None, help=".npz: the array holding the data [default: the run's, for its own file]."),
        click.option("--label-column", default=None,
                     help=".csv: the column holding labels; .npz: the array holding them [default: the run's, for its own file]."),
        click.option("--image-size", type=int, default=None,
                     help="Image folders: resize every image to this square size [default: the run's].")]
    for option in reversed(options):
        f = option(f)
    return f


def device_options(f):
    f = click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True,
                     help="Examples per forward pass (lower it if memory runs out).")(f)
    return click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (the GPU numbered N).")(f)


LABEL = click.option("--label", default=None,
                     help="Conditional models (cvae): the class to decode, by its name in the training data or its number "
                          "(needed by decode, unless Z is a .csv from `vaekit encode` with its label column; generate: every class in "
                          "turn without it, sample i of class i mod K).")


def output_option(*suffixes: str, what: str):
    """-o, checked as it is parsed (before any work): the command gets ``(Path, suffix)``."""
    return click.option("-o", "--out", required=True, callback=lambda ctx, param, value: _output(value, suffixes),
                        help=f"Output file: {what}; the suffix picks the format ({', '.join('.' + s for s in suffixes)}).")


# -- commands -------------------------------------------------------------------------------------


@cli.command()
@click.argument("run")
@input_argument()
@output_option("npy", "csv", what="the codes, one row per example (.csv: after its index[, label] in INPUT, as `score` writes them)")
@click.option("--sample", is_flag=True, help="VAE: draw z ~ q(z|x) instead of writing the posterior mean.")
@click.option("--with-logvar", is_flag=True, help="VAE: add the log-variances as columns after z.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for --sample.")
@device_options
def encode(run, out, sample, with_logvar, seed, device, batch_size, **source):
    """Codes z of INPUT's examples (a VAE's posterior mean).

    One row per example, in INPUT's order within --split. INPUT is a named data set (digits,
    fashion-mnist, ...) or a file as for `vaekit train --data`. A .csv starts each row with the
    example's `index` in INPUT (its row in a file) and, for labelled data, its `label`; `decode`
    skips both.
    """
    import numpy as np

    out, kind = out
    if seed != 0 and not sample:
        raise VaekitError(f"--seed {seed} seeds --sample's draws, and without --sample encode writes the posterior "
                          "mean, which draws nothing; add --sample or drop --seed")
    m = _load(run, device, batch_size, out)
    x, y, classes, index, what = _read(m, out, **source)
    z = m.encode(x, y, sample=sample, with_logvar=with_logvar, seed=seed)
    names = [f"z{i}" for i in range(m.latent_dim)]
    if with_logvar:
        z, names = np.concatenate(z, axis=1), names + [f"logvar{i}" for i in range(m.latent_dim)]
    if kind == "csv":  # which example each row is: a --split or --limit leaves out rows of INPUT
        _save_rows(out, _example_columns(index, y, classes), dict(zip(names, z.T)))
    else:
        _save_table(out, kind, z, names)
    columns = "z, then logvar" if with_logvar else ("sampled z" if sample else "z")
    click.echo(f"wrote {out}: {z.shape[0]} x {z.shape[1]} ({columns}) from {what}")


@cli.command()
@click.argument("run")
@click.argument("latents", metavar="Z")
@output_option("npy", "csv", "png", what="the decoded examples (.png: a grid of the first 64)")
@LABEL
@device_options
def decode(run, latents, out, label, device, batch_size):
    """Decode codes Z from a .npy or .csv file.

    Z has shape N x latent, as `vaekit encode` writes it (without --with-logvar; a .csv's index
    and label columns are skipped). A conditional model decodes each code with --label, or else
    with its row's label in a .csv from `vaekit encode`.
    """
    out, kind = out
    m = _load(run, device, batch_size, out)
    z = _read_latents(latents, out)
    if m.conditional and label is None:
        label = _row_labels(m, latents)
    else:
        label = _class_number(m, label)
    if kind == "png":
        z, label = z[:64], label[:64] if isinstance(label, list) else label
    x = m.decode(z, label)
    if kind == "png":
        from .. import plots

        plots.save_grid(out, _display(m, x)[0], f"decoded from {latents}", features=m.config.get("columns"))
    else:
        _save_examples(out, kind, x, m)
    click.echo(f"wrote {out}: {len(x)} decoded examples")


@cli.command()
@click.argument("run")
@input_argument()
@output_option("npy", "csv", "png", what=f"the reconstructions (.png: the first {SHOWN} above their originals)")
@device_options
def reconstruct(run, out, device, batch_size, **source):
    """Reconstruct INPUT's examples.

    Writes decode(encode(x)) in the data's original units.
    """
    out, kind = out
    m = _load(run, device, batch_size, out)
    x, y, _, _, what = _read(m, out, **source)
    if kind == "png":
        from .. import plots

        x, y = x[:SHOWN], None if y is None else y[:SHOWN]
        recon = m.reconstruct(x, y)
        plots.save_rows(out, _display(m, x, recon), ["original", "reconstruction"], f"{_name(m)}: {what}",
                        features=m.config.get("columns"))
    else:
        recon = m.reconstruct(x, y)
        _save_examples(out, kind, recon, m)
    click.echo(f"wrote {out}: {len(recon)} reconstructions of {what}")


@cli.command()
@click.argument("run")
@click.option("-n", "n", type=int, default=64, show_default=True, help="How many samples.")
@output_option("npy", "csv", "png", what="the samples (.png: a grid)")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for z.")
@click.option("--temperature", type=float, default=1.0, show_default=True,
              help="z ~ N(0, T^2 I); below 1 trades variety for quality.")
@LABEL
@device_options
def generate(run, n, out, seed, temperature, label, device, batch_size):
    """Decode z ~ N(0, T^2 I): new examples.

    It works for an AE too, with a warning: an AE's latent space is not a distribution, so its
    decodes of random codes show that, rather than new data.
    """
    out, kind = out
    m = _load(run, device, batch_size, out)
    if not m.is_vae:
        click.echo(f"vaekit: warning: {m.model_cfg.model} is not a generative model: nothing made its codes follow "
                   "N(0, I), so these decodes of random codes show an AE's latent space is not a distribution", err=True)
    x = m.generate(n, seed=seed, temperature=temperature, labels=_class_number(m, label))
    k = m.model_cfg.n_classes if m.conditional and label is None else 0  # then sample i is of class i mod k
    if kind == "png":
        from .. import plots

        title = f"{_name(m)}: z ~ N(0, {temperature:g}^2 I)" + (", column c: class c" if k else "")
        plots.save_grid(out, _display(m, x)[0], title, ncol=k or max(8, round(n**0.5)), features=m.config.get("columns"))
    else:
        _save_examples(out, kind, x, m)
    said = f" of class {label}" if label is not None else f" of the {k} classes in turn (sample i: class i mod {k})" if k else ""
    click.echo(f"wrote {out}: {n} samples{said}")


@cli.command()
@click.argument("run")
@input_argument(splits=False)
@click.option("--pairs", required=True, help="Example numbers i:j,... in INPUT (as in `vaekit score`'s index column).")
@click.option("--steps", type=int, default=8, show_default=True, help="Decoded points per pair, ends included.")
@click.option("--slerp", is_flag=True, help="VAE: spherical instead of linear interpolation.")
@output_option("png", "npy", what="the strips (.npy: pairs x steps x example shape)")
@device_options
def interpolate(run, pairs, steps, slerp, out, device, batch_size, **source):
    """Decode paths between the codes of example pairs.

    Points on the line (or, with --slerp, the great circle) from code(x_i) to code(x_j), ends
    included, with the inputs drawn at both ends of each strip.
    """
    import numpy as np

    out, kind = out
    m = _load(run, device, batch_size, out)
    x, y, _, _, what = _read(m, out, split="all", **source)
    ends = _pairs(pairs, len(x))
    first, last = [i for i, _ in ends], [j for _, j in ends]
    a, b = x[first], x[last]
    ya, yb = (None, None) if y is None else (y[first], y[last])
    path = m.interpolate(a, b, steps=steps, slerp=slerp, ya=ya, yb=yb)  # (P, steps, *shape)
    if kind == "png":
        from .. import plots

        shown = _display(m, a, path.reshape(-1, *m.input_shape), b)
        a_, middle, b_ = shown[0][:, None], shown[1].reshape(path.shape), shown[2][:, None]
        rows = list(np.concatenate([a_, middle, b_], axis=1))  # per pair: input, path, input
        labels = [f"{i} to {j}" for i, j in ends]
        kind_name = "spherical" if slerp else "linear"
        plots.save_rows(out, rows, labels, f"{_name(m)}: {kind_name} interpolation (outer columns: the inputs)",
                        features=m.config.get("columns"))
    else:
        _save_npy(out, path)
    click.echo(f"wrote {out}: {len(ends)} pair(s) x {steps} steps from {what}")


@cli.command()
@click.argument("run")
@input_argument()
@click.option("--noise", default=None, help="Corruption kind:amount (gaussian:STD, mask:P, salt-pepper:P), in model "
              "units as in training [default: a DAE's training noise].")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for the noise.")
@output_option("npy", "csv", "png", what=f"the denoised examples (.png: noisy, denoised and clean, first {SHOWN})")
@device_options
def denoise(run, noise, seed, out, device, batch_size, **source):
    """Corrupt INPUT's examples, then reconstruct.

    Shows how well the model removes the noise: the PNG has noisy, denoised and clean rows.
    """
    out, kind = out
    m = _load(run, device, batch_size, out)
    noise = noise or m.model_cfg.noise
    if noise is None:
        raise VaekitError(f"this {m.model_cfg.model} was trained without noise, so there is no default; "
                          "pass --noise, e.g. --noise gaussian:0.3")
    x, y, _, _, what = _read(m, out, **source)
    if kind == "png":
        x, y = x[:SHOWN], None if y is None else y[:SHOWN]
    noisy, denoised = m.denoise(x, noise, seed=seed, y=y)
    if kind == "png":
        from .. import plots

        plots.save_rows(out, _display(m, noisy, denoised, x), ["noisy", "denoised", "clean"], f"{_name(m)}: {noise} on {what}",
                        features=m.config.get("columns"))
    else:
        _save_examples(out, kind, denoised, m)
    click.echo(f"wrote {out}: {len(denoised)} denoised examples ({noise}) of {what}")


@cli.command()
@click.argument("run")
@input_argument()
@output_option("csv", what="one row per example: index[, label], mse, recon[, kl, neg_elbo][, outside]")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True,
              help="VAE: posterior draws averaged in the reconstruction term of -ELBO.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for the posterior draws.")
@device_options
def score(run, out, samples, seed, device, batch_size, **source):
    """Per-example anomaly scores (error, -ELBO).

    mse is the mean squared reconstruction error over features, recon the model's reconstruction
    loss, and for a VAE kl and neg_elbo = recon + kl in nats, all in the model's scaled units.
    Higher is a worse fit. `index` is the example's number in INPUT (its row in a file); `label`,
    with labelled data, its class by name where the data name their classes (as --label takes them);
    `outside`, for data clipped to a range (min-max scaled, or a likelihood on [0, 1]), how many of its values
    lie outside it:
    they are clipped to it before scoring, so an outlier of such values shows there.
    """
    import numpy as np

    out, kind = out
    m = _load(run, device, batch_size, out)
    if (samples != 1 or seed != 0) and not m.is_vae:
        option = f"--samples {samples}" if samples != 1 else f"--seed {seed}"
        raise VaekitError(f"{option} is for a VAE's posterior draws, but this run's model is "
                          f"{m.model_cfg.model}, whose codes are points; drop {option.split()[0]}")
    x, y, classes, index, what = _read(m, out, **source)
    scores = m.score(x, y, samples=samples, seed=seed)
    _save_rows(out, _example_columns(index, y, classes), scores)
    key = "neg_elbo" if "neg_elbo" in scores else "mse"
    worst = int(np.argmax(scores[key]))
    # every example shares the same eps draws: fair for ranking, but their mean keeps that draw's error
    draws = "" if key == "mse" else (f" (over {samples} posterior draw{'s' * (samples > 1)} shared by every example; "
                                     "`vaekit evaluate` estimates the -ELBO)")
    click.echo(f"wrote {out}: {len(x)} examples of {what}; mean {key} {scores[key].mean():.4g}{draws}, "
               f"highest {scores[key][worst]:.4g} (index {index[worst]})")


# -- helpers --------------------------------------------------------------------------------------


def _output(path: str, allowed: tuple[str, ...]):
    """Check -o before any work: a known suffix, in a folder that exists. -> (Path, suffix)."""
    import os
    from pathlib import Path

    p = Path(path)
    kind = p.suffix.lower().lstrip(".")
    choices = ", ".join("." + s for s in allowed)
    if p.is_dir():
        raise VaekitError(f"-o {path}: is a folder; give a file name ending in one of {choices}")
    if kind not in allowed:
        raise VaekitError(f"-o {path}: unknown output type {p.suffix or '(no suffix)'}; use one of {choices}")
    folder = p.parent
    if not folder.is_dir():
        blocker = next((f for f in [folder, *folder.parents] if f.exists() and not f.is_dir()), None)
        if blocker is not None:
            raise VaekitError(f"-o {path}: {blocker} is a file, not a folder; pick a path in a folder")
        raise VaekitError(f"-o {path}: folder {folder} does not exist; create it first or pick another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise VaekitError(f"-o {path}: folder {folder} is not writable; pick a folder you can write to")
    return p, kind


def _load(run: str, device: str, batch_size: int, out):
    """The run's model; ``out``, the command's -o, must not be the data it was trained on (the run would
    lose them with the user)."""
    from ..trainer import resolve_device
    from ..trained import Trained

    m = Trained.load(run, str(resolve_device(device)), batch_size=batch_size, progress=True)
    data = m.config["cfg_data"].name
    _not_the_input(out, data, (f"the file this run was trained on ({data})", "the image folder this run was trained on,"))
    return m


def _read(m, out, input_name: str, split: str | None = None, limit: int | None = None, key=None, label_column=None,
          image_size=None, offline: bool = False):
    """INPUT's examples in raw units, shaped as the model's -> (x, labels or None, the labels' class names
    or None, index of each example in INPUT, description). ``out``: the command's -o, which must not be INPUT itself.

    Split with the run's seed and fractions, so INPUT = the training data gives the run's own test split
    (the default ``split`` there; every example of any other INPUT).
    """
    import numpy as np

    from ..evaluation import load_run_data, same_data

    _not_the_input(out, input_name)
    if split is None:
        split = "test" if same_data(input_name, m.config["cfg_data"].name) else "all"
    data = load_run_data(m, input_name, offline, key=key, label_column=label_column, image_size=image_size,
                         split=split != "all")
    index = np.arange(len(data.x)) if split == "all" else data.splits[split]
    if len(index) == 0:
        raise VaekitError(f"--split {split} of {input_name} is empty (this run's fractions leave it no examples); "
                          "use --split test or --split all")
    if limit is not None:
        index = index[:limit]
    x = data.x[: len(index)] if split == "all" else data.x[index]  # "all": a view, never a copy
    y = None if data.y is None else data.y[index]
    what = f"{input_name} ({split}, {len(index)} examples)" if split != "all" else f"{input_name} ({len(index)} examples)"
    return x, y, data.classes, index, what


def _csv_cell(text: str) -> str:
    """``text`` as one CSV cell: quoted where it holds a comma, a quote, a line break or a # (np.loadtxt
    takes the rest of the line for a comment), or starts or ends with a space (which readers strip)."""
    if any(c in text for c in ',"\r\n#') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _read_latents(path: str, out):
    """Codes from a .npy or .csv file (a header row, as `vaekit encode` writes, is skipped); ``out``:
    the command's -o, which must not be that file."""
    import csv
    import warnings
    from pathlib import Path

    import numpy as np

    from ..data.files import is_number

    p = Path(path)
    if not p.is_file():
        raise VaekitError(f"{path}: no such file; pass codes written by `vaekit encode -o z.npy`")
    _not_the_input(out, path)
    try:
        if p.suffix.lower() == ".npy":
            with open(p, "rb") as f:
                if f.read(6) != b"\x93NUMPY":  # (numpy's own error advises loading it unsafely, as a pickle)
                    raise VaekitError(f"{path}: not a .npy file (empty, or no numpy header); pass codes written by "
                                      "`vaekit encode -o z.npy`")
            return np.load(p, mmap_mode="r", allow_pickle=False)
        if p.suffix.lower() == ".csv":
            # utf-8-sig: Excel's "CSV UTF-8" begins with a byte-order mark, which made the first code a header
            with open(p, newline="", encoding="utf-8-sig") as f:
                first = f.readline()
            cells = next(csv.reader([first]), [])
            # a row of inf, nan or a missing cell is a row of codes, which the checks refuse
            header = any(cell.strip() and not is_number(cell) for cell in cells)
            names = [name.strip() for name in cells] if header else []
            # encode's index and label columns say which example a row is; they are no part of the code
            codes = [i for i, name in enumerate(names) if name not in ("index", "label")] or None
            with warnings.catch_warnings():  # an empty file: numpy warns, and the line below says it
                warnings.simplefilter("ignore", UserWarning)
                z = np.loadtxt(p, delimiter=",", ndmin=2, skiprows=int(header), usecols=codes, quotechar='"',
                               dtype=np.float32, encoding="utf-8-sig")
            if z.size == 0:
                raise VaekitError(f"{path}: holds no codes; pass codes written by `vaekit encode -o z.csv`")
            return z
    except (ValueError, OSError, EOFError) as e:  # EOFError: a cut header (click took it for Ctrl-D: "interrupted")
        first = first_line(e)
        raise VaekitError(f"{path}: cannot read codes ({first}); pass a .npy or .csv file from `vaekit encode`") from None
    raise VaekitError(f"{path}: unknown file type {p.suffix or '(no suffix)'}; pass a .npy or .csv file of codes")


def _not_the_input(out, source: str, names: tuple[str, str] = ("the input file itself", "the input folder")) -> None:
    """Refuse an -o that names the file being read (or trained on), or lies in such a folder of images:
    writing it would replace the user's data, or add to it."""
    import os
    from pathlib import Path

    from ..data.datasets import is_named

    if out.exists() and os.path.exists(source) and os.path.samefile(out, source):
        raise VaekitError(f"-o {out} is {names[0]}, and writing it would replace your data; "
                          "pick another output name")
    written = Path(os.path.realpath(out.parent), out.name)  # a link that -o names is replaced, not followed
    if not is_named(source) and os.path.isdir(source) and written.is_relative_to(os.path.realpath(source)):
        raise VaekitError(f"-o {out} is inside {names[1]} {source}, whose images it would join; "
                          "pick a path outside it")


def _pairs(text: str, n: int) -> list[tuple[int, int]]:
    """Parse --pairs i:j,k:l into index pairs, each in range(n)."""
    pairs = []
    for item in text.split(","):
        a, sep, b = item.strip().partition(":")
        try:
            i, j = int(a), int(b)
        except ValueError:
            i = j = None
        if not sep or i is None:
            raise VaekitError(f"--pairs {text}: {item.strip()!r} is not i:j; try --pairs 0:1,2:3")
        for k in (i, j):
            if not 0 <= k < n:
                raise VaekitError(f"--pairs {text}: example {k} is out of range; INPUT has examples 0 to {n - 1}")
        pairs.append((i, j))
    return pairs


def _display(m, *arrays):
    """Original-unit arrays -> [0, 1] for pictures: the model's units when they are [0, 1] by
    construction (minmax, uint8), else rescaled jointly so the arrays stay comparable."""
    import numpy as np

    shown = [np.asarray(m.scaler.transform(np.asarray(a))) for a in arrays]
    if m.scaler.kind in ("minmax", "uint8") or any(s.ndim == 2 for s in shown):  # vectors: a heat map scales itself
        return shown
    lo, hi = min(float(s.min()) for s in shown), max(float(s.max()) for s in shown)
    return [(s - lo) / max(hi - lo, 1e-12) for s in shown]


def _row_labels(m, path: str) -> list[int]:
    """The class of each code in a .csv of codes, from its label column (as `vaekit encode` writes it)."""
    import csv

    names = []
    if path.lower().endswith(".csv"):
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = csv.reader(f)
            header = [name.strip() for name in next(rows, [])]
            if "label" in header:
                names = [row[header.index("label")] for row in rows if row]
    if not names:
        raise VaekitError(f"this {m.model_cfg.model} decodes codes for a given class, and {path} names none (a .csv from "
                          "`vaekit encode` has a label column); pass --label, e.g. --label 0")
    try:
        classes = m.config.get("classes") or []  # a name in quotes keeps its spaces; a hand-spaced cell does not
        return [_class_number(m, name if name in classes else name.strip()) for name in names]
    except VaekitError as e:
        raise VaekitError(f"{path}: its label column: {str(e).removeprefix('--label ')}") from None


def _class_number(m, label: str | None) -> int | None:
    """--label as the class's number: a class name of the run's training data (a folder "10" sorts before
    "2", as in torchvision's ImageFolder), else a number counted in that list."""
    if label is None:
        return None
    classes = m.config.get("classes") or []
    if label in classes:
        return classes.index(label)
    if not label.isdigit():
        names = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
        raise VaekitError(f"--label {label} is neither a class of this run{f' ({names})' if names else ''} nor a "
                          "class number; pass one of them, e.g. --label 0")
    k = m.model_cfg.n_classes
    if m.conditional and int(label) >= k:  # (a number beyond int64 overflowed inside torch)
        raise VaekitError(f"--label {label} is not a class of this model, which has {k} (0 to {k - 1}); try --label 0")
    return int(label)


def _name(m) -> str:
    return m.model_cfg.model.upper()


def _save_examples(path, kind: str, x, m) -> None:
    """Examples (N, ...) as .npy (shape kept) or .csv (one flattened example per row, under the column
    names of the run's CSV file, so that the output reads back as its input did)."""
    if kind == "npy":
        _save_npy(path, x)
    else:
        flat = x.reshape(len(x), -1)
        _save_table(path, kind, flat, m.config.get("columns") or [f"x{i}" for i in range(flat.shape[1])])


def _save_table(path, kind: str, table, names: list[str], fmt=None) -> None:
    """A 2-D table as .npy or as .csv with a header row (9 significant digits, 17 for float64: each value
    reads back as it was)."""
    import csv
    import io

    import numpy as np

    from ..fileio import atomic_file

    if kind == "npy":
        return _save_npy(path, table)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(names)  # quoted where a name holds a comma
    with atomic_file(path) as f:  # row by row into the file: never the whole text in memory
        f.write(header.getvalue().encode())
        np.savetxt(f, table, delimiter=",", fmt=fmt or ("%.17g" if table.dtype == np.float64 else "%.9g"),
                   encoding="utf-8")  # (its default, latin-1, failed on class names such as 猫 and mangled é)


def _example_columns(index, y, classes) -> dict:
    """The columns that say which example a row is: ``index``, its number in INPUT (its row in a file),
    and with labelled data ``label``, by class name where the data name their classes, as --label takes
    it (class folders 0..11 are numbered as ImageFolder sorts them: 0, 1, 10, 11, 2, ...)."""
    import numpy as np

    if y is None:
        return {"index": index}
    return {"index": index, "label": y if not classes else np.array([_csv_cell(c) for c in classes], dtype=object)[y]}


def _save_rows(path, lead: dict, values: dict) -> None:
    """A .csv of one row per example: the ``lead`` columns (whole numbers or quoted names), then ``values``
    (floats; a column named ``outside`` counts, so whole)."""
    import numpy as np

    columns = {**lead, **values}
    named = {k for k, v in lead.items() if np.asarray(v).dtype == object}
    table = np.column_stack([np.asarray(v, dtype=object if k in named else np.float64) for k, v in columns.items()])
    whole = set(lead) | {"outside"}
    fmt = ["%s" if k in named else "%d" if k in whole else "%.9g" for k in columns]
    _save_table(path, "csv", table, list(columns), fmt)


def _save_npy(path, array) -> None:
    import numpy as np

    from ..fileio import atomic_file

    with atomic_file(path) as f:  # straight into the file: never a second copy in memory
        np.save(f, array, allow_pickle=False)
