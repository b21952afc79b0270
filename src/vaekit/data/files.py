"""Load a user's own data set: a .npy, .npz or .csv file, or a folder of images.

Every loader ends in the same canonical layout, so the rest of vaekit sees one of two shapes:
``(N, D)`` vectors or ``(N, C, H, W)`` images with C in 1, 3, 4 (1 or 3 from a folder). Bad input raises
``VaekitError`` with the message ``<file>: <what is wrong>; <how to fix it>``.
"""

import csv
import itertools
import logging
import math
import os
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import VaekitError

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L")  # Pillow modes kept as one channel; others become RGB
# What Pillow raises on a broken image (its PNG decoder uses SyntaxError for bad chunks).
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
# Which keyword arguments each kind of input understands; the others are refused, not ignored.
_OPTIONS = {".npy": (), ".npz": ("key", "label_column"), ".csv": ("label_column",), "folder": ("image_size",)}
_FINITE_CHUNK = 1 << 22  # values checked at a time, so a huge memmap is never read in one go
_CSV_BLOCK = 1 << 14  # CSV cells parsed at a time: their text is all a CSV file holds in memory besides the numbers


@dataclass
class Loaded:
    """A data set in canonical layout, as returned by `load_file`."""

    x: np.ndarray  # (N, D) vectors or (N, C, H, W) images; uint8 or floating point
    y: np.ndarray | None  # (N,) int64 class indices, or None when the data has no labels
    classes: list[str] | None  # class name of each index, when labels were names or sub-folders
    columns: list[str] | None = None  # a CSV header's names of the columns in x (no label column)


def load_file(
    path: str | os.PathLike,
    *,
    key: str | None = None,
    label_column: str | int | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> Loaded:
    """Load a data set from a file or a folder of images, without changing it on disk.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file (memory-mapped, so it may be larger than RAM), a ``.npz`` archive,
        a ``.csv`` file of numbers, or a folder of PNG/JPEG/BMP/GIF images: either images
        directly in it (no labels) or one sub-folder of images per class.
    key : str, optional
        ``.npz`` only: the array holding the data. Default ``x``, or the only array.
    label_column : str or int, optional
        ``.csv``: the column holding labels, by header name or by index from 0 (negative
        counts from the end). ``.npz``: the array holding labels; default ``y`` (``y_train``
        for key ``x_train``) when present. Labels that are names become indices in sorted order.
    image_size : int or (int, int), optional
        Folders only: resize every image to this size, ``(H, W)``, or square when one int.

    Returns
    -------
    Loaded
        ``x`` of shape ``(N, D)`` or ``(N, C, H, W)``. uint8 stays uint8 and floats keep
        their type (a ``.npy`` then stays memory-mapped); a CSV's numbers are float64; other integers
        become float32, or float64 beyond 2^24, where float32 would round them.

    Raises
    ------
    VaekitError
        When the input is missing, unreadable, empty, not numeric, holds NaN or infinite
        values, or has a shape that is neither vectors nor images.
    """
    path = Path(path)
    if path.is_dir():
        kind = "folder"
    elif not path.exists():
        raise _error(path, "no such file or folder", "check the path")
    else:
        kind = path.suffix.lower()
        if path.stat().st_size == 0:
            raise _error(path, "the file is empty (no rows)", "save the data with np.save or np.savez, or as rows of a CSV file")
    if kind not in _OPTIONS:
        raise _error(path, f"unknown file type {kind!r}", "use a .npy, .npz or .csv file, or a folder of images")
    given = {"key": key, "label_column": label_column, "image_size": image_size}
    for name, value in given.items():
        if value is not None and name not in _OPTIONS[kind]:
            where = "folders" if kind == "folder" else f"{kind} files"
            raise _error(path, f"{name}={value!r} does not apply to {where}", f"drop --{name.replace('_', '-')}")
    if kind == "folder":
        raw = _load_folder(path, image_size)
    elif kind == ".csv":
        raw = _load_csv(path, label_column)
    else:
        raw = _load_numpy(path, key, label_column)
    return _canonical(path, raw)


def _error(path: Path, what: str, fix: str) -> VaekitError:
    """The one-line message ``<file>: <what>; <fix>``."""
    return VaekitError(f"{path}: {' '.join(what.split())}; {fix}")


def _listing(names: list[str], limit: int = 8) -> str:
    """Names for a message, shortened when there are many."""
    shown = ", ".join(map(repr, names[:limit]))
    return f"{shown}, ... ({len(names)} in all)" if len(names) > limit else shown or "nothing"


def _canonical(path: Path, raw: Loaded) -> Loaded:
    """Bring `x` to a canonical layout and dtype, and check that it is usable."""
    x, y = raw.x, raw.y
    if x.ndim < 2:
        raise _error(path, f"got a {x.ndim}-D array of shape {x.shape}", "reshape it to (N, D), one row per sample")
    if x.ndim > 4:
        raise _error(path, f"got a {x.ndim}-D array of shape {x.shape}", "save vectors (N, D) or images (N, C, H, W)")
    if x.ndim == 3:
        x = x[:, None]  # grayscale (N, H, W) -> (N, 1, H, W)
    elif x.ndim == 4 and x.shape[1] not in (1, 3, 4):
        if x.shape[3] not in (1, 3, 4):
            raise _error(path, f"images of shape {x.shape} have no channel axis of size 1, 3 or 4",
                         "save them as (N, C, H, W) or (N, H, W, C)")
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W), a view
    if x.size == 0:
        raise _error(path, f"holds no data (shape {x.shape})", "check that the right file was saved")
    if x.dtype.kind not in "biuf":
        raise _error(path, f"has values of type {x.dtype}", "save numbers, as float32 or uint8 for images")
    if x.dtype.kind in "biu" and x.dtype != np.uint8:
        # float32 holds integers exactly up to 2^24; larger ones (timestamps, ids) go to float64, which
        # the scaler shifts before rounding
        x = x.astype(np.float64 if max(int(x.max()), -int(x.min())) > 2**24 else np.float32)
    if x.dtype.kind == "f" and x.dtype.itemsize > 8:  # extended precision (np.longdouble): torch has no such type
        x = x.astype(np.float64)
    if not x.dtype.isnative:  # big-endian floats (torch reads native byte order only)
        x = x.astype(x.dtype.newbyteorder("="))
    _check_finite(path, x)
    if y is not None and len(y) != len(x):
        raise _error(path, f"has {len(y)} labels for {len(x)} samples", "give exactly one label per sample")
    return Loaded(x, y, raw.classes, raw.columns)


# the largest magnitude a value may have: its range, squared for a standard deviation, fits a float64,
# and the scaled values a float32
TOO_LARGE = 1e30


def _check_finite(path: Path, x: np.ndarray) -> None:
    """Refuse NaN and infinite values, and finite ones so large that scaling them overflows the float32 the
    models compute in; one pass, reading a memmap a slice at a time."""
    if x.dtype.kind != "f":
        return
    per_sample = x.size // len(x)
    step = max(1, _FINITE_CHUNK // per_sample)
    for start in range(0, len(x), step):
        chunk = x[start:start + step]
        chunk = chunk.astype(np.float32) if chunk.dtype == np.float16 else chunk  # in float16 1e30 is inf: inf passed
        usable = (np.abs(chunk) <= TOO_LARGE).reshape(-1, per_sample).all(axis=1)  # NaN: False
        if not usable.all():
            row = start + int(np.argmin(usable))
            if not np.isfinite(x[row]).all():
                raise _error(path, f"has NaN or infinite values (first in sample {row})", "remove or fill them in first")
            raise _error(path, f"has values beyond +-{TOO_LARGE:.0e}, too large to scale in float32",
                         "rescale them first (divide by a power of ten)")


def _encode_labels(path: Path, labels: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """Labels as int64 class indices, plus the sorted class names when they were names."""
    if labels.dtype.kind == "S":  # bytes, as np.savez keeps Python 2's or h5py's strings
        try:
            labels = np.char.decode(labels, "utf-8")
        except UnicodeDecodeError:
            raise _error(path, "has labels of bytes that are not UTF-8 text", "save them as str or as numbers") from None
    if labels.dtype.kind == "U":
        if (blank := np.char.strip(labels) == "").any():  # "" was a class of its own
            raise _error(path, f"has {int(blank.sum())} empty labels (the first in sample {int(np.argmax(blank))})",
                         "fill them in, or leave those examples out")
        try:
            labels = labels.astype(np.float64)
        except ValueError:  # names, not numbers
            classes, y = np.unique(labels, return_inverse=True)
            return y.reshape(-1).astype(np.int64), [str(name) for name in classes]
    if labels.ndim != 1 or labels.dtype.kind not in "biuf":
        raise _error(path, f"has labels of shape {labels.shape} and type {labels.dtype}",
                     "give one number or name per sample")
    values = labels.astype(np.float64)
    whole = np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < 2**31)
    if not whole.all():
        raise _error(path, "labels must be whole numbers >= 0 or class names", "fix the label values")
    return values.astype(np.int64), None


def _load_numpy(path: Path, key: str | None, label_column: str | int | None) -> Loaded:
    """An array from a .npy file (memory-mapped) or from a .npz archive, with its labels."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise _error(path, f"cannot be read ({exc.strerror})", "check the path and its permissions") from exc
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):  # np.load takes anything else for a pickle
        raise _error(path, "is not a NumPy file (it does not begin as np.save and np.savez files do)",
                     "save plain numeric arrays with np.save or np.savez")
    try:
        # a corrupt header's shape may overflow before np.load refuses it; a header numpy reads as
        # Python 2's makes it warn (advice for the file's writer, not the user)
        with np.errstate(over="ignore"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Reading `.npy` or `.npz` file required additional header")
            if magic == b"\x93NUMPY":
                with open(path, "rb") as f:
                    _check_size(path, f, path.stat().st_size)
                return Loaded(np.load(path, mmap_mode="r", allow_pickle=False), None, None)
            with np.load(path, allow_pickle=False) as data:
                x_key, y_key = _npz_keys(path, data.files, key, label_column)
                for name in {x_key, y_key} - {None}:
                    member = f"{name}.npy" if f"{name}.npy" in data.zip.namelist() else name
                    with data.zip.open(member) as f:
                        if f.read(6) != b"\x93NUMPY":  # np.load hands such a member over as bytes
                            raise _error(path, f"holds {member!r}, which is not a NumPy array",
                                         "save plain numeric arrays with np.savez")
                        f.seek(0)
                        _check_size(path, f, data.zip.getinfo(member).file_size, f"its array {name!r} ")
                y, classes = _encode_labels(path, data[y_key]) if y_key else (None, None)
                return Loaded(data[x_key], y, classes)
    except VaekitError:
        raise
    # numpy and zipfile raise many types on a corrupt file (ValueError, EOFError, BadZipFile,
    # zlib.error, tokenize.TokenError, MemoryError for a huge shape in a header, ...).
    except zipfile.BadZipFile as exc:  # an .npz archive ends in its table of contents: the first part to go
        raise _error(path, "is not a whole .npz archive (its end is missing or damaged)",
                     "copy it again, or save it again with np.savez") from exc
    except Exception as exc:
        said = re.sub(r"<ast\.\w+ object at 0x[0-9a-f]+>", "an expression", str(exc))  # a header's 2**62: no plain value
        reason = f"{type(exc).__name__}: {said.split('. ')[0][:120]}"  # numpy's first sentence
        raise _error(path, f"is not a readable NumPy file ({reason})",
                     "save plain numeric arrays with np.save or np.savez") from exc


def _check_size(path: Path, f, size: int, which: str = "") -> None:
    """Refuse an .npy stream whose header promises more bytes than ``size`` holds (a file cut short) or a
    negative dimension, before numpy says "mmap length is greater than file size" or "negative dimensions"."""
    try:
        # version 3 is version 2's layout with a UTF-8 header (numpy writes it for unicode field names)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0,
                (3, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
        shape, _, dtype = read(f)
    except Exception:  # a damaged header, or another version: np.load says what
        return
    if dtype.hasobject:  # np.load refuses it, naming pickles
        return
    if any(d < 0 for d in shape):
        raise _error(path, f"{which}has a damaged header (shape {shape})", "save the array again with np.save or np.savez")
    needed, held = math.prod(shape) * dtype.itemsize, size - f.tell()
    if needed > held:
        raise _error(path, f"{which}is cut short or damaged: its header says shape {shape} of {dtype} "
                     f"({needed:,} bytes) and {held:,} bytes follow it", "copy it again, or save it again with np.save or np.savez")


def _npz_keys(path: Path, names: list[str], key: str | None, label_key: str | int | None) -> tuple[str, str | None]:
    """The names of the data array and of the label array (None if absent) in an archive."""
    if key is None:
        key = "x" if "x" in names or len(names) != 1 else names[0]
    if key not in names:
        raise _error(path, f"has no array named {key!r} (it holds: {_listing(names)})", "choose one with --key NAME")
    if label_key is not None and label_key not in names:
        raise _error(path, f"has no label array {label_key!r} (it holds: {_listing(names)})",
                     "choose one with --label-column NAME")
    if label_key is None and key.startswith("x") and "y" + key[1:] in names:
        label_key = "y" + key[1:]  # x -> y, x_train -> y_train
    return key, label_key


def is_number(cell: str) -> bool:
    """Whether a CSV cell parses as a number."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _load_csv(path: Path, label_column: str | int | None) -> Loaded:
    """Rows of numbers from a CSV file with an optional header and label column."""
    try:
        # float64, as a float64 .npy stays: the scaler shifts a feature before rounding it to float32, so a
        # column near 1e6 with a spread of 1 keeps its digits
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            # (line number, cells), no blank lines: none at all, nor one of spaces (an editor's last line)
            rows = ((reader.line_num, row) for row in reader if row and (len(row) > 1 or row[0].strip()))
            head = [pair for pair in (next(rows, None), next(rows, None)) if pair]
            if not head:
                raise _error(path, "has no rows", "check that the right file was given")
            header = header_names(head.pop(0)[1]) if _has_header(*(row for _, row in head)) else None
            columns = header or [str(i) for i in range(len(head[0][1]))]
            label = None if label_column is None else _column_index(path, columns, label_column)
            # pandas' to_csv() writes the row index first, under an empty name: row numbers, not a feature
            index = 0 if header and _is_row_index(header) and label != 0 else None
            skip = tuple(sorted({label, index} - {None}))  # columns left out of x
            values, labels, rows = [], [], itertools.chain(head, rows)
            block_rows = max(1, _CSV_BLOCK // len(columns))
            while block := list(itertools.islice(rows, block_rows)):  # a block's text at a time, never the file's
                values.append(_parse_block(path, block, columns, skip))
                if label is not None:
                    labels.append(np.array([row[label].strip() for _, row in block]))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise _error(path, f"is not a readable CSV file ({exc})",
                     "save it as UTF-8 text with comma-separated numbers") from exc
    if not values:
        raise _error(path, "has a header but no data rows", "check that the right file was given")
    y, classes = _encode_labels(path, np.concatenate(labels)) if label is not None else (None, None)
    names = None if header is None else _kept(header, skip)
    return Loaded(np.concatenate(values), y, classes, names)


def _parse_block(path: Path, block: list, columns: list[str], skip: tuple[int, ...]) -> np.ndarray:
    """The numbers of a block of (line number, cells) CSV rows, leaving out the columns ``skip``."""
    if all(len(row) == len(columns) for _, row in block):
        try:
            return np.array([_kept(row, skip) for _, row in block], dtype=np.float64).reshape(len(block), -1)
        except ValueError:
            pass
    # a row of another length, or a cell that is no number: find which, row by row, and say so
    return np.stack([_parse_row(path, line, row, columns, skip) for line, row in block])


def _kept(row: list, skip: tuple[int, ...]) -> list:
    """``row`` without the cells at the (sorted) positions ``skip``."""
    if not skip:
        return row
    kept, start = [], 0
    for i in skip:
        kept += row[start:i]
        start = i + 1
    return kept + row[start:]


def header_names(row: list[str]) -> list[str]:
    """A CSV header row's column names, without the "# " that np.savetxt(header=...) writes before them."""
    if row and row[0].startswith("# "):
        row = [row[0][2:], *row[1:]]
    return [name.strip() for name in row]


def _has_header(first: list[str], second: list[str] | None = None) -> bool:
    """A header has a name above a number, or counts the columns (0, 1, ..., n - 1 or 1, ..., n: what
    pandas writes for unnamed columns) above a row that does not, or does so after an empty name (pandas'
    row index, whatever the index holds); a lone row is a header when it has any name, and so is a row of
    names alone (a second row with no number then gets the blame for it)."""
    if second is None:
        return not all(map(is_number, first))
    return (not any(map(is_number, first))
            or any(not is_number(a) and is_number(b) for a, b in zip(first, second))
            or (_counts_columns(first) and not _counts_columns(second))
            or (not first[0].strip() and _counts_columns(first[1:])))  # pandas' unnamed columns after its row index


def _is_row_index(header: list[str]) -> bool:
    """Whether the first column is pandas' row index: the header leaves only its name empty."""
    return len(header) >= 2 and not header[0] and all(header[1:])


def _counts_columns(row: list[str]) -> bool:
    """Whether ``row`` is 0, 1, ..., n - 1 or 1, 2, ..., n (n >= 3), as integers written plainly."""
    cells = [cell.strip() for cell in row]
    return len(cells) >= 3 and cells in ([str(i) for i in range(len(cells))], [str(i) for i in range(1, len(cells) + 1)])


def _column_index(path: Path, columns: list[str], label_column: str | int) -> int:
    """The index of the label column, found by header name or by position."""
    if label_column in columns:
        return columns.index(label_column)
    try:
        index = int(label_column)
    except ValueError:
        index = len(columns)  # neither a name nor a number: not present
    if not -len(columns) <= index < len(columns):
        raise _error(path, f"has no column {label_column!r} (columns: {_listing(columns)})",
                     "give --label-column a column name or an index counted from 0")
    return index % len(columns)


def _parse_row(path: Path, line: int, row: list[str], columns: list[str], skip: tuple[int, ...]) -> np.ndarray:
    """The numbers in one CSV row, leaving out the columns ``skip``."""
    if len(row) != len(columns):
        if separator := next((c for c in ";\t|" if any(c in cell for cell in row)), None):  # 1,5;2,5: decimal commas
            raise _error(path, f"line {line} has values separated by {separator!r}, not commas",
                         "save the file with commas between values and points in numbers")
        raise _error(path, f"line {line} has {len(row)} fields, the first row has {len(columns)}",
                     "give every row the same number of columns")
    try:
        return np.array(_kept(row, skip), dtype=np.float64)
    except ValueError:
        column = next(i for i, cell in enumerate(row) if i not in skip and not is_number(cell))
        separator = next((c for c in ";\t|" if c in row[column]), None)
        if separator is not None:
            raise _error(path, f"line {line}: {row[column][:40]!r} has values separated by {separator!r}, not commas",
                         "save the file with commas between values") from None
        raise _error(path, f"line {line}, column {columns[column]!r}: {row[column][:40]!r} is not a number",
                     "fix or remove that cell, or name a label column with --label-column") from None


def _image_files(folder: Path) -> list[Path]:
    """The image files directly in a folder, sorted; other and hidden files are skipped."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _load_folder(path: Path, image_size: int | tuple[int, int] | None) -> Loaded:
    """Images directly in a folder (no labels), or one sub-folder per class."""
    files = _image_files(path)
    class_dirs = sorted(d for d in path.iterdir()
                        if d.is_dir() and not d.name.startswith(".") and _image_files(d))
    if files and class_dirs:
        raise _error(path, "has images both directly inside and in sub-folders",
                     "keep either unlabeled images or one sub-folder per class")
    if not files and not class_dirs:
        deeper = next((p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), None)
        if deeper is not None:
            raise _error(path, f"has no images directly inside or in its sub-folders, only deeper ({deeper.relative_to(path)})",
                         "point to the folder whose sub-folders (one per class) hold the images")
        raise _error(path, f"has no images ({', '.join(IMAGE_SUFFIXES)})", "point to a folder of images")
    if not class_dirs:
        return Loaded(_read_images(path, files, image_size), None, None)
    per_class = [_image_files(d) for d in class_dirs]
    files = [f for class_files in per_class for f in class_files]
    y = np.repeat(np.arange(len(class_dirs), dtype=np.int64), [len(f) for f in per_class])
    return Loaded(_read_images(path, files, image_size), y, [d.name for d in class_dirs])


def _read_images(path: Path, files: list[Path], image_size: int | tuple[int, int] | None) -> np.ndarray:
    """Decode images into a uint8 array (N, C, H, W), resized to `image_size` if given."""
    headers = [_open_image(f, lambda image: (image.size, _grey(image), _alpha(image))) for f in files]  # headers (and palettes) only
    mode = "L" if all(grey for _, grey, _ in headers) else "RGB"
    if see_through := [f.name for f, (_, _, alpha) in zip(files, headers) if alpha]:
        logging.getLogger(__name__).warning(
            f"{path}: {len(see_through)} image(s) have transparency (first: {see_through[0]}), which vaekit drops: "
            "transparent pixels keep whatever colour they hold; flatten them onto a background first if the picture "
            "lies in the transparency")
    if image_size is None:
        first_with_size = {}
        for f, (size, _, _) in zip(files, headers):
            first_with_size.setdefault(size, f.name)
        if len(first_with_size) > 1:
            (a, file_a), (b, file_b) = list(first_with_size.items())[:2]
            raise _error(path, f"images have mixed sizes ({a[0]}x{a[1]} in {file_a}, {b[0]}x{b[1]} in {file_b})",
                         f"resize them all with --image-size {a[1]}")
        width, height = headers[0][0]
    else:
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        if height <= 0 or width <= 0:
            raise _error(path, f"image_size={image_size!r} must be positive", "try --image-size 64")
    x = np.empty((len(files), len(mode), height, width), dtype=np.uint8)
    for i, f in enumerate(files):
        pixels = _open_image(f, lambda image: _eight_bit(image).convert(mode).resize((width, height), Image.Resampling.BILINEAR))
        x[i] = np.asarray(pixels).reshape(height, width, len(mode)).transpose(2, 0, 1)
    return x


def _alpha(image: Image.Image) -> bool:
    """Whether an image has an alpha channel or a transparent colour, which ``convert("L"/"RGB")`` drops."""
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info


def _grey(image: Image.Image) -> bool:
    """Whether an image holds grey levels only: a grey mode, or a palette of greys (a grey GIF or PNG-8)."""
    if image.mode != "P":
        return image.mode in _GRAY_MODES
    palette = image.getpalette() or []  # r, g, b, r, g, b, ...
    return all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit grey images (PNG's "I;16", Pillow's "I") scaled to 0..255; convert() would clip them at 255."""
    if not image.mode.startswith("I"):
        return image
    pixels = np.asarray(image, dtype=np.float64) / 257  # 65535 -> 255
    return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8), "L")


def _open_image(file: Path, read: Callable[[Image.Image], Any]) -> Any:
    """`read(image)` on an opened image, or a VaekitError naming the file it fails on."""
    try:
        with Image.open(file) as image:
            return read(image)
    except _IMAGE_ERRORS as exc:
        raise _error(file, f"is not a readable image ({exc})", "replace or remove the file") from exc
