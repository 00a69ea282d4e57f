"""The agent's card calls on the in-process virtual transport (no pcscd)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from sscard_terminal.agent.card_calls import CardCalls, record_line, record_row
from sscard_terminal.codecs.transaction import TransactionRecord, TransactionType
from sscard_terminal.driver.pin import Pin, SimulatedPinPad
from sscard_terminal.errors import UsageError, WrongPinError
from sscard_terminal.terminal.station import Station, StationSpec
from sscard_terminal.transport import virtual
from sscard_terminal.vcard.factory import card_from_profile

PIN = "123456"


@pytest.fixture
def calls() -> Iterator[CardCalls]:
    virtual.forget_readers()
    virtual.insert_card("Kiosk", card_from_profile("ningbo-gen3"))
    pad = SimulatedPinPad([PIN, PIN, "000000"])  # records, verify, a wrong verify
    spec = StationSpec(transport="virtual", sam="software", terminal="330200000001")
    with Station(spec, pins=pad, shared=True) as station:
        yield CardCalls(station, ["Kiosk"])
    virtual.forget_readers()


def test_records_after_the_pin_as_lines_and_objects(calls: CardCalls) -> None:
    when = dt.datetime(2026, 11, 25, 10, 30, 0)
    record = TransactionRecord(
        TransactionType.PHARMACY, when, "P33020200001", Decimal("12.50"), Decimal("487.50"), 7
    )
    with calls.station.card("Kiosk") as card:
        card.select_ssse()
        card.verify_pin(Pin(PIN))
        card.append_transaction(record)
    (found,) = calls.read_records("Kiosk")
    assert record_line(found) == "02|20261125103000|P33020200001|12.50|487.50|7|"
    assert record_row(found) == {
        "type": "pharmacy", "time": "2026-11-25T10:30:00", "institution": "P33020200001",
        "amount": "12.50", "balance": "487.50", "serial": 7,
    }  # fmt: skip
    assert calls.verify_pin("Kiosk") == 3
    with pytest.raises(WrongPinError):
        calls.verify_pin("Kiosk")


def test_readers_resolve_by_name_or_part(calls: CardCalls) -> None:
    assert calls.resolve_reader(None) == "Kiosk"
    assert calls.resolve_reader("kio") == "Kiosk"
    with pytest.raises(UsageError, match="not one of this agent's readers"):
        calls.resolve_reader("Till")
    assert calls.status() == [
        {"reader": "Kiosk", "connected": True, "cardPresent": True, "atr": None}
    ]


def test_the_line_is_the_cli_line(calls: CardCalls) -> None:
    line = calls.read_line("Kiosk").split("|")
    assert line[1] == "330203199001011236" and line[4] == "张三" and line[9] == "330200000001"
