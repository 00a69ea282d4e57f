"""The three flows through the real stack: the
center (SQLite) behind a real TCP proxy that can fail any message, the demo
person's card served through vpcd and the virtual PSAM in slot 1, both read
through pcscd with pyscard.

- The card is pulled at every step of each flow; the center is down, silent
  (timeout) or loses its answer at every message of each flow. After each
  fault the journal is resolved (5203 / 2601) and 3201 for the institution
  balances against all of its terminals' journals: nothing is booked twice or
  half. The transaction records the card missed are written at the card's
  next use, each exactly once.
- The guide's situations at the terminal: each refused or accepted with the
  center's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sscard_terminal.driver.pin import SimulatedPinPad
from sscard_terminal.driver.psam import PsamSam
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import CardError, SscardError
from sscard_terminal.settlement import SettlementClient
from sscard_terminal.settlement.errors import CenterRefused
from sscard_terminal.settlement.journal import CardRecordState, Resolution
from sscard_terminal.settlement.resolution import resolve
from sscard_terminal.terminal.flows import (
    NotEligible,
    QueueBook,
    hospital_swipe,
    kiosk_register,
    pharmacy_purchase,
)
from sscard_terminal.terminal.payment import SimulatedPayments
from sscard_terminal.terminal.receipt import Receipt
from sscard_terminal.terminal.schedule import load_schedule
from sscard_terminal.vcard.factory import psam_from_profile
from tests.e2e.flow_rig import (
    HOSPITAL,
    PHARMACY,
    PIN,
    FaultProxy,
    Terminals,
    items_hospital,
    items_pharmacy,
    open_card,
    person_card,
    records_of,
)
from tests.settlement.settlement_fixtures import RunningCenter, start_center

PSAM_READER = "Virtual PCD 00 01"
OFFSITE_HOSPITAL = "H33010600001"  # Hangzhou, designated for out-of-area care
#: the center's messages of each flow, in order
MESSAGES = {
    "hospital": ["1101", "2201", "2203", "2204", "2206", "2207"],
    "pharmacy": ["1101", "2101", "2102"],
    "kiosk": ["1101", "2201", "2204", "2206", "2207"],
}
INSTITUTION = {"hospital": HOSPITAL, "pharmacy": PHARMACY, "kiosk": HOSPITAL}

Flow = Callable[..., Receipt]


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    running = start_center(tmp_path_factory.mktemp("center"))
    try:
        yield running
    finally:
        running.admin.http.close()
        running.stop()
        running.db.dispose()


@pytest.fixture(scope="module")
def proxy(center: RunningCenter) -> Iterator[FaultProxy]:
    running = FaultProxy(("127.0.0.1", center.port))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def terminals(
    center: RunningCenter, proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Terminals]:
    made = Terminals(center, tmp_path_factory.mktemp("journals"), proxy.base_url)
    yield made
    made.close()


@pytest.fixture
def psam(served_card: Any) -> Iterator[PsamSam]:
    served_card(psam_from_profile("psam-ningbo"), 1)
    sam = PsamSam.open(PSAM_READER)
    yield sam
    sam.close()


def step_key(step: str) -> str:
    """The name of a progress step: "2207", "payment", "catch-up", or its text."""
    if step.startswith("writing the card record of "):
        return "catch-up"
    if step.startswith("payment of"):
        return "payment"
    first = step.split()[0]
    return first if first[:1].isdigit() else step


def run_flow(
    kind: str,
    card: SocialSecurityCard,
    sam: PsamSam,
    client: SettlementClient,
    progress: Callable[[str], None],
) -> Receipt:
    pins = SimulatedPinPad([PIN])
    if kind == "hospital":
        return hospital_swipe(card, sam, pins, client, items_hospital(), progress=progress)
    if kind == "pharmacy":
        return pharmacy_purchase(
            card, sam, pins, client, items_pharmacy(), SimulatedPayments(), progress=progress
        )
    return kiosk_register(
        card, sam, pins, client, load_schedule(), "0701", "D010", SimulatedPayments(),
        queue=QueueBook(), progress=progress,
    )  # fmt: skip


def card_matches_journal(card: SocialSecurityCard, client: SettlementClient) -> None:
    """Every booked card settlement of the journal is on the card exactly once,
    and nothing is owed any more."""
    assert client.journal.card_records_owed() == []
    written = {e.id for e in client.journal.entries() if e.card_record is CardRecordState.WRITTEN}
    serials = [r.serial for r in records_of(card)]
    mine = [s for s in serials if s in written]
    assert sorted(mine) == sorted(written), (serials, written)
    assert len(mine) == len(set(mine)), f"a record twice: {serials}"


def no_visit_left_open(center: RunningCenter, client: SettlementClient) -> None:
    """Every visit this terminal registered (2201) is settled, or cancelled or
    reversed at the center: a flow that failed leaves no visit open."""
    registered = [e for e in client.journal.entries(infno="2201") if e.status.value == "SUCCESS"]
    # a 2201 whose answer was lost never learned its mdtrt_id: 2601 reversed it
    assert all(e.resolution is Resolution.REVERSED for e in registered if e.mdtrt_id is None)
    visits = [e.mdtrt_id for e in registered if e.mdtrt_id is not None]
    with center.db.engine.connect() as conn:
        for mdtrt_id in visits:
            status = conn.execute(
                text("SELECT status FROM visits WHERE mdtrt_id = :m"), {"m": mdtrt_id}
            ).scalar_one()
            settled = conn.execute(
                text(
                    "SELECT count(*) FROM settlements WHERE mdtrt_id = :m "
                    "AND kind = 'settle' AND status = 'valid'"
                ),
                {"m": mdtrt_id},
            ).scalar_one()
            assert status in ("cancelled", "reversed") or settled == 1, (mdtrt_id, status)


# -- the card pulled at every step -----------------------------------------------------------
@pytest.mark.parametrize("kind", ["hospital", "pharmacy", "kiosk"])
def test_the_card_pulled_at_every_step(
    kind: str,
    center: RunningCenter,
    terminals: Terminals,
    served_card: Any,
    psam: PsamSam,
) -> None:
    cardos = person_card(center, "normal")
    served = served_card(cardos, 0)
    client = terminals.make(INSTITUTION[kind], f"R{kind[:3].upper()}", kiosk=kind == "kiosk")
    steps: list[str] = []
    card = open_card(served.reader)
    run_flow(kind, card, psam, client, steps.append)
    card.transport.close()
    keys = [step_key(s) for s in steps]
    assert keys[:2] == ["reading the card", "PIN"] and keys[-1] == "writing the card record"
    # after a pull at "writing the card record" a record is owed: the next
    # case pulls the card while that record is written ("catch-up")
    cases = [*keys, "catch-up"]
    outcomes: dict[str, str] = {}
    for target in cases:
        before = len(client.journal.entries())
        owed = len(client.journal.card_records_owed())
        if target == "catch-up":
            assert owed >= 1
        card = open_card(served.reader)

        def pull(step: str, target: str = target) -> None:
            nonlocal served
            if step_key(step) == target and served is not None:
                served.stop()  # pcscd sees the reader empty before the flow goes on
                served = None

        try:
            receipt = run_flow(kind, card, psam, client, pull)
        except CardError as exc:
            assert target in ("reading the card", "PIN", "catch-up"), (target, exc)
            assert len(client.journal.entries()) == before  # nothing sent to the center
            outcomes[target] = type(exc).__name__
        else:
            assert target not in ("reading the card", "PIN", "catch-up"), target
            assert receipt.extra["card_record"].startswith("missing"), target
            # what was owed went onto the card after the PIN; now this one is owed
            assert [e.msgid for e in client.journal.card_records_owed()] == [receipt.msgid]
            if owed:
                assert receipt.extra["earlier_card_records"].count(": written") == owed
            outcomes[target] = "settled, record owed"
        finally:
            card.transport.close()
        assert served is None, f"the card was not pulled at {target}"
        assert resolve(client).ok
        terminals.books_agree(client)
        served = served_card(cardos, 0)  # put back
    assert set(outcomes) == set(cases)
    # the next use writes the missed record, once
    owed = len(client.journal.card_records_owed())
    assert owed == 1
    card = open_card(served.reader)
    receipt = run_flow(kind, card, psam, client, lambda s: None)
    assert receipt.extra["card_record"] == "written"
    assert receipt.extra["earlier_card_records"].count(": written") == owed
    card_matches_journal(card, client)
    card.transport.close()
    terminals.books_agree(client)


# -- the center down, silent or losing its answer at every message ---------------------------
@pytest.mark.parametrize("kind", ["hospital", "pharmacy", "kiosk"])
def test_the_center_fails_at_every_message(
    kind: str,
    center: RunningCenter,
    terminals: Terminals,
    proxy: FaultProxy,
    served_card: Any,
    psam: PsamSam,
) -> None:
    cardos = person_card(center, "normal")
    served = served_card(cardos, 0)
    client = terminals.make(
        INSTITUTION[kind], f"C{kind[:3].upper()}", kiosk=kind == "kiosk", timeout=1.0
    )
    card = open_card(served.reader)
    run_flow(kind, card, psam, client, lambda s: None)  # signs in; a clean start
    card.transport.close()
    psn_no = center.person("normal")["psn_no"]
    confirmed = 0
    for infno in MESSAGES[kind]:
        for mode in ("down", "blackhole", "drop_answer"):
            balance = center.balance(psn_no)
            fired = len(proxy.fired)
            if mode != "down":
                proxy.arm(infno, mode)
            stopped: list[str] = []

            def fail(
                step: str, infno: str = infno, mode: str = mode, stopped: list[str] = stopped
            ) -> None:
                if mode == "down" and step_key(step) == infno:
                    proxy.stop()
                    stopped.append(infno)

            card = open_card(served.reader)
            try:
                with pytest.raises(SscardError) as caught:
                    run_flow(kind, card, psam, client, fail)
            finally:
                card.transport.close()
                proxy.start()
            assert not isinstance(caught.value, CardError), caught.value
            if mode == "down":
                assert stopped == [infno]
            else:  # the fault hit this very message
                assert [f[0] for f in proxy.fired[fired:]] == [infno], proxy.fired[fired:]
            report = resolve(client)
            assert report.ok, report.as_json()
            terminals.books_agree(client)
            no_visit_left_open(center, client)
            settled = [
                e for e in client.journal.entries() if e.infno in ("2207", "2102") and e.booked
            ]
            newest = settled[-1] if settled else None
            if mode == "drop_answer" and infno in ("2207", "2102"):
                # booked, answer lost: 5203 confirmed it; the account paid once
                assert newest is not None and newest.resolution is not None
                assert newest.resolution.value == "CONFIRMED"
                paid = Decimal(str(newest.setlinfo["acct_pay"]))  # type: ignore[index]
                assert center.balance(psn_no) == balance - paid
                confirmed += 1
            else:
                assert center.balance(psn_no) == balance, (infno, mode)
    # the confirmed settlements' records reach the card at its next use
    assert len(client.journal.card_records_owed()) == confirmed >= 1
    card = open_card(served.reader)
    receipt = run_flow(kind, card, psam, client, lambda s: None)
    assert receipt.extra["earlier_card_records"].count("written") == confirmed
    card_matches_journal(card, client)
    card.transport.close()


# -- the guide's situations at the terminal --------------------------------------------------
SITUATIONS = [
    # (person, card: "active" or "old", institution, outcome, words in the message)
    ("normal", "active", HOSPITAL, "accepted", ()),
    ("lapsed", "active", HOSPITAL, NotEligible, ("suspended",)),
    ("lost_card", "active", HOSPITAL, CenterRefused, ("lost",)),
    ("temp_lost", "active", HOSPITAL, CenterRefused, ("temporarily",)),
    ("replaced_card", "old", HOSPITAL, CenterRefused, ("replaced",)),
    ("replaced_card", "active", HOSPITAL, "accepted", ()),
    ("new_household", "active", HOSPITAL, NotEligible, ("not yet started",)),
    ("cixi_rural", "active", HOSPITAL, NotEligible, ("no enrolment", "insutype 390")),
    ("offsite_filed", "active", OFFSITE_HOSPITAL, "accepted", ()),
    ("offsite_unfiled", "active", OFFSITE_HOSPITAL, CenterRefused, ("filing",)),
]


@pytest.mark.parametrize(
    ("person", "which", "code", "outcome", "words"),
    SITUATIONS,
    ids=[f"{s[0]}-{s[1]}" for s in SITUATIONS],
)
def test_the_guides_situations_at_the_terminal(
    person: str,
    which: str,
    code: str,
    outcome: Any,
    words: tuple[str, ...],
    center: RunningCenter,
    terminals: Terminals,
    served_card: Any,
    psam: PsamSam,
    tmp_path: Path,
) -> None:
    cards = center.person(person)["cards"]
    card_no = None
    if which == "old":
        card_no = next(c["card_no"] for c in cards if c["status"] != "active")
    served = served_card(person_card(center, person, card_no), 0)
    client = terminals.make(code, f"G{len(terminals.clients):03d}")
    card = open_card(served.reader)
    try:
        if outcome == "accepted":
            receipt = hospital_swipe(card, psam, SimulatedPinPad([PIN]), client, items_hospital())
            assert receipt.total == Decimal("20.00") and receipt.extra["card_record"] == "written"
        else:
            with pytest.raises(outcome) as caught:
                hospital_swipe(card, psam, SimulatedPinPad([PIN]), client, items_hospital())
            message = str(caught.value)
            for word in words:
                assert word in message.lower(), message
            assert not [e for e in client.journal.entries() if e.infno == "2207"]
    finally:
        card.transport.close()
    terminals.books_agree(client)
