"""End to end: pyscard -> pcscd -> vpcd -> serve_card -> a simulated card.

Also checked with tools that are not ours (scriptor, opensc-tool), so the
bridge is not only compatible with our own transport.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

try:
    import smartcard.scard  # noqa: F401  (pyscard needs libpcsclite at import)
except ImportError as exc:  # pragma: no cover - depends on the machine
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"pyscard cannot be imported: {exc}", allow_module_level=True)

from sscard_terminal.errors import CardRemovedError, NoCardError, ReaderNotFoundError
from sscard_terminal.system.pcscd import PcscdHandle
from sscard_terminal.transport.base import open_transport
from sscard_terminal.transport.pcsc import PcscTransport, list_readers
from sscard_terminal.vcard.echo import ECHO_ATR, EchoCard
from sscard_terminal.vpcd.bridge import Connected, Disconnected
from sscard_terminal.vpcd.framing import Reset

#: the fixture factory of conftest.py: served_card(card, slot=0) -> ServedCard
ServeCard = Callable[..., Any]

pytestmark = pytest.mark.pcsc

SELECT_MF = bytes.fromhex("00A40000023F00")
GET_SELECTED = bytes.fromhex("80CA000000")  # answers 01 9000 when MF is selected


class SelectCard:
    """A tiny card with volatile state: SELECT sets it, power events clear it."""

    atr = bytes.fromhex("3B025353")  # T=0, historical bytes "SS"

    def __init__(self) -> None:
        self.selected = False
        self.power_ons = self.power_offs = self.resets = 0

    def power_on(self) -> bytes:
        self.power_ons += 1
        self.selected = False
        return self.atr

    def power_off(self) -> None:
        self.power_offs += 1
        self.selected = False

    def reset(self) -> bytes:
        self.resets += 1
        self.selected = False
        return self.atr

    def process(self, command: bytes) -> bytes:
        if command[1:2] == b"\xa4":
            self.selected = True
            return b"\x90\x00"
        if command == GET_SELECTED:
            return bytes([self.selected]) + b"\x90\x00"
        return b"\x6d\x00"


def test_atr_seen_through_pcsc_is_the_cards(served_card: ServeCard) -> None:
    served = served_card(EchoCard())
    with PcscTransport(served.reader) as transport:
        assert transport.atr == ECHO_ATR
        assert transport.reader_name == "Virtual PCD 00 00"
    (info,) = [r for r in list_readers() if r.name == served.reader]
    assert info.card_present and info.atr == ECHO_ATR


def test_transmit(served_card: ServeCard) -> None:
    card = SelectCard()
    served_card(card)
    with open_transport(reader="PCD 00 00") as transport:
        assert transport.atr == SelectCard.atr
        assert transport.transmit(GET_SELECTED) == b"\x00\x90\x00"
        assert transport.transmit(SELECT_MF) == b"\x90\x00"
        assert transport.transmit(GET_SELECTED) == b"\x01\x90\x00"
        assert transport.transmit(bytes.fromhex("00B0000000")) == b"\x6d\x00"


def test_first_reader_with_a_card_and_slot_1(served_card: ServeCard) -> None:
    served = served_card(SelectCard(), slot=1)
    with PcscTransport() as transport:
        assert transport.reader_name == served.reader == "Virtual PCD 00 01"
        assert transport.transmit(SELECT_MF) == b"\x90\x00"


def test_reset_reaches_the_card_as_a_reset(served_card: ServeCard) -> None:
    card = SelectCard()
    served = served_card(card)
    with PcscTransport(served.reader) as transport:
        transport.transmit(SELECT_MF)
        resets, power_offs = card.resets, card.power_offs
        transport.reset()
        assert card.resets == resets + 1
        assert card.power_offs == power_offs
        assert Reset() in served.events
        assert transport.atr == SelectCard.atr
        assert transport.transmit(GET_SELECTED) == b"\x00\x90\x00"


def test_holding_the_connection_keeps_the_card_state(served_card: ServeCard) -> None:
    card = SelectCard()
    served_card(card)
    with PcscTransport("Virtual PCD 00 00") as transport:
        transport.transmit(SELECT_MF)
        time.sleep(0.8)  # pcscd unpowers a card without connection after ~400 ms
        assert transport.transmit(GET_SELECTED) == b"\x01\x90\x00"


def test_disconnect_powers_the_card_off(served_card: ServeCard) -> None:
    card = SelectCard()
    served = served_card(card)
    with PcscTransport(served.reader) as transport:
        transport.transmit(SELECT_MF)
        power_offs = card.power_offs
        served.stop()
    assert card.power_offs > power_offs
    assert not card.selected
    assert isinstance(served.events[0], Connected)
    assert isinstance(served.events[-1], Disconnected)


def test_stopping_the_card_raises_card_removed(served_card: ServeCard) -> None:
    served = served_card(EchoCard())
    with PcscTransport(served.reader) as transport:
        assert transport.transmit(SELECT_MF) == b"\x90\x00"
        served.server.stop()
        with pytest.raises(CardRemovedError):
            transport.transmit(SELECT_MF)


def test_no_card_and_no_reader(reader_empty: Callable[[int], str]) -> None:
    assert reader_empty(1) == "Virtual PCD 00 01"
    with pytest.raises(NoCardError, match="Virtual PCD 00 01"):
        PcscTransport("Virtual PCD 00 01").connect()
    with pytest.raises(ReaderNotFoundError, match="no reader matches"):
        PcscTransport("no such reader").connect()
    with pytest.raises(NoCardError, match="not connected"):
        PcscTransport("Virtual PCD 00 01").transmit(SELECT_MF)


def test_bridge_reconnects_after_pcscd_restart(pcscd: PcscdHandle, served_card: ServeCard) -> None:
    if not pcscd.started_by_us:
        reason = "pcscd was already running: this session may not restart it"
        if os.environ.get("CI") == "true":  # CI starts its own pcscd: this must run there
            pytest.fail(reason)
        pytest.skip(reason)
    card = SelectCard()
    served = served_card(card)
    with PcscTransport(served.reader) as transport:
        transport.transmit(SELECT_MF)
    pcscd.restart()
    served.wait_inserted()
    assert sum(isinstance(e, Connected) for e in served.events) >= 2
    with PcscTransport(served.reader) as transport:
        assert transport.transmit(GET_SELECTED) == b"\x00\x90\x00"  # powered off meanwhile
        assert transport.transmit(SELECT_MF) == b"\x90\x00"


def test_round_trip_is_not_the_delayed_ack(served_card: ServeCard) -> None:
    """A functional check that TCP_QUICKACK is set (without it: ~44 ms per APDU)."""
    served = served_card(EchoCard())
    with PcscTransport(served.reader) as transport:
        times = []
        for _ in range(50):
            start = time.perf_counter()
            transport.transmit(SELECT_MF)
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"median PC/SC round trip to the echo card: {median * 1e6:.0f} us")
    assert median < 0.010


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (./run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


def test_scriptor_talks_to_the_served_card(served_card: ServeCard) -> None:
    scriptor = _tool("scriptor")
    served = served_card(SelectCard())
    result = subprocess.run(
        [scriptor, "-r", served.reader],
        input="00 A4 00 00 02 3F 00\n80 CA 00 00 00\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "< 90 00" in result.stdout
    assert "< 01 90 00" in result.stdout  # the same connection kept the selection


def test_opensc_tool_reads_the_atr(served_card: ServeCard) -> None:
    opensc_tool = _tool("opensc-tool")
    served = served_card(SelectCard(), slot=1)
    listing = subprocess.run(
        [opensc_tool, "-l"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    match = re.search(rf"^(\d+)\s+Yes\s+.*{re.escape(served.reader)}\s*$", listing, re.MULTILINE)
    assert match, listing
    result = subprocess.run(
        [opensc_tool, "-r", match.group(1), "-a"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "3b:02:53:53" in result.stdout.lower()
