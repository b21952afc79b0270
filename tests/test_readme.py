"""Every code block in the README runs (in a fresh folder), and CI runs the README's test command."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(bash|python)\n(.*?)```", README, flags=re.S)
SETUP = [code for lang, code in BLOCKS if "scripts/setup.sh" in code]


def test_ci_runs_the_readme_test_command():
    assert len(SETUP) == 1, "the README starts with one block holding the two set-up commands"
    lines = [line.split("#")[0].strip() for line in SETUP[0].strip().splitlines()]
    assert len(lines) == 2
    assert lines[1] in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("lang,code", [b for b in BLOCKS if "scripts/setup.sh" not in b[1]],
                         ids=lambda v: v if v in ("bash", "python") else "")
def test_readme_block_runs(tmp_path, lang, code):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if lang == "bash":
        code = code.replace("source .venv/bin/activate", "true")  # the test already runs inside the venv
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
