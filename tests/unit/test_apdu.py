"""The sans-IO APDU core: cases 1-4, short and extended, status words, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sscard_terminal.apdu.command import ApduCase, CommandApdu
from sscard_terminal.apdu.response import ResponseApdu
from sscard_terminal.apdu.status import SW, describe_sw, is_valid_sw
from sscard_terminal.errors import (
    CardFileNotFoundError,
    ExitCode,
    MalformedApduError,
    PinBlockedError,
    SecurityStatusNotSatisfiedError,
    StatusWordError,
    WrongPinError,
    error_for_sw,
)

# (hex, case, data length, ne)
VECTORS = [
    ("00A40400", ApduCase.CASE_1, 0, None),
    ("0084000008", ApduCase.CASE_2S, 0, 8),
    ("00B2013400", ApduCase.CASE_2S, 0, 256),
    ("00A404000F7378312E73682EC9E7BBE1B1A3D5CF", ApduCase.CASE_3S, 15, None),
    ("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00", ApduCase.CASE_4S, 15, 256),
    ("00B0000000012C", ApduCase.CASE_2E, 0, 300),
    ("00B0000000000000", None, 0, None),  # malformed: 8 bytes with B1=00 and Lc=0000
    ("00D60000000003AABBCC", ApduCase.CASE_3E, 3, None),
    ("00D60000000003AABBCC0000", ApduCase.CASE_4E, 3, 65536),
]


@pytest.mark.parametrize(("hexstr", "case", "nc", "ne"), VECTORS)
def test_parse_vectors(hexstr: str, case: ApduCase | None, nc: int, ne: int | None) -> None:
    raw = bytes.fromhex(hexstr)
    if case is None:
        with pytest.raises(MalformedApduError):
            CommandApdu.from_bytes(raw)
        return
    apdu = CommandApdu.from_bytes(raw)
    assert apdu.case is case
    assert len(apdu.data) == nc
    assert apdu.ne == ne
    assert apdu.to_bytes() == raw


@pytest.mark.parametrize(
    "hexstr",
    ["", "00", "00A4", "00A404", "00A404000F7378", "00A4040002AABBCCDD", "00B000000000020102AA"],
)
def test_malformed(hexstr: str) -> None:
    with pytest.raises(MalformedApduError):
        CommandApdu.from_bytes(bytes.fromhex(hexstr))


def test_le_field_zero_and_with_ne() -> None:
    apdu = CommandApdu.from_bytes(bytes.fromhex("00B2093000"))
    assert apdu.le_field_zero
    assert apdu.with_ne(0x20).to_bytes() == bytes.fromhex("00B2093020")
    assert not apdu.with_ne(0x20).le_field_zero


def test_field_ranges_refused() -> None:
    with pytest.raises(MalformedApduError):
        CommandApdu(0x100, 0, 0, 0)
    with pytest.raises(MalformedApduError):
        CommandApdu(0, 0xB0, 0, 0, ne=257)
    with pytest.raises(MalformedApduError):
        CommandApdu(0, 0xD6, 0, 0, b"\x00" * 256)


@given(
    cla=st.integers(0, 255),
    ins=st.integers(0, 255),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.binary(max_size=300),
    ne=st.one_of(st.none(), st.integers(1, 65536)),
)
def test_round_trip(cla: int, ins: int, p1: int, p2: int, data: bytes, ne: int | None) -> None:
    extended = len(data) > 255 or (ne is not None and ne > 256)
    apdu = CommandApdu(cla, ins, p1, p2, data, ne, extended)
    assert CommandApdu.from_bytes(apdu.to_bytes()) == apdu


def test_response() -> None:
    r = ResponseApdu.from_bytes(bytes.fromhex("0102039000"))
    assert r.data == b"\x01\x02\x03" and r.sw == 0x9000 and r.ok
    assert ResponseApdu.from_bytes(b"\x6a\x82").meaning == "file or application not found"
    with pytest.raises(MalformedApduError):
        ResponseApdu.from_bytes(b"\x90")


def test_every_sw_has_a_meaning() -> None:
    for sw in SW:
        assert describe_sw(sw) and not describe_sw(sw).startswith("unknown")
    assert describe_sw(0x63C2) == "verification failed, 2 tries left"
    assert describe_sw(0x63C1) == "verification failed, 1 try left"
    assert describe_sw(0x611E) == "30 response bytes available (GET RESPONSE)"
    assert describe_sw(0x6C20) == "wrong Le: 32 bytes available"
    assert "unknown" in describe_sw(0x1234)


def test_sw_validity() -> None:
    assert is_valid_sw(0x9000) and is_valid_sw(0x6A82) and is_valid_sw(0x9303)
    assert not is_valid_sw(0x6000) and not is_valid_sw(0x1234) and not is_valid_sw(0xA000)


def test_error_mapping() -> None:
    assert isinstance(error_for_sw(0x6982), SecurityStatusNotSatisfiedError)
    assert isinstance(error_for_sw(0x6A82), CardFileNotFoundError)
    wrong = error_for_sw(0x63C1, "VERIFY", pin=True)
    assert isinstance(wrong, WrongPinError) and wrong.tries_left == 1
    assert wrong.exit_code == ExitCode.PIN
    assert isinstance(error_for_sw(0x6983, pin=True), PinBlockedError)
    plain = error_for_sw(0x6983)
    assert type(plain) is StatusWordError and plain.exit_code == ExitCode.CARD_REFUSED
    assert "6983" in str(plain)
