"""Decimal-safe JSON, canonical JSON and the HMAC-SM3 signature of the
settlement client (sscard_terminal.settlement.wire), with vectors.

The cross-checks against the center's own implementation are test-only: the
client package never imports the center. The end-to-end tests prove the same
against the running center (it accepts every signed message)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sscard_terminal.settlement import wire

SECRET = "s3cret-of-the-hospital"
SIGN_IN = {
    "infno": "9001",
    "msgid": "H33020300001202611250930000001",
    "mdtrtarea_admvs": "330203",
    "insuplc_admdvs": "",
    "recer_sys_code": "FSI_LOCAL",
    "dev_no": "",
    "dev_safe_info": "",
    "signtype": "HMAC-SM3",
    "infver": "V1.0",
    "opter_type": "1",
    "opter": "0001",
    "opter_name": "收费员01",
    "inf_time": "2026-11-25 09:30:00",
    "fixmedins_code": "H33020300001",
    "fixmedins_name": "宁波市第一医院",
    "sign_no": "",
    "input": {"signIn": {"opter_no": "0001", "mac": "", "ip": "10.0.0.8"}},
}
#: the canonical text of SIGN_IN (the example of the documented format)
SIGN_IN_TEXT = (
    '["9001","H33020300001202611250930000001","330203","","FSI_LOCAL","","",'
    '"HMAC-SM3","V1.0","1","0001","收费员01","2026-11-25 09:30:00",'
    '"H33020300001","宁波市第一医院","",{"signIn":{"ip":"10.0.0.8","mac":"","opter_no":"0001"}}]'
)
SIGN_IN_CAINFO = "dcd8f8b61187dfa4387c887eac2af2f4711ded2c3d29c961b1d2d307719ec8d2"


# -- JSON -------------------------------------------------------------------------------------
def test_loads_reads_fractions_as_decimal_and_integers_as_int() -> None:
    value = wire.loads(b'{"a": 12.30, "b": 7, "c": 1e2, "d": "x"}')
    assert value == {"a": Decimal("12.30"), "b": 7, "c": Decimal("1E+2"), "d": "x"}
    assert isinstance(value["a"], Decimal) and str(value["a"]) == "12.30"
    assert isinstance(value["b"], int)


@pytest.mark.parametrize("text", [b"NaN", b'{"a": Infinity}', b"{", b"\xff"])
def test_loads_refuses_what_is_no_json(text: bytes) -> None:
    with pytest.raises(wire.WireFormatError):
        wire.loads(text)


def test_dumps_writes_decimals_with_their_digits_and_refuses_floats() -> None:
    assert wire.dumps({"a": Decimal("12.30"), "b": [1, None, True], "c": "宁波"}) == (
        '{"a":12.30,"b":[1,null,true],"c":"宁波"}'.encode()
    )
    assert wire.dumps(Decimal("1E+2")) == b"100"
    with pytest.raises(wire.WireFormatError):
        wire.dumps({"a": 1.5})
    with pytest.raises(wire.WireFormatError):
        wire.dumps(Decimal("NaN"))
    with pytest.raises(wire.WireFormatError):
        wire.dumps({1: "non-text key"})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("12.30"), "12.3"),
        (Decimal("100.00"), "100"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.00"), "0"),
        (Decimal("-0.50"), "-0.5"),
        (Decimal("0.000001"), "0.000001"),
        (Decimal("1.5E-7"), "0.00000015"),
        (7, "7"),
        (-3, "-3"),
    ],
)
def test_canonical_numbers(value: int | Decimal, text: str) -> None:
    assert wire.canonical_number(value) == text


def test_canonical_sorts_keys_by_code_point_and_escapes_like_json() -> None:
    value = {"b": 1, "a": {"z": '"\\\n\t\x01\x7f é 宁', "A": []}, "中": None}
    assert wire.canonical(value) == (
        '{"a":{"A":[],"z":"\\"\\\\\\n\\t\\u0001\x7f é 宁"},"b":1,"中":null}'
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**15), max_value=10**15)
    | st.decimals(
        allow_nan=False, allow_infinity=False, places=4, max_value=10**9, min_value=-(10**9)
    )
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_survives_the_wire(value: Any) -> None:
    """What the receiver computes over the parsed body is what the sender signed."""
    assert wire.canonical(wire.loads(wire.dumps(value))) == wire.canonical(value)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_strings_are_escaped_as_python_json_does_without_ascii(text: str) -> None:
    assert wire.canonical(text) == json.dumps(text, ensure_ascii=False)
    assert wire.loads(wire.dumps(text)) == text


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_canonical_equals_the_centers(value: Any) -> None:
    """Test-only cross-check against the center's implementation."""
    from sscard_terminal.center import wire as center_wire

    assert wire.canonical(value) == center_wire.canonical(value)


# -- SM3, HMAC-SM3, cainfo -----------------------------------------------------------------------
def test_sm3_vector_of_gb_t_32905() -> None:
    from cryptography.hazmat.primitives import hashes

    digest = hashes.Hash(hashes.SM3())
    digest.update(b"abc")
    assert digest.finalize().hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def _rfc2104_hmac_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC written out (RFC 2104, block size 64) over hashlib's SM3."""
    if "sm3" not in hashlib.algorithms_available:
        pytest.skip("OpenSSL without SM3 in hashlib")
    if len(key) > 64:
        key = hashlib.new("sm3", key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.new("sm3", bytes(k ^ 0x36 for k in key) + message).digest()
    return hashlib.new("sm3", bytes(k ^ 0x5C for k in key) + inner).digest()


@pytest.mark.parametrize("key", [b"key", b"k" * 64, b"long" * 40])
def test_hmac_sm3_is_rfc_2104(key: bytes) -> None:
    assert wire.hmac_sm3(key, b"abc") == _rfc2104_hmac_sm3(key, b"abc")


def test_signed_text_and_cainfo_vector() -> None:
    assert wire.signed_text(SIGN_IN) == SIGN_IN_TEXT
    assert wire.sign(SIGN_IN, SECRET) == SIGN_IN_CAINFO
    # cainfo itself is not signed; absent and null fields count as ""
    with_cainfo = {**SIGN_IN, "cainfo": "ignored"}
    assert wire.sign(with_cainfo, SECRET) == SIGN_IN_CAINFO
    without_blanks = {k: v for k, v in SIGN_IN.items() if v != ""}
    assert wire.sign(without_blanks, SECRET) == SIGN_IN_CAINFO
    assert wire.sign({**SIGN_IN, "sign_no": None}, SECRET) == SIGN_IN_CAINFO


def test_every_signed_field_matters() -> None:
    for name in wire.SIGNED_FIELDS:
        changed = {**SIGN_IN, name: {"x": 1} if name == "input" else "X"}
        assert wire.sign(changed, SECRET) != SIGN_IN_CAINFO, name
    assert wire.sign(SIGN_IN, SECRET + "x") != SIGN_IN_CAINFO


def test_verify() -> None:
    signed = {**SIGN_IN, "cainfo": SIGN_IN_CAINFO.upper()}
    assert wire.verify(signed, SECRET)
    assert not wire.verify(signed, "other")
    assert not wire.verify({**signed, "opter": "0002"}, SECRET)
    assert not wire.verify(SIGN_IN, SECRET)


def test_amounts_sign_alike_whatever_their_trailing_zeros() -> None:
    a = {**SIGN_IN, "infno": "2207", "input": {"data": {"medfee_sumamt": Decimal("12.30")}}}
    b = {**SIGN_IN, "infno": "2207", "input": {"data": {"medfee_sumamt": Decimal("12.3")}}}
    assert wire.sign(a, SECRET) == wire.sign(b, SECRET)
    assert wire.sign(wire.loads(wire.dumps(a)), SECRET) == wire.sign(a, SECRET)


def test_cainfo_equals_the_centers() -> None:
    """Test-only cross-check; the end-to-end tests show the center accepts it."""
    from sscard_terminal.center import signature

    envelope = {
        **SIGN_IN,
        "infno": "2207",
        "input": {"data": {"medfee_sumamt": Decimal("12.30"), "note": 'a"b\\c\n\x01é'}},
    }
    assert wire.sign(envelope, SECRET) == signature.sign(envelope, SECRET)
    assert signature.verify({**envelope, "cainfo": wire.sign(envelope, SECRET)}, SECRET)
