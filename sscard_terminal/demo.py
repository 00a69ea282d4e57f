"""The main job (`sscard demo`, `./run demo`): virtual cards read through real PC/SC.

Starts pcscd if none runs, personalises a 2nd- and a 3rd-generation Ningbo
card into card images under a temporary directory and serves them through
pcscd's vpcd reader (slot 0), with the virtual PSAM in the SAM slot (slot 1),
then reads them with the driver over pyscard as a kiosk would: the national
line and the cardholder record of the 2.0 card, the 3.0 card without and with
authentication through the PSAM, and the PIN through a simulated PIN pad.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sscard_terminal.driver.national import LINE_HOLDER_KEYS, LINE_ISSUER_KEYS, line_from_record
from sscard_terminal.driver.pin import SimulatedPinPad
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import ReaderError, VpcdSlotTakenError
from sscard_terminal.system.pcscd import ensure_pcscd, vpcd_installed
from sscard_terminal.terminal.station import Station, StationSpec
from sscard_terminal.transport.base import list_readers, open_transport
from sscard_terminal.vcard.factory import card_from_image, card_from_profile, write_new_image
from sscard_terminal.vcard.interface import SimulatedCard
from sscard_terminal.vpcd.bridge import serve_card, slot_port

READER_SLOT0 = "Virtual PCD 00 00"
READER_SLOT1 = "Virtual PCD 00 01"
#: the published test PIN of the shipped profiles, typed by the simulated PIN pad
DEMO_PIN = "123456"


def wait_for_card(reader: str, present: bool = True, timeout: float = 10.0) -> None:
    """Wait until PC/SC shows (or no longer shows) a card in ``reader``."""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for info in list_readers():
            if reader in info.name and info.card_present == present:
                return
        time.sleep(0.05)
    state = "appear" if present else "leave"
    raise ReaderError(f"the virtual card did not {state} in {reader!r} within {timeout:.0f} s")


#: how long the demo waits for vpcd to take a card (and for a slot to empty)
FIRST_CONTACT_SECONDS = 10.0


def _slot_free(reader: str, slot: int, timeout: float = 3.0) -> None:
    """The demo serves its own cards: a card already in the slot (another
    `sscard card serve`, a test) is named, not waited for in silence."""
    try:
        wait_for_card(reader, present=False, timeout=timeout)
    except ReaderError:
        raise VpcdSlotTakenError(
            f"vpcd slot {slot} ({reader!r}) already holds a card served by another program; "
            "the demo needs slots 0 and 1"
        ) from None


@contextmanager
def served(card: SimulatedCard, slot: int) -> Iterator[str]:
    """Serve ``card`` on a vpcd slot until the block ends; yields the reader name.

    Raises :class:`VpcdSlotTakenError` when the slot holds another card and
    :class:`VpcdUnreachableError` when vpcd cannot be reached (both exit 3)."""
    reader = READER_SLOT0 if slot == 0 else READER_SLOT1
    _slot_free(reader, slot)
    stop = threading.Event()
    failed: list[BaseException] = []

    def serve() -> None:
        try:
            serve_card(card, port=slot_port(slot), stop=stop, first_contact=FIRST_CONTACT_SECONDS)
        except ReaderError as exc:
            failed.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + FIRST_CONTACT_SECONDS + 5
        while True:
            if failed:
                raise failed[0]
            try:
                wait_for_card(reader, timeout=0.5)
                break
            except ReaderError:
                if time.monotonic() > deadline:
                    raise
        yield reader
    finally:
        stop.set()
        thread.join(timeout=5)
        wait_for_card(reader, present=False)


def _table(echo: Callable[[str], None], text: str) -> None:
    for row in text.splitlines():
        echo("  " + row)


def run_demo(echo: Callable[[str], None] = print) -> None:
    from sscard_terminal.driver.cardholder_table import record_table
    from sscard_terminal.driver.psam import PsamSam

    if not vpcd_installed():
        raise ReaderError(
            "vpcd is not installed", hint="run ./run demo, which installs vsmartcard-vpcd"
        )
    pcscd = ensure_pcscd()
    try:
        with tempfile.TemporaryDirectory(prefix="sscard-demo-") as tmp:
            gen2 = Path(tmp) / "ningbo-gen2.json"
            write_new_image(gen2, "ningbo-gen2")
            echo("== ningbo-gen2 (spec 2.00, 3DES): card image served on vpcd slot 0")
            with (
                served(card_from_image(gen2), 0) as reader,
                open_transport(reader=reader) as transport,
            ):
                driver = SocialSecurityCard(transport)
                line_record = driver.read(LINE_ISSUER_KEYS, LINE_HOLDER_KEYS)
                echo(f"iReadCardBas line ({driver.session.stats.apdus} APDUs through PC/SC):")
                echo("  " + str(line_from_record(line_record)))
                driver.session.stats.reset()
                record = driver.read()
                echo(f"cardholder record ({driver.session.stats.apdus} APDUs):")
                _table(echo, record_table(record))

            gen3 = Path(tmp) / "ningbo-gen3.json"
            write_new_image(gen3, "ningbo-gen3")
            echo("== ningbo-gen3 (spec 3.00, SM4) on slot 0, the virtual PSAM on slot 1")
            with (
                served(card_from_image(gen3), 0) as reader,
                served(card_from_profile("psam-ningbo"), 1) as psam_reader,
            ):
                with open_transport(reader=reader) as transport:
                    driver = SocialSecurityCard(transport)
                    plain = driver.read(LINE_ISSUER_KEYS, LINE_HOLDER_KEYS)
                    echo(
                        f"without authentication the card refuses EF06: {plain.holder_unavailable}"
                    )
                    echo("  " + str(line_from_record(plain)))
                spec = StationSpec(
                    reader=reader, sam="pcsc", sam_reader=psam_reader, device_number="K0001"
                )
                pad = SimulatedPinPad([DEMO_PIN])
                with Station(spec, pins=pad) as station, station.card() as driver:
                    sam = station.sam
                    assert isinstance(sam, PsamSam)
                    record = driver.read(LINE_ISSUER_KEYS, LINE_HOLDER_KEYS, sam=sam)
                    echo(
                        f"with the PSAM (terminal {station.terminal_number}): "
                        f"{driver.session.stats.apdus} card APDUs, "
                        f"{sam.session.stats.apdus} PSAM APDUs"
                    )
                    terminal = station.terminal_number
                    echo("  " + str(line_from_record(record, terminal, spec.device_number)))
                    driver.select_ssse()
                    driver.verify_pin(station.pin_source().get_pin("PIN"))
                    echo(f"PIN verified on the simulated PIN pad ({driver.pin_tries()} tries left)")

            from sscard_terminal.demo_settlement import run_settlement_demo

            run_settlement_demo(echo, Path(tmp), served)
    finally:
        pcscd.stop()
