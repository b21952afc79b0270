"""The commands that use a run folder: encode, decode, reconstruct, generate, interpolate, denoise, score."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vaekit import checkpoint
from vaekit.cli import cli
from vaekit.config import DataConfig, ModelConfig, TrainConfig
from vaekit.data.scaling import Scaler
from vaekit.models import build_model

PNG = b"\x89PNG\r\n\x1a\n"
N_TEST = 359  # digits' test split under the default seed and fractions


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def fails(*args, message: str):
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error: "), result.stderr
    assert message in lines[0], lines[0]
    return result


def untrained_run(folder: Path, model: str, data: DataConfig, shape, scaler: Scaler, **cfg) -> Path:
    """A run folder around fresh weights: fast, and enough for the commands' plumbing."""
    torch.manual_seed(0)
    model_cfg = ModelConfig(model=model, input_shape=shape, latent_dim=2, hidden=(8,), **cfg).validate()
    folder.mkdir(parents=True)
    checkpoint.save_run(folder, build_model(model_cfg), model_cfg, TrainConfig(), data, scaler, {})
    return folder


@pytest.fixture(scope="module")
def vae(digits_run):
    return digits_run  # a VAE trained (briefly) on digits, latent_dim 4


@pytest.fixture(scope="module")
def dae(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "dae"
    return untrained_run(folder, "dae", DataConfig(), (1, 8, 8), Scaler(0.0, 16.0, True, "minmax"), noise="gaussian:0.3")


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    from vaekit.data import catalog

    if not any(d["name"] == "fashion-mnist" and d["cached"] for d in catalog.describe()):
        pytest.skip("no local copy of Fashion-MNIST (the Debian package dataset-fashion-mnist has one)")
    folder = tmp_path_factory.mktemp("runs") / "fashion"
    return untrained_run(folder, "vae", DataConfig(name="fashion-mnist"), (1, 28, 28), Scaler(0.0, 255.0, False, "uint8"))


# -- encode -------------------------------------------------------------------------------------


def test_encode_writes_the_means_of_the_test_split(vae, tmp_path):
    result = ok("encode", vae, "digits", "-o", tmp_path / "z.npy")
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (N_TEST, 4) and "wrote" in result.output
    ok("encode", vae, "digits", "--split", "all", "--sample", "-o", tmp_path / "s.npy")
    assert np.load(tmp_path / "s.npy").shape == (1797, 4)


def test_encode_csv_with_logvar(vae, tmp_path):
    ok("encode", vae, "digits", "--with-logvar", "--limit", "5", "-o", tmp_path / "z.csv")
    lines = (tmp_path / "z.csv").read_text().splitlines()
    assert lines[0] == "index,label,z0,z1,z2,z3,logvar0,logvar1,logvar2,logvar3" and len(lines) == 6


def test_encode_csv_rows_say_which_example(vae, tmp_path):
    """A --split or --limit leaves out rows of INPUT: each .csv row names its example, and decode skips the names."""
    from vaekit.data.datasets import load_data

    data = load_data(DataConfig())
    ok("encode", vae, "digits", "--split", "val", "--limit", "4", "-o", tmp_path / "z.csv")
    ok("encode", vae, "digits", "--split", "val", "--limit", "4", "-o", tmp_path / "z.npy")
    table = np.loadtxt(tmp_path / "z.csv", delimiter=",", skiprows=1)
    index = data.splits["val"][:4]
    np.testing.assert_array_equal(table[:, 0], index)
    np.testing.assert_array_equal(table[:, 1], data.y[index])
    np.testing.assert_array_equal(table[:, 2:].astype(np.float32), np.load(tmp_path / "z.npy"))
    ok("decode", vae, tmp_path / "z.csv", "-o", tmp_path / "x.npy")
    ok("decode", vae, tmp_path / "z.npy", "-o", tmp_path / "y.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), np.load(tmp_path / "y.npy"))


def test_encode_errors(vae, dae, tmp_path):
    fails("encode", dae, "digits", "--sample", "-o", tmp_path / "z.npy", message="need a VAE")
    fails("encode", vae, "digits", "-o", tmp_path / "z.txt", message="unknown output type .txt; use one of .npy, .csv")
    fails("encode", vae, "digits", "-o", tmp_path / "missing" / "z.npy", message="does not exist")
    fails("encode", vae, "nonsense", "-o", tmp_path / "z.npy", message="no such data set or file")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["encode", "generate", "score", "evaluate"])
def test_device_and_seed_are_checked(vae, tmp_path, command):
    args = {"encode": ["digits"], "score": ["digits"], "generate": [], "evaluate": []}[command]
    out = [] if command == "evaluate" else ["-o", tmp_path / "out.npy" if command != "score" else tmp_path / "s.csv"]
    fails(command, vae, *args, *out, "--device", "tpu", message="--device tpu is not one of auto, cpu, cuda")
    if not torch.cuda.is_available():  # cuda:N picks a GPU, where there is one
        fails(command, vae, *args, *out, "--device", "cuda:1", message="--device cuda:1: no CUDA GPU is visible")
    fails(command, vae, *args, *out, "--seed", 2**64, message="is not in the range 0<=x<=4294967295")
    assert not any(tmp_path.iterdir())


def test_no_command_writes_over_its_input(vae, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).random((30, 64)) * 16)
    before = x.read_bytes()
    for command in ("encode", "reconstruct", "denoise --noise mask:0.3"):
        fails(*command.split(), vae, x, "--split", "all", "-o", x, message="is the input file itself")
    fails("interpolate", vae, x, "--pairs", "0:1", "-o", tmp_path / "." / "x.npy", message="is the input file itself")
    ok("encode", vae, x, "--split", "all", "-o", tmp_path / "z.npy")
    fails("decode", vae, tmp_path / "z.npy", "-o", tmp_path / "z.npy", message="is the input file itself")
    assert x.read_bytes() == before and np.load(tmp_path / "z.npy").shape == (30, 4)


def test_no_command_writes_over_the_data_its_run_was_trained_on(tmp_path):
    """`generate RUN -o data.npy` replaced the user's data with samples (and the run could no longer
    find what it was trained on); `-o` inside its image folder added an image of another size to it."""
    from PIL import Image

    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).random((30, 6)).astype(np.float32))
    run_npy = untrained_run(tmp_path / "run-npy", "vae", DataConfig(name=str(x)), (6,), Scaler(0.0, 1.0, True, "minmax"))
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(images / "0.png")
    run_png = untrained_run(tmp_path / "run-png", "vae", DataConfig(name=str(images)), (1, 8, 8), Scaler(0.0, 255.0, True, "uint8"))
    before = x.read_bytes()
    fails("generate", run_npy, "-n", 3, "-o", x, message=f"is the file this run was trained on ({x}), and writing it "
                                                          "would replace your data")
    np.save(tmp_path / "z.npy", np.zeros((2, 2), np.float32))
    fails("decode", run_npy, tmp_path / "z.npy", "-o", tmp_path / "." / "x.npy", message="is the file this run was trained on")
    fails("generate", run_png, "-n", 1, "-o", images / "new.png", message=f"is inside the image folder this run was "
                                                                          f"trained on, {images}, whose images it would join")
    assert x.read_bytes() == before and sorted(p.name for p in images.iterdir()) == ["0.png"]
    ok("generate", run_npy, "-n", 3, "-o", tmp_path / "samples.npy")


def test_csv_outputs_are_utf8_whatever_the_class_names(tmp_path):
    """np.savetxt wrote the rows in latin-1 under a UTF-8 header: 猫 raised UnicodeEncodeError, and café
    came out as a byte that UTF-8 readers (decode among them) refused."""
    from PIL import Image

    images = tmp_path / "images"
    for i, name in enumerate(["café", "猫"]):
        (images / name).mkdir(parents=True)
        Image.fromarray(np.full((8, 8), 100 * i, np.uint8)).save(images / name / "0.png")
    run_png = untrained_run(tmp_path / "run", "vae", DataConfig(name=str(images)), (1, 8, 8), Scaler(0.0, 255.0, True, "uint8"))
    for command in ("score", "encode"):
        ok(command, run_png, images, "--split", "all", "-o", tmp_path / f"{command}.csv")
        rows = (tmp_path / f"{command}.csv").read_text(encoding="utf-8").splitlines()
        assert [row.split(",")[1] for row in rows[1:]] == ["café", "猫"], rows


def test_no_command_writes_into_its_input_folder(vae, tmp_path, monkeypatch):
    from PIL import Image

    images = tmp_path / "images"
    (images / "a").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((8, 8), 30 * i, dtype=np.uint8)).save(images / "a" / f"{i}.png")
    before = sorted(images.rglob("*"))
    for out in (images / "out.png", images / "a" / "out.npy", tmp_path / "." / "images" / "x.csv"):
        fails("reconstruct", vae, images, "-o", out, message="is inside the input folder")
    assert sorted(images.rglob("*")) == before
    (images / "a" / "link.png").symlink_to(tmp_path / "elsewhere.png")  # writing replaces the link: inside
    fails("reconstruct", vae, images, "-o", images / "a" / "link.png", message="is inside the input folder")
    assert not (tmp_path / "elsewhere.png").exists() and (images / "a" / "link.png").is_symlink()
    ok("reconstruct", vae, images, "-o", tmp_path / "out.png")
    assert sorted(images.rglob("*")) == sorted(before + [images / "a" / "link.png"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()  # a folder named as a data set: the named set is the input, not the folder
    ok("encode", vae, "digits", "-o", Path("digits") / "z.npy")


def test_csv_output_holds_the_npy_outputs_numbers(tmp_path):
    """Every float32 digit: far from 0 (a sensor's offset), 6 significant digits would move values by units."""
    offset = np.array([1234567.0, -7654321.0])
    run_dir = untrained_run(tmp_path / "run", "vae", DataConfig(), (2,), Scaler(offset.tolist(), [100.0, 50.0], False, "standard"))
    x = tmp_path / "x.npy"
    np.save(x, (offset + np.random.default_rng(0).normal(0, 100, (5, 2))).astype(np.float32))
    for kind in ("npy", "csv"):
        ok("reconstruct", run_dir, x, "--split", "all", "-o", tmp_path / f"r.{kind}")
    table = np.loadtxt(tmp_path / "r.csv", delimiter=",", skiprows=1, dtype=np.float32)
    assert np.array_equal(table, np.load(tmp_path / "r.npy"))


def test_flat_or_few_examples_in_every_output_format(vae, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).random((2, 64)) * 16)  # two flat examples: no split possible, none needed
    ok("encode", vae, x, "--split", "all", "-o", tmp_path / "z.npy")
    ok("reconstruct", vae, x, "--split", "all", "-o", tmp_path / "r.png")
    ok("denoise", vae, x, "--split", "all", "--noise", "mask:0.3", "-o", tmp_path / "d.png")
    ok("interpolate", vae, x, "--pairs", "0:1", "-o", tmp_path / "i.png")
    ok("score", vae, x, "--split", "all", "-o", tmp_path / "s.csv")
    assert np.load(tmp_path / "z.npy").shape == (2, 4)
    assert all((tmp_path / name).read_bytes().startswith(PNG) for name in ("r.png", "d.png", "i.png"))


def test_an_output_that_cannot_be_replaced_is_one_line_and_left_as_it_was(vae, tmp_path, monkeypatch):
    from vaekit import fileio

    out = tmp_path / "z.npy"
    out.write_bytes(b"the user's file")

    def refuse(src, dst):  # as for a file marked immutable (chattr +i), which even root cannot replace
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(fileio.os, "replace", refuse)
    fails("encode", vae, "digits", "-o", out, message=f"{out}: Operation not permitted; check the path")
    assert out.read_bytes() == b"the user's file" and [p.name for p in tmp_path.iterdir()] == ["z.npy"]


def test_a_full_disk_names_the_output_and_the_cause(vae, tmp_path, monkeypatch):
    """numpy's short write said only "320000 requested and 75744 written; check the path and its permissions"."""
    import numpy.lib.format

    def short_write(f, array, *args, **kwargs):
        raise OSError(f"{array.nbytes} requested and 75744 written")

    monkeypatch.setattr(numpy.lib.format, "write_array", short_write)
    fails("generate", vae, "-n", 4, "-o", tmp_path / "g.npy",
          message=f"{tmp_path / 'g.npy'}: No space left on device; free some space there, or pick another place")
    assert not any(tmp_path.iterdir())


def test_out_of_memory_is_one_line(vae, tmp_path):
    fails("generate", vae, "-n", 2**31 - 1, "-o", tmp_path / "g.npy", message="out of memory; ask for less")  # 550 GB
    assert not any(tmp_path.iterdir())


def test_a_run_whose_config_names_reading_options_for_a_named_set_still_works(vae, tmp_path):
    import json
    import shutil

    run = tmp_path / "old"
    shutil.copytree(vae, run)
    config = json.loads((run / "config.json").read_text())
    config["data"]["image_size"] = 16  # older vaekit let `train --image-size 16` through on digits, and saved it
    (run / "config.json").write_text(json.dumps(config))
    ok("encode", run, "digits", "-o", tmp_path / "z.npy")
    fails("encode", run, "digits", "--image-size", 16, "-o", tmp_path / "z2.npy",
          message="--image-size 16 is for reading files and image folders, not the named data set digits")


def test_encode_a_file_checks_its_shape(vae, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((30, 64)) * 16)
    ok("encode", vae, tmp_path / "x.npy", "--split", "all", "-o", tmp_path / "z.npy")  # flat images are fine
    assert np.load(tmp_path / "z.npy").shape == (30, 4)
    np.save(tmp_path / "bad.npy", np.zeros((30, 10)))
    fails("encode", vae, tmp_path / "bad.npy", "-o", tmp_path / "z2.npy",
          message="bad.npy: input has shape (30, 10) but the model expects (N, 1, 8, 8)")
    assert not (tmp_path / "z2.npy").exists()


# -- decode -------------------------------------------------------------------------------------


def test_decode_npy_csv_and_png(vae, tmp_path):
    ok("encode", vae, "digits", "-o", tmp_path / "z.npy")
    ok("encode", vae, "digits", "--limit", "3", "-o", tmp_path / "z.csv")
    ok("decode", vae, tmp_path / "z.npy", "-o", tmp_path / "x.npy")
    assert np.load(tmp_path / "x.npy").shape == (N_TEST, 1, 8, 8)
    ok("decode", vae, tmp_path / "z.csv", "-o", tmp_path / "x.csv")
    assert len((tmp_path / "x.csv").read_text().splitlines()) == 4
    ok("decode", vae, tmp_path / "z.npy", "-o", tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes().startswith(PNG)
    # saved again by Excel as "CSV UTF-8", with a byte-order mark: its first code was taken for a header and
    # dropped, or (with encode's header) the index column was read as a code
    codes = (tmp_path / "z.csv").read_text()
    assert codes.startswith("index,label,z0,")
    bare = "".join(line.split(",", 2)[2] + "\n" for line in codes.splitlines()[1:])  # the codes alone, no header
    for text in (codes, bare):
        (tmp_path / "bom.csv").write_text(text, encoding="utf-8-sig")
        ok("decode", vae, tmp_path / "bom.csv", "-o", tmp_path / "xb.csv")
        assert (tmp_path / "xb.csv").read_text() == (tmp_path / "x.csv").read_text()


def test_decode_errors(vae, tmp_path):
    ok("encode", vae, "digits", "--limit", "3", "--with-logvar", "-o", tmp_path / "zl.csv")
    fails("decode", vae, tmp_path / "zl.csv", "-o", tmp_path / "x.npy",
          message="latents have shape (3, 8) but the model expects (N, 4)")
    fails("decode", vae, tmp_path / "none.npy", "-o", tmp_path / "x.npy", message="no such file")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")  # numpy's own message advised allow_pickle=True
    fails("decode", vae, tmp_path / "junk.npy", "-o", tmp_path / "x.npy", message="junk.npy: not a .npy file")
    (tmp_path / "empty.npy").write_bytes(b"")  # an EOFError, which click took for Ctrl-D: "interrupted", exit 130
    fails("decode", vae, tmp_path / "empty.npy", "-o", tmp_path / "x.npy", message="empty.npy: not a .npy file")
    np.save(tmp_path / "cut.npy", np.zeros((3, 4), np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:20])  # a header cut short
    fails("decode", vae, tmp_path / "cut.npy", "-o", tmp_path / "x.npy", message="cut.npy: cannot read codes")
    ok("encode", vae, "digits", "--limit", "3", "-o", tmp_path / "z.npy")
    fails("decode", vae, tmp_path / "z.npy", "-o", tmp_path / "x.png", "--label", "1", message="needs a conditional model")
    np.save(tmp_path / "znan.npy", np.array([[0, 0, 0, 0], [0, np.nan, 0, 0]], dtype=np.float32))
    fails("decode", vae, tmp_path / "znan.npy", "-o", tmp_path / "x.npy", message="a NaN or infinite value in row 1")
    (tmp_path / "zinf.csv").write_text("inf,0,0,0\n1,2,3,4\n")  # the first row was taken for a header and dropped
    fails("decode", vae, tmp_path / "zinf.csv", "-o", tmp_path / "x.npy", message="a NaN or infinite value in row 0")
    (tmp_path / "zgap.csv").write_text("1,2,,4\n1,2,3,4\n")
    fails("decode", vae, tmp_path / "zgap.csv", "-o", tmp_path / "x.npy", message="zgap.csv: cannot read codes")
    (tmp_path / "empty.csv").write_text("")
    fails("decode", vae, tmp_path / "empty.csv", "-o", tmp_path / "x.npy", message="empty.csv: holds no codes")
    assert not (tmp_path / "x.npy").exists() and not (tmp_path / "x.png").exists()


# -- reconstruct --------------------------------------------------------------------------------


def test_reconstruct(vae, tmp_path):
    ok("reconstruct", vae, "digits", "-o", tmp_path / "r.npy")
    r = np.load(tmp_path / "r.npy")
    assert r.shape == (N_TEST, 1, 8, 8) and r.max() > 1  # original units: grey levels 0..16
    ok("reconstruct", vae, "digits", "-o", tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes().startswith(PNG)
    ok("reconstruct", vae, "digits", "--split", "train", "--limit", "2", "-o", tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().startswith("x0,x1,")


def test_reconstruct_errors(vae, tmp_path):
    fails("reconstruct", vae, "digits", "--split", "nope", "-o", tmp_path / "r.npy", message="--split")
    fails("reconstruct", vae, "digits", "-o", tmp_path / "r", message="unknown output type (no suffix)")
    fails("reconstruct", vae, "digits", "-o", tmp_path, message="is a folder")


# -- generate -----------------------------------------------------------------------------------


def test_generate(vae, tmp_path):
    result = ok("generate", vae, "-n", "12", "--seed", "3", "-o", tmp_path / "g.npy")
    assert "warning" not in result.stderr
    g = np.load(tmp_path / "g.npy")
    assert g.shape == (12, 1, 8, 8)
    ok("generate", vae, "-n", "12", "--seed", "3", "-o", tmp_path / "g2.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "g2.npy"), g)
    ok("generate", vae, "-n", "20", "--temperature", "0.5", "-o", tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes().startswith(PNG)


def test_generate_from_an_ae_warns(dae, tmp_path):
    result = ok("generate", dae, "-n", "4", "-o", tmp_path / "g.png")
    warning = [line for line in result.stderr.splitlines() if line.startswith("vaekit: warning: ")]
    assert len(warning) == 1 and "not a distribution" in warning[0]


def test_generate_errors(vae, tmp_path):
    fails("generate", vae, "-n", "0", "-o", tmp_path / "g.png", message="error: -n 0 must be a positive integer")  # as typed
    fails("generate", vae, "--temperature", "nan", "-o", tmp_path / "g.png", message="error: --temperature nan must be")
    fails("generate", vae, "--temperature", "-1", "-o", tmp_path / "g.png", message="--temperature -1.0")
    # torch's "Maximum allowed dimension exceeded" before
    fails("generate", vae, "-n", 10**21, "-o", tmp_path / "g.png", message="-n 1000000000000000000000 must be a "
                                                                           "positive integer, at most 2147483647")
    fails("interpolate", vae, "digits", "--pairs", "0:1", "--steps", 10**21, "-o", tmp_path / "g.png",
          message="--steps 1000000000000000000000 must be an integer from 2 to 2147483647")
    fails("generate", vae, "-o", tmp_path / "g.csv.gz", message="unknown output type .gz")
    fails("generate", tmp_path / "nowhere", "-o", tmp_path / "g.png", message="no such run folder")
    fails("generate", vae / "config.json", "-o", tmp_path / "g.png",
          message=f"config.json: a file, not a run folder; pass the folder that holds it ({vae})")
    ok("encode", vae, "digits", "--limit", "2", "-o", tmp_path / "z.csv")
    fails("decode", tmp_path / "z.csv", vae, "-o", tmp_path / "x.npy",  # the arguments swapped
          message="z.csv: a file, not a run folder; pass a folder written by `vaekit train` (RUN comes first)")
    assert not (tmp_path / "g.png").exists()


# -- interpolate --------------------------------------------------------------------------------


def test_interpolate(vae, tmp_path):
    ok("interpolate", vae, "digits", "--pairs", "0:1,2:3", "--steps", "5", "-o", tmp_path / "s.npy")
    assert np.load(tmp_path / "s.npy").shape == (2, 5, 1, 8, 8)
    ok("interpolate", vae, "digits", "--pairs", "0:1796", "--slerp", "-o", tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes().startswith(PNG)


def test_interpolate_errors(vae, dae, tmp_path):
    fails("interpolate", vae, "digits", "--pairs", "0:1797", "-o", tmp_path / "s.png", message="example 1797 is out of range")
    fails("interpolate", vae, "digits", "--pairs", "0-1", "-o", tmp_path / "s.png", message="is not i:j")
    fails("interpolate", vae, "digits", "--pairs", "0:1", "--steps", "1", "-o", tmp_path / "s.png", message="--steps 1 must be")
    fails("interpolate", dae, "digits", "--pairs", "0:1", "--slerp", "-o", tmp_path / "s.png", message="drop --slerp")
    fails("interpolate", vae, "digits", "-o", tmp_path / "s.png", message="--pairs")


# -- denoise ------------------------------------------------------------------------------------


def test_denoise(vae, dae, tmp_path):
    ok("denoise", vae, "digits", "--noise", "gaussian:0.5", "-o", tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes().startswith(PNG)
    result = ok("denoise", dae, "digits", "--limit", "10", "-o", tmp_path / "d.npy")  # a DAE's own noise by default
    assert "gaussian:0.3" in result.output and np.load(tmp_path / "d.npy").shape == (10, 1, 8, 8)


def test_denoise_errors(vae, tmp_path):
    fails("denoise", vae, "digits", "-o", tmp_path / "d.png", message="pass --noise")
    fails("denoise", vae, "digits", "--noise", "blur:2", "-o", tmp_path / "d.png", message="unknown corruption")


# -- score --------------------------------------------------------------------------------------


def test_score_vae_and_ae(vae, dae, tmp_path):
    result = ok("score", vae, "digits", "-o", tmp_path / "s.csv")
    assert "mean neg_elbo" in result.output and "(over 1 posterior draw shared by every example;" in result.output
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "index,label,mse,recon,kl,neg_elbo,outside" and len(lines) == N_TEST + 1
    table = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 5], table[:, 3] + table[:, 4], rtol=1e-4)
    ok("score", dae, "digits", "--split", "all", "-o", tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_text().splitlines()[0] == "index,label,mse,recon,outside"


def test_score_labels_are_the_class_names(tmp_path):
    """Named classes are written by name, as --label takes them, quoted where a name holds a comma."""
    rng = np.random.default_rng(0)
    kinds = ["cat", '"dog, big"', '"dog, big"']  # quoted in the file: the name holds a comma
    rows = [f"{kinds[i % 3]},{','.join(map(str, rng.normal(size=4).round(3)))}" for i in range(60)]
    (tmp_path / "pets.csv").write_text("kind,a,b,c,d\n" + "\n".join(rows) + "\n")
    ok("train", "--data", tmp_path / "pets.csv", "--label-column", "kind", "--epochs", "1", "--latent-dim", "2",
       "--hidden", "8", "--out", tmp_path / "run", "-q")
    ok("score", tmp_path / "run", tmp_path / "pets.csv", "--split", "all", "-o", tmp_path / "s.csv")
    with open(tmp_path / "s.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["label"] for r in table[:3]] == ["cat", "dog, big", "dog, big"] and float(table[0]["neg_elbo"]) > 0
    ok("encode", tmp_path / "run", tmp_path / "pets.csv", "--split", "all", "-o", tmp_path / "z.csv")
    with open(tmp_path / "z.csv", newline="") as f:
        assert [r["label"] for r in list(csv.DictReader(f))[:3]] == ["cat", "dog, big", "dog, big"]
    ok("decode", tmp_path / "run", tmp_path / "z.csv", "-o", tmp_path / "x.csv")
    assert len((tmp_path / "x.csv").read_text().splitlines()) == 61
    spaced = (tmp_path / "z.csv").read_text().replace("index,label,", "index, label, ", 1)  # spaces after commas
    (tmp_path / "zs.csv").write_text(spaced)
    ok("decode", tmp_path / "run", tmp_path / "zs.csv", "-o", tmp_path / "xs.csv")
    assert (tmp_path / "xs.csv").read_text() == (tmp_path / "x.csv").read_text()


def test_a_cvae_decodes_each_code_with_its_rows_label(tmp_path):
    """encode writes each code's label; decode took none of them and asked for one --label for every row."""
    rng = np.random.default_rng(0)
    kinds = ["cat", '"dog, big"', "emu"]
    rows = [f"{kinds[i % 3]},{','.join(map(str, rng.normal(i % 3, size=3).round(3)))}" for i in range(60)]
    (tmp_path / "pets.csv").write_text("kind,a,b,c\n" + "\n".join(rows) + "\n")
    ok("train", "--model", "cvae", "--data", tmp_path / "pets.csv", "--label-column", "kind", "--epochs", "1",
       "--latent-dim", "2", "--hidden", "8", "--out", tmp_path / "run", "-q")
    ok("encode", tmp_path / "run", tmp_path / "pets.csv", "--split", "all", "--limit", "6", "-o", tmp_path / "z.csv")
    ok("encode", tmp_path / "run", tmp_path / "pets.csv", "--split", "all", "--limit", "6", "-o", tmp_path / "z.npy")
    ok("decode", tmp_path / "run", tmp_path / "z.csv", "-o", tmp_path / "x.npy")
    decoded = np.load(tmp_path / "x.npy")
    for name, rows in (("cat", [0, 3]), ("dog, big", [1, 4]), ("emu", [2, 5])):
        ok("decode", tmp_path / "run", tmp_path / "z.npy", "--label", name, "-o", tmp_path / "one.npy")
        np.testing.assert_allclose(decoded[rows], np.load(tmp_path / "one.npy")[rows], rtol=1e-6)
    fails("decode", tmp_path / "run", tmp_path / "z.npy", "-o", tmp_path / "y.npy",
          message="z.npy names none (a .csv from `vaekit encode` has a label column); pass --label, e.g. --label 0")


def test_class_names_survive_the_csv_round_trip(tmp_path):
    """encode wrote "two\nlines" and "#1" unquoted (decode then read a cut row, or a comment), and decode
    stripped the quoted " lead" to "lead", which is no class."""
    from PIL import Image

    names = ["#1", " lead", "two\nlines", "plain"]
    for name in names:
        (tmp_path / "img" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(tmp_path / "img" / name / f"{i}.png")
    ok("train", "--model", "cvae", "--data", tmp_path / "img", "--epochs", "1", "--latent-dim", "2", "--hidden", "8",
       "--out", tmp_path / "run", "-q")
    for command in ("encode", "score"):
        ok(command, tmp_path / "run", tmp_path / "img", "--split", "all", "-o", tmp_path / f"{command}.csv")
        with open(tmp_path / f"{command}.csv", newline="") as f:
            assert sorted({r["label"] for r in csv.DictReader(f)}) == sorted(names)
    ok("decode", tmp_path / "run", tmp_path / "encode.csv", "-o", tmp_path / "x.npy")
    ok("encode", tmp_path / "run", tmp_path / "img", "--split", "all", "-o", tmp_path / "z.npy")
    classes = json.loads((tmp_path / "run" / "config.json").read_text())["classes"]
    for k, name in enumerate(classes):  # each row decoded with its own class, as --label NAME decodes it
        ok("decode", tmp_path / "run", tmp_path / "z.npy", "--label", name, "-o", tmp_path / "one.npy")
        rows = [3 * k, 3 * k + 1, 3 * k + 2]  # (images are read class folder by class folder, in sorted order)
        np.testing.assert_allclose(np.load(tmp_path / "x.npy")[rows], np.load(tmp_path / "one.npy")[rows], rtol=1e-6)


def test_score_index_is_the_example_number(vae, tmp_path):
    from vaekit.data.datasets import load_data

    ok("score", vae, "digits", "--limit", "4", "-o", tmp_path / "s.csv")
    index = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)[:, 0].astype(int)
    assert list(index) == list(load_data(DataConfig()).splits["test"][:4])


def test_score_errors(vae, dae, tmp_path):
    fails("score", vae, "digits", "-o", tmp_path / "s.npy", message="use one of .csv")
    fails("score", vae, "digits", "--samples", "0", "-o", tmp_path / "s.csv", message="--samples")
    fails("score", dae, "digits", "--samples", "5", "-o", tmp_path / "s.csv", message="but this run's model is dae, whose codes are points")
    fails("score", dae, "digits", "--seed", "3", "-o", tmp_path / "s.csv", message="--seed 3 is for a VAE's posterior draws")
    fails("encode", vae, "digits", "--seed", "3", "-o", tmp_path / "z.npy", message="add --sample or drop --seed")
    assert not (tmp_path / "s.csv").exists()


# -- run folders that cannot be used ------------------------------------------------------------


def _set_format_version(run: Path, version: int) -> None:
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "format_version": version}))


@pytest.mark.parametrize("damage,message", [
    (lambda run: (run / "model.safetensors").unlink(), "model.safetensors: missing"),
    (lambda run: (run / "config.json").unlink(), "config.json: missing"),
    (lambda run: _set_format_version(run, 99), "newer than this vaekit understands"),
])
def test_broken_run_folders(dae, tmp_path, damage, message):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(dae, run_dir)
    damage(run_dir)
    for args in (["encode", run_dir, "digits"], ["generate", run_dir], ["score", run_dir, "digits"]):
        suffix = ".csv" if args[0] == "score" else ".npy"
        fails(*args, "-o", tmp_path / f"out{suffix}", message=message)
    assert not list(tmp_path.glob("out*"))


# -- conditional models take the data's labels, and --label -------------------------------------


def test_a_cvae_uses_the_labels(tmp_path):
    run_dir = untrained_run(tmp_path / "cvae", "cvae", DataConfig(), (1, 8, 8), Scaler(0.0, 16.0, True, "minmax"), n_classes=10)
    ok("encode", run_dir, "digits", "-o", tmp_path / "z.npy")
    ok("decode", run_dir, tmp_path / "z.npy", "--label", "3", "-o", tmp_path / "x.npy")
    ok("generate", run_dir, "-n", "5", "--label", "7", "-o", tmp_path / "g.npy")
    ok("score", run_dir, "digits", "-o", tmp_path / "s.csv")
    ok("interpolate", run_dir, "digits", "--pairs", "0:1", "-o", tmp_path / "i.npy")
    fails("decode", run_dir, tmp_path / "z.npy", "-o", tmp_path / "x2.npy", message="pass --label")
    fails("generate", run_dir, "--label", "10", "-o", tmp_path / "g2.npy", message="--label 10 is not a class")
    fails("generate", run_dir, "--label", 10**23, "-o", tmp_path / "g2.npy",  # overflowed inside torch
          message="--label 100000000000000000000000 is not a class of this model, which has 10 (0 to 9); try --label 0")
    x = np.random.default_rng(0).random((5, 1, 8, 8)) * 16
    np.savez(tmp_path / "labelled.npz", x=x, y=np.array([0, 1, 2, 30, 4]))
    for command in ("encode", "reconstruct", "score"):
        out = tmp_path / ("s.csv" if command == "score" else "e.npy")
        fails(command, run_dir, tmp_path / "labelled.npz", "--split", "all", "-o", out,
              message="label 30 is not a class of this model, which has 10 (0 to 9)")


def test_a_cvae_label_is_a_class_name_first(tmp_path):
    """Folders 10, 2, 3 sort as ImageFolder sorts them: --label 2 is the folder "2", class number 1."""
    from vaekit.trained import Trained

    torch.manual_seed(0)
    cfg = ModelConfig(model="cvae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,), n_classes=3).validate()
    (tmp_path / "run").mkdir()
    checkpoint.save_run(tmp_path / "run", build_model(cfg), cfg, TrainConfig(), DataConfig(),
                        Scaler(0.0, 16.0, True, "minmax"), {"classes": ["10", "2", "3"]})
    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32))
    m = Trained.load(tmp_path / "run")
    for label, number in (("2", 1), ("10", 0), ("3", 2)):
        ok("decode", tmp_path / "run", tmp_path / "z.npy", "--label", label, "-o", tmp_path / "x.npy")
        np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), m.decode(np.load(tmp_path / "z.npy"), number))
    assert "4 samples of class 10" in ok("generate", tmp_path / "run", "-n", "4", "--label", "10", "-o", tmp_path / "g.npy").output
    fails("generate", tmp_path / "run", "--label", "cat", "-o", tmp_path / "g.npy",
          message="--label cat is neither a class of this run (10, 2, 3) nor a class number")
    (tmp_path / "z.csv").write_text("index,label,z0,z1\n0,2,0.1,0.2\n1,42,0.3,0.4\n")  # not a --label the user gave
    fails("decode", tmp_path / "run", tmp_path / "z.csv", "-o", tmp_path / "x.npy",
          message=f"{tmp_path / 'z.csv'}: its label column: 42 is not a class of this model, which has 3 (0 to 2)")


# -- Fashion-MNIST: 28x28 uint8, 70,000 images --------------------------------------------------


def test_fashion_mnist_commands(fashion, tmp_path):
    ok("encode", fashion, "fashion-mnist", "--limit", "50", "-o", tmp_path / "z.npy")
    ok("decode", fashion, tmp_path / "z.npy", "-o", tmp_path / "x.png")
    ok("reconstruct", fashion, "fashion-mnist", "--limit", "8", "-o", tmp_path / "r.png")
    ok("generate", fashion, "-n", "4", "-o", tmp_path / "g.npy")
    ok("interpolate", fashion, "fashion-mnist", "--pairs", "0:69999", "--steps", "4", "-o", tmp_path / "i.png")
    ok("denoise", fashion, "fashion-mnist", "--noise", "mask:0.3", "-o", tmp_path / "d.png")
    assert np.load(tmp_path / "g.npy").shape == (4, 1, 28, 28)
    fails("encode", fashion, "digits", "-o", tmp_path / "zz.npy", message="but the model expects (N, 1, 28, 28)")


def test_fashion_mnist_all_70000_in_batches(fashion, tmp_path):
    ok("score", fashion, "fashion-mnist", "--split", "all", "--batch-size", "4096", "-o", tmp_path / "s.csv")
    index = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1, usecols=0)
    assert len(index) == 70_000 and index[-1] == 69_999


# -- which examples of INPUT, and their labels ----------------------------------------------------


def test_split_defaults_to_test_of_the_runs_own_data_and_all_of_other_input(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).random((30, 64)) * 16)
    scaler = Scaler(0.0, 16.0, True, "minmax")
    own = untrained_run(tmp_path / "own", "vae", DataConfig(name=str(x)), (1, 8, 8), scaler)
    other = untrained_run(tmp_path / "other", "vae", DataConfig(), (1, 8, 8), scaler)
    (tmp_path / "sub").mkdir()
    ok("encode", other, x, "-o", tmp_path / "all.npy")
    ok("encode", own, tmp_path / "sub" / ".." / "x.npy", "-o", tmp_path / "test.npy")  # the same file by another path
    ok("encode", own, x, "--split", "all", "-o", tmp_path / "own_all.npy")
    assert len(np.load(tmp_path / "all.npy")) == len(np.load(tmp_path / "own_all.npy")) == 30
    assert 0 < len(np.load(tmp_path / "test.npy")) < 30
    np.save(tmp_path / "one.npy", np.ones((1, 64)))
    ok("encode", other, tmp_path / "one.npy", "-o", tmp_path / "one_z.npy")
    fails("encode", other, tmp_path / "one.npy", "--split", "test", "-o", tmp_path / "one_t.npy",
          message="only 1 examples; vaekit needs at least 3 (train, validation, test); `vaekit evaluate` scores a test "
                  "split of them, while score, encode and the other commands take every example with --split all")
    result = run("evaluate", other, "--data", tmp_path / "one.npy")  # it advised --split all, which evaluate has not
    assert result.exit_code == 2 and "`vaekit evaluate` scores a test split of them" in result.output


def test_class_names_are_numbered_as_the_runs(tmp_path):
    from vaekit.evaluation import load_run_data
    from vaekit.trained import Trained

    model_cfg = ModelConfig(model="cvae", input_shape=(4,), latent_dim=2, hidden=(8,), n_classes=3).validate()
    (tmp_path / "run").mkdir()
    checkpoint.save_run(tmp_path / "run", build_model(model_cfg), model_cfg, TrainConfig(), DataConfig(),
                        Scaler(0.0, 1.0, True, "minmax"), {"classes": ["cat", "dog", "zebra"]})
    trained = Trained.load(tmp_path / "run")
    x = np.random.default_rng(0).random((4, 4))
    np.savez(tmp_path / "some.npz", x=x, y=np.array(["zebra", "dog", "zebra", "dog"]))  # its own numbers: dog 0, zebra 1
    data = load_run_data(trained, str(tmp_path / "some.npz"), split=False)
    assert data.classes == ["cat", "dog", "zebra"] and data.y.tolist() == [2, 1, 2, 1]
    np.savez(tmp_path / "new.npz", x=x, y=np.array(["emu", "dog", "dog", "dog"]))
    fails("encode", tmp_path / "run", tmp_path / "new.npz", "-o", tmp_path / "z.npy",
          message="classes 'emu' are not among the model's ('cat', 'dog', 'zebra')")


def test_csv_columns_are_matched_by_name(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((6, 3)).astype(np.float32)
    model_cfg = ModelConfig(model="vae", input_shape=(3,), latent_dim=2, hidden=(8,)).validate()
    (tmp_path / "run").mkdir()
    checkpoint.save_run(tmp_path / "run", build_model(model_cfg), model_cfg, TrainConfig(), DataConfig(),
                        Scaler([0.0, 0.0, 0.0], [1.0, 2.0, 4.0], True, "minmax"), {"columns": ["a", "b", "c"]})

    def write(name, header, columns):
        lines = [header] + [",".join(f"{v:.6f}" for v in row[columns]) for row in x]
        (tmp_path / name).write_text("\n".join(lines) + "\n")

    write("same.csv", "a,b,c", [0, 1, 2])
    write("shuffled.csv", "c,a,b", [2, 0, 1])
    write("bare.csv", "", [0, 1, 2])
    (tmp_path / "bare.csv").write_text((tmp_path / "bare.csv").read_text().lstrip("\n"))
    for name in ("same", "shuffled", "bare"):
        ok("encode", tmp_path / "run", tmp_path / f"{name}.csv", "-o", tmp_path / f"{name}.npy")
    same = np.load(tmp_path / "same.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "shuffled.npy"), same)
    np.testing.assert_array_equal(np.load(tmp_path / "bare.npy"), same)  # no header: by position

    write("other.csv", "a,b,d", [0, 1, 2])
    fails("encode", tmp_path / "run", tmp_path / "other.csv", "-o", tmp_path / "z.npy",
          message="its header does not name the columns the model was trained on (missing 'c', unexpected 'd')")
    (tmp_path / "labelled.csv").write_text("a,b,kind,c\n" + "".join(f"{r[0]:.6f},{r[1]:.6f},{i % 2},{r[2]:.6f}\n"
                                                                for i, r in enumerate(x)))
    fails("encode", tmp_path / "run", tmp_path / "labelled.csv", "-o", tmp_path / "z.npy",
          message="(unexpected 'kind'); give the same columns; name the label column with --label-column")
    ok("encode", tmp_path / "run", tmp_path / "labelled.csv", "--label-column", "kind", "-o", tmp_path / "l.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), same)

    (tmp_path / "twice.csv").write_text("a,a,c\n" + "".join(f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f}\n" for r in x))
    fails("encode", tmp_path / "run", tmp_path / "twice.csv", "-o", tmp_path / "z.npy",
          message=f"error: {tmp_path / 'twice.csv'}: its header does not name the columns the model was trained on "
                  "(missing 'b'); give the same columns")

    # a run of an older vaekit, which took pandas' row index for a column named '': why its own file no longer fits
    config = json.loads((tmp_path / "run" / checkpoint.CONFIG).read_text())
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / checkpoint.CONFIG).write_text(json.dumps({**config, "columns": ["", "a", "b"]}))
    (tmp_path / "old" / checkpoint.WEIGHTS).write_bytes((tmp_path / "run" / checkpoint.WEIGHTS).read_bytes())
    (tmp_path / "indexed.csv").write_text(",a,b\n" + "".join(f"{i},{r[0]:.6f},{r[1]:.6f}\n" for i, r in enumerate(x)))
    fails("encode", tmp_path / "old", tmp_path / "indexed.csv", "-o", tmp_path / "z.npy",
          message="(missing ''); give the same columns; this run comes from an older vaekit, which read pandas' row index")

    # outputs in the input's units carry the run's names, so they read back as its input did
    ok("reconstruct", tmp_path / "run", tmp_path / "shuffled.csv", "-o", tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().startswith("a,b,c\n")
    ok("encode", tmp_path / "run", tmp_path / "r.csv", "-o", tmp_path / "rz.npy")


def test_outputs_are_written_without_a_copy_in_memory(tmp_path):
    """Straight into the (atomic) file: a 627 MB reconstruction held 1.7 GB when it was serialised in memory first."""
    import tracemalloc

    from vaekit.cli.use import _save_examples

    class Run:
        config = {"columns": None}

    x = np.random.default_rng(0).random((2000, 1, 16, 16), dtype=np.float32)
    for kind in ("npy", "csv"):
        tracemalloc.start()
        try:
            _save_examples(tmp_path / f"x.{kind}", kind, x, Run())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < x.nbytes / 4, (kind, peak / x.nbytes)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), x)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "x.csv", delimiter=",", skiprows=1), x.reshape(2000, -1), rtol=1e-5)


def test_temporary_files_a_killed_writer_left_are_removed(vae, tmp_path):
    import os
    import time

    from vaekit import fileio

    stale, live = tmp_path / ".z.npy.k1ll3d.tmp", tmp_path / ".z.npy.wr1t1ng.tmp"
    stale.write_bytes(b"half of an output")
    live.write_bytes(b"another process is writing this one")
    old = time.time() - fileio.STALE_S - 60
    os.utime(stale, (old, old))
    ok("encode", vae, "digits", "--limit", "3", "-o", tmp_path / "z.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "z.npy"]


def test_an_output_inside_a_file_says_it_is_a_file(vae, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for out in (tmp_path / "notes.txt" / "z.npy", tmp_path / "notes.txt" / "sub" / "z.npy"):
        fails("encode", vae, "digits", "-o", out, message=f"-o {out}: {tmp_path / 'notes.txt'} is a file, not a folder")
    fails("encode", vae, "digits", "-o", tmp_path / "none" / "z.npy", message="folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_folder_of_another_image_size_gets_the_option_that_fits_it(tmp_path):
    from PIL import Image

    images = tmp_path / "big"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.full((10, 10), 40 * i, dtype=np.uint8)).save(images / f"{i}.png")
    small = untrained_run(tmp_path / "small", "vae", DataConfig(name=str(tmp_path / "orig")), (1, 6, 6),
                          Scaler(0.0, 255.0, False, "uint8"))
    fails("encode", small, images, "-o", tmp_path / "z.npy", message="its images are 10x10 but the model takes 6x6; "
                                                                    "resize them with --image-size 6")
    ok("encode", small, images, "--image-size", "6", "-o", tmp_path / "z.npy")


def test_a_colour_model_takes_a_folder_of_grey_images_as_grey_rgb(tmp_path):
    from PIL import Image

    images = tmp_path / "grey"
    images.mkdir()
    levels = [0, 60, 120, 250]
    for i, level in enumerate(levels):
        Image.fromarray(np.full((6, 6), level, dtype=np.uint8)).save(images / f"{i}.png")
    rgb = untrained_run(tmp_path / "rgb", "vae", DataConfig(name=str(tmp_path / "colour")), (3, 6, 6),
                        Scaler(0.0, 255.0, False, "uint8"))
    ok("encode", rgb, images, "--split", "all", "-o", tmp_path / "z.npy")
    ok("reconstruct", rgb, images, "--split", "all", "-o", tmp_path / "r.npy")
    grey_rgb = np.repeat(np.array(levels, dtype=np.uint8)[:, None, None, None], 3, axis=1) * np.ones((1, 1, 6, 6), np.uint8)
    from vaekit import load

    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), load(rgb).encode(grey_rgb), rtol=1e-6, atol=1e-6)
    assert np.load(tmp_path / "r.npy").shape == (4, 3, 6, 6)
