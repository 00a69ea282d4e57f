"""Unit and property tests of sscard_terminal.codecs (LD/T 32-2015, GB 11643-1999)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes
from hypothesis import given
from hypothesis import strategies as st

from sscard_terminal.codecs.bcd import decode_cn, encode_cn
from sscard_terminal.codecs.card_id_code import (
    CardIdCode,
    authentication_code,
    make_card_id_code,
    parse_card_id_code,
)
from sscard_terminal.codecs.card_number import (
    check_character,
    is_valid_card_number,
    make_card_number,
)
from sscard_terminal.codecs.id_number import (
    PROVINCE_CODES,
    IdNumber,
    check_digit,
    is_region_code,
    make_id_number,
)
from sscard_terminal.codecs.masking import mask_id_number, mask_name
from sscard_terminal.codecs.records import (
    EF05_ITEMS,
    EF05_VECTORS,
    EF06_ITEMS,
    EF06_VECTORS,
    ITEMS_BY_KEY,
    ITEMS_BY_TAG,
    ItemSpec,
    decode_record,
    decode_value,
    encode_record,
    encode_value,
)
from sscard_terminal.codecs.text import decode_an, encode_an
from sscard_terminal.codecs.tlv import build_item, parse_item
from sscard_terminal.errors import PersonDataError

SPEC_ID = "330203199001011236"  # the id number on card-spec.md's iReadCardBas line

# -- record layouts -----------------------------------------------------------
ALL_VECTORS = [("EF05", *v) for v in EF05_VECTORS] + [("EF06", *v) for v in EF06_VECTORS]


@pytest.mark.parametrize(
    ("table", "key", "text", "expected_hex"),
    ALL_VECTORS,
    ids=[f"{t}-{k}-{i}" for i, (t, k, _, _) in enumerate(ALL_VECTORS)],
)
def test_record_vectors_both_ways(table: str, key: str, text: str, expected_hex: str) -> None:
    spec = ITEMS_BY_KEY[key]
    expected = bytes.fromhex(expected_hex)
    assert len(expected) == spec.length
    assert encode_value(spec, text) == expected
    assert decode_value(spec, expected) == text
    record = encode_record(spec, text)
    assert record == bytes([spec.tag, spec.length]) + expected
    assert decode_record(record) == (spec, text)


@pytest.mark.parametrize(
    ("items", "vectors"), [(EF05_ITEMS, EF05_VECTORS), (EF06_ITEMS, EF06_VECTORS)]
)
def test_vectors_cover_every_item(
    items: tuple[ItemSpec, ...], vectors: tuple[tuple[str, str, str], ...]
) -> None:
    assert {spec.key for spec in items} == {key for key, _, _ in vectors}


def test_record_tables_match_the_spec() -> None:
    assert [s.tag for s in EF05_ITEMS] == list(range(1, 8))
    assert [s.tag for s in EF06_ITEMS] == [0x08, 0x09, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D]
    assert [(s.kind, s.length) for s in EF06_ITEMS] == [
        ("an", 18),
        ("an", 30),
        ("an", 20),
        ("an", 1),
        ("cn", 1),
        ("cn", 3),
        ("cn", 4),
    ]
    assert [(s.kind, s.length) for s in EF05_ITEMS] == [
        ("cn", 16),
        ("an", 1),
        ("an", 4),
        ("cn", 12),
        ("cn", 4),
        ("cn", 4),
        ("an", 9),
    ]
    assert len(ITEMS_BY_TAG) == len(EF05_ITEMS) + len(EF06_ITEMS)
    assert ITEMS_BY_TAG[0x4E].key == "name_ext"


def test_name_vector_from_the_brief() -> None:
    assert encode_value("name", "张三") == bytes.fromhex("D5C5C8FD") + bytes(26)


def test_decode_value_accepts_space_and_ff_padding() -> None:
    assert decode_value("name", "张三".encode("gbk") + b" " * 26) == "张三"
    assert decode_value("card_number", b"D2143569X") == "D2143569X"
    assert decode_value("spec_version", b"3.00") == "3.00"
    assert decode_value("name", "张三".encode("gbk") + b"\xff" * 26) == "张三"


def test_card_id_code_keeps_ff_authentication_code() -> None:
    raw = bytes.fromhex("519900D15600000510000B26FFFFFFFF")
    assert decode_value("card_id_code", raw).endswith("FFFFFFFF")
    with pytest.raises(PersonDataError, match="card identification code"):
        encode_value("card_id_code", "519900D15600000510000B26")


def test_encode_value_errors_name_the_item() -> None:
    with pytest.raises(PersonDataError, match=r"sex \(tag 0A\)"):
        encode_value("sex", "12")
    with pytest.raises(PersonDataError, match=r"birth date \(tag 0D\).*'x'"):
        encode_value("birth_date", "1990010x")
    with pytest.raises(PersonDataError, match=r"name \(tag 09\).*U\+1F600"):
        encode_value("name", "张\U0001f600")
    with pytest.raises(PersonDataError, match="unknown data item"):
        encode_value("nickname", "x")


def test_decode_value_and_record_errors() -> None:
    with pytest.raises(PersonDataError, match=r"birthplace \(tag 0C\).*3 bytes, got 2"):
        decode_value("birthplace", b"\x33\x02")
    with pytest.raises(PersonDataError, match=r"name \(tag 09\).*not valid GBK"):
        decode_value("name", b"\x81\x20" + bytes(28))  # a lone lead byte, then a space
    with pytest.raises(PersonDataError, match="unknown tag 55"):
        decode_record(b"\x55\x01\x31")
    with pytest.raises(PersonDataError, match="length byte"):
        decode_record(b"\x0a\x02\x31")


# -- BCD (cn) -------------------------------------------------------------------
def test_encode_cn_pads_with_f() -> None:
    assert encode_cn("123", 3) == bytes.fromhex("123FFF")
    assert encode_cn("", 2) == b"\xff\xff"
    assert encode_cn("d156000005", 5) == bytes.fromhex("D156000005")


def test_decode_cn() -> None:
    assert decode_cn(bytes.fromhex("123FFF")) == "123"
    assert decode_cn(bytes.fromhex("d15f")) == "D15"
    assert decode_cn(bytes.fromhex("12FF"), strip_padding=False) == "12FF"


def test_encode_cn_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="7 digits do not fit in 3 bytes"):
        encode_cn("1234567", 3)
    with pytest.raises(ValueError, match="'G' at position 1"):
        encode_cn("1G", 3)


@given(
    st.integers(0, 20).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.text("0123456789ABCDEF", max_size=2 * n).filter(lambda s: not s.endswith("F")),
        )
    )
)
def test_cn_round_trip(case: tuple[int, str]) -> None:
    length, digits = case
    raw = encode_cn(digits, length)
    assert len(raw) == length
    assert decode_cn(raw) == digits


@given(st.binary(max_size=20))
def test_cn_full_width_round_trip(raw: bytes) -> None:
    text = decode_cn(raw, strip_padding=False)
    assert encode_cn(text, len(raw)) == raw


# -- text (an) --------------------------------------------------------------------
def test_encode_an() -> None:
    assert encode_an("3.00", 4) == b"3.00"
    assert encode_an("张三", 6) == bytes.fromhex("D5C5C8FD0000")


def test_encode_an_names_the_unencodable_character() -> None:
    with pytest.raises(ValueError, match=r"'\U00020000' \(U\+20000\) at position 1"):
        encode_an("张\U00020000", 30)
    with pytest.raises(ValueError, match=r"U\+0000"):
        encode_an("a\x00b", 30)


def test_encode_an_too_long() -> None:
    with pytest.raises(ValueError, match="4 bytes in GBK do not fit in 3 bytes"):
        encode_an("张三", 3)


def test_decode_an() -> None:
    assert decode_an(b"AB\x00\x00") == "AB"
    assert decode_an(b"AB  \xff\x00") == "AB"
    assert decode_an(b"") == ""
    with pytest.raises(ValueError, match="not valid GBK"):
        decode_an(b"\xd5")


def _gbk_round_trips(text: str) -> bool:
    try:
        return "\x00" not in text and text.encode("gbk").decode("gbk") == text
    except UnicodeError:
        return False


@given(st.text(max_size=15).filter(_gbk_round_trips))
def test_an_round_trip(text: str) -> None:
    length = len(text.encode("gbk")) + 3
    raw = encode_an(text, length)
    assert len(raw) == length
    assert decode_an(raw) == text.rstrip(" ")


# -- card number -----------------------------------------------------------------
def test_card_number_spec_example() -> None:
    assert check_character("D2143569") == "X"
    assert make_card_number("d2143569") == "D2143569X"
    assert is_valid_card_number("D2143569X")


def test_card_number_check_values() -> None:
    assert check_character("00000000") == "0"  # sum 0: c = 11 -> '0'
    # 1 * 3 = 3: c = 11 - 3 = 8
    assert check_character("10000000") == "8"
    # Z = 35: 35 * 3 = 105, 105 mod 11 = 6, c = 5
    assert check_character("Z0000000") == "5"


def test_card_number_invalid() -> None:
    assert not is_valid_card_number("D21435690")
    assert not is_valid_card_number("D2143569")
    assert not is_valid_card_number("D2143-69X")
    with pytest.raises(PersonDataError, match="card number"):
        check_character("D214356")
    with pytest.raises(PersonDataError, match="'-' at position 4"):
        make_card_number("D214-569")


# -- ID number (GB 11643-1999) -------------------------------------------------------
def test_spec_id_number_is_valid() -> None:
    assert check_digit(SPEC_ID[:17]) == "6" == SPEC_ID[-1]
    ident = IdNumber.parse(SPEC_ID)
    assert ident.value == SPEC_ID
    assert ident.region == "330203"
    assert ident.birth_date == dt.date(1990, 1, 1)
    assert ident.sex == "1"  # 17th digit 3 is odd


def test_id_number_known_x_check() -> None:
    # GB 11643-1999 annex example: 11010519491231002X
    ident = IdNumber.parse(" 11010519491231002x ")
    assert ident.value == "11010519491231002X"
    assert ident.sex == "2"
    assert ident.birth_date == dt.date(1949, 12, 31)


def _with_check(body17: str) -> str:
    return body17 + check_digit(body17)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("330203199001011235", "wrong check character"),
        ("33020319900101123", "must be 18 characters"),
        ("3302031990010112A6", "first 17 characters must be digits"),
        ("33020319900101123Y", "last character"),
        (_with_check("33020319900230123"), "not a valid date"),
        (_with_check("33020319901301123"), "not a valid date"),
        (_with_check("33020329990101123"), "in the future"),
        (_with_check("00020319900101123"), "region code"),
    ],
)
def test_id_number_refused(value: str, message: str) -> None:
    with pytest.raises(PersonDataError, match=message) as info:
        IdNumber.parse(value)
    assert value not in str(info.value)
    if len(value) == 18:
        assert mask_id_number(value) in str(info.value)


def test_id_number_born_tomorrow_refused_today_accepted() -> None:
    today = dt.date.today()
    assert IdNumber.parse(make_id_number("330203", today, 1)).birth_date == today
    tomorrow = today + dt.timedelta(days=1)
    with pytest.raises(PersonDataError, match="future"):
        IdNumber.parse(_with_check(f"330203{tomorrow:%Y%m%d}001"))


def test_id_number_repr_is_masked() -> None:
    ident = IdNumber.parse(SPEC_ID)
    assert SPEC_ID not in repr(ident)
    assert SPEC_ID not in str(ident)
    assert "330203********1236" in repr(ident)


def test_make_id_number() -> None:
    assert make_id_number("330203", dt.date(1990, 1, 1), "123") == SPEC_ID
    with pytest.raises(PersonDataError, match="sequence code"):
        make_id_number("330203", dt.date(1990, 1, 1), "12")
    with pytest.raises(PersonDataError, match="region"):
        make_id_number("990203", dt.date(1990, 1, 1), 1)


def test_region_code() -> None:
    assert is_region_code("330203")
    assert is_region_code("519900")
    assert not is_region_code("33020")
    assert not is_region_code("000000")
    assert not is_region_code("３３０２０３")  # full-width digits


@given(
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.integers(0, 9999),
    st.dates(dt.date(1900, 1, 1), dt.date.today()),
    st.integers(0, 999),
)
def test_make_id_number_always_parses(province: str, rest: int, born: dt.date, seq: int) -> None:
    region = f"{province}{rest:04d}"
    value = make_id_number(region, born, seq)
    ident = IdNumber.parse(value)
    assert ident.value == value
    assert ident.region == region
    assert ident.birth_date == born
    assert ident.sex == ("1" if seq % 2 else "2")


# -- card identification code -----------------------------------------------------------
def test_card_id_code_spec_vector() -> None:
    code = parse_card_id_code("519900D15600000510000B26FFFFFFFF")
    assert code.region == "519900"
    assert code.serial == 0x10000B26
    assert code.auth_code == "FFFFFFFF"
    assert not code.auth_code_set
    assert not code.verify()
    assert code.verify(accept_unset=True)
    assert code.value == "519900D15600000510000B26FFFFFFFF"
    assert code.to_bytes() == bytes.fromhex(code.value)


def test_card_id_code_authentication_code_definition() -> None:
    first24 = "330200D156000005C38275EE"
    digest = hashes.Hash(hashes.SM3())
    digest.update(first24.encode("ascii"))
    expected = digest.finalize()[:4].hex().upper()
    assert authentication_code(first24) == expected == "1D6A10A0"  # golden value
    value = make_card_id_code("330200", 0xC38275EE)
    assert value == first24 + expected
    code = parse_card_id_code(value.lower())
    assert code.verify()
    assert code.verify(accept_unset=True)
    tampered = CardIdCode(code.region, code.serial + 1, code.auth_code)
    assert not tampered.verify()
    assert not tampered.verify(accept_unset=True)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("519900D15600000510000B26FFFFFF", "32 hex digits"),
        ("519900D15600000610000B26FFFFFFFF", "D156000005"),
        ("519900D15600000510000B26FFFFFFFG", "'G' at position 31"),
        ("009900D15600000510000B26FFFFFFFF", "region"),
    ],
)
def test_card_id_code_refused(value: str, message: str) -> None:
    with pytest.raises(PersonDataError, match=message):
        parse_card_id_code(value)


def test_make_card_id_code_refused() -> None:
    with pytest.raises(PersonDataError, match="serial"):
        make_card_id_code("330200", 1 << 32)
    with pytest.raises(PersonDataError, match="region"):
        make_card_id_code("3302", 1)


@given(st.sampled_from(["330200", "519900", "411600", "110105"]), st.integers(0, 0xFFFFFFFF))
def test_make_card_id_code_always_verifies(region: str, serial: int) -> None:
    code = parse_card_id_code(make_card_id_code(region, serial))
    assert (code.region, code.serial) == (region, serial)
    assert code.verify()


# -- SIMPLE-TLV ---------------------------------------------------------------------
def test_tlv_round_trip() -> None:
    assert build_item(0x0A, b"1") == b"\x0a\x011"
    assert parse_item(b"\x4e\x00") == (0x4E, b"")
    assert parse_item(b"\x09\x02ab") == (0x09, b"ab")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x09\x03ab", "only 2 follow"),
        (b"\x09\x01ab", "but 2 follow"),
        (b"\x09", "at least 2 bytes"),
        (b"\x00\x00", "tag"),
        (b"\x09\xff\x00\x01", "three-byte"),
    ],
)
def test_tlv_bad_items(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_item(raw)


def test_tlv_build_refuses() -> None:
    with pytest.raises(ValueError, match="longer than 254"):
        build_item(0x09, bytes(255))
    with pytest.raises(ValueError, match="tag"):
        build_item(0xFF, b"")


@given(st.integers(1, 0xFE), st.binary(max_size=0xFE))
def test_tlv_property(tag: int, value: bytes) -> None:
    assert parse_item(build_item(tag, value)) == (tag, value)


# -- masking -----------------------------------------------------------------------
def test_masking() -> None:
    assert mask_id_number("330203199001011236") == "330203********1236"
    assert mask_id_number("33020319900") == "*" * 11
    assert mask_name("张三丰") == "张**"
    assert mask_name("张三") == "张*"
    assert mask_name("张") == "*"
    assert mask_name("") == ""
