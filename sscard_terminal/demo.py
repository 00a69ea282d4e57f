"""The main job (`sscard demo`, `./run demo`): virtual cards read through real PC/SC.

Starts pcscd if none runs, personalises a 2nd- and a 3rd-generation Ningbo
card into card images under a temporary directory, serves each through
pcscd's vpcd reader, and reads it with the driver over pyscard, as a kiosk
would. Prints the national line, the cardholder record and the APDU count.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sscard_terminal.driver.national import LINE_HOLDER_KEYS, LINE_ISSUER_KEYS, line_from_record
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import ReaderError
from sscard_terminal.system.pcscd import ensure_pcscd, vpcd_installed
from sscard_terminal.transport.base import open_transport
from sscard_terminal.vcard.factory import card_from_image, write_new_image
from sscard_terminal.vpcd.bridge import serve_card, slot_port

READER_SLOT0 = "Virtual PCD 00 00"


def wait_for_card(reader: str, present: bool = True, timeout: float = 10.0) -> None:
    """Wait until PC/SC shows (or no longer shows) a card in ``reader``."""
    from sscard_terminal.transport.pcsc import list_readers

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for info in list_readers():
            if reader in info.name and info.card_present == present:
                return
        time.sleep(0.05)
    state = "appear" if present else "leave"
    raise ReaderError(f"the virtual card did not {state} in {reader!r} within {timeout:.0f} s")


def run_demo(
    echo: Callable[[str], None] = print, profiles: tuple[str, ...] = ("ningbo-gen2", "ningbo-gen3")
) -> None:
    if not vpcd_installed():
        raise ReaderError(
            "vpcd is not installed", hint="run ./run demo, which installs vsmartcard-vpcd"
        )
    pcscd = ensure_pcscd()
    try:
        with tempfile.TemporaryDirectory(prefix="sscard-demo-") as tmp:
            for profile in profiles:
                image_path = Path(tmp) / f"{profile}.json"
                write_new_image(image_path, profile)
                echo(f"== {profile}: card image {image_path.name}, served on vpcd slot 0")
                card = card_from_image(image_path)
                stop = threading.Event()
                thread = threading.Thread(
                    target=serve_card,
                    args=(card,),
                    kwargs={"port": slot_port(0), "stop": stop},
                    daemon=True,
                )
                thread.start()
                try:
                    wait_for_card(READER_SLOT0)
                    with open_transport("pcsc", reader=READER_SLOT0) as transport:
                        driver = SocialSecurityCard(transport)
                        line_record = driver.read(LINE_ISSUER_KEYS, LINE_HOLDER_KEYS)
                        line_apdus = driver.session.stats.apdus
                        driver.session.stats.reset()
                        record = driver.read()
                        full_apdus = driver.session.stats.apdus
                    echo(f"iReadCardBas line ({line_apdus} APDUs through PC/SC):")
                    echo("  " + str(line_from_record(line_record)))
                    if record.holder is None:
                        echo(
                            f"  EF06: {record.holder_unavailable}; reading it needs card security"
                        )
                    from sscard_terminal.cli.render import record_table

                    echo(f"cardholder record ({full_apdus} APDUs):")
                    for row in record_table(record).splitlines():
                        echo("  " + row)
                finally:
                    stop.set()
                    thread.join(timeout=5)
                    wait_for_card(READER_SLOT0, present=False)
    finally:
        pcscd.stop()
