"""The virtual card OS: tables of command APDU -> expected response.

The card is personalised for a person made up here, not the profile's test
person, and expected answers are built from that person's data through the
codecs, so nothing is hard-wired.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sscard_terminal.codecs.records import ITEMS_BY_TAG, encode_value
from sscard_terminal.codecs.tlv import build_item
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.personalise import CardParameters
from tests.virtual_cards import make_person, new_card

SSSE = "7378312E73682EC9E7BBE1B1A3D5CF"
SELECT_SSSE = "00A404000F" + SSSE
FCI_GEN2 = "6F1C840F" + SSSE + "A50988011E9F0C03860101"
FCI_GEN3 = "6F1C840F" + SSSE + "A50988011E9F0C03860103"

PERSON = make_person("欧阳·娜娜", "330281", dt.date(1978, 2, 14), "042", ethnic_group="02")
PARAMS = CardParameters(serial=0x1234ABCD, issue_date=dt.date(2019, 7, 1))


def item(tag: int, text: str) -> str:
    return build_item(tag, encode_value(ITEMS_BY_TAG[tag], text)).hex().upper()


def counting(n: int) -> bytes:
    """The card's random numbers: 00 01 02 ..., the same at every run."""
    return bytes(range(n))


def run(card: CardOS, *hex_apdus: str) -> list[str]:
    return [card.process(bytes.fromhex(h)).hex().upper() for h in hex_apdus]


ID_ITEM = item(0x08, PERSON.id_number)
NAME_ITEM = item(0x09, PERSON.name)
SEX_ITEM = item(0x0A, PERSON.sex)

# (description, setup APDUs, command, expected response)
TABLE_GEN2 = [
    ("select SSSE by name, T=0 style", [], SELECT_SSSE, "611E"),
    ("GET RESPONSE fetches the FCI", [SELECT_SSSE], "00C000001E", FCI_GEN2 + "9000"),
    ("select SSSE with Le=00 gets 6Cxx", [], SELECT_SSSE + "00", "6C1E"),
    ("select SSSE with exact Le", [], SELECT_SSSE + "1E", FCI_GEN2 + "9000"),
    ("select SSSE, no response data", [], "00A404000F" + SSSE, "611E"),
    ("select by name P2=0C", [], "00A4040C0F" + SSSE, "9000"),
    ("unknown DF name", [], "00A4040003AABBCC", "6A82"),
    ("select MF by FID", [], "00A40000023F00", "6106"),
    ("MF FCI carries its FID", ["00A40000023F00"], "00C0000006", "6F0483023F009000"),
    ("select EF05 by FID", [SELECT_SSSE], "00A4020002EF05", "9000"),
    ("select missing EF", [SELECT_SSSE], "00A4020002EF99", "6A82"),
    ("select DF04 by AID", [SELECT_SSSE], "00A4040006D15600000503", "6112"),
    ("select DF04 by path from MF", [], "00A4080002DF04", "6A82"),
    ("select EF by path from MF", [], "00A4080004EF05EF06", "6A82"),
    ("select DF04 by path from SSSE", [SELECT_SSSE], "00A4090002DF04", "6112"),
    ("select DF04 EF08 by path from SSSE", [SELECT_SSSE], "00A4090004DF04EF08", "9000"),
    (
        "read the log selected by path (PIN needed)",
        [SELECT_SSSE, "00A4090004DF04EF08"],
        "00B201041C",
        "6982",
    ),
    ("select parent", [SELECT_SSSE, "00A4040006D15600000503"], "00A40300", "611E"),
    ("odd-length path", [SELECT_SSSE], "00A4090003DF04EF", "6A87"),
    ("select with bad P1", [], "00A4050002EF05", "6A86"),
    ("select with bad P2", [], "00A4040101AA", "6A86"),
    ("read EF06 tag 08 by SFI", [SELECT_SSSE], "00B2083014", ID_ITEM + "9000"),
    ("read EF06 record 1 by SFI", [SELECT_SSSE], "00B2013414", ID_ITEM + "9000"),
    ("read EF06 record 2 = name", [SELECT_SSSE], "00B2023420", NAME_ITEM + "9000"),
    ("read EF06 tag 0A sex", [SELECT_SSSE], "00B20A3003", SEX_ITEM + "9000"),
    ("read current EF by tag", [SELECT_SSSE, "00A4020002EF06"], "00B2080014", ID_ITEM + "9000"),
    ("read current EF by record", [SELECT_SSSE, "00A4020002EF06"], "00B2010414", ID_ITEM + "9000"),
    ("Le=00 gets 6Cxx", [SELECT_SSSE], "00B2083000", "6C14"),
    ("wrong Le gets 6Cxx", [SELECT_SSSE], "00B2083010", "6C14"),
    ("no Le gets 6Cxx", [SELECT_SSSE], "00B20830", "6C14"),
    ("missing tag", [SELECT_SSSE], "00B24E3016", "6A83"),
    ("missing record", [SELECT_SSSE], "00B2143414", "6A83"),
    ("record 0", [SELECT_SSSE], "00B2003414", "6A86"),
    ("unsupported read mode", [SELECT_SSSE], "00B2013514", "6A86"),
    ("no current EF", [SELECT_SSSE], "00B2080014", "6986"),
    ("unknown SFI", [SELECT_SSSE], "00B2085814", "6A82"),
    ("read record on transparent EF", [SELECT_SSSE], "00B2013C14", "6981"),
    ("read EF07 without RKSSSE", [SELECT_SSSE], "00B0870008", "6982"),
    ("update EF06 without UKSSSE", [SELECT_SSSE], "00DC0A3003" + "0A0132", "6982"),
    ("update EF05 without UKSSSE", [SELECT_SSSE], "00DC022C03" + "020133", "6982"),
    ("DF04 EF05 without PIN", [SELECT_SSSE, "00A4040006D15600000503"], "00B2802800", "6982"),
    ("DF04 log without PIN", [SELECT_SSSE, "00A4040006D15600000503"], "00B201441C", "6982"),
    (
        "append without PIN",
        [SELECT_SSSE, "00A4040006D15600000503"],
        "00E200401C" + "00" * 28,
        "6982",
    ),
    ("read binary on record EF", [SELECT_SSSE, "00A4020002EF05"], "00B0000008", "6981"),
    ("GET CHALLENGE 8", [], "0084000008", "00010203040506079000"),
    ("GET CHALLENGE 4", [], "0084000004", "000102039000"),
    ("GET CHALLENGE Le=00", [], "0084000000", "6C08"),
    ("GET CHALLENGE bad P1", [], "0084010008", "6A86"),
    ("GET RESPONSE with nothing pending", [], "00C0000010", "6985"),
    ("GET RESPONSE wrong Le", [SELECT_SSSE], "00C0000010", "6C1E"),
    ("unknown INS", [], "00CA9F7F00", "6D00"),
    ("odd INS", [], "00B1000000", "6D00"),
    ("unknown CLA", [], "A0A40000023F00", "6E00"),
    ("CLA FF", [], "FFA40000023F00", "6E00"),
    ("proprietary CLA on ISO INS", [], "80A40000023F00", "6E00"),
    ("secure messaging CLA", [], "0CA40000023F00", "6882"),
    ("logical channel", [], "01A40000023F00", "6881"),
    ("malformed length", [], "00A404000F7378", "6700"),
    ("4-byte header only selects the MF", [], "00A40000", "6106"),
    ("data on a read", [SELECT_SSSE], "00B2083001AA14", "6700"),
]

TABLE_GEN3 = [
    ("FCI announces SM4", [], SELECT_SSSE + "1E", FCI_GEN3 + "9000"),
    ("EF06 needs RKSSSE", [SELECT_SSSE], "00B2083014", "6982"),
    ("EF05 stays free", [SELECT_SSSE], "00B2032806", item(0x03, "3.00") + "9000"),
]


@pytest.mark.parametrize(
    ("what", "setup", "command", "expected"), TABLE_GEN2, ids=[t[0] for t in TABLE_GEN2]
)
def test_gen2_table(what: str, setup: list[str], command: str, expected: str) -> None:
    card = new_card("ningbo-gen2", PERSON, PARAMS, rng=counting)
    for apdu in setup:
        sw = card.process(bytes.fromhex(apdu))[-2:]
        assert sw[0] in (0x90, 0x61), f"setup {apdu} answered {sw.hex()}"
    assert run(card, command) == [expected]


@pytest.mark.parametrize(
    ("what", "setup", "command", "expected"), TABLE_GEN3, ids=[t[0] for t in TABLE_GEN3]
)
def test_gen3_table(what: str, setup: list[str], command: str, expected: str) -> None:
    card = new_card("ningbo-gen3", PERSON, PARAMS, rng=counting)
    for apdu in setup:
        card.process(bytes.fromhex(apdu))
    assert run(card, command) == [expected]


def test_update_record_after_security_and_tag_append() -> None:
    """With UKSSSE met, UPDATE RECORD replaces by tag and appends an unknown tag.

    The security status is set directly here: card security (EXTERNAL
    AUTHENTICATE) is its own layer and issue.
    """
    card = new_card("ningbo-gen2", PERSON, PARAMS, rng=counting)
    run(card, SELECT_SSSE)
    card._grant("key:04")
    assert run(card, "00DC0A3003" + "0A0132") == ["9000"]
    assert run(card, "00B20A3003") == ["0A01329000"]
    # unknown tag 4E is appended: the name extension
    ext = item(0x4E, "extra")
    assert run(card, "00DC4E30" + f"{len(ext) // 2:02X}" + ext) == ["9000"]
    assert run(card, "00B24E3016") == [ext + "9000"]
    # tag in data must match P1; TLV length must match
    assert run(card, "00DC0A3003" + "0B0132") == ["6A80"]
    assert run(card, "00DC0A3003" + "0A0232") == ["6A85"]
    # too long for the record size
    assert run(card, "00DC0A3032" + "0A30" + "31" * 48) == ["6A84"]
    # a DF's security status holds in its subtree (DF04 and back) ...
    run(card, "00A4040006D15600000503", SELECT_SSSE)
    assert run(card, "00DC0A3003" + "0A0131") == ["9000"]
    # ... and is lost when the subtree is left
    run(card, "00A40000023F00", SELECT_SSSE)
    assert run(card, "00DC0A3003" + "0A0132") == ["6982"]


def test_reset_clears_volatile_state() -> None:
    card = new_card("ningbo-gen2", PERSON, PARAMS, rng=counting)
    run(card, SELECT_SSSE, "00A4020002EF06")
    card._grant("key:04")
    card.reset()
    assert run(card, "00B2080014") == ["6986"]  # no current EF after reset
    assert card._state.security == set()
    run(card, SELECT_SSSE)
    card.power_off()
    card.power_on()
    assert run(card, "00B2083014") == ["6A82"]  # MF is current: no SFI 06 there


def test_cyclic_append_and_read() -> None:
    card = new_card("ningbo-gen2", PERSON, PARAMS, rng=counting)
    run(card, SELECT_SSSE, "00A4040006D15600000503")
    card._grant("pin")
    for i in range(32):
        record = bytes([i]) * 0x1C
        assert run(card, "00E200401C" + record.hex()) == ["9000"]
    # the newest is record 1, the file keeps 30 records
    assert run(card, "00B201441C") == [(bytes([31]) * 0x1C).hex().upper() + "9000"]
    assert run(card, "00B21E441C") == [(bytes([2]) * 0x1C).hex().upper() + "9000"]
    assert run(card, "00B21F441C") == ["6A83"]
    # wrong record size for a cyclic file
    assert run(card, "00E2004002AABB") == ["6700"]


def test_read_binary_with_security_and_offsets() -> None:
    card = new_card("ningbo-gen2", PERSON, PARAMS, rng=counting)
    run(card, SELECT_SSSE)
    card._grant("key:0A")
    card._grant("key:04")
    assert run(card, "00D6870004DEADBEEF") == ["9000"]
    assert run(card, "00B0870004") == ["DEADBEEF9000"]
    assert run(card, "00B0000204") == ["BEEF0000" + "9000"]  # current EF is EF07 now
    assert run(card, "00B002FF02") == ["6C01"]  # one byte left before the end
    assert run(card, "00B0030000") == ["6B00"]  # offset beyond 0x300
    assert run(card, "00D602FF020102") == ["6700"]  # write across the end


def test_atr_carries_region_and_serial() -> None:
    card = new_card("ningbo-gen2", PERSON, PARAMS, rng=counting)
    atr = card.atr
    assert atr[:9] == bytes.fromhex("3B6D000000814A4446")
    assert atr[-6:-4] == bytes.fromhex("3302")
    assert atr[-4:] == PARAMS.serial.to_bytes(4, "big")
