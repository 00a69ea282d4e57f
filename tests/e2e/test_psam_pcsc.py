"""The PSAM through the real stack, as a kiosk with a SAM slot drives it: the card in
"Virtual PCD 00 00", the virtual PSAM in "Virtual PCD 00 01", both through
pyscard -> pcscd -> vpcd -> the bridge. The PSAM is also driven with raw APDUs
from card-spec.md by pcsc-tools' scriptor, and its cryptogram is checked against
one computed here from the ``cryptography`` primitives.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from sscard_terminal.codecs.atr import Atr
from sscard_terminal.codecs.id_number import make_id_number
from sscard_terminal.driver.psam import PsamSam
from sscard_terminal.driver.sam import AuthCard, CardContext
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import SecurityStatusNotSatisfiedError
from sscard_terminal.person import Person
from sscard_terminal.transport.base import open_transport
from sscard_terminal.vcard.factory import psam_from_profile
from sscard_terminal.vcard.personalise import CardParameters
from tests.e2e.conftest import ServeCard
from tests.e2e.pcsc_tools import scriptor
from tests.virtual_cards import new_card

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
PSAM_READER = "Virtual PCD 00 01"
SHIPPED = Path(__file__).resolve().parents[2] / "card_profiles"
TERMINAL_NUMBER = "330200000001"

PERSON = Person.from_mapping(
    {
        "name": "孙·悟空",
        "id_number": make_id_number("330211", dt.date(1981, 10, 1), "517"),
        "ethnic_group": "01",
        "birthplace": "330211",
    }
)
PARAMS = CardParameters(serial=0x0BADCAFE, issue_date=dt.date(2022, 8, 18))


def context(driver: SocialSecurityCard) -> AuthCard:
    """The card's public context from its ATR and EF05."""
    atr = driver.transport.atr
    driver.select_ssse()
    issuer = driver.read_issuer()
    code = issuer.card_id_code or ""
    algorithm = "sm4" if (issuer.spec_version or "").startswith("3") else "3des"
    ctx = CardContext(atr, Atr.parse(atr).diversification_factor, code[:6], code, algorithm)
    return AuthCard(driver.session, ctx)


def test_psam_on_slot_1_authenticates_the_gen3_card_on_slot_0(served_card: ServeCard) -> None:
    card = served_card(new_card("ningbo-gen3", PERSON, PARAMS), 0)
    served_card(psam_from_profile("psam-ningbo"), 1)
    with open_transport(reader=card.reader) as transport:
        driver = SocialSecurityCard(transport)
        auth = context(driver)
        with pytest.raises(SecurityStatusNotSatisfiedError):
            driver.read_holder()  # refused by the card itself (6982)
        with PsamSam.open(PSAM_READER) as sam:
            assert sam.terminal_number == TERMINAL_NUMBER
            sam.authenticate(auth, 0x0A)
            assert sam.session.stats.apdus == 6  # 3 to open, DSK + CIPHER DATA + GET RESPONSE
        holder = driver.read_holder()
    assert holder.id_number == PERSON.id_number
    assert holder.name == PERSON.name


def test_a_psam_reset_by_another_program_is_started_again(
    served_card: ServeCard, caplog: pytest.LogCaptureFixture
) -> None:
    """Two tills sharing one PSAM reader: the other till's reset (PC/SC
    SCARD_W_RESET_CARD here) loses the ADF selection; the next authentication
    starts the PSAM again instead of failing."""
    card = served_card(new_card("ningbo-gen3", PERSON, PARAMS), 0)
    served_card(psam_from_profile("psam-ningbo"), 1)
    with open_transport(reader=card.reader) as transport, PsamSam.open(PSAM_READER) as sam:
        driver = SocialSecurityCard(transport)
        with open_transport(reader=PSAM_READER) as other:
            other.reset()  # the other till
        before = sam.session.stats.apdus
        with caplog.at_level("INFO", logger="sscard_terminal.driver.psam"):
            sam.authenticate(context(driver), 0x0A)
        assert "reset by another program" in caplog.text
        # READ EF 0016, EF 0015, SELECT ADF again, then DSK + CIPHER DATA + GET RESPONSE
        assert sam.session.stats.apdus - before == 6
        assert driver.read_holder().id_number == PERSON.id_number


def test_psam_answers_card_spec_apdus_through_scriptor(served_card: ServeCard) -> None:
    served_card(psam_from_profile("psam-ningbo"), 1)
    keys = yaml.safe_load((SHIPPED / "keys" / "ningbo-test-keys.yaml").read_text(encoding="utf-8"))
    master = next(bytes.fromhex(k["value"]) for k in keys["keys"] if k["psam_key_id"] == "12")
    card_factor, city_factor = bytes.fromhex("8660330200112233"), b"330200sx"
    r = bytes.fromhex("F0E1D2C3B4A59687")

    def des(key: bytes, data: bytes) -> bytes:
        enc = Cipher(
            TripleDES(key * 3 if len(key) == 8 else key + key[:8]), modes.ECB()
        ).encryptor()
        return enc.update(data) + enc.finalize()

    key = master
    for factor in (card_factor, city_factor):
        key = des(key, factor) + des(key, bytes(b ^ 0xFF for b in factor))
    expected = des(des(key, r), r)

    answers = scriptor(
        PSAM_READER,
        "00 A4 00 00 02 3F 00",  # the MF (where EF 0015 and EF 0016 are)
        "00 C0 00 00 13",
        "00 B0 96 00 06",  # terminal number
        "00 B0 95 01 0A",  # issuer + PSAM serial
        "00 A4 04 00 06 D1 56 00 00 05 90",  # the ADF
        "00 C0 00 00 0A",
        "00 B0 99 00 04",  # terminal transaction sequence number
        "BF DE 48 12 18" + (card_factor + city_factor + r).hex(),  # card-spec.md flow step 3
        "80 FA 00 00 08" + r.hex(),  # step 4
        "00 C0 00 00 08",
        "BF DE 48 20 18" + (card_factor + city_factor + r).hex(),  # no PSAM key 20
        "80 FA 00 00 08" + r.hex(),  # the failed delivery left no session key
    )
    assert answers[0] == "6113"
    assert answers[1] == "6F11840F" + "sx2.sh.社会保障".encode("gbk").hex().upper() + "9000"
    assert answers[2] == TERMINAL_NUMBER + "9000"
    assert answers[3] == "33020000000000000001" + "9000"
    assert answers[4:7] == ["610A", "6F088406D15600000590" + "9000", "00000000" + "9000"]
    assert answers[7:10] == ["9000", "6108", expected.hex().upper() + "9000"]
    assert answers[10:] == ["6A88", "6985"]


def test_cli_serves_the_psam_and_reads_the_line_with_it(
    served_card: ServeCard, reader_empty: Callable[[int], str]
) -> None:
    """`sscard card serve --profile psam-ningbo --slot 1` and `sscard read --sam pcsc`."""
    card = served_card(new_card("ningbo-gen3", PERSON, PARAMS), 0)
    reader_empty(1)
    proc = subprocess.Popen(
        [*CLI, "card", "serve", "--profile", "psam-ningbo", "--slot", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                sam = PsamSam.open(PSAM_READER)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with sam:
            assert sam.terminal_number == TERMINAL_NUMBER
        result = subprocess.run(
            [
                *CLI,
                "read",
                "--line",
                "--sam",
                "pcsc",
                "--reader",
                card.reader,
                "--device-number",
                "K0001",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        items = result.stdout.strip().split("|")
        assert len(items) == 12 and items[11] == ""  # eleven items, each ending in "|"
        assert all(items[:11]), items  # all eleven fields filled
        assert items[1] == PERSON.id_number and items[4] == PERSON.name
        assert items[6] == "3.00" and items[9] == TERMINAL_NUMBER and items[10] == "K0001"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    reader_empty(1)
