#!/usr/bin/env bash
# Set up vaekit on a fresh Debian/Ubuntu machine: system data, a virtual environment, the package.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's real Fashion-MNIST (no network needed later); optional: vaekit downloads it otherwise.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
    || echo "setup: could not install dataset-fashion-mnist; vaekit will download Fashion-MNIST when asked" >&2
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,docs]"
