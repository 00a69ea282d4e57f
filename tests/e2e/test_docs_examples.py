"""Every shell and YAML example of README.md and docs/*.md runs as written:
the blocks of a document run in order, as one bash script with
``set -euo pipefail``, in a fresh directory that holds only a link to this
virtual environment as ``.venv`` (the examples start with
``. .venv/bin/activate``, as a user at the repository's root would).

An HTML comment right above a block tells the runner what it is:
``<!-- example: file PATH -->`` writes a YAML (or other) block to PATH before
the script runs; ``<!-- example: skip REASON -->`` leaves a block out, with its
reason. A YAML block without a marker fails the test, so that a new example
cannot go untested. The examples serve cards through pcscd and vpcd, so this
file lives with the end-to-end tests (under their lock).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sscard_terminal.system.pcscd import PcscdHandle

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(
    r"(?:<!-- example: (?P<marker>[^\n]*?) -->\n)?^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```",
    re.S | re.M,
)
RUNNABLE = {"sh", "yaml"}


@dataclass(frozen=True)
class Example:
    lang: str
    body: str
    marker: str
    line: int


def examples(doc: Path) -> list[Example]:
    text = doc.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        lang = match.group("lang")
        if lang not in RUNNABLE:
            continue
        line = text.count("\n", 0, match.start("body"))
        found.append(Example(lang, match.group("body"), match.group("marker") or "", line))
    return found


def script_of(doc: Path, workdir: Path) -> str:
    """The document's shell blocks as one script; its files written to ``workdir``."""
    parts = ["set -euo pipefail"]
    for example in examples(doc):
        where = f"{doc.name}:{example.line}"
        if example.marker.startswith("skip "):
            continue
        if example.marker.startswith("file "):
            target = workdir / example.marker.removeprefix("file ").strip()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(example.body, encoding="utf-8")
            continue
        assert example.lang == "sh", f"{where}: a {example.lang} block needs a file marker"
        assert not example.marker, f"{where}: unknown marker {example.marker!r}"
        parts.append(f"echo '>>> {where}' >&2\n{example.body}")
    return "\n".join(parts) + "\n"


def test_the_documents_have_examples() -> None:
    counts = {doc.name: len(examples(doc)) for doc in DOCS}
    assert counts["README.md"] >= 6 and all(counts[d] for d in ("center.md", "terminal.md"))


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_examples_run_as_written(doc: Path, pcscd: PcscdHandle, tmp_path: Path) -> None:
    script = script_of(doc, tmp_path)
    if script.strip() == "set -euo pipefail":
        pytest.fail(f"{doc.name} has no runnable example")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSCARD_")}
    # anything a block leaves running in the background is stopped at the end
    wrapped = "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n" + script
    result = subprocess.run(
        ["bash", "-c", wrapped],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{doc.name}: exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
        f"\n--- stderr\n{result.stderr[-4000:]}"
    )
    assert "Traceback" not in result.stderr
