"""Independent PC/SC clients for the end-to-end tests: pcsc-tools' scriptor."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (./run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


def scriptor(reader: str, *apdus: str) -> list[str]:
    """Send APDUs with scriptor (every byte its own hex pair); the answers as hex."""
    result = subprocess.run(
        [tool("scriptor"), "-r", reader],
        input="".join(bytes.fromhex(a).hex(" ") + "\n" for a in apdus),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    # answers start with "<", wrap after 16 bytes and end with " : meaning"
    answers: list[str] = []
    current: str | None = None
    for line in result.stdout.splitlines():
        if line.startswith("<"):
            current = line[1:]
        elif current is not None and not line.startswith(">"):
            current += line
        else:
            continue
        if ":" in current:
            answers.append(current.split(":")[0].replace(" ", "").strip().upper())
            current = None
    assert len(answers) == len(apdus), result.stdout
    return answers
