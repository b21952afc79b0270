"""Tests for vaekit.data.files: each format, the shape rules, every bad input, and fuzzing."""

import io
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vaekit.data import files
from vaekit.data.files import load_file
from vaekit.data.scaling import Scaler
from vaekit.errors import VaekitError


def expect_error(path, *words, named=None, **options):
    """Load `path`, expecting a one-line VaekitError that names it (or `named`) and holds `words`."""
    with pytest.raises(VaekitError) as info:
        load_file(path, **options)
    message = str(info.value)
    assert message.startswith(f"{named or path}: ")
    assert "\n" not in message and "; " in message  # what is wrong; how to fix it
    for word in words:
        assert word in message
    return message


def save_image(path, mode="L", size=(8, 6), color=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


# .npy


@pytest.mark.parametrize("shape, expected", [
    ((5, 7), (5, 7)),
    ((5, 8, 6), (5, 1, 8, 6)),
    ((5, 8, 6, 3), (5, 3, 8, 6)),
    ((5, 3, 8, 6), (5, 3, 8, 6)),
    ((5, 8, 6, 1), (5, 1, 8, 6)),
])
def test_npy_layouts_stay_memory_mapped(tmp_path, shape, expected):
    path = tmp_path / "data.npy"
    np.save(path, np.arange(np.prod(shape), dtype=np.float32).reshape(shape))
    data = load_file(path)
    assert data.x.shape == expected
    assert isinstance(data.x, np.memmap) and not data.x.flags.owndata
    assert data.y is None and data.classes is None


def test_npy_transpose_keeps_values(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 6, 3), dtype=np.uint8)
    np.save(tmp_path / "a.npy", images)
    x = load_file(tmp_path / "a.npy").x
    assert x.dtype == np.uint8
    np.testing.assert_array_equal(x, images.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("dtype, expected", [
    (np.uint8, np.uint8), (np.float32, np.float32), (np.float64, np.float64),
    (np.int64, np.float32), (np.int16, np.float32), (np.bool_, np.float32),
    (np.longdouble, np.float64),  # torch has no extended precision: it raised a TypeError in training
])
def test_dtypes(tmp_path, dtype, expected):
    np.save(tmp_path / "a.npy", np.ones((3, 4), dtype=dtype))
    assert load_file(tmp_path / "a.npy").x.dtype == expected


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">u2"])
def test_big_endian_arrays_come_in_native_byte_order(tmp_path, dtype):
    values = np.arange(12, dtype=dtype).reshape(3, 4)
    np.save(tmp_path / "a.npy", values)
    x = load_file(tmp_path / "a.npy").x
    assert x.dtype.isnative
    np.testing.assert_array_equal(x, values)


@pytest.mark.parametrize("array, words", [
    (np.zeros(5), ["1-D", "(5,)", "(N, D)"]),
    (np.zeros((2, 2, 2, 2, 2)), ["5-D"]),
    (np.zeros((0, 4)), ["no data"]),
    (np.zeros((3, 0)), ["no data"]),
    (np.zeros((2, 5, 5, 5)), ["channel"]),
    (np.array([[1.0, 2.0], [3.0, np.nan]]), ["NaN", "sample 1"]),
    (np.array([[np.inf, 2.0]]), ["infinite", "sample 0"]),
    # finite, but scaling overflowed (minmax's range of +-3e38 float32s; standard scaling's squares): an SVD
    # traceback after training, and a "finished" run that generated infinities
    (np.array([[3e38, -3e38]], dtype=np.float32), ["beyond +-1e+30", "too large to scale in float32"]),
    (np.array([[1.0, 2.0], [1e300, 0.0]]), ["beyond +-1e+30"]),
    (np.zeros((2, 2), dtype=np.complex64), ["complex64"]),
    (np.array([["a", "b"]]), ["<U1"]),
])
def test_npy_bad_arrays(tmp_path, array, words):
    np.save(tmp_path / "a.npy", array)
    expect_error(tmp_path / "a.npy", *words)


def test_nan_found_past_first_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_FINITE_CHUNK", 30)  # three rows of ten at a time
    array = np.zeros((100, 10), dtype=np.float32)
    array[98, 5] = np.inf
    np.save(tmp_path / "a.npy", array)
    expect_error(tmp_path / "a.npy", "sample 98")


def test_float16_infinities_are_found(tmp_path):
    """In float16 the 1e30 bound is itself inf, so inf passed as usable (and every float16 file warned of an overflow)."""
    import warnings

    array = np.random.default_rng(0).random((60, 5)).astype(np.float16)
    np.save(tmp_path / "ok.npy", array)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_file(tmp_path / "ok.npy").x.shape == (60, 5)
    array[3, 2] = np.inf
    np.save(tmp_path / "a.npy", array)
    expect_error(tmp_path / "a.npy", "has NaN or infinite values (first in sample 3)")
    np.save(tmp_path / "b.npy", np.full((4, 3), 1e300))  # float64: no cast, so no overflow warning above the line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expect_error(tmp_path / "b.npy", "too large to scale in float32")


def test_npy_written_by_python_2_loads_without_numpy_warning(tmp_path):
    import warnings

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.arange(12, dtype=np.float32).reshape(3, 4), version=(1, 0))
    raw = buf.getvalue()
    n = int.from_bytes(raw[8:10], "little")
    header = raw[10 : 10 + n].decode("latin1").replace("(3, 4)", "(3L, 4L)").rstrip().ljust(n - 1) + "\n"  # Python 2 longs
    (tmp_path / "old.npy").write_bytes(raw[:8] + n.to_bytes(2, "little") + header.encode("latin1") + raw[10 + n :])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's advice is for the file's writer, not the user's terminal
        assert load_file(tmp_path / "old.npy").x.shape == (3, 4)


def test_npy_refuses_pickles(tmp_path):
    np.save(tmp_path / "a.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    expect_error(tmp_path / "a.npy", "np.save")
    (tmp_path / "b.npy").write_bytes(pickle.dumps([1, 2, 3]))
    expect_error(tmp_path / "b.npy", "pickle")


def npy_header(shape, dtype="<f8"):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    return header.getvalue()


@pytest.mark.parametrize("shape, words", [
    ((10**6, 10**6), ["cut short", "shape (1000000, 1000000) of float64 (8,000,000,000,000 bytes) and 64 bytes"]),
    ((2**62, 4), ["cut short"]), ((10**30,), ["cut short"]), ((-1, 3), ["damaged header (shape (-1, 3))"])])
def test_huge_or_bad_header_shape_does_not_allocate(tmp_path, shape, words):
    (tmp_path / "a.npy").write_bytes(npy_header(shape) + bytes(64))
    expect_error(tmp_path / "a.npy", *words)
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as archive:
        archive.writestr("x.npy", npy_header(shape) + bytes(64))
    expect_error(tmp_path / "a.npz", "its array 'x' ", *words)


def test_a_file_cut_short_says_so(tmp_path):
    """A copy or download cut short: numpy said "mmap length is greater than file size" or "File is not a zip file"."""
    x = np.zeros((100, 8), np.float32)
    np.save(tmp_path / "a.npy", x)
    whole = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(whole[:-100])
    expect_error(tmp_path / "a.npy", "is cut short", "(3,200 bytes) and 3,100 bytes follow it", "copy it again")
    for version in (2, 0), (3, 0):  # numpy writes these for huge headers and for unicode field names
        with open(tmp_path / "v.npy", "wb") as f:
            np.lib.format.write_array(f, x, version=version)
        (tmp_path / "v.npy").write_bytes((tmp_path / "v.npy").read_bytes()[:-100])
        expect_error(tmp_path / "v.npy", "is cut short", "(3,200 bytes) and 3,100 bytes follow it")
    with zipfile.ZipFile(tmp_path / "b.npz", "w") as archive:  # a whole archive around a member cut short
        archive.writestr("x.npy", whole[:-100])
        archive.writestr("y.npy", whole)
    expect_error(tmp_path / "b.npz", "its array 'x' is cut short")
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(100))
    assert load_file(tmp_path / "c.npz").x.shape == (100, 8)
    (tmp_path / "c.npz").write_bytes((tmp_path / "c.npz").read_bytes()[:-30])
    expect_error(tmp_path / "c.npz", "not a whole .npz archive")
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as archive:  # the labels' array cut short
        archive.writestr("x.npy", whole)
        archive.writestr("y.npy", whole[:-100])
    expect_error(tmp_path / "d.npz", "its array 'y' is cut short")


def test_a_header_with_an_expression_says_so(tmp_path):
    """numpy's message showed the repr of a parser node: <ast.BinOp object at 0x7fe73e325e10>."""
    (tmp_path / "a.npy").write_bytes(npy_header((4, 3)).replace(b"(4, 3)", b"(2**2, 3)") + bytes(48))
    expect_error(tmp_path / "a.npy", "(ValueError: malformed node or string on line 1: an expression)")


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY", b"hello", npy_header((3, 4))[:30], npy_header((3, 4)) + bytes(5)])
def test_npy_corrupt_or_truncated(tmp_path, content):
    (tmp_path / "a.npy").write_bytes(content)
    expect_error(tmp_path / "a.npy", "np.save")


def test_transparency_is_dropped_with_a_warning(tmp_path, caplog):
    """The picture of an RGBA or LA image can lie in its alpha alone: convert() keeps the colour underneath."""
    glyph = np.zeros((4, 4), np.uint8)
    glyph[1:3, 1:3] = 255
    Image.fromarray(np.dstack([np.full((4, 4, 3), 255, np.uint8), glyph]), "RGBA").save(tmp_path / "a.png")
    Image.fromarray(np.full((4, 4), 9, np.uint8)).save(tmp_path / "b.png")
    with caplog.at_level("WARNING", logger="vaekit"):
        x = load_file(tmp_path).x
    assert x.shape == (2, 3, 4, 4) and "1 image(s) have transparency (first: a.png), which vaekit drops" in caplog.text
    caplog.clear()
    (tmp_path / "a.png").unlink()
    with caplog.at_level("WARNING", logger="vaekit"):
        load_file(tmp_path)
    assert not caplog.records


def test_a_folder_whose_images_lie_deeper_says_where(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / "b" / "x.png")
    expect_error(tmp_path, "only deeper (a/b/x.png)", "one per class")


def test_a_file_that_is_not_numpy_is_not_called_a_pickle(tmp_path):
    """np.load takes any file without NumPy's or zip's magic bytes for a pickle, and says so."""
    (tmp_path / "a.npy").write_text("time,value\n1,2\n")
    expect_error(tmp_path / "a.npy", "is not a NumPy file (it does not begin as np.save and np.savez files do)")


# .npz


def test_npz_default_keys_and_labels(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 3)), y=np.array([0, 2, 1, 2]), other=np.ones(2))
    data = load_file(tmp_path / "a.npz")
    assert data.x.shape == (4, 3)
    assert data.y.dtype == np.int64 and data.y.tolist() == [0, 2, 1, 2] and data.classes is None


def test_npz_only_array_and_key(tmp_path):
    np.savez(tmp_path / "one.npz", images=np.zeros((4, 5, 5), np.uint8))
    assert load_file(tmp_path / "one.npz").x.shape == (4, 1, 5, 5)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((4, 3)), y_train=np.arange(4), x_test=np.zeros((2, 3)))
    data = load_file(tmp_path / "mnist.npz", key="x_train")
    assert data.x.shape == (4, 3) and data.y.tolist() == [0, 1, 2, 3]
    data = load_file(tmp_path / "mnist.npz", key="x_test")
    assert data.x.shape == (2, 3) and data.y is None


def test_npz_string_labels_and_label_column(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)), names=np.array(["dog", "cat", "dog"]))
    data = load_file(tmp_path / "a.npz", label_column="names")
    assert data.y.tolist() == [1, 0, 1] and data.classes == ["cat", "dog"]


def test_npz_bad_keys(tmp_path):
    np.savez(tmp_path / "a.npz", a=np.zeros((3, 2)), b=np.zeros((3, 2)))
    expect_error(tmp_path / "a.npz", "'x'", "'a', 'b'", "--key")
    expect_error(tmp_path / "a.npz", "'c'", "'a', 'b'", "--key", key="c")
    expect_error(tmp_path / "a.npz", "'c'", "--label-column", key="a", label_column="c")
    np.savez(tmp_path / "empty.npz")
    expect_error(tmp_path / "empty.npz", "nothing")


@pytest.mark.parametrize("labels, words", [
    (np.array([0, 1]), ["2 labels for 3 samples"]),
    (np.array([0.5, 1, 2]), ["whole numbers"]),
    (np.array([-1, 1, 2]), ["whole numbers"]),
    (np.array([1e300, 1, 2]), ["whole numbers"]),
    (np.array([np.nan, 1, 2]), ["whole numbers"]),
    (np.zeros((3, 2)), ["shape (3, 2)"]),
])
def test_npz_bad_labels(tmp_path, labels, words):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)), y=labels)
    expect_error(tmp_path / "a.npz", *words)


def test_npz_refuses_object_arrays(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.array([None, 1], dtype=object))
    expect_error(tmp_path / "a.npz", "np.savez")


def test_npz_members_that_are_not_arrays_are_named(tmp_path):
    """np.load hands a member without the NumPy magic over as bytes: "'bytes' object has no attribute 'ndim'"."""
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as archive:  # a .zip renamed
        archive.writestr("x.csv", b"1,2\n")
    expect_error(tmp_path / "a.npz", "holds 'x.csv', which is not a NumPy array")
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((10, 3)))
    with zipfile.ZipFile(tmp_path / "b.npz", "w") as archive:
        archive.writestr("x.npy", buffer.getvalue())
        archive.writestr("y.npy", b"not an array")
    expect_error(tmp_path / "b.npz", "holds 'y.npy', which is not a NumPy array")


# .csv


def test_numbers_far_from_zero_keep_their_digits_until_scaled(tmp_path):
    """A CSV column near 1e6 with a spread of 1, and int64 timestamps: float32 would round them before the
    scaler shifts them (to 61 and 12 distinct values of 200)."""
    rng = np.random.default_rng(0)
    x = np.c_[1e6 + rng.normal(size=200), rng.normal(size=200)]
    np.savetxt(tmp_path / "far.csv", x, delimiter=",", header="a,b", comments="", fmt="%.17g")
    stamps = (1_700_000_000 + np.arange(200) * 7).reshape(-1, 1)
    np.save(tmp_path / "stamps.npy", stamps)
    for data, exact in ((load_file(tmp_path / "far.csv").x, x), (load_file(tmp_path / "stamps.npy").x, stamps)):
        scaled = Scaler.fit(data, "standard").transform(data)
        np.testing.assert_allclose(scaled, (exact - exact.mean(0)) / exact.std(0), atol=1e-5)
    np.save(tmp_path / "small.npy", stamps - stamps[0])  # below 2^24: float32 holds them exactly
    assert load_file(tmp_path / "small.npy").x.dtype == np.float32


def test_csv_with_header_and_label_name(tmp_path):
    (tmp_path / "a.csv").write_text("\ufefflabel,p0,p1\n3,0.5,1\n1,2,3\n\n")  # BOM as Excel writes it
    data = load_file(tmp_path / "a.csv", label_column="label")
    np.testing.assert_array_equal(data.x, [[0.5, 1], [2, 3]])
    assert data.x.dtype == np.float64 and data.y.tolist() == [3, 1] and data.classes is None
    assert data.columns == ["p0", "p1"]
    (tmp_path / "b.csv").write_text("p0, p1, label\n0.5, 1, 3\n")  # names after ", " as written by hand
    assert load_file(tmp_path / "b.csv", label_column="label").y.tolist() == [3]


def test_csv_without_header_label_by_index(tmp_path):
    (tmp_path / "a.csv").write_text("1,2,0\n3,4,1\n")
    data = load_file(tmp_path / "a.csv", label_column=-1)
    assert data.x.tolist() == [[1, 2], [3, 4]] and data.y.tolist() == [0, 1]
    assert load_file(tmp_path / "a.csv", label_column="0").y.tolist() == [1, 3]
    assert load_file(tmp_path / "a.csv").x.shape == (2, 3) and data.columns is None


@pytest.mark.parametrize("header", ["0,1,2", "1,2,3", " 0, 1, 2"])
def test_csv_header_of_column_numbers_is_a_header(tmp_path, header):
    """pandas writes unnamed columns' numbers as the header (DataFrame(x).to_csv(index=False)): not a row of data."""
    (tmp_path / "a.csv").write_text(f"{header}\n5,6,7\n8,9,10\n")
    data = load_file(tmp_path / "a.csv")
    assert data.x.tolist() == [[5, 6, 7], [8, 9, 10]] and data.columns == [c.strip() for c in header.split(",")]
    (tmp_path / "b.csv").write_text("0,1,2\n0,1,2\n")  # counting rows all through: data
    assert load_file(tmp_path / "b.csv").x.tolist() == [[0, 1, 2], [0, 1, 2]]
    (tmp_path / "c.csv").write_text("0,1\n5,6\n")  # two numbers may well be data
    assert load_file(tmp_path / "c.csv").x.tolist() == [[0, 1], [5, 6]]


def test_csv_pandas_row_index_is_not_a_feature(tmp_path):
    """DataFrame.to_csv() writes the row index first under an empty name: left out, whatever it holds."""
    (tmp_path / "a.csv").write_text(",0,1,2\n0,5,6,7\n1,8,9,10\n")
    data = load_file(tmp_path / "a.csv")
    assert data.x.tolist() == [[5, 6, 7], [8, 9, 10]] and data.columns == ["0", "1", "2"]
    (tmp_path / "b.csv").write_text(" ,a,kind,b\n2020-01-01,1,dog,2\nr7,3,cat,4\n")
    for label in ("kind", 2, -2):  # an index counts the file's columns, the row index's too
        data = load_file(tmp_path / "b.csv", label_column=label)
        assert data.x.tolist() == [[1, 2], [3, 4]] and data.columns == ["a", "b"] and data.classes == ["cat", "dog"]
    (tmp_path / "d.csv").write_text(",0,1,2\nr0,5,6,7\nr1,8,9,10\n")  # unnamed columns after a row index of names
    data = load_file(tmp_path / "d.csv")
    assert data.x.tolist() == [[5, 6, 7], [8, 9, 10]] and data.columns == ["0", "1", "2"]
    (tmp_path / "c.csv").write_text("a,,b\n1,2,3\n4,5,6\n")  # an empty name elsewhere: a column like any other
    assert load_file(tmp_path / "c.csv").x.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_csv_header_written_by_numpy_savetxt(tmp_path):
    """np.savetxt(header="a,b") writes "# a,b": the comment mark is no part of the first name."""
    np.savetxt(tmp_path / "a.csv", [[0, 1, 2], [1, 3, 4]], delimiter=",", header="kind,a,b")
    data = load_file(tmp_path / "a.csv", label_column="kind")
    assert data.x.tolist() == [[1, 2], [3, 4]] and data.columns == ["a", "b"] and data.y.tolist() == [0, 1]
    (tmp_path / "b.csv").write_text("#id,a\n1,2\n3,4\n")  # no savetxt mark: a name like any other
    assert load_file(tmp_path / "b.csv").columns == ["#id", "a"]


def test_csv_string_labels(tmp_path):
    (tmp_path / "a.csv").write_text("x1,x2,kind\n1,2,dog\n3,4,cat\n5,6, dog\n")
    data = load_file(tmp_path / "a.csv", label_column="kind")
    assert data.y.tolist() == [1, 0, 1] and data.classes == ["cat", "dog"]
    (tmp_path / "b.csv").write_text("1,2,dog\n3,4,cat\n")
    assert load_file(tmp_path / "b.csv", label_column=2).classes == ["cat", "dog"]


def test_bytes_labels_are_names(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)), y=np.array([b"dog", b"cat", b"dog"]))
    data = load_file(tmp_path / "a.npz")
    assert data.y.tolist() == [1, 0, 1] and data.classes == ["cat", "dog"]
    np.savez(tmp_path / "b.npz", x=np.zeros((2, 2)), y=np.array([b"\xff", b"a"]))
    expect_error(tmp_path / "b.npz", "labels of bytes that are not UTF-8 text")


@pytest.mark.parametrize("text, options, words", [
    ("", {}, ["no rows"]),
    ("\n\n", {}, ["no rows"]),
    ("a,b,c\n", {}, ["no data rows"]),
    ("a,b\n1,2\n3,x\n", {}, ["line 3", "column 'b'", "'x'", "--label-column"]),
    ("1,2\n3,\n", {}, ["line 2", "column '1'", "''"]),
    ("1,2\n3,4,5\n", {}, ["line 2", "3 fields"]),
    ("a,b\n1,2\n", {"label_column": "c"}, ["'c'", "'a', 'b'"]),
    ("1,2\n3,4\n", {"label_column": 2}, ["columns: '0', '1'"]),
    ("1,2,x\n3,4,y\n", {}, ["line 1", "column '2'", "'x'", "--label-column"]),
    ("1,nan\n3,4\n", {}, ["NaN", "sample 0"]),
    ("1,2\n3,4\n", {"key": "x"}, ["key='x'", "--key"]),
    ("1,2\n3,4\n", {"image_size": 8}, ["--image-size"]),
    ("a;b\n1;2\n", {}, ["line 2", "separated by ';', not commas", "save the file with commas"]),
    # a header above a row of no numbers: the row is at fault, not the header
    ("a,b,c\nx,y,z\n1,2,3\n", {}, ["line 2", "column 'a'", "'x'"]),
    ("kind,a\ncat,x\n", {"label_column": "kind"}, ["line 2", "column 'a'", "'x'"]),
    ("a,kind\n1,cat\n2, \n3,\n", {"label_column": "kind"}, ["2 empty labels (the first in sample 1)", "fill them in"]),
    ("1\t2\n3\t4\n", {}, ["separated by '\\t'"]),
    # decimal commas: the commas split the row into another number of fields, which was all it said
    ("a;b\n1,5;2,5\n", {}, ["line 2 has values separated by ';', not commas", "with commas between values"]),
])
def test_csv_bad_input(tmp_path, text, options, words):
    (tmp_path / "a.csv").write_text(text)
    expect_error(tmp_path / "a.csv", *words, **options)


def test_csv_lines_of_spaces_are_blank_lines(tmp_path):
    """A last line of spaces, as editors leave them, failed as "line 4 has 1 fields"."""
    (tmp_path / "a.csv").write_text("a,b\n1,2\n  \n3,4\n   \n")
    np.testing.assert_array_equal(load_file(tmp_path / "a.csv").x, [[1, 2], [3, 4]])


def test_csv_not_utf8(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"1,2\n\xff\xfe,3\n")
    expect_error(tmp_path / "a.csv", "UTF-8")


# folders of images


def test_folder_unlabeled_gray(tmp_path):
    for i in range(3):
        save_image(tmp_path / f"{i}.png", "L", color=i * 10)
    (tmp_path / "notes.txt").write_text("not an image")
    data = load_file(tmp_path)
    assert data.x.shape == (3, 1, 6, 8) and data.x.dtype == np.uint8
    assert data.x[2].max() == 20 and data.y is None and data.classes is None


def test_folder_of_16_bit_grey_pngs_is_scaled_to_8_bits(tmp_path):
    pixels = (np.arange(48).reshape(6, 8) * 1365).astype(np.uint16)  # 0 .. 64155
    Image.fromarray(pixels).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode == "I;16"
    data = load_file(tmp_path)
    assert data.x.shape == (1, 1, 6, 8)
    np.testing.assert_array_equal(data.x[0, 0], np.round(pixels / 257).astype(np.uint8))


def test_folder_of_grey_palette_images_is_grey(tmp_path):
    """A grey GIF or PNG-8 is a palette of greys: one channel, as its grey-mode twin (it was read as RGB)."""
    pixels = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)
    for name, palette in (("grey", [v for i in range(256) for v in (i, i, i)]), ("red", [v for i in range(256) for v in (i, 0, 0)])):
        image = Image.fromarray(pixels, "P")
        image.putpalette(palette)
        (tmp_path / name).mkdir()
        image.save(tmp_path / name / "a.png")
        image.save(tmp_path / name / "b.gif")
    grey = load_file(tmp_path / "grey")
    assert grey.x.shape == (2, 1, 6, 8) and (grey.x == pixels).all()
    red = load_file(tmp_path / "red")
    assert red.x.shape == (2, 3, 6, 8) and (red.x[:, 0] == pixels).all() and (red.x[:, 1:] == 0).all()


def test_folder_image_folder_labels_and_modes(tmp_path):
    save_image(tmp_path / "zebra" / "a.png", "RGBA", color=(255, 0, 0, 128))
    save_image(tmp_path / "ant" / "b.jpg", "L")
    save_image(tmp_path / "ant" / "c.bmp", "RGB")
    save_image(tmp_path / "ant" / "d.gif", "P")
    data = load_file(tmp_path)
    assert data.x.shape == (4, 3, 6, 8)
    assert data.y.tolist() == [0, 0, 0, 1] and data.classes == ["ant", "zebra"]
    assert data.x[3, :, 0, 0].tolist() == [255, 0, 0]


def test_folder_resize(tmp_path):
    save_image(tmp_path / "a.png", size=(8, 6))
    save_image(tmp_path / "b.png", size=(20, 30))
    assert load_file(tmp_path, image_size=4).x.shape == (2, 1, 4, 4)
    assert load_file(tmp_path, image_size=(5, 7)).x.shape == (2, 1, 5, 7)


def test_folder_bad_input(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    expect_error(tmp_path, "no images", ".png")
    save_image(tmp_path / "a.png", size=(8, 6))
    save_image(tmp_path / "b.png", size=(20, 30))
    expect_error(tmp_path, "mixed sizes", "8x6 in a.png", "20x30 in b.png", "--image-size")
    expect_error(tmp_path, "image_size=0", image_size=0)
    save_image(tmp_path / "cats" / "c.png")
    expect_error(tmp_path, "sub-folders", image_size=4)


def test_folder_unreadable_image(tmp_path):
    save_image(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    expect_error(tmp_path, "is not a readable image", "replace or remove", named=tmp_path / "b.png")


# anything else


def test_missing_and_unknown(tmp_path):
    expect_error(tmp_path / "nope.npy", "no such file", "check the path")
    (tmp_path / "a.txt").write_text("1,2")
    expect_error(tmp_path / "a.txt", "'.txt'", ".npy, .npz or .csv")


def test_user_files_are_not_modified(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(2, 3))
    before = (tmp_path / "a.npy").read_bytes()
    data = load_file(tmp_path / "a.npy")
    with pytest.raises(ValueError):
        data.x[0, 0] = 5  # read-only map
    assert (tmp_path / "a.npy").read_bytes() == before


# fuzzing: any bytes either load or raise VaekitError


def valid_bytes(suffix):
    buffer = io.BytesIO()
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    if suffix in (".png", ".gif", ".jpg"):
        Image.fromarray(np.arange(63, dtype=np.uint8).reshape(7, 9)).save(buffer, suffix[1:].replace("jpg", "jpeg"))
    elif suffix == ".npy":
        np.save(buffer, x)
    elif suffix == ".npz":
        np.savez_compressed(buffer, x=x, y=np.arange(3))
    else:
        buffer.write(b"a,b,c,label\n1,2,3,cat\n4,5.5,6,dog\n7,8,9e1,cat\n")
    return buffer.getvalue()


TOKENS = [b"(99999999999, 9999999999)", b"(-1,)", b"'|O'", b"'<U3'", b"True", b"nan", b",", b"\n", b'"', b"\x00"]


@st.composite
def mutated(draw, original):
    """`original` with a few bytes replaced, cut or inserted."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "cut", "insert", "token"]))
        if action == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[at:at] = draw(st.sampled_from(TOKENS))
    return bytes(data)


def loads_or_refuses(content, suffix, **options):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(content)
        try:
            data = load_file(folder if suffix in (".png", ".gif", ".jpg") else path, **options)
        except VaekitError as error:
            assert str(error).startswith((f"{path}: ", f"{folder}: ")) and "\n" not in str(error)
            return
        assert data.x.ndim in (2, 4) and len(data.x) > 0


FUZZ = settings(max_examples=200, deadline=None)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".png", ".gif", ".jpg"])
@FUZZ
@given(data=st.data())
def test_fuzz_mutated_files(suffix, data):
    options = {"label_column": "label"} if suffix == ".csv" else {}
    loads_or_refuses(data.draw(mutated(valid_bytes(suffix))), suffix, **options)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
@FUZZ
@given(content=st.binary(max_size=300))
def test_fuzz_random_bytes(suffix, content):
    loads_or_refuses(content, suffix)


@FUZZ
@given(text=st.text(alphabet="0123456789.-+e,\n\r\" abnif", max_size=200), label=st.sampled_from([None, 0, -1, "a"]))
def test_fuzz_csv_text(text, label):
    loads_or_refuses(text.encode(), ".csv", label_column=label)


def test_csv_is_parsed_a_block_at_a_time(tmp_path):
    """Not read whole into Python strings first (~60 bytes a cell, 20x the data): a 200k-row file needed 12 GB."""
    import tracemalloc

    for shape in [(5000, 100), (100000, 3)]:  # wide and narrow tables
        x = np.random.default_rng(0).integers(0, 256, shape)
        np.savetxt(tmp_path / "a.csv", x, fmt="%d", delimiter=",")
        tracemalloc.start()
        try:
            data = load_file(tmp_path / "a.csv")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_array_equal(data.x, x)
        assert peak < 2.5 * data.x.nbytes + (4 << 20), (shape, peak / data.x.nbytes)  # the rows and a block's text
