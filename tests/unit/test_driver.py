"""The reader driver over the in-process virtual transport.

Cards are personalised here for people made up here; expected values come
from the person and the card parameters, never from a profile's test person.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import pytest

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.codecs.atr import Atr
from sscard_terminal.codecs.card_id_code import parse_card_id_code
from sscard_terminal.codecs.card_number import is_valid_card_number
from sscard_terminal.codecs.masking import mask_id_number
from sscard_terminal.driver.national import FIELDS, NationalLine, read_national_line
from sscard_terminal.driver.session import CardSession
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import CorruptResponseError, NoCardError
from sscard_terminal.person import Person
from sscard_terminal.transport.base import Transport, open_transport
from sscard_terminal.transport.tracing import TracingTransport
from sscard_terminal.vcard.personalise import CardParameters, expiry_for
from tests.virtual_cards import make_person, new_card

LONG_NAME = "阿卜杜热合曼·买买提艾力·阿不都克热木江"  # more than 30 GBK bytes: uses tag 4E


def person(name: str = "王小明", birth: dt.date = dt.date(1988, 8, 8), seq: str = "117") -> Person:
    return make_person(name, "330204", birth, seq)


PARAMS = CardParameters(serial=0x00C0FFEE, issue_date=dt.date(2020, 2, 29))


def test_full_read_gen2() -> None:
    who = person()
    with open_transport("virtual", card=new_card("ningbo-gen2", who, PARAMS)) as transport:
        driver = SocialSecurityCard(transport)
        record = driver.read()
        # SELECT, 7 + 6 items (no 4E: the name does not fill tag 09), and the
        # card identification code and the name read twice
        assert driver.session.stats.apdus == 16
    assert record.holder is not None
    assert record.holder.id_number == who.id_number
    assert record.holder.name == who.name
    assert record.holder.sex == who.sex
    assert record.holder.birth_date == who.birth_date.strftime("%Y%m%d")
    assert record.holder.birthplace == who.birthplace
    assert record.holder.ethnic_group == who.ethnic_group
    issuer = record.issuer
    assert issuer.spec_version == "2.00"
    assert issuer.issue_date == "20200229"
    # 29 February + 10 years: the day before the anniversary (1 March 2030)
    assert issuer.expiry_date == "20300228" == expiry_for(PARAMS.issue_date, 10).strftime("%Y%m%d")
    assert is_valid_card_number(issuer.card_number or "")
    code = parse_card_id_code(issuer.card_id_code or "")
    assert code.region == "330200" and code.serial == PARAMS.serial and code.verify()
    assert record.historical_bytes == Atr.parse(record.atr).historical


def test_national_line_gen2_fields_and_count() -> None:
    who = person(LONG_NAME)
    vcard = new_card("ningbo-gen2", who, PARAMS)
    with open_transport("virtual", card=vcard) as transport:
        driver = SocialSecurityCard(transport)
        line = read_national_line(driver, terminal_number="", device_number="K0001")
        # SELECT, 5 EF05 items and the card identification code again, the ID
        # number, the name twice and (a full tag 09) the name extension twice
        assert driver.session.stats.apdus == 12
    text = str(line)
    assert text.endswith("|") and text.count("|") == 11
    items = NationalLine.parse(text).as_dict()
    assert list(items) == list(FIELDS)
    assert items["region code"] == "330200"
    assert items["social security number"] == who.id_number
    assert items["name"] == who.name  # tag 09 + tag 4E
    assert items["card reset info"] == Atr.parse(vcard.atr).historical.hex().upper()
    assert items["spec version"] == "2.00"
    assert items["terminal number"] == "" and items["terminal device number"] == "K0001"


def test_national_line_of_a_short_name_costs_10_apdus() -> None:
    who = person("王小明")
    with open_transport("virtual", card=new_card("ningbo-gen2", who, PARAMS)) as transport:
        driver = SocialSecurityCard(transport)
        line = read_national_line(driver).as_dict()
        assert driver.session.stats.apdus == 10
    assert line["name"] == who.name


def test_gen3_line_leaves_ef06_items_empty() -> None:
    who = person()
    with open_transport("virtual", card=new_card("ningbo-gen3", who, PARAMS)) as transport:
        driver = SocialSecurityCard(transport)
        record = driver.read()
        line = read_national_line(driver).as_dict()
    assert record.holder is None and "6982" in (record.holder_unavailable or "")
    assert line["social security number"] == "" and line["name"] == ""
    assert line["spec version"] == "3.00" and line["card number"] != ""


def test_select_with_fci_uses_get_response() -> None:
    with open_transport("virtual", card=new_card("ningbo-gen3", person(), PARAMS)) as transport:
        driver = SocialSecurityCard(transport)
        fci = driver.select_ssse(fetch_fci=True)
        assert driver.session.stats.apdus == 2
    assert fci.startswith(b"\x6f\x1c\x84\x0f") and fci.endswith(bytes.fromhex("9F0C03860103"))


def test_session_resends_after_6cxx() -> None:
    who = person()
    with open_transport("virtual", card=new_card("ningbo-gen2", who, PARAMS)) as transport:
        session = CardSession(transport)
        session.send(CommandApdu(0, 0xA4, 0x04, 0x0C, "sx1.sh.社会保障".encode("gbk")))
        data = session.send(CommandApdu(0, 0xB2, 0x08, 0x30, ne=256))  # Le=00
        assert session.stats.apdus == 3  # SELECT, READ RECORD -> 6C14, READ RECORD again
    assert data[2:].decode() == who.id_number


class Mangler:
    """A transport wrapper that damages answers (unit test of the layer above)."""

    def __init__(self, inner: Transport, mangle: Callable[[bytes, bytes], bytes]) -> None:
        self.inner, self.mangle = inner, mangle
        self.description = "mangler"

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def transmit(self, command: bytes) -> bytes:
        return self.mangle(command, self.inner.transmit(command))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c, r: r[:1],  # one byte: no SW
        lambda c, r: r[:-2] + b"\x12\x34",  # invalid SW
        lambda c, r: (bytes([r[0] ^ 0x01]) + r[1:]) if c[1] == 0xB2 and len(r) > 2 else r,  # tag
        lambda c, r: (
            (r[:2] + b"\xff" * (len(r) - 4) + r[-2:]) if c[1] == 0xB2 and len(r) > 4 else r
        ),
    ],
    ids=["truncated", "invalid-sw", "wrong-tag", "garbage-value"],
)
def test_corrupted_answers_are_errors_not_results(mangle: object) -> None:
    vcard = new_card("ningbo-gen2", person(), PARAMS)
    transport = open_transport("virtual", card=vcard)
    transport.connect()
    driver = SocialSecurityCard(Mangler(transport, mangle))  # type: ignore[arg-type]
    with pytest.raises(CorruptResponseError):
        driver.read()


def test_virtual_transport_needs_connect() -> None:
    transport = open_transport("virtual", card=new_card("ningbo-gen2", person(), PARAMS))
    with pytest.raises(NoCardError):
        transport.transmit(bytes.fromhex("00A40000023F00"))


def test_trace_decodes_and_masks(caplog: pytest.LogCaptureFixture) -> None:
    who = person()
    inner = open_transport("virtual", card=new_card("ningbo-gen2", who, PARAMS))
    with (
        TracingTransport(inner) as transport,
        caplog.at_level(logging.INFO, "sscard_terminal.trace"),
    ):
        SocialSecurityCard(transport).read()
    text = caplog.text
    assert "READ RECORD EF06 tag 09 name" in text
    assert "READ RECORD EF05 tag 07 card number" in text
    assert "SELECT SSSE" in text
    assert who.id_number not in text and who.name not in text
    assert mask_id_number(who.id_number) in text


def test_trace_reveals_on_request() -> None:
    who = person()
    # a logger of its own: other code may put masking filters on the root handlers
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test.trace.reveal")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(Collect())
    inner = open_transport("virtual", card=new_card("ningbo-gen2", who, PARAMS))
    with TracingTransport(inner, logger=logger, reveal=True) as transport:
        SocialSecurityCard(transport).read()
    assert any(who.id_number in line for line in records)


def test_trace_redacts_pin_and_cryptograms(caplog: pytest.LogCaptureFixture) -> None:
    inner = open_transport("virtual", card=new_card("ningbo-gen2", person(), PARAMS))
    secret_pin = bytes.fromhex("00200000031234 5F".replace(" ", ""))
    cryptogram = bytes.fromhex("0082000410" + "A1B2C3D4E5F60718" + "1122334455667788")
    with TracingTransport(inner) as transport, caplog.at_level(logging.INFO):
        transport.transmit(secret_pin)
        transport.transmit(cryptogram)
    assert "VERIFY PIN [3 bytes redacted]" in caplog.text
    assert "12345F" not in caplog.text.replace(" ", "")
    assert "A1B2C3D4" not in caplog.text.replace(" ", "")


def test_missing_names_what_a_read_did_not_give() -> None:
    from sscard_terminal.driver.national import LINE_HOLDER_KEYS, LINE_ISSUER_KEYS
    from sscard_terminal.driver.sscard import FULL_HOLDER_KEYS, FULL_ISSUER_KEYS

    who = person()
    gen3 = open_transport("virtual", card=new_card("ningbo-gen3", who, PARAMS))
    gen3.connect()
    record = SocialSecurityCard(gen3).read(LINE_ISSUER_KEYS, LINE_HOLDER_KEYS)
    assert record.missing(LINE_ISSUER_KEYS, LINE_HOLDER_KEYS) == (
        "social security number",
        "name",
    )
    gen2 = open_transport("virtual", card=new_card("ningbo-gen2", who, PARAMS))
    gen2.connect()
    whole = SocialSecurityCard(gen2).read()
    assert whole.missing(FULL_ISSUER_KEYS, FULL_HOLDER_KEYS) == ()
