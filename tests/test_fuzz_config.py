"""Fuzzing the config.json reader: whatever the file holds, ``checkpoint.read_config`` ends in a
one-line VaekitError or in a config that validates; never another exception, a hang or a huge read.

Hypothesis runs a bounded number of examples per test (CI stays fast); the IDX and data-file
readers have fuzz tests of their own.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaekit import __version__, checkpoint
from vaekit.config import FORMAT_VERSION, DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from vaekit.data.scaling import Scaler
from vaekit.errors import VaekitError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = json.loads(json.dumps({
    "format_version": FORMAT_VERSION,
    "vaekit_version": __version__,
    "model": to_dict(ModelConfig(model="vae", input_shape=(1, 8, 8), hidden=(16, 8), latent_dim=2)),
    "train": to_dict(TrainConfig()),
    "data": to_dict(DataConfig()),
    "scaler": to_dict(Scaler(0.0, 16.0, True, "minmax")),
    "classes": [str(i) for i in range(10)],
    "split": {"train": 1294, "val": 144, "test": 359},
}))

# Values that mean something to vaekit mixed with arbitrary JSON.
tokens = st.sampled_from(["vae", "ae", "dae", "mlp", "conv", "bernoulli", "gaussian", "minmax", "standard", "none",
                          "uint8", "auto", "cuda", "stop", "skip", "gaussian:0.3", "mask:2", "", "digits"])
numbers = st.one_of(st.integers(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0, 1, -1, 2**31, 2**64, 10**30, 1e308, -0.0, 0.5]))
leaves = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20), tokens)
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                           max_leaves=12)


@pytest.fixture(scope="module")
def run():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def check(run: Path, payload: bytes) -> None:
    (run / checkpoint.CONFIG).write_bytes(payload)
    try:
        config = checkpoint.read_config(run)
    except VaekitError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(config["cfg_model"].validate(), ModelConfig)  # a valid result validates again
    assert isinstance(config["cfg_train"].validate(), TrainConfig)
    assert isinstance(config["cfg_data"], DataConfig) and isinstance(config["cfg_scaler"], Scaler)
    assert all(isinstance(d, int) and d >= 1 for d in config["cfg_model"].input_shape)


@st.composite
def mutated_configs(draw) -> dict:
    """The valid config with 1-3 fields (top-level or one level down) replaced, deleted or added."""
    root = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        if not root:
            break
        section = draw(st.sampled_from(sorted(root)))
        target, key = root, section
        if isinstance(root[section], dict) and root[section] and draw(st.booleans()):
            target, key = root[section], draw(st.sampled_from(sorted(root[section])))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            target[key] = draw(json_values)
        elif action == "delete":
            del target[key]
        else:
            target[draw(st.text(max_size=8))] = draw(json_values)
    return root


def test_the_valid_config_reads(run):
    check(run, json.dumps(VALID).encode())
    assert checkpoint.read_config(run)["cfg_model"].latent_dim == 2


@FUZZ
@given(payload=st.binary(max_size=2000))
def test_random_bytes(run, payload):
    check(run, payload)


@FUZZ
@given(value=json_values)
def test_random_json(run, value):
    check(run, json.dumps(value).encode())


@FUZZ
@given(config=mutated_configs())
def test_mutated_fields(run, config):
    check(run, json.dumps(config).encode())


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 10**6),
                                st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_bytes(run, edits):
    data = bytearray(json.dumps(VALID, indent=2).encode())
    for action, position, byte in edits:
        i = position % len(data)
        if action == "flip":
            data[i] ^= 1 << (byte % 8)
        elif action == "insert":
            data.insert(i, byte)
        elif len(data) > 1:
            del data[i]
    check(run, bytes(data))


@pytest.mark.parametrize("payload", [
    b"", b"\xef\xbb\xbf{}", b"\xff\xfe{}", b"null", b"[]", b"{}",
    b"[" * 100_000 + b"]" * 100_000,  # nested past the recursion limit
    b'{"format_version": ' + b"9" * 5000 + b"}",  # an integer past Python's digit limit
    b'{"format_version": NaN}', b'{"format_version": Infinity}', b'{"format_version": true}',
    b'{"format_version": 0}', b'{"format_version": -1}', b'{"format_version": 99}',
    b" " * (checkpoint.MAX_CONFIG_BYTES + 1),  # too large to be read at all
])
def test_edge_cases(run, payload):
    check(run, payload)


@pytest.mark.parametrize("section, field, value", [
    ("model", "input_shape", [1, 0, 8]), ("model", "input_shape", [-1]), ("model", "input_shape", []),
    ("model", "input_shape", [1, 8.5, 8]), ("model", "hidden", [10**12, 0]), ("model", "latent_dim", True),
    ("model", "beta", -1), ("model", "sigma", 0), ("train", "seed", 2**40), ("train", "lr", 0),
    ("train", "on_nan", "ignore"), ("train", "grad_clip", -1.0), ("train", "checkpoint_every", -2),
    ("data", "scale", "log"), ("data", "image_size", 0), ("data", "name", ""),
    ("model", "noise", False), ("model", "noise", 3), ("data", "image_size", "8"), ("data", "key", True),
    ("scaler", "scale", 0), ("scaler", "scale", [1.0, 2.0]), ("scaler", "clip", "yes"), ("scaler", "kind", 3),
    ("classes", None, "0123456789"), ("classes", None, [0, 1]), ("columns", None, ["a"] * 63), ("columns", None, [1] * 64),
    ("finished", None, "yes"),
])
def test_out_of_range_values_are_refused(run, section, field, value):
    config = copy.deepcopy(VALID)
    if field is None:
        config[section] = value
    else:
        config[section][field] = value
    (run / checkpoint.CONFIG).write_text(json.dumps(config))
    with pytest.raises(VaekitError):
        checkpoint.read_config(run)


def _changed(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    return st.tuples(st.just(cls), st.dictionaries(st.sampled_from(names), leaves, max_size=3))


@FUZZ
@given(case=st.one_of(_changed(ModelConfig), _changed(TrainConfig), _changed(DataConfig)))
def test_a_config_that_validates_reads_back(case):
    """validate() took beta=True and val_fraction=False, and the run it trained could not be loaded."""
    cls, changes = case
    base = ModelConfig(model="vae", input_shape=(1, 8, 8), hidden=(16, 8), latent_dim=2) if cls is ModelConfig else cls()
    cfg = dataclasses.replace(base, **changes)
    try:
        cfg.validate()
    except VaekitError:
        return
    assert from_dict(cls, json.loads(json.dumps(to_dict(cfg)))) == cfg
