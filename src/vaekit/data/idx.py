"""Read and write IDX files, the format of MNIST and its drop-in replacements.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in C order, big-endian.
See the bottom of http://yann.lecun.com/exdb/mnist/.
"""

import contextlib
import gzip
import math
import os
import struct
import zlib

import numpy as np

from ..errors import VaekitError
from ..fileio import atomic_file

# IDX type code -> numpy type, without byte order (the file is big-endian).
_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: "i2", 0x0C: "i4", 0x0D: "f4", 0x0E: "f8"}
_CODES = {kind: code for code, kind in _DTYPES.items()}
_MAX_NDIM = 8  # MNIST-like files use 1 to 4; allow more, but not nonsense
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_MAX_DEFLATE_RATIO = 1032  # deflate cannot expand data more than this (zlib technical details)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzipped (told apart by its first bytes, not its name).

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        The values with the shape in the header, in native byte order.

    Raises
    ------
    VaekitError
        If the file is missing, not IDX, corrupt, truncated or has trailing bytes.
    """
    return read_idx_concat([path])


def read_idx_concat(paths: list[str | os.PathLike]) -> np.ndarray:
    """Read IDX files into one array, joined along the first axis, as ``np.concatenate`` would.

    The result is allocated once and each file is read straight into its rows, so memory peaks
    at the result's size, not at twice it as when reading the parts and concatenating them.

    Parameters
    ----------
    paths : list of str or os.PathLike
        One or more files, raw or gzipped, of one value type and the same shape after the first axis.

    Returns
    -------
    numpy.ndarray
        The values of all files, in order, in native byte order.

    Raises
    ------
    VaekitError
        If a file cannot be read by ``read_idx``, or its type or shape does not match the first file's.
    """
    paths = [os.fspath(path) for path in paths]
    if not paths:
        raise VaekitError("read_idx_concat: paths is empty; give at least one IDX file")
    with contextlib.ExitStack() as stack:
        streams, headers = [], []
        for path in paths:
            with _named(path):
                stream = stack.enter_context(open_idx(path))
                size = os.path.getsize(path)
                max_size = size * _MAX_DEFLATE_RATIO if isinstance(stream, gzip.GzipFile) else size
                headers.append(_parse_header(stream, path, max_size))
            streams.append(stream)
        dtype, shape = headers[0]
        for path, (other_dtype, other_shape) in zip(paths[1:], headers[1:]):
            if other_dtype != dtype or other_shape[1:] != shape[1:]:
                raise VaekitError(
                    f"{path}: IDX header says {other_dtype.name} {other_shape}, which cannot follow "
                    f"{paths[0]}'s {dtype.name} {shape}; give files of one type and item shape"
                )
        # np.empty only reserves address space: pages become resident as data is written into
        # them, so a lying header (bounded by _parse_header) still cannot make us hold more memory
        # than the files really contain.
        rows = sum(part_shape[0] for _, part_shape in headers)
        try:
            out = np.empty((rows, *shape[1:]), dtype.newbyteorder("="))
        except MemoryError:
            raise VaekitError(
                f"{paths[0]}: cannot hold {rows * math.prod(shape[1:]) * dtype.itemsize} bytes of "
                "IDX data in memory; free memory, or check that the file is not corrupt"
            ) from None
        start = 0
        for path, stream, (_, part_shape) in zip(paths, streams, headers):
            with _named(path):
                _read_payload(stream, path, part_shape, out[start : start + part_shape[0]])
            start += part_shape[0]
    if not dtype.isnative:
        out.byteswap(inplace=True)  # the files are big-endian
    return out


@contextlib.contextmanager
def open_idx(path: str | os.PathLike):
    """Open a file for reading its content, decompressing it if its first bytes say gzip."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if gzipped:
            with gzip.GzipFile(fileobj=raw) as stream:
                yield stream
        else:
            yield raw


@contextlib.contextmanager
def _named(path: str):
    """Turn the errors of reading ``path`` into a VaekitError that names it."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as error:
        # gzip reports a bad CRC or a cut-off stream as OSError or EOFError.
        raise VaekitError(
            f"{path}: cannot read ({error}); check the path, or delete the file and download it again"
        ) from None


def _parse_header(stream, path: str, max_size: int) -> tuple[np.dtype, tuple[int, ...]]:
    """-> (big-endian dtype, shape) of an IDX stream of at most ``max_size`` bytes."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0":
        raise VaekitError(
            f"{path}: not an IDX file (magic number {magic.hex()} does not start with 0000); "
            "give an MNIST-format file"
        )
    code, ndim = magic[2], magic[3]
    if code not in _DTYPES:
        allowed = ", ".join(f"0x{c:02x}" for c in _DTYPES)
        raise VaekitError(f"{path}: unknown IDX type code 0x{code:02x}; allowed are {allowed}")
    if not 1 <= ndim <= _MAX_NDIM:
        raise VaekitError(f"{path}: IDX header has {ndim} dimensions; allowed are 1 to {_MAX_NDIM}")
    header = stream.read(4 * ndim)
    if len(header) < 4 * ndim:
        raise VaekitError(f"{path}: truncated IDX header; download the file again")
    shape = struct.unpack(f">{ndim}I", header)
    if 0 in shape:
        raise VaekitError(f"{path}: IDX header has an empty dimension {shape}; check the file")
    dtype = np.dtype(">" + _DTYPES[code])
    expected = math.prod(shape) * dtype.itemsize
    if expected > max_size:
        raise VaekitError(
            f"{path}: header {shape} claims {expected} bytes of data, more than the file can "
            "hold; the file is truncated or corrupt, download it again"
        )
    return dtype, shape


def _read_payload(stream, path: str, shape: tuple[int, ...], out: np.ndarray) -> None:
    """Fill ``out`` (C-contiguous) with the data of ``shape``; the stream must end right after it."""
    buffer = memoryview(out).cast("B")
    # Bounded reads: a gzip bomb is stopped at the first byte past the promised data.
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled : filled + _CHUNK])
        if not count:
            raise VaekitError(
                f"{path}: truncated: header {shape} needs {len(buffer)} bytes of data, the file has "
                f"{filled}; download the file again"
            )
        filled += count
    if stream.read(1):
        raise VaekitError(
            f"{path}: trailing bytes after the {len(buffer)} bytes of data of header {shape}; "
            "the file is corrupt, download it again"
        )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array as an IDX file, atomically; gzipped when ``path`` ends in ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    array : numpy.ndarray
        1 to 8 dimensions, none empty, of type uint8, int8, int16, int32, float32 or float64.

    Raises
    ------
    VaekitError
        If the array cannot be stored as IDX or the file cannot be written.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    kind = f"{array.dtype.kind}{array.dtype.itemsize}"
    if kind not in _CODES:
        raise VaekitError(
            f"{path}: IDX cannot store dtype {array.dtype}; "
            "convert to uint8, int8, int16, int32, float32 or float64"
        )
    if not 1 <= array.ndim <= _MAX_NDIM or 0 in array.shape or max(array.shape) >= 2**32:
        raise VaekitError(
            f"{path}: IDX cannot store shape {array.shape}; "
            f"give 1 to {_MAX_NDIM} dimensions, each of size 1 to 2**32-1"
        )
    magic = struct.pack(">BBBB", 0, 0, _CODES[kind], array.ndim)
    header = magic + struct.pack(f">{array.ndim}I", *array.shape)
    data = array.astype(">" + kind, copy=False).tobytes()
    try:
        with atomic_file(path) as out:
            if path.endswith(".gz"):
                # mtime=0 makes the same array give the same bytes.
                with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packed:
                    packed.write(header + data)
            else:
                out.write(header + data)
    except OSError as error:
        raise VaekitError(
            f"{path}: cannot write ({error}); check that the folder exists and is writable"
        ) from None
