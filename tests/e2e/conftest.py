"""Fixtures for the end-to-end tests: a real pcscd and simulated cards served to
it through vpcd.

Every test in this directory is marked ``pcsc``. Without pcscd or vpcd they
skip, except where ``CI=true``: CI installs both, so there they fail.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from sscard_terminal.system.pcscd import PcscdHandle, ensure_pcscd, pcscd_installed, vpcd_installed
from sscard_terminal.vcard.interface import SimulatedCard
from sscard_terminal.vpcd.bridge import BridgeEvent, CardServer

HERE = Path(__file__).parent
#: how long a served card may take to appear in (or leave) its reader
APPEAR_TIMEOUT = 5.0


def reader_name(slot: int) -> str:
    """vpcd's reader for ``slot``: "Virtual PCD 00 00" or "Virtual PCD 00 01"."""
    return f"Virtual PCD 00 {slot:02d}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.pcsc)


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail where CI=true (CI installs pcscd and vpcd)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the PC/SC tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[PcscdHandle]:
    """A running pcscd: the one already running (shared, left running), or one
    started for this session and stopped at its end."""
    if not pcscd_installed():
        unavailable("pcscd is not installed (Debian package pcscd)")
    if not vpcd_installed():
        unavailable("vpcd is not installed (Debian package vsmartcard-vpcd)")
    try:
        handle = ensure_pcscd()
    except Exception as exc:  # e.g. not allowed to create /run/pcscd
        unavailable(f"cannot start pcscd: {exc}")
    yield handle
    handle.stop()


def _reader_state(name: str) -> tuple[bool, bytes | None]:
    from sscard_terminal.transport.base import list_readers

    for info in list_readers():
        if info.name == name:
            return info.card_present, info.atr
    return False, None


def wait_for_reader(name: str, *, atr: bytes | None, timeout: float = APPEAR_TIMEOUT) -> None:
    """Wait until reader ``name`` holds a card with ``atr`` (or, with None, is empty).

    pcscd may be restarting meanwhile: errors count as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            present, seen = _reader_state(name)
        except Exception:
            present, seen = False, None
            if atr is None:  # no pcscd: no card either, but keep waiting for a card
                return
        if (atr is None and not present) or (atr is not None and present and seen == atr):
            return
        if time.monotonic() > deadline:
            wanted = f"a card with ATR {atr.hex().upper()}" if atr is not None else "no card"
            raise TimeoutError(
                f"reader {name!r} did not show {wanted} within {timeout:g} s "
                f"(present={present}, atr={seen.hex().upper() if seen else None})"
            )
        time.sleep(0.02)


@dataclass
class ServedCard:
    """A simulated card served to vpcd in a background thread."""

    card: SimulatedCard
    slot: int
    server: CardServer
    events: list[BridgeEvent] = field(default_factory=list)

    @property
    def reader(self) -> str:
        return reader_name(self.slot)

    def stop(self) -> None:
        """Remove the card and wait until pcscd sees the reader empty."""
        self.server.stop()
        wait_for_reader(self.reader, atr=None)

    def wait_inserted(self) -> None:
        """Wait until pcscd sees the card in its reader (again)."""
        wait_for_reader(self.reader, atr=self.card.atr)


ServeCard = Callable[..., ServedCard]


@pytest.fixture
def reader_empty(pcscd: PcscdHandle) -> Callable[[int], str]:
    """``reader_empty(slot)``: wait until vpcd's reader for ``slot`` holds no card;
    returns its name."""

    def wait(slot: int) -> str:
        wait_for_reader(reader_name(slot), atr=None)
        return reader_name(slot)

    return wait


@pytest.fixture
def served_card(pcscd: PcscdHandle) -> Iterator[ServeCard]:
    """``served_card(card, slot=0)``: serve ``card`` through vpcd and wait until
    pyscard sees it in "Virtual PCD 00 0<slot>"; removed again at teardown."""
    served: list[ServedCard] = []

    def serve(card: SimulatedCard, slot: int = 0) -> ServedCard:
        wait_for_reader(reader_name(slot), atr=None)  # a clean start
        events: list[BridgeEvent] = []
        entry = ServedCard(card, slot, CardServer(card, slot=slot, on_event=events.append), events)
        served.append(entry)
        entry.server.start()
        entry.wait_inserted()
        return entry

    yield serve
    for entry in served:  # stop them all (a card may have been served again) ...
        entry.server.stop()
    for slot in {entry.slot for entry in served}:  # ... then see the readers empty
        wait_for_reader(reader_name(slot), atr=None)
