"""Commands that use a trained run folder: encode, decode, reconstruct, generate, interpolate, denoise, score."""

from __future__ import annotations

import click  # noqa: F401

from . import cli  # noqa: F401
