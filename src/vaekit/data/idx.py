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
    path = os.fspath(path)
    try:
        with open_idx(path) as stream:
            size = os.path.getsize(path)
            max_size = size * _MAX_DEFLATE_RATIO if isinstance(stream, gzip.GzipFile) else size
            return _parse(stream, path, max_size)
    except (OSError, EOFError, zlib.error) as error:
        # gzip reports a bad CRC or a cut-off stream as OSError or EOFError.
        raise VaekitError(
            f"{path}: cannot read ({error}); check the path, or delete the file and download it again"
        ) from None


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


def _parse(stream, path: str, max_size: int) -> np.ndarray:
    """Parse an IDX stream of at most ``max_size`` bytes; header and payload must match exactly."""
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
    # Reading one byte more than the header promises tells "exact" from "trailing bytes",
    # and reading in chunks keeps memory bounded by the data actually present, so a lying
    # header or a gzip bomb cannot make us allocate more than the file really holds.
    payload = bytearray()
    while len(payload) <= expected:
        chunk = stream.read(min(expected + 1 - len(payload), _CHUNK))
        if not chunk:
            break
        payload += chunk
    if len(payload) < expected:
        raise VaekitError(
            f"{path}: truncated: header {shape} needs {expected} bytes of data, the file has "
            f"{len(payload)}; download the file again"
        )
    if len(payload) > expected:
        raise VaekitError(
            f"{path}: trailing bytes after the {expected} bytes of data of header {shape}; "
            "the file is corrupt, download it again"
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


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
