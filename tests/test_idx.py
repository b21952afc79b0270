import gzip
import re
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaekit.data.idx import read_idx, read_idx_concat, write_idx
from vaekit.errors import VaekitError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """A hand-made IDX file, so tests can lie in the header."""
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, code, len(shape), *shape) + payload


def valid_file(compress: bool) -> bytes:
    """A small, valid uint8 IDX file of shape (3, 2, 2)."""
    data = idx_bytes(0x08, (3, 2, 2), bytes(range(12)))
    return gzip.compress(data, mtime=0) if compress else data


def check_read(path):
    """read_idx returns an array or raises VaekitError naming the file, and nothing else."""
    try:
        assert isinstance(read_idx(path), np.ndarray)
    except VaekitError as error:
        assert str(error).startswith(f"{path}: ")
        assert "\n" not in str(error)


@pytest.mark.parametrize("suffix", [".gz", ".idx"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    for shape in [(5,), (4, 3), (2, 3, 4), (2, 1, 3, 2)]:
        array = (rng.standard_normal(shape) * 100).astype(dtype)
        path = tmp_path / f"a{suffix}"
        write_idx(path, array)
        back = read_idx(path)
        assert back.dtype == dtype and back.dtype.isnative
        np.testing.assert_array_equal(back, array)
        assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]  # no temporary file left


@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_equals_concatenate(tmp_path, dtype):
    rng = np.random.default_rng(0)
    parts = [(rng.standard_normal((n, 3, 2)) * 100).astype(dtype) for n in [4, 1, 3]]
    paths = [tmp_path / name for name in ["a.gz", "b.idx", "c.gz"]]  # gzipped and raw mixed
    for path, part in zip(paths, parts):
        write_idx(path, part)
    joined = read_idx_concat(paths)
    assert joined.dtype == dtype and joined.dtype.isnative and joined.flags.c_contiguous
    np.testing.assert_array_equal(joined, np.concatenate([read_idx(path) for path in paths]))


def test_concat_peaks_at_the_result_size(tmp_path):
    # Read the old way, two 4 MB files then np.concatenate would peak at 16 MB.
    paths = [tmp_path / "a.gz", tmp_path / "b.gz"]
    for path in paths:
        write_idx(path, np.random.default_rng(0).integers(0, 256, (4096, 1024), dtype=np.uint8))
    tracemalloc.start()
    try:
        joined = read_idx_concat(paths)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < joined.nbytes + 2 * 2**20  # the result and a chunk of at most 1 MiB


@pytest.mark.parametrize("second, problem", [
    (np.zeros((2, 3), dtype=np.uint8), "uint8 (2, 3)"),
    (np.zeros((2, 2), dtype=np.int16), "int16 (2, 2)"),
])
def test_concat_refuses_mismatched_files(tmp_path, second, problem):
    write_idx(tmp_path / "a.gz", np.zeros((3, 2), dtype=np.uint8))
    write_idx(tmp_path / "b.gz", second)
    message = f"{tmp_path / 'b.gz'}: IDX header says {problem}, which cannot follow {tmp_path / 'a.gz'}'s uint8 (3, 2)"
    with pytest.raises(VaekitError, match="^" + re.escape(message)):
        read_idx_concat([tmp_path / "a.gz", tmp_path / "b.gz"])


def test_concat_of_nothing():
    with pytest.raises(VaekitError, match="paths is empty"):
        read_idx_concat([])


def test_gzip_is_told_by_content_not_name(tmp_path):
    (tmp_path / "packed.idx").write_bytes(valid_file(compress=True))
    (tmp_path / "plain.gz").write_bytes(valid_file(compress=False))
    for name in ["packed.idx", "plain.gz"]:
        np.testing.assert_array_equal(read_idx(tmp_path / name).ravel(), np.arange(12))


def test_big_endian_on_disk(tmp_path):
    write_idx(tmp_path / "a.idx", np.array([1, 256], dtype=np.int16))
    assert (tmp_path / "a.idx").read_bytes() == idx_bytes(0x0B, (2,), b"\x00\x01\x01\x00")


@pytest.mark.parametrize("content, problem", [
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
    (b"\x00\x00", "not an IDX file"),
    (b"", "not an IDX file"),
    (idx_bytes(0x07, (1,), b"\x00"), "unknown IDX type code 0x07"),
    (idx_bytes(0x08, (), b""), "0 dimensions"),
    (idx_bytes(0x08, (1,) * 9, b"\x00"), "9 dimensions"),
    (idx_bytes(0x08, (2, 0), b""), "empty dimension"),
    (idx_bytes(0x08, (3, 4), b"\x00" * 11), "truncated"),
    (idx_bytes(0x08, (3, 4), b"\x00" * 13), "trailing bytes"),
    (idx_bytes(0x0C, (3,), b"\x00" * 11), "truncated"),
    (idx_bytes(0x08, (1, 2, 3), b"")[:10], "truncated IDX header"),
])
@pytest.mark.parametrize("compress", [False, True])
def test_corrupt_files_are_refused(tmp_path, content, problem, compress):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(VaekitError, match=problem) as caught:
        read_idx(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_missing_file(tmp_path):
    with pytest.raises(VaekitError, match="cannot read"):
        read_idx(tmp_path / "nowhere.gz")


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    data = np.arange(4000, dtype=np.uint8)
    write_idx(path, data)
    packed = path.read_bytes()
    for cut in [len(packed) - 4, len(packed) // 2, 12]:
        path.write_bytes(packed[:cut])
        with pytest.raises(VaekitError, match=f"^{path}: "):
            read_idx(path)


def test_bad_crc(tmp_path):
    path = tmp_path / "crc.gz"
    packed = bytearray(valid_file(compress=True))
    packed[-8] ^= 0xFF  # the CRC-32 of the content sits 8 bytes from the end
    path.write_bytes(packed)
    with pytest.raises(VaekitError, match="CRC"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_huge_header_is_refused_before_allocating(tmp_path, compress):
    # A header claiming 10**12 values on a file of a few bytes.
    path = tmp_path / "liar.gz"
    content = idx_bytes(0x08, (10**6, 10**6), b"\x00" * 100)
    path.write_bytes(gzip.compress(content) if compress else content)
    tracemalloc.start()
    try:
        with pytest.raises(VaekitError, match="more than the file can hold"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_gzip_bomb_reads_no_more_than_promised(tmp_path):
    # 20 MB of zeros behind a header that promises 1 KB: refused without holding it all.
    path = tmp_path / "bomb.gz"
    compressor = gzip.GzipFile(path, "wb")
    compressor.write(idx_bytes(0x08, (1024,), b""))
    for _ in range(20):
        compressor.write(bytes(2**20))
    compressor.close()
    tracemalloc.start()
    try:
        with pytest.raises(VaekitError, match="trailing bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


@pytest.mark.parametrize("array, problem", [
    (np.zeros(3, dtype=np.uint16), "dtype"),
    (np.zeros(3, dtype=bool), "dtype"),
    (np.zeros((), dtype=np.uint8), "shape"),
    (np.zeros((2, 0), dtype=np.uint8), "shape"),
])
def test_write_refuses_what_idx_cannot_hold(tmp_path, array, problem):
    with pytest.raises(VaekitError, match=problem):
        write_idx(tmp_path / "a.gz", array)
    assert list(tmp_path.iterdir()) == []


def test_write_into_missing_folder(tmp_path):
    with pytest.raises(VaekitError, match="cannot write"):
        write_idx(tmp_path / "no" / "a.gz", np.zeros(3, dtype=np.uint8))


def test_write_replaces_atomically(tmp_path):
    path = tmp_path / "a.gz"
    write_idx(path, np.zeros(3, dtype=np.uint8))
    write_idx(path, np.ones(5, dtype=np.float32))
    np.testing.assert_array_equal(read_idx(path), np.ones(5, dtype=np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]


@FUZZ
@given(content=st.binary(max_size=200))
def test_fuzz_random_bytes(tmp_path, content):
    path = tmp_path / "fuzz"
    for prefix in [b"", b"\x00\x00", b"\x1f\x8b"]:  # also reach past the magic number
        path.write_bytes(prefix + content)
        check_read(path)


@FUZZ
@given(
    compress=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    keep=st.one_of(st.none(), st.integers(0, 10**6)),
    extra=st.binary(max_size=8),
)
def test_fuzz_mutated_valid_files(tmp_path, compress, edits, keep, extra):
    content = bytearray(valid_file(compress))
    for position, value in edits:
        content[position % len(content)] = value
    if keep is not None:
        content = content[: keep % (len(content) + 1)]
    path = tmp_path / "fuzz.gz"
    path.write_bytes(bytes(content) + extra)
    check_read(path)
