"""A scripted day at a pharmacy, through the real stack:
two tills of 海曙区大药房 - till A in this process behind a fault-injecting
proxy, till B as ``sscard pharmacy buy`` processes - six customers whose
cards are served through vpcd one after another, the PSAM in slot 1.

The day: 24 purchases, four cancellations (the cash given back), a declined
payment, a 2102 whose answer is lost (confirmed by 5203 and its card record
written at the customer's next visit), and till B killed between a 2102 and
its card write, then restarted. At closing time 3201 balances for each
insutype against both tills' journals, 3202 matches row by row, till A's cash
drawer matches its books, and every customer's card holds each of its
records exactly once.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sscard_terminal.driver.pin import Pin, SimulatedPinPad
from sscard_terminal.driver.psam import PsamSam
from sscard_terminal.settlement import Journal
from sscard_terminal.settlement.config import TerminalConfig
from sscard_terminal.settlement.errors import OutcomeUnknown
from sscard_terminal.settlement.journal import CardRecordState
from sscard_terminal.settlement.resolution import resolve
from sscard_terminal.terminal.card_records import record_for
from sscard_terminal.terminal.flows import Item, pharmacy_cancel, pharmacy_purchase
from sscard_terminal.terminal.payment import PaymentFailed, SimulatedPayments
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.factory import psam_from_profile
from tests.e2e.flow_rig import (
    CLASS_A_DRUG,
    CLASS_C,
    PHARMACY,
    PIN,
    Blocker,
    FaultProxy,
    Terminals,
    open_card,
    person_card,
    records_of,
    shanghai_now,
    terminal_config,
)
from tests.settlement.settlement_fixtures import CLASS_B_DRUG, RunningCenter, start_center

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
CUSTOMERS = ["normal", "resident", "replaced_card", "offsite_filed", "offsite_unfiled", "minor"]
BASKETS = [
    [Item(CLASS_A_DRUG, Decimal(2), Decimal("10.00"), "阿托伐他汀钙片")],
    [Item(CLASS_B_DRUG, Decimal(1), Decimal("36.00"), "氨溴索口服溶液")],
    [
        Item(CLASS_A_DRUG, Decimal(1), Decimal("10.00"), "阿托伐他汀钙片"),
        Item(CLASS_C, Decimal(1), Decimal("12.50"), "自费"),
    ],
    [Item(CLASS_C, Decimal(3), Decimal("4.20"), "自费")],
]
SALES = 24
CANCEL_AFTER = {4: 1, 9: 6, 14: 12, 20: 18}  # after sale n, cancel sale m
DECLINED = 7
LOST_ANSWER = 11
CRASH = 16  # on till B


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    running = start_center(tmp_path_factory.mktemp("center"))
    try:
        yield running
    finally:
        running.admin.http.close()
        running.stop()
        running.db.dispose()


def till_b(config: Path, tmp: Path, basket: list[Item]) -> subprocess.Popen[str]:
    pad = tmp / "pad"
    pad.write_text(f"{PIN}\n", encoding="utf-8")
    items = [f"{i.code}:{i.count}:{i.price}:{i.name}" for i in basket]
    args = [a for item in items for a in ("--item", item)]
    return subprocess.Popen(
        [
            *CLI,
            "pharmacy",
            "buy",
            *args,
            "--yes",
            "--json",
            "--config",
            str(config),
            "--reader",
            "Virtual PCD 00 00",
            "--sam",
            "pcsc",
            "--pin-pad",
            str(pad),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_day_at_the_pharmacy(center: RunningCenter, served_card: Any, tmp_path: Path) -> None:
    served_card(psam_from_profile("psam-ningbo"), 1)
    sam = PsamSam.open("Virtual PCD 00 01")
    proxy = FaultProxy(("127.0.0.1", center.port))
    terminals = Terminals(center, tmp_path, proxy.base_url)
    till_a = terminals.make(PHARMACY, "A001", timeout=2.0)
    b_config = terminal_config(center, tmp_path, PHARMACY, "B001", 98)
    cards: dict[str, CardOS] = {key: person_card(center, key) for key in CUSTOMERS}
    payments = SimulatedPayments()
    rng = random.Random(20261125)
    sales: dict[int, tuple[str, Any]] = {}
    happened: list[str] = []
    try:
        for n in range(1, SALES + 1):
            key = CUSTOMERS[n % len(CUSTOMERS)]
            basket = BASKETS[rng.randrange(len(BASKETS))]
            if n == CRASH:
                happened.append(
                    crash_and_restart(cards, key, basket, b_config, tmp_path, served_card)
                )
                continue
            if n == DECLINED:
                payments.fail_next = 1
                basket = BASKETS[3]  # all cash
            if n == LOST_ANSWER:
                proxy.arm("2102", "drop_answer")
            served = served_card(cards[key], 0)
            card = open_card(served.reader)
            try:
                receipt = pharmacy_purchase(
                    card, sam, SimulatedPinPad([PIN]), till_a, basket, payments
                )
            except PaymentFailed:
                assert n == DECLINED
                happened.append("declined")
            except OutcomeUnknown:
                assert n == LOST_ANSWER
                report = resolve(till_a)  # 5203: booked, its card record owed
                assert report.ok and [o.action for o in report.outcomes] == ["confirmed"]
                happened.append("answer lost, confirmed")
            else:
                sales[n] = (key, receipt)
                if n == LOST_ANSWER + len(CUSTOMERS):  # the same customer again
                    assert "earlier_card_records" in receipt.extra
                    happened.append("owed record written")
            finally:
                card.transport.close()
                served.stop()
            if n in CANCEL_AFTER and CANCEL_AFTER[n] in sales:
                key, bought = sales.pop(CANCEL_AFTER[n])
                served = served_card(cards[key], 0)
                card = open_card(served.reader)
                try:
                    cancel = pharmacy_cancel(
                        card, sam, SimulatedPinPad([PIN]), till_a,
                        setl_id=bought.setl_id, mdtrt_id=bought.extra["mdtrt_id"],
                        payments=payments, payment=bought.extra.get("payment"),
                    )  # fmt: skip
                finally:
                    card.transport.close()
                    served.stop()
                assert cancel.total == -bought.total
                happened.append("cancelled")
        assert happened.count("cancelled") == len(CANCEL_AFTER)
        assert {"declined", "answer lost, confirmed", "crash, restarted"} <= set(happened)
        # closing time: 3201 per insutype, 3202 row by row, with both tills' journals
        today = shanghai_now().date()
        with Journal(TerminalConfig.load(b_config).journal_path) as b_journal:
            terminals.journals[PHARMACY].append(b_journal.path)
            for insutype in ("310", "390"):
                terminals.books_agree(till_a, insutype)
                details = till_a.reconcile_journal_details(
                    insutype=insutype, begin=today, end=today, others=[b_journal]
                )
                assert details.stmtinfo.balanced, details.stmtinfo.stmt_rslt_dscr
                assert details.result and {r.stmt_rslt for r in details.result} == {"0"}
            # till A's cash drawer: what it took minus what it gave back
            cash = till_a.journal_books(today, today).psn_cash_pay
            assert payments.net == cash
            # each customer's card: every written record of either till, once
            entries = [
                e for j in (till_a.journal, b_journal) for e in j.entries()
                if e.card_record is CardRecordState.WRITTEN
            ]  # fmt: skip
            assert till_a.journal.card_records_owed() == []
            for key, cardos in cards.items():
                mine = [
                    record_for(e).to_bytes() for e in entries if e.card_no == card_no(center, key)
                ]
                served = served_card(cardos, 0)
                card = open_card(served.reader)
                try:
                    card.read()
                    card.verify_pin(Pin(PIN))
                    on_card = [r.to_bytes() for r in records_of(card)]
                finally:
                    card.transport.close()
                    served.stop()
                assert sorted(on_card) == sorted(mine), key
    finally:
        sam.close()
        terminals.close()
        proxy.close()


def card_no(center: RunningCenter, key: str) -> str:
    number: str = next(c["card_no"] for c in center.person(key)["cards"] if c["status"] == "active")
    return number


def crash_and_restart(
    cards: dict[str, CardOS],
    key: str,
    basket: list[Item],
    config: Path,
    tmp: Path,
    served_card: Any,
) -> str:
    """Till B dies between its 2102 and the card write; restarted, it shows the
    record owed, and the customer's purchase again writes it first."""
    blocker = Blocker(cards[key], "before")
    served = served_card(blocker, 0)
    proc = till_b(config, tmp, basket)
    try:
        assert blocker.reached.wait(60), "till B never reached the card write"
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        blocker.release()
    assert proc.returncode == -9 and "2102 settlement" in err, err
    resolved = subprocess.run(
        [*CLI, "journal", "resolve", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert resolved.returncode == 0 and "1 card record(s) owed" in resolved.stdout, resolved
    again = till_b(config, tmp, basket)
    out, err = again.communicate(timeout=60)
    served.stop()
    assert again.returncode == 0, err
    receipt = json.loads(out)
    assert receipt["extra"]["earlier_card_records"].endswith(": written")
    assert receipt["extra"]["card_record"] == "written"
    return "crash, restarted"
