"""What a new user meets at the command line (issue 9): messages, exit codes
and options of ``sscard``, run in-process with click's runner where no card or
pcscd is needed."""

from __future__ import annotations

from sscard_terminal.errors import PcscdNotRunningError


def test_pcscd_hint_names_a_pcscd_that_keeps_running() -> None:
    # `sscard demo` stops the pcscd it started when it ends: no use as a hint
    line = PcscdNotRunningError("pcscd is not running (no socket)").one_line()
    assert "sscard demo" not in line
    assert "pcscd" in line and "running" in line
