import dataclasses
import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from vaekit.data import catalog
from vaekit.data.idx import write_idx
from vaekit.errors import VaekitError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "x_train": ("train-images-idx3-ubyte.gz", np.full((6, 28, 28), 7, dtype=np.uint8)),
    "y_train": ("train-labels-idx1-ubyte.gz", np.arange(6, dtype=np.uint8)),
    "x_test": ("t10k-images-idx3-ubyte.gz", np.full((2, 28, 28), 9, dtype=np.uint8)),
    "y_test": ("t10k-labels-idx1-ubyte.gz", np.array([3, 4], dtype=np.uint8)),
}


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Empty search folders, and a small fake "mnist" whose hashes the registry now holds."""
    source = tmp_path / "source"
    source.mkdir()
    hashes = {}
    for key, (filename, array) in FILES.items():
        write_idx(source / filename, array)
        packed = (source / filename).read_bytes()
        content = gzip.decompress(packed)
        hashes[key] = catalog._File(hashlib.sha256(packed).hexdigest(), hashlib.sha256(content).hexdigest())
    fake = dataclasses.replace(
        catalog._SETS["mnist"], files=hashes, system_dirs=(str(tmp_path / "system" / "mnist"),)
    )
    monkeypatch.setitem(catalog._SETS, "mnist", fake)
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return {
        "source": source,
        "data": tmp_path / "data" / "mnist",
        "cache": tmp_path / "cache" / "vaekit" / "mnist",
        "system": tmp_path / "system" / "mnist",
    }


def put(source: Path, folder: Path) -> None:
    """Copy the four fake files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for filename, _ in FILES.values():
        shutil.copy(source / filename, folder / filename)


def source_of(name: str) -> str:
    return next(row["source"] for row in catalog.describe() if row["name"] == name)


def check_fake(sets: dict) -> None:
    for key, (_, array) in FILES.items():
        np.testing.assert_array_equal(sets[key], array)
    assert sets["x_train"].dtype == np.uint8 and sets["y_train"].dtype == np.int64
    assert sets["classes"] == [str(digit) for digit in range(10)]


@pytest.mark.parametrize("present, expected", [
    (["data", "cache", "system"], "data"),
    (["cache", "system"], "cache"),
    (["system"], "system"),
])
def test_lookup_order(places, present, expected):
    for where in present:
        put(places["source"], places[where])
    check_fake(catalog.load("mnist", offline=True))
    assert source_of("mnist") == str(places[expected])


def test_cache_is_used_when_vaekit_data_is_unset(places, monkeypatch):
    monkeypatch.delenv("VAEKIT_DATA")
    put(places["source"], places["cache"])
    check_fake(catalog.load("mnist", offline=True))
    assert source_of("mnist") == str(places["cache"])


def test_wrong_copy_is_skipped(places):
    put(places["source"], places["cache"])
    places["data"].mkdir(parents=True)
    write_idx(places["data"] / FILES["x_train"][0], np.zeros((6, 28, 28), dtype=np.uint8))
    check_fake(catalog.load("mnist", offline=True))


def test_wrong_copy_offline_is_an_error(places):
    places["data"].mkdir(parents=True)
    write_idx(places["data"] / FILES["x_train"][0], np.zeros((6, 28, 28), dtype=np.uint8))
    with pytest.raises(VaekitError, match="does not match the published SHA-256"):
        catalog.load("mnist", offline=True)


def test_recompressed_copy_is_accepted_by_content(places, monkeypatch):
    put(places["source"], places["system"])
    filename = FILES["x_train"][0]
    content = gzip.decompress((places["source"] / filename).read_bytes())
    (places["system"] / filename).write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))
    check_fake(catalog.load("mnist", offline=True))
    # Without a published content hash, only the official .gz bytes are trusted.
    files = dict(catalog._SETS["mnist"].files)
    files["x_train"] = dataclasses.replace(files["x_train"], idx_sha256=None)
    monkeypatch.setitem(catalog._SETS, "mnist", dataclasses.replace(catalog._SETS["mnist"], files=files))
    with pytest.raises(VaekitError, match="does not match"):
        catalog.load("mnist", offline=True)


def test_missing_offline(places):
    with pytest.raises(VaekitError, match="offline") as caught:
        catalog.load("mnist", offline=True)
    assert str(caught.value).startswith(str(places["data"] / FILES["x_train"][0]))
    assert not places["data"].exists()


@pytest.mark.parametrize("vaekit_data", [True, False])
def test_download_destination_and_addresses(places, monkeypatch, vaekit_data):
    if not vaekit_data:
        monkeypatch.delenv("VAEKIT_DATA")
    calls = []

    def fake_fetch(urls, dest, sha256, *, offline, progress):
        calls.append((urls, dest))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(places["source"] / dest.name, dest)
        return str(dest)

    monkeypatch.setattr(catalog, "fetch", fake_fetch)
    check_fake(catalog.load("mnist", progress=False))
    folder = places["data" if vaekit_data else "cache"]
    assert [dest for _, dest in calls] == [folder / filename for filename, _ in FILES.values()]
    assert calls[0][0] == [
        "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        "https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz",
    ]
    calls.clear()
    check_fake(catalog.load("mnist", offline=True))  # now on disk: no more downloads
    assert calls == []


def test_load_joined(places):
    put(places["source"], places["cache"])
    joined = catalog.load_joined("mnist", offline=True)
    expected = {key: array for key, (_, array) in FILES.items()}
    np.testing.assert_array_equal(joined["x"], np.concatenate([expected["x_train"], expected["x_test"]]))
    np.testing.assert_array_equal(joined["y"], np.concatenate([expected["y_train"], expected["y_test"]]))
    assert joined["x"].dtype == np.uint8 and joined["y"].dtype == np.int64
    assert joined["n_test"] == 2 and joined["classes"] == catalog.class_names("mnist")


def test_unknown_name():
    for call in [catalog.load, catalog.class_names]:
        with pytest.raises(VaekitError, match="unknown data set 'cifar'; choose one of fashion-mnist, mnist, kmnist"):
            call("cifar")


def test_registry():
    assert catalog.NAMES == ("fashion-mnist", "mnist", "kmnist")
    assert catalog.class_names("fashion-mnist")[:2] == ["T-shirt/top", "Trouser"]
    assert catalog.class_names("kmnist") == ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    for spec in catalog._SETS.values():
        assert len(spec.classes) == 10 and len(spec.urls) >= 2
        for file in spec.files.values():
            for sha in [file.gz_sha256, file.idx_sha256]:
                assert sha is None or (len(sha) == 64 and int(sha, 16) >= 0)


def test_describe_checks_the_copies_on_disk(places):
    put(places["source"], places["data"])
    assert next(r for r in catalog.describe() if r["name"] == "mnist")["cached"]
    put(places["source"], places["cache"])  # a good copy further down the search path
    (places["data"] / FILES["y_test"][0]).write_bytes(b"corrupt")
    mnist = next(r for r in catalog.describe() if r["name"] == "mnist")
    assert mnist["cached"] and not mnist["damaged"]  # loading takes the good copy
    (places["cache"] / FILES["y_test"][0]).write_bytes(b"corrupt too")
    mnist = next(r for r in catalog.describe() if r["name"] == "mnist")
    assert not mnist["cached"] and mnist["damaged"]


def test_describe(places):
    rows = catalog.describe()
    assert [row["name"] for row in rows] == list(catalog.NAMES)
    mnist = rows[1]
    assert mnist == {"name": "mnist", "n_train": 60000, "n_test": 10000, "shape": (28, 28),
                     "cached": False, "damaged": False, "source": "https://ossci-datasets.s3.amazonaws.com/mnist/"}


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sets = catalog.load("fashion-mnist", offline=True)
    assert sets["x_train"].shape == (60000, 28, 28) and sets["x_train"].dtype == np.uint8
    assert sets["x_test"].shape == (10000, 28, 28)
    assert sets["y_train"].shape == (60000,) and sets["y_test"].shape == (10000,)
    assert set(np.unique(sets["y_train"])) == set(range(10))
    assert sets["classes"][9] == "Ankle boot"
    assert source_of("fashion-mnist") == str(DEBIAN)


def test_datasets_download_fetches_before_listing(places, monkeypatch):
    from click.testing import CliRunner

    from vaekit.cli import cli

    def fake_fetch(urls, dest, sha256, *, offline, progress):
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(places["source"] / dest.name, dest)
        return str(dest)

    monkeypatch.setattr(catalog, "fetch", fake_fetch)
    result = CliRunner().invoke(cli, ["datasets", "--download", "mnist", "--download", "digits"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("mnist "))
    assert str(places["data"]) in row and row.endswith("yes")  # on disk now, where it was saved
    result = CliRunner().invoke(cli, ["datasets", "--download", "cifar"])
    assert result.exit_code == 2 and "unknown data set 'cifar'" in result.stderr
