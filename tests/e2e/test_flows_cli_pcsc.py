"""The flow commands as an integrator runs them:
``sscard hospital|pharmacy|kiosk ...`` in their own processes, the card in
"Virtual PCD 00 00" and the PSAM in "Virtual PCD 00 01" through pcscd and
vpcd, the center on SQLite, the PIN from a PIN pad file.

The crash: the terminal process is killed between the settlement (2207
answered and journaled) and the card write - once before the card executes
the APPEND RECORD, once after it did but before the answer came back. After
a restart, ``sscard journal`` shows the record owed, and the next swipe of
the same card writes it (or finds it already there): each record on the card
exactly once, and the center's books agree with the journal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sscard_terminal.driver.pin import Pin
from sscard_terminal.errors import ExitCode
from sscard_terminal.settlement.config import TerminalConfig
from sscard_terminal.vcard.factory import psam_from_profile
from tests.e2e.flow_rig import (
    CLASS_A_DRUG,
    CLASS_A_SERVICE,
    HOSPITAL,
    PHARMACY,
    PIN,
    Blocker,
    open_card,
    person_card,
    records_of,
    shanghai_now,
    terminal_config,
)
from tests.settlement.settlement_fixtures import RunningCenter, start_center

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
CARD_READER = "Virtual PCD 00 00"
PSAM_READER = "Virtual PCD 00 01"
_SLOTS = iter(range(50, 100))
#: every terminal of the module's center, by institution (3201 is per institution)
TERMINALS: dict[str, list[Path]] = {}


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    running = start_center(tmp_path_factory.mktemp("center"))
    try:
        yield running
    finally:
        running.admin.http.close()
        running.stop()
        running.db.dispose()


def terminal(
    center: RunningCenter, tmp: Path, code: str, opter: str, *, kiosk: bool = False
) -> Path:
    """A terminal of the module's center (kept for 3201 per institution)."""
    path = terminal_config(center, tmp, code, opter, next(_SLOTS), kiosk=kiosk)
    TERMINALS.setdefault(code, []).append(path)
    return path


def sscard(
    *args: str, config: Path, pin: str = PIN, tmp: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """One flow command against the card and PSAM readers, the PIN on a PIN pad."""
    pad = tmp / "pin-pad"
    pad.write_text(f"{pin}\n", encoding="utf-8")
    return subprocess.run(
        [*CLI, *args, *flow_args(config, pad)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def flow_args(config: Path, pad: Path) -> list[str]:
    return [
        "--config", str(config), "--reader", CARD_READER, "--sam", "pcsc",
        "--sam-reader", PSAM_READER, "--pin-pad", str(pad), "--json",
    ]  # fmt: skip


def receipt_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    receipt: dict[str, Any] = json.loads(done.stdout)
    return receipt


def books_agree(center: RunningCenter, code: str, insutype: str = "310") -> None:
    """3201 of the institution with the journals of all its terminals."""
    first, *rest = (TerminalConfig.load(c) for c in TERMINALS[code])
    today = shanghai_now().date()
    from sscard_terminal.settlement import Journal

    others = [Journal(c.journal_path) for c in rest]
    try:
        with first.client(center.base_url) as client:
            assert client.journal.open_entries() == []
            totals = client.reconcile_journal(
                insutype=insutype, begin=today, end=today, others=others
            )
    finally:
        for journal in others:
            journal.close()
    assert totals.stmtinfo.balanced, totals.stmtinfo.stmt_rslt_dscr


@pytest.fixture
def psam(served_card: Any) -> None:
    served_card(psam_from_profile("psam-ningbo"), 1)


def test_the_flow_commands_through_pcsc(
    center: RunningCenter, served_card: Any, psam: None, tmp_path: Path
) -> None:
    served_card(person_card(center, "normal"), 0)
    desk = terminal(center, tmp_path, HOSPITAL, "0101")
    kiosk = terminal(center, tmp_path, HOSPITAL, "K101", kiosk=True)
    shop = terminal(center, tmp_path, PHARMACY, "0101")
    psn_no = center.person("normal")["psn_no"]
    before = center.balance(psn_no)
    swipe = receipt_of(
        sscard(
            "hospital", "swipe", "--item", f"{CLASS_A_SERVICE}:1:20.00:诊查费", "--yes",
            config=desk, tmp=tmp_path,
        )
    )  # fmt: skip
    assert swipe["total"] == "20.00" and swipe["extra"]["card_record"] == "written"
    refund = receipt_of(
        sscard(
            "hospital", "refund", "--setl-id", swipe["setl_id"], "--mdtrt-id",
            swipe["extra"]["mdtrt_id"], config=desk, tmp=tmp_path,
        )
    )  # fmt: skip
    assert refund["total"] == "-20.00" and refund["extra"]["card_record"] == "written"
    bought = receipt_of(
        sscard(
            "pharmacy", "buy", "--item", f"{CLASS_A_DRUG}:2:10.00:阿托伐他汀钙片", "--yes",
            config=shop, tmp=tmp_path,
        )
    )  # fmt: skip
    cancelled = receipt_of(
        sscard(
            "pharmacy", "cancel", "--setl-id", bought["setl_id"], "--mdtrt-id",
            bought["extra"]["mdtrt_id"], config=shop, tmp=tmp_path,
        )
    )  # fmt: skip
    assert cancelled["total"] == "-" + bought["total"]
    registered = receipt_of(
        sscard(
            "kiosk", "register", "--department", "0701", "--doctor", "D010", "--yes",
            config=kiosk, tmp=tmp_path,
        )
    )  # fmt: skip
    assert registered["extra"]["queue_number"] == "1" and registered["total"] == "9.00"
    assert center.balance(psn_no) == before - Decimal(registered["account"])
    # a wrong PIN: exit code 6 and nothing sent
    wrong = sscard(
        "hospital", "swipe", "--item", f"{CLASS_A_SERVICE}:1:20.00", "--yes",
        config=desk, tmp=tmp_path, pin="000000",
    )  # fmt: skip
    assert wrong.returncode == ExitCode.PIN, wrong.stderr
    assert "000000" not in wrong.stderr + wrong.stdout
    # the card holds the five records, newest first
    card = open_card(CARD_READER)
    try:
        card.read()
        card.verify_pin(Pin(PIN))
        kinds = [r.type.name for r in records_of(card)]
    finally:
        card.transport.close()
    assert kinds == ["REGISTRATION", "CANCELLATION", "PHARMACY", "REFUND", "HOSPITAL"]
    books_agree(center, HOSPITAL)
    books_agree(center, PHARMACY)


@pytest.mark.parametrize("when", ["before", "after"])
def test_the_terminal_killed_between_the_settlement_and_the_card_write(
    when: str, center: RunningCenter, served_card: Any, psam: None, tmp_path: Path
) -> None:
    blocker = Blocker(person_card(center, "normal"), when)
    served_card(blocker, 0)
    desk = terminal(center, tmp_path, HOSPITAL, f"X{when[:3]}")
    pad = tmp_path / "pin-pad"
    pad.write_text(f"{PIN}\n", encoding="utf-8")
    item = f"{CLASS_A_SERVICE}:1:15.00:诊查费"
    proc = subprocess.Popen(
        [*CLI, "hospital", "swipe", "--item", item, "--yes", *flow_args(desk, pad)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert blocker.reached.wait(60), "the swipe never reached the card write"
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        blocker.release()
    assert proc.returncode == -9, err
    assert "2207 settlement" in err and "writing the card record" in err
    # after the restart: the journal shows the settlement booked, its record owed
    listed = subprocess.run(
        [*CLI, "journal", "list", "--config", str(desk), "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)["entries"]
    [settled] = [e for e in entries if e["infno"] == "2207"]
    assert settled["status"] == "SUCCESS" and settled["card_record"] == "OWED"
    assert not [e for e in entries if e["open"]]
    resolved = subprocess.run(
        [*CLI, "journal", "resolve", "--config", str(desk)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    assert "1 card record(s) owed to 1 card(s)" in resolved.stdout
    books_agree(center, HOSPITAL)  # the settlement is booked once, whatever the card
    # the next swipe of the same card writes the record first (or finds it)
    again = receipt_of(
        sscard("hospital", "swipe", "--item", item, "--yes", config=desk, tmp=tmp_path)
    )
    expected = "written" if when == "before" else "already on the card"
    assert again["extra"]["earlier_card_records"] == f"{settled['msgid']}: {expected}"
    assert again["extra"]["card_record"] == "written"
    card = open_card(CARD_READER)
    try:
        card.read()
        card.verify_pin(Pin(PIN))
        serials = [r.serial for r in records_of(card)]
    finally:
        card.transport.close()
    from sscard_terminal.settlement import Journal

    with Journal(TerminalConfig.load(desk).journal_path) as journal:
        newest = journal.get(again["msgid"])
        assert newest is not None and journal.card_records_owed() == []
    assert serials == [newest.id, settled["id"]]  # each once, the missed one first
    books_agree(center, HOSPITAL)


def test_a_blocked_pin_stops_every_flow_before_the_center(
    center: RunningCenter, served_card: Any, psam: None, tmp_path: Path
) -> None:
    served_card(person_card(center, "resident"), 0)
    desk = terminal(center, tmp_path, HOSPITAL, "P101")
    swipe = ["hospital", "swipe", "--item", f"{CLASS_A_SERVICE}:1:20.00", "--yes"]
    answers = [sscard(*swipe, config=desk, tmp=tmp_path, pin="000000") for _ in range(3)]
    assert [a.returncode for a in answers] == [ExitCode.PIN] * 3
    assert "2 tries left" in answers[0].stderr and "blocked" in answers[2].stderr.lower()
    right = sscard(*swipe, config=desk, tmp=tmp_path)  # the right PIN, too late
    assert right.returncode == ExitCode.PIN and "blocked" in right.stderr.lower()
    assert "000000" not in "".join(a.stderr + a.stdout for a in answers)
    assert PIN not in right.stderr + right.stdout
    listed = subprocess.run(
        [*CLI, "journal", "list", "--config", str(desk), "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["entries"] == []  # nothing reached the center
