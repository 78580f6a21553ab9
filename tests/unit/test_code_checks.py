"""The code base's own checks: lint (ruff), types (mypy) and the layers of the architecture
(import-linter: docs/architecture.md). They run with the tests, so `pytest` on a new machine
and CI both hold the code to them; each failure prints what the tool said."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the tools installed beside this Python (pip install ".[test]")


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("tool", ["ruff", "mypy", "lint-imports"])
def test_the_code_passes(tool: str) -> None:
    executable = shutil.which(tool, path=str(BIN)) or shutil.which(tool)
    assert executable, f"{tool} is not installed (it comes with the test extra: pip install '.[test]')"
    arguments = {"ruff": ["check", "src", "tests", "bench", "tools"], "mypy": [], "lint-imports": []}[tool]
    result = run(executable, *arguments)
    assert result.returncode == 0, f"{tool} found problems:\n{result.stdout}\n{result.stderr}"
