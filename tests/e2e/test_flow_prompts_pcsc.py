"""A flow's prompts left without an answer (the city's kiosks and tills are
walked away from): the flow commands in their own processes, the card and
the PSAM through pcscd and vpcd, the center on SQLite.

At every prompt of every flow (the hidden PIN prompt, and the "settle?"
confirmation), end of input (Ctrl-D, or a closed standard input), Ctrl-C
(SIGINT), or no answer within ``--confirm-timeout`` end like answering "no":
exit 2, a registered visit rolled back with 2205 and 2202, nothing left open
in the journal, and no visit left open at the center. A terminal killed
(SIGKILL) at the prompt leaves its registration to ``sscard journal
resolve``, which reverses it once the process is gone.

The PIN prompt reads the controlling terminal, so these runs get a
pseudo-terminal of their own (``pty.fork``), as an operator's shell would.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sscard_terminal.errors import ExitCode
from sscard_terminal.settlement.config import TerminalConfig
from sscard_terminal.settlement.journal import Journal
from sscard_terminal.vcard.factory import psam_from_profile
from tests.e2e.flow_rig import CLASS_A_DRUG, CLASS_A_SERVICE, HOSPITAL, PHARMACY, PIN, person_card
from tests.e2e.flow_rig import terminal_config as write_terminal
from tests.settlement.settlement_fixtures import RunningCenter, start_center

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
CARD_READER = "Virtual PCD 00 00"
PSAM_READER = "Virtual PCD 00 01"
_SLOTS = iter(range(100))  # one center per module: its own slots

#: the three flows that ask "settle?", and what each sends before asking
FLOWS: dict[str, tuple[list[str], str, bool]] = {
    "hospital": (
        ["hospital", "swipe", "--item", f"{CLASS_A_SERVICE}:1:20.00:诊查费"],
        HOSPITAL,
        False,
    ),
    "pharmacy": (["pharmacy", "buy", "--item", f"{CLASS_A_DRUG}:2:6.50:阿莫西林"], PHARMACY, False),
    "kiosk": (["kiosk", "register", "--department", "0701", "--doctor", "D010"], HOSPITAL, True),
}
#: the flows whose only prompt is the PIN (the settlement ids are never reached)
PIN_ONLY = {
    "hospital-refund": ["hospital", "refund", "--setl-id", "S1", "--mdtrt-id", "M1"],
    "pharmacy-cancel": ["pharmacy", "cancel", "--setl-id", "S1", "--mdtrt-id", "M1"],
}


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    running = start_center(tmp_path_factory.mktemp("center"))
    try:
        yield running
    finally:
        running.admin.http.close()
        running.stop()
        running.db.dispose()


@pytest.fixture
def cards(center: RunningCenter, served_card: Any) -> None:
    served_card(psam_from_profile("psam-ningbo"), 1)
    served_card(person_card(center, "normal"), 0)


def terminal(center: RunningCenter, tmp: Path, code: str, *, kiosk: bool = False) -> Path:
    slot = next(_SLOTS)
    return write_terminal(center, tmp, code, f"Q{slot:02d}", slot, kiosk=kiosk)


def readers() -> list[str]:
    return ["--reader", CARD_READER, "--sam", "pcsc", "--sam-reader", PSAM_READER]


# -- a run on a pseudo-terminal --------------------------------------------------------------
class TtyRun:
    """``sscard ...`` with a pseudo-terminal as its controlling terminal and
    standard streams; what it prints is collected in :attr:`out`."""

    def __init__(self, args: list[str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: become sscard
            try:
                os.execv(sys.executable, [*CLI, *args])
            finally:
                os._exit(127)
        self.pid, self.fd, self.out = pid, fd, ""
        self.status: int | None = None

    def _pump(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # the child closed its side
            return False
        if not data:
            return False
        self.out += data.decode("utf-8", errors="replace")
        return True

    def wait_for(self, text_: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text_ not in self.out:
            assert time.monotonic() < deadline, f"never asked {text_!r}:\n{self.out}"
            if not self._pump(0.2):
                raise AssertionError(f"ended before {text_!r}:\n{self.out}")

    def type(self, data: bytes) -> None:
        os.write(self.fd, data)

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                while self._pump(0.05):
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self._pump(0.1)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"did not end:\n{self.out}")


def stop_at_prompt(run: TtyRun, how: str) -> None:
    if how == "eof":
        run.type(b"\x04")  # Ctrl-D at the start of a line: end of input
    else:
        os.kill(run.pid, signal.SIGINT)  # Ctrl-C


# -- what the books must show ----------------------------------------------------------------
def journal_of(config: Path) -> Journal:
    return Journal(TerminalConfig.load(config).journal_path)


def sent(config: Path) -> list[tuple[str, str]]:
    """(infno, status) of every message the terminal sent, in order."""
    path = TerminalConfig.load(config).journal_path
    if not path.exists():
        return []
    with Journal(path) as journal:
        return [(e.infno, e.status.value) for e in journal.entries()]


def rolled_back(center: RunningCenter, config: Path) -> None:
    """The visit was registered, its details withdrawn and the visit cancelled:
    nothing open in the journal, the visit cancelled at the center, nothing
    booked."""
    messages = sent(config)
    infnos = [infno for infno, status in messages if status == "SUCCESS"]
    assert "2201" in infnos and "2207" not in infnos, messages
    assert infnos[-2:] == ["2205", "2202"], messages
    with journal_of(config) as journal:
        assert journal.open_entries() == []
        assert journal.abandoned_visits() == []
        [visit] = [e.mdtrt_id for e in journal.entries(infno="2201")]
    assert visit_status(center, visit) == "cancelled"


def visit_status(center: RunningCenter, mdtrt_id: str | None) -> str:
    with center.db.engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT status FROM visits WHERE mdtrt_id = :m"), {"m": mdtrt_id}
            ).scalar_one()
        )


def declined(center: RunningCenter, flow: str, config: Path) -> None:
    """What answering "no" leaves: the hospital and kiosk visits rolled back;
    the pharmacy's pre-settlement booked nothing, so nothing was sent after it."""
    if flow == "pharmacy":
        assert [i for i, _ in sent(config)] == ["9001", "1101", "2101"], sent(config)
        with journal_of(config) as journal:
            assert journal.open_entries() == []
    else:
        rolled_back(center, config)


def flow_args(flow: str, config: Path) -> list[str]:
    args, _, _ = FLOWS[flow]
    return [*args, "--config", str(config), *readers()]


# -- the tests -------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["eof", "sigint"])
@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_stopped_at_the_settle_prompt(
    flow: str, how: str, center: RunningCenter, cards: None, tmp_path: Path
) -> None:
    _, code, kiosk = FLOWS[flow]
    config = terminal(center, tmp_path, code, kiosk=kiosk)
    run = TtyRun(flow_args(flow, config))
    run.wait_for("PIN: ")
    run.type(f"{PIN}\n".encode())
    run.wait_for("settle? [Y/n]: ")
    stop_at_prompt(run, how)
    assert run.finish() == ExitCode.USAGE, run.out
    assert ("interrupted" if how == "sigint" else "end of input") in run.out
    assert "declined" in run.out and "Traceback" not in run.out
    assert PIN not in run.out.replace(f"{PIN}\r\n", "")  # the hidden prompt echoes nothing
    declined(center, flow, config)


@pytest.mark.parametrize("how", ["eof", "sigint"])
@pytest.mark.parametrize("flow", sorted(FLOWS) + sorted(PIN_ONLY))
def test_stopped_at_the_pin_prompt(
    flow: str, how: str, center: RunningCenter, cards: None, tmp_path: Path
) -> None:
    code = PHARMACY if flow.startswith("pharmacy") else HOSPITAL
    config = terminal(center, tmp_path, code, kiosk=flow == "kiosk")
    if flow in PIN_ONLY:
        args = [*PIN_ONLY[flow], "--config", str(config), *readers()]
    else:
        args = flow_args(flow, config)
    run = TtyRun(args)
    run.wait_for("PIN: ")
    stop_at_prompt(run, how)
    assert run.finish() == ExitCode.USAGE, run.out
    assert "PIN entry cancelled" in run.out and "Traceback" not in run.out
    assert sent(config) == []  # not even a sign-in


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_a_closed_standard_input_is_no(
    flow: str, center: RunningCenter, cards: None, tmp_path: Path
) -> None:
    _, code, kiosk = FLOWS[flow]
    config = terminal(center, tmp_path, code, kiosk=kiosk)
    pad = tmp_path / "pin-pad"
    pad.write_text(f"{PIN}\n", encoding="utf-8")
    done = subprocess.run(
        [*CLI, *flow_args(flow, config), "--pin-pad", str(pad)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "end of input: taken as no" in done.stderr and "Traceback" not in done.stderr
    declined(center, flow, config)


def test_no_answer_in_time_is_no(center: RunningCenter, cards: None, tmp_path: Path) -> None:
    config = terminal(center, tmp_path, HOSPITAL)
    pad = tmp_path / "pin-pad"
    pad.write_text(f"{PIN}\n", encoding="utf-8")
    proc = subprocess.Popen(
        [*CLI, *flow_args("hospital", config), "--pin-pad", str(pad), "--confirm-timeout", "1"],
        stdin=subprocess.PIPE,  # open, and nobody answers
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        proc.wait(timeout=60)  # standard input stays open all along
        err = proc.stderr.read()
    finally:
        proc.kill()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == ExitCode.USAGE, err
    assert "no answer within 1 s: taken as no" in err
    rolled_back(center, config)


def test_a_piped_yes_settles(center: RunningCenter, cards: None, tmp_path: Path) -> None:
    """The prompt still takes an answer from a pipe (an integrator's script)."""
    config = terminal(center, tmp_path, HOSPITAL)
    pad = tmp_path / "pin-pad"
    pad.write_text(f"{PIN}\n", encoding="utf-8")
    done = subprocess.run(
        [*CLI, *flow_args("hospital", config), "--pin-pad", str(pad), "--json"],
        input="y\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == "20.00"
    assert [i for i, s in sent(config) if s == "SUCCESS"][-1] == "2207"


@pytest.mark.parametrize("flow", ["hospital", "kiosk"])
def test_killed_at_the_prompt_the_journal_reverses_the_visit(
    flow: str, center: RunningCenter, cards: None, tmp_path: Path
) -> None:
    """SIGKILL gives the flow no chance to roll back: the registration was held
    for the process, and ``journal resolve`` reverses it once it is gone."""
    _, code, kiosk = FLOWS[flow]
    config = terminal(center, tmp_path, code, kiosk=kiosk)
    run = TtyRun(flow_args(flow, config))
    run.wait_for("PIN: ")
    run.type(f"{PIN}\n".encode())
    run.wait_for("settle? [Y/n]: ")
    # while the flow waits at its prompt, a resolve elsewhere leaves its visit alone
    early = subprocess.run(
        [*CLI, "journal", "resolve", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert early.returncode == 0, early.stderr
    with journal_of(config) as journal:
        [visit] = journal.entries(infno="2201")
    assert visit_status(center, visit.mdtrt_id) == "open"
    os.kill(run.pid, signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    resolved = subprocess.run(
        [*CLI, "journal", "resolve", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    assert "reversed" in resolved.stdout, resolved.stdout
    assert visit_status(center, visit.mdtrt_id) == "reversed"
    with journal_of(config) as journal:
        assert journal.open_entries() == [] and journal.abandoned_visits() == []
