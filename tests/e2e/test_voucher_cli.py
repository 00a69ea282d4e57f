"""The electronic voucher from the command line: ``sscard voucher
new`` against a running center (uvicorn on a free port, SQLite, the demo
seed), then ``--voucher CODE`` in the hospital, pharmacy and kiosk flows, each
command in its own process. No card is read (no pcscd needed) and no card
record is written; the center's books show the settlement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from sscard_terminal.errors import ExitCode
from sscard_terminal.settlement import Journal
from sscard_terminal.settlement.config import TerminalConfig
from tests.e2e.flow_rig import CLASS_A_DRUG, CLASS_A_SERVICE, HOSPITAL, PHARMACY, terminal_config
from tests.settlement.settlement_fixtures import ADMIN_TOKEN, RunningCenter, start_center

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
_SLOTS = iter(range(20, 40))


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    running = start_center(tmp_path_factory.mktemp("center"))
    try:
        yield running
    finally:
        running.admin.http.close()
        running.stop()
        running.db.dispose()


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SSCARD_CENTER_ADMIN_TOKEN": ADMIN_TOKEN}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def new_voucher(center: RunningCenter, tmp: Path, psn_no: str) -> str:
    png = tmp / f"voucher-{psn_no}.png"
    done = run("voucher", "new", "--psn-no", psn_no, "--center", center.base_url,
               "--out", str(png))  # fmt: skip
    assert done.returncode == 0, done.stderr
    code = done.stdout.strip().splitlines()[-1]
    assert code.startswith("EC") and len(code) == 34
    assert "▀" in done.stdout or "█" in done.stdout  # the QR code drawn in the terminal
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return code


def flow(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(*args, "--config", str(config), "--json", "--yes")


def test_voucher_new_and_the_three_flows(center: RunningCenter, tmp_path: Path) -> None:
    psn_no = center.person("normal")["psn_no"]
    desk = terminal_config(center, tmp_path, HOSPITAL, "0201", next(_SLOTS))
    kiosk = terminal_config(center, tmp_path, HOSPITAL, "K201", next(_SLOTS), kiosk=True)
    shop = terminal_config(center, tmp_path, PHARMACY, "0201", next(_SLOTS))
    before = center.balance(psn_no)

    code = new_voucher(center, tmp_path, psn_no)
    swipe = flow(desk, "hospital", "swipe", "--voucher", code,
                 "--item", f"{CLASS_A_SERVICE}:1:20.00:诊查费")  # fmt: skip
    assert swipe.returncode == 0, swipe.stderr
    receipt = json.loads(swipe.stdout)
    assert receipt["total"] == "20.00"
    assert receipt["extra"]["card_record"].startswith("none (settled with the electronic voucher")
    assert receipt["extra"]["credential"] == "医保电子凭证 electronic voucher"
    assert "ec.query" in swipe.stderr and "reading the card" not in swipe.stderr

    # the same code again: used, one line, exit 7
    again = flow(desk, "hospital", "swipe", "--voucher", code,
                 "--item", f"{CLASS_A_SERVICE}:1:20.00")  # fmt: skip
    assert again.returncode == ExitCode.CENTER_REFUSED, again.stderr
    assert "used already" in again.stderr and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()[-1]) > 0

    buy = flow(shop, "pharmacy", "buy", "--voucher", new_voucher(center, tmp_path, psn_no),
               "--item", f"{CLASS_A_DRUG}:2:6.00:药")  # fmt: skip
    assert buy.returncode == 0, buy.stderr
    assert json.loads(buy.stdout)["total"] == "12.00"

    reg = flow(kiosk, "kiosk", "register", "--voucher", new_voucher(center, tmp_path, psn_no),
               "--department", "0301", "--doctor", "D001")  # fmt: skip
    assert reg.returncode == 0, reg.stderr
    registration = json.loads(reg.stdout)
    assert registration["extra"]["queue_number"] == "1"

    # the center booked three settlements from the account; no card record is owed
    spent = sum(Decimal(r["account"]) for r in (receipt, json.loads(buy.stdout), registration))
    assert center.balance(psn_no) == before - spent
    for config in (desk, kiosk, shop):
        with Journal(TerminalConfig.load(config).journal_path) as journal:
            assert journal.card_records_owed() == []


def test_voucher_refusals_are_one_line(center: RunningCenter, tmp_path: Path) -> None:
    desk = terminal_config(center, tmp_path, HOSPITAL, "0202", next(_SLOTS))
    forged = flow(desk, "hospital", "swipe", "--voucher", "EC" + "0" * 32,
                  "--item", f"{CLASS_A_SERVICE}:1:20.00")  # fmt: skip
    assert forged.returncode == ExitCode.CENTER_REFUSED
    assert "not a voucher issued by this center" in forged.stderr
    bad = flow(desk, "hospital", "swipe", "--voucher", "not a code!",
               "--item", f"{CLASS_A_SERVICE}:1:20.00")  # fmt: skip
    assert bad.returncode == ExitCode.USAGE and "--voucher" in bad.stderr
    no_card = center.person("no_card")["psn_no"]
    refused = run("voucher", "new", "--psn-no", no_card, "--center", center.base_url,
                  "--out", str(tmp_path / "x.png"))  # fmt: skip
    assert refused.returncode == ExitCode.CENTER_REFUSED
    assert "apply for the card first" in refused.stderr
    assert not (tmp_path / "x.png").exists()
    both = run("voucher", "new", "--center", center.base_url)
    assert both.returncode == ExitCode.USAGE and "--psn-no" in both.stderr
    down = run("voucher", "new", "--psn-no", "1", "--center", "http://127.0.0.1:9")
    assert down.returncode == ExitCode.OUTCOME_UNKNOWN and "cannot be reached" in down.stderr
