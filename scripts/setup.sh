#!/usr/bin/env bash
# Set up vaekit on a fresh Debian/Ubuntu machine: system data, a virtual environment, the package.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# Debian's real Fashion-MNIST (no network needed later); optional: vaekit downloads it otherwise.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
    || echo "setup: could not install dataset-fashion-mnist; vaekit will download Fashion-MNIST when asked" >&2
fi
# `python3 -m venv` needs ensurepip, which Debian and Ubuntu ship apart in python3-venv.
if [ ! -x .venv/bin/python ] && ! python3 -c "import ensurepip" 2>/dev/null && command -v apt-get >/dev/null; then
  ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv) >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build. PyTorch's
# CPU index holds 2.13.0+cpu, which wins over PyPI's CUDA 2.13.0; where that index cannot be reached
# (a mirror or a local wheel house only), pip takes what the configured sources have, after 5 s.
.venv/bin/python -m pip install -q --disable-pip-version-check --retries 0 --timeout 5 \
  --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,docs]"
