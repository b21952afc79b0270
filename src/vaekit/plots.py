"""Figures from numpy arrays (no torch here). Every figure is written atomically as a PNG.

Images are (N, C, H, W) in [0, 1]; vectors (N, D) are drawn as rows of a heat map.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np

from .fileio import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def _literal(draw):
    """Draw with matplotlib's mathtext off, so text from the data (class names, feature names, titles)
    shows as written: the interpolation's label 'low_$ -> high_$' raised a ParseSyntaxException, and $5-$10
    came out in math italics. (Not for the loss curves: a log axis writes its ticks in mathtext.)"""
    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def image_grid(images: np.ndarray, ncol: int, pad: int = 1) -> np.ndarray:
    """Tile (N, C, H, W) images into one (rows*H, ncol*W[, C]) array, padded with white lines."""
    n, c, h, w = images.shape
    nrow = -(-n // ncol)
    grid = np.ones((c, nrow * (h + pad) - pad, ncol * (w + pad) - pad), dtype=np.float32)
    for i, img in enumerate(np.clip(images, 0, 1)):
        r, k = divmod(i, ncol)
        grid[:, r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = img
    return grid[0] if c == 1 else grid[:3].transpose(1, 2, 0)


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write(path, buf.getvalue())


NAMED_FEATURES = 40  # a heat map's columns carry their names up to this many (CSV columns); numbers beyond


def _feature_axis(ax, features: list[str] | None, n: int) -> None:
    """The x axis of a heat map of ``n`` features: their names where they fit, else numbered by matplotlib."""
    ax.set_xlabel("feature")
    if features and len(features) == n <= NAMED_FEATURES:
        ax.set_xticks(range(n), features, rotation=90, fontsize=7 if n > 20 else 9)


@_literal
def save_rows(path: Path, rows: list[np.ndarray], labels: list[str], title: str,
              features: list[str] | None = None) -> None:
    """One row of examples per entry of ``rows`` (e.g. originals above reconstructions). ``features``:
    the names of vectors' features (a CSV file's columns), written under a heat map."""
    plt = _pyplot()
    ncol = len(rows[0])
    if rows[0].ndim == 4:
        grid = image_grid(np.concatenate(rows), ncol)
        fig, ax = plt.subplots(figsize=(min(1.0 * ncol, 14), 1.1 * len(rows) + 0.4))
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        h = rows[0].shape[2] + 1
        ax.set_yticks([h * i + h / 2 for i in range(len(rows))], labels)
        ax.set_xticks([])
    else:
        fig, ax = plt.subplots(figsize=(10, 0.25 * ncol * len(rows) + 1))
        shown = ax.imshow(np.concatenate(rows), aspect="auto", cmap="viridis", interpolation="nearest")
        fig.colorbar(shown, ax=ax, label="value, rescaled to 0..1")
        ax.set_yticks([ncol * i + ncol / 2 for i in range(len(rows))], labels)
        _feature_axis(ax, features, rows[0].shape[1])
    ax.set_title(title)
    _save(fig, path)


@_literal
def save_grid(path: Path, images: np.ndarray, title: str, ncol: int = 8,
              codes: tuple[np.ndarray, np.ndarray] | None = None, features: list[str] | None = None) -> None:
    """A grid of images (or a heat map of vectors). ``codes``: the z[0] of each column and the z[1] of
    each row that the images decode, written on the axes; ``features``: as for ``save_rows``."""
    plt = _pyplot()
    if images.ndim == 4:
        grid = image_grid(images, ncol)
        fig, ax = plt.subplots(figsize=(6, 6 * grid.shape[0] / grid.shape[1] + 0.4))
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        if codes is None:
            ax.axis("off")
        else:  # ticks at the centres of the cells, every other one
            (h, w), pad = images.shape[2:], 1
            for axis, values, size in ((ax.xaxis, codes[0], w), (ax.yaxis, codes[1], h)):
                axis.set_ticks([i * (size + pad) + (size - 1) / 2 for i in range(0, len(values), 2)],
                               [f"{v:.2g}" for v in values[::2]])
            ax.set_xlabel("z[0]")
            ax.set_ylabel("z[1]")
            ax.tick_params(length=2, labelsize=7)
    else:
        fig, ax = plt.subplots(figsize=(10, 4))
        shown = ax.imshow(images, aspect="auto", cmap="viridis", interpolation="nearest")
        fig.colorbar(shown, ax=ax, label="value, rescaled to 0..1")
        _feature_axis(ax, features, images.shape[1])
        ax.set_ylabel("sample")
    ax.set_title(title)
    _save(fig, path)


def save_curves(path: Path, records: list[dict], panels: list[tuple[str, str]] = (("loss", "loss"),),
                title: str | None = None) -> None:
    """Train and validation curves per epoch from metrics.jsonl records, one panel per (key, y label)
    side by side; non-finite values are left out (a gap in the line), and a split with none finite
    gets no line."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    if title:
        fig.suptitle(title)
    epochs = [r["epoch"] for r in records]
    for ax, (key, ylabel) in zip(axes[0], panels):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
        for split in ("train", "val"):
            values = np.array([r.get(f"{split}_{key}", np.nan) for r in records], dtype=np.float64)
            values[~np.isfinite(values)] = np.nan  # matplotlib draws nothing at NaN
            if not np.isnan(values).all():
                ax.plot(epochs, values, marker=".", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        drawn = np.concatenate([line.get_ydata() for line in ax.lines]) if ax.lines else np.array([])
        drawn = drawn[np.isfinite(drawn)]
        if len(drawn) and drawn.min() > 0 and drawn.max() > 100 * drawn.min():  # a first epoch far above the rest
            ax.set_yscale("log")
        if ax.lines:
            ax.legend()
        else:  # training stopped before any epoch ended with a finite value
            ax.text(0.5, 0.5, f"no epoch ended with a finite {key}", ha="center", va="center", transform=ax.transAxes)
        ax.grid(alpha=0.3)
    _save(fig, path)


def principal_components(z: np.ndarray, k: int) -> np.ndarray:
    """z (N, D) projected on its first k principal axes, (N, k); each axis signed so that its largest
    loading is positive (as scikit-learn's PCA), so the picture does not flip between runs. With fewer
    than k examples the components past the data's own are 0 (they have no spread to show).

    numpy's SVD rather than scikit-learn's PCA: importing scikit-learn took 1.5 s of a 13 s, 3-epoch
    Fashion-MNIST ``vaekit train`` (2 cores), and nothing else in training needs it.
    """
    centred = z - z.mean(0)
    vt = np.linalg.svd(centred, full_matrices=False)[2][:k]  # (min(k, N, D), D)
    axes = vt * np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])[:, None]
    return np.pad(centred @ axes.T, ((0, 0), (0, k - len(vt))))  # (N, k)


@_literal
def save_latent(path: Path, z: np.ndarray, labels: np.ndarray | None, classes: list[str] | None = None) -> None:
    """Scatter of codes coloured by label; codes with more than 2 dimensions are projected by PCA."""
    plt = _pyplot()
    xlabel, ylabel = "z[0]", "z[1]"
    if z.shape[1] > 2:
        z = principal_components(z, 2)
        xlabel, ylabel = "PC 1 of z", "PC 2 of z"
    elif z.shape[1] == 1:
        z = np.column_stack([z[:, 0], np.zeros(len(z))])
    fig, ax = plt.subplots(figsize=(6, 5))
    colours = {"c": "tab:blue"}
    if labels is not None:  # one colour per class: tab10 spread over 11 or more classes gives two of them one colour
        from matplotlib.colors import ListedColormap

        n = int(labels.max()) + 1
        cmap = (ListedColormap(plt.get_cmap("tab10" if n <= 10 else "tab20").colors[:n]) if n <= 20
                else plt.get_cmap("turbo").resampled(n))
        colours = {"c": labels, "cmap": cmap, "vmin": -0.5, "vmax": n - 0.5}
    points = ax.scatter(z[:, 0], z[:, 1], s=6, alpha=0.8, **colours)
    if labels is not None:
        handles, names = points.legend_elements(num=None)
        if classes is not None:
            names = [classes[int(v)] for v in np.unique(labels)]
        ax.legend(handles, names, fontsize=7, loc="best", markerscale=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _save(fig, path)
