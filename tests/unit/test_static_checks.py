"""The static checks stay clean: mypy (strict, as configured in pyproject.toml)
over the package, the tests and the tools, ruff's lint rules and ruff's formatting over
the package, the tests and the tools. Each check runs from the repository's
root with this interpreter's tools; a failure shows the tool's own output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = ["sscard_terminal", "tests", "tools"]


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "check",
    [
        ["mypy", "sscard_terminal", "tests", "tools"],
        ["ruff", "check", *CODE],
        ["ruff", "format", "--check", *CODE],
    ],
    ids=["mypy", "ruff-check", "ruff-format"],
)
def test_static_check_is_clean(check: list[str]) -> None:
    done = run_tool(*check)
    assert done.returncode == 0, f"{' '.join(check)}:\n{done.stdout}{done.stderr}"
