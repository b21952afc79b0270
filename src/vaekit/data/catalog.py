"""The named benchmark data sets vaekit can find on disk or download: where, and how to verify.

Each file is looked for in ``$VAEKIT_DATA/<name>/``, then in the user cache
(``$XDG_CACHE_HOME/vaekit/<name>/``, by default ``~/.cache/vaekit/<name>/``), then in system
copies (Debian's ``dataset-fashion-mnist`` package), and is downloaded into ``$VAEKIT_DATA/<name>/``
if set, else into the user cache.

A copy is accepted when the SHA-256 of the file equals that of the official ``.gz`` download,
or when the SHA-256 of its decompressed IDX content equals the published one: distributions
such as Debian recompress the files, which changes the ``.gz`` bytes but not the data.
"""

import hashlib
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import VaekitError
from .download import fetch
from .idx import open_idx, read_idx, read_idx_concat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _File:
    gz_sha256: str  # of the official .gz download
    idx_sha256: str | None  # of the decompressed IDX content; None: no published value found


@dataclass(frozen=True)
class _Set:
    urls: tuple[str, ...]  # folders holding the four files: official first, then mirrors
    classes: tuple[str, ...]  # label names, index = label
    files: dict[str, _File]  # key of load()'s result -> file, named as in _FILENAMES
    system_dirs: tuple[str, ...] = ()  # read-only copies installed by the system


_FILENAMES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
_N_TRAIN, _N_TEST, _SHAPE = 60_000, 10_000, (28, 28)  # the same for all three sets

# .gz hashes: tensorflow_datasets url_checksums (fashion_mnist.txt, mnist.txt, kmnist.txt).
# IDX hashes: the values other projects pin for the decompressed files (none found for KMNIST).
_SETS = {
    "fashion-mnist": _Set(
        urls=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        files={
            "x_train": _File("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                             "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            "y_train": _File("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            "x_test": _File("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            "y_test": _File("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        },
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
    "mnist": _Set(
        # yann.lecun.com, the original home, is mostly unreachable; torchvision uses ossci first.
        urls=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        classes=tuple(str(digit) for digit in range(10)),
        files={
            "x_train": _File("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                             "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            "y_train": _File("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            "x_test": _File("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            "y_test": _File("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        },
    ),
    "kmnist": _Set(
        # No independent mirror is known; the same host over HTTPS helps where plain HTTP is blocked.
        urls=(
            "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
            "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        ),
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        files={
            "x_train": _File("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", None),
            "y_train": _File("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17", None),
            "x_test": _File("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", None),
            "y_test": _File("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c", None),
        },
    ),
}
NAMES = tuple(_SETS)


def load(name: str, *, offline: bool = False, progress: bool = True) -> dict:
    """Load a named data set, downloading its files the first time.

    Parameters
    ----------
    name : str
        One of ``NAMES``: ``"fashion-mnist"``, ``"mnist"``, ``"kmnist"``.
    offline : bool
        If True, never download: fail when a file is not on disk.
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    dict
        ``x_train`` (N, 28, 28) uint8, ``y_train`` (N,) int64, ``x_test``, ``y_test`` likewise,
        and ``classes``, the list of label names (index = label). The train and test arrays are
        views of the arrays of ``load_joined``.

    Raises
    ------
    VaekitError
        If the name is unknown, or a file is missing and cannot be downloaded.
    """
    joined = load_joined(name, offline=offline, progress=progress)
    n_train = len(joined["x"]) - joined["n_test"]
    x, y = joined["x"], joined["y"]
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:],
            "classes": joined["classes"]}


def fetch_files(name: str, *, offline: bool = False, progress: bool = True) -> dict[str, Path]:
    """A named data set's four files on disk, verified, downloading those that are not there (unless
    ``offline``) -> their paths by key (``x_train``, ...). Nothing is loaded."""
    spec = _get(name)
    return {key: _locate(name, filename, spec.files[key], offline, progress) for key, filename in _FILENAMES.items()}


def load_joined(name: str, *, offline: bool = False, progress: bool = True) -> dict:
    """Load a named data set as one array of images, the training images first, then the test images.

    The images are read straight into that array, so memory peaks at the data set's size,
    not at twice it as when joining ``load``'s parts with ``np.concatenate``.

    Parameters
    ----------
    name, offline, progress
        As for ``load``.

    Returns
    -------
    dict
        ``x`` (N, 28, 28) uint8, ``y`` (N,) int64, ``n_test`` (the last ``n_test`` examples
        are the official test set) and ``classes``, the list of label names (index = label).

    Raises
    ------
    VaekitError
        If the name is unknown, or a file is missing and cannot be downloaded.
    """
    spec = _get(name)
    paths = fetch_files(name, offline=offline, progress=progress)
    y_train, y_test = read_idx(paths["y_train"]), read_idx(paths["y_test"])  # 70 KB: joining them costs nothing
    return {
        "x": read_idx_concat([paths["x_train"], paths["x_test"]]),
        "y": np.concatenate([y_train, y_test], dtype=np.int64),
        "n_test": len(y_test),
        "classes": list(spec.classes),
    }


def describe() -> list[dict]:
    """Say, for each named data set, what it holds and where its files are or would come from.

    Returns
    -------
    list of dict
        One per set: ``name``, ``n_train``, ``n_test``, ``shape`` (of one image), ``cached``
        (all four files are on disk and match their published SHA-256), ``damaged`` (a file has
        copies on disk but none that matches: it will be downloaded again) and ``source`` (the
        folder of the training images if on disk, else the download address).
    """
    rows = []
    for name, spec in _SETS.items():
        copies = {key: [d / filename for d in _search_dirs(name) if (d / filename).is_file()]
                  for key, filename in _FILENAMES.items()}
        good = {key: next((p for p in paths if _verified(p, spec.files[key])), None) for key, paths in copies.items()}
        cached = all(good.values())
        rows.append({
            "name": name, "n_train": _N_TRAIN, "n_test": _N_TEST, "shape": _SHAPE, "cached": cached,
            "damaged": any(paths and good[key] is None for key, paths in copies.items()),  # only bad copies
            "source": str(good["x_train"].parent) if cached else spec.urls[0],
        })
    return rows


def class_names(name: str) -> list[str]:
    """The label names of a named data set, index = label."""
    return list(_get(name).classes)


def _get(name: str) -> _Set:
    """The registry entry of ``name``, or a VaekitError listing the known names."""
    if name not in _SETS:
        raise VaekitError(f"unknown data set {name!r}; choose one of {', '.join(NAMES)}")
    return _SETS[name]


def _search_dirs(name: str) -> list[Path]:
    """The folders searched for a set's files, in order."""
    dirs = [Path(os.environ["VAEKIT_DATA"]) / name] if os.environ.get("VAEKIT_DATA") else []
    return [*dirs, _cache_dir(name), *map(Path, _SETS[name].system_dirs)]


def _cache_dir(name: str) -> Path:
    """The user cache folder of a set."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "vaekit" / name


def _download_dir(name: str) -> Path:
    """Where downloads go: ``$VAEKIT_DATA/<name>`` if set, else the user cache."""
    return _search_dirs(name)[0]


def _locate(name: str, filename: str, file: _File, offline: bool, progress: bool) -> Path:
    """The first verified copy of a file, downloading one if there is none."""
    rejected = []
    for folder in _search_dirs(name):
        path = folder / filename
        if path.is_file():
            if _verified(path, file):
                return path
            log.warning("%s: content does not match the published SHA-256; ignoring it", path)
            rejected.append(path)
    if offline and rejected:
        raise VaekitError(
            f"{rejected[0]}: content does not match the published SHA-256 {file.gz_sha256}; "
            "replace it with a verified copy, or delete it and allow downloads"
        )
    dest = _download_dir(name) / filename
    urls = [url + filename for url in _SETS[name].urls]
    return Path(fetch(urls, dest, file.gz_sha256, offline=offline, progress=progress))


def _verified(path: Path, file: _File) -> bool:
    """Whether ``path`` holds the official file, as downloaded or recompressed."""
    if _sha256(path, decompress=False) == file.gz_sha256:
        return True
    return file.idx_sha256 is not None and _sha256(path, decompress=True) == file.idx_sha256


def _sha256(path: Path, decompress: bool) -> str | None:
    """SHA-256 of a file, or of its IDX content; None if the gzip stream is corrupt."""
    digest = hashlib.sha256()
    try:
        with open_idx(path) if decompress else open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()
