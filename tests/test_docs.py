"""The documentation builds with `mkdocs build --strict`, its shell and Python blocks run, and
every tutorial script runs on its quick settings."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").rglob("*.md"))
BLOCKS = [(path, lang, code) for path in DOCS
          for lang, code in re.findall(r"```(bash|python)\n(.*?)```", path.read_text(), flags=re.S)]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def _env():
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None, reason="docs tools not installed")
def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, env=_env())
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "cli" / "index.html").read_text().count("vaekit train") > 0


def _skip_block(code: str) -> bool:
    # The set-up line installs packages and the docs line serves the site: both are what CI itself runs.
    return "scripts/setup.sh" in code or "http.server" in code


@pytest.mark.parametrize("path,lang,code", [b for b in BLOCKS if not _skip_block(b[2])],
                         ids=[f"{b[0].relative_to(ROOT)}:{i}" for i, b in enumerate(BLOCKS) if not _skip_block(b[2])])
def test_docs_block_runs(tmp_path, path, lang, code):
    code = code.replace("source .venv/bin/activate", "true")
    code = code.replace("/tmp/", f"{tmp_path}/")  # the docs' scratch folders, fresh for every run of the test
    if lang == "bash":  # example scripts run below, once each, on their quick settings
        code = "\n".join(line for line in code.splitlines() if not line.startswith("python examples/"))
    command = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_quick(tmp_path, script):
    result = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path / "out")],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
