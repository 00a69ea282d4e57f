"""The bounded parse of request bodies (no work before
authentication): every limit of :mod:`sscard_terminal.center.boundedjson`
at its edge, and what stays accepted."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from sscard_terminal.center import boundedjson
from sscard_terminal.center.boundedjson import (
    MAX_BODY,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_EXPONENT,
    BodyRefused,
    parse,
)


def refused(body: bytes) -> BodyRefused:
    with pytest.raises(BodyRefused) as caught:
        parse(body)
    error = caught.value
    zh, _, en = error.err_msg.partition(" / ")
    assert zh and en
    return error


def nested(depth: int) -> bytes:
    return b"[" * (depth - 1) + b"{}" + b"]" * (depth - 1)


def test_the_issue_cases_are_400_with_their_code() -> None:
    assert refused(b'{"input":{"a":1e400000}}').code == "http.number"
    many = b'{"input":{"a":[' + b",".join([b"1e-999999"] * 1500) + b"]}}"
    assert len(many) > 15_000
    assert refused(many).code == "http.number"
    assert refused(b'{"input":{"a":' + b"9" * 4300 + b"}}").code == "http.number"
    assert refused(b'{"input":' + b"[" * 970 + b"]" * 970 + b"}").code == "http.too_deep"
    assert refused(b'{"input":{"a":"\\ud800"}}').code == "http.surrogate"
    for error in map(refused, [b'{"a":"\\udfff"}', b'{"\\ud834":1}', b'["x\\uDBFFy"]']):
        assert error.code == "http.surrogate" and error.status == 400


def test_depth_limit_is_exact() -> None:
    assert parse(nested(MAX_DEPTH)) is not None
    assert refused(nested(MAX_DEPTH + 1)).code == "http.too_deep"
    # deeper than the C parser's recursion allows: the same clear code
    assert refused(b"[" * 100_000 + b"]" * 100_000).code == "http.too_deep"
    obj = b'{"a":' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH
    assert parse(obj) is not None
    assert refused(b'{"a":' + obj + b"}").code == "http.too_deep"


def test_number_limits_are_exact() -> None:
    assert parse(b"9" * MAX_DIGITS) == int("9" * MAX_DIGITS)
    assert parse(b"-" + b"9" * MAX_DIGITS) == -int("9" * MAX_DIGITS)
    assert refused(b"9" * (MAX_DIGITS + 1)).code == "http.number"
    assert parse(b"0." + b"1" * (MAX_DIGITS - 1)) == Decimal("0." + "1" * (MAX_DIGITS - 1))
    assert refused(b"0." + b"1" * MAX_DIGITS).code == "http.number"
    assert parse(f"1e{MAX_EXPONENT}".encode()) == Decimal(f"1e{MAX_EXPONENT}")
    assert parse(f"1E-{MAX_EXPONENT}".encode()) == Decimal(f"1e-{MAX_EXPONENT}")
    assert refused(f"1e{MAX_EXPONENT + 1}".encode()).code == "http.number"
    assert refused(f"1e-{MAX_EXPONENT + 1}".encode()).code == "http.number"
    assert refused(b"1e" + b"9" * 5000).code == "http.number"
    for constant in (b"NaN", b"Infinity", b"-Infinity", b'{"a":NaN}'):
        assert refused(constant).code == "http.number"


def test_amounts_stay_decimal_and_pairs_stay_characters() -> None:
    value = parse('{"a":12.30,"b":7,"c":"\\ud83d\\ude00 宁波","d":[true,null]}'.encode())
    assert value == {"a": Decimal("12.30"), "b": 7, "c": "\U0001f600 宁波", "d": [True, None]}
    assert str(value["a"]) == "12.30"


def test_size_and_encoding() -> None:
    assert parse(b" " * (MAX_BODY - 2) + b"{}") == {}
    error = refused(b" " * (MAX_BODY - 1) + b"{}")
    assert (error.code, error.status) == ("http.too_large", 413)
    assert refused(b"\xff\xfe{}").code == "http.not_json"
    assert refused("{}".encode("utf-16")).code == "http.not_json"
    assert refused(b"\xef\xbb\xbf{}").code == "http.not_json"  # a UTF-8 byte-order mark
    assert refused(b"\xed\xa0\x80").code == "http.not_json"  # a surrogate as raw bytes


def test_syntax_errors_name_the_place_never_the_content() -> None:
    error = refused(b'{"certno": "330203199001011236" oops}')
    assert error.code == "http.not_json"
    assert "330203199001011236" not in error.err_msg and "oops" not in error.err_msg
    assert "character 32" in error.err_msg


def test_the_same_values_as_the_standard_parser_within_the_limits() -> None:
    sample = {"infno": "2207", "input": {"data": {"amt": 1.5, "n": [1, 2, {"x": None}]}}}
    body = json.dumps(sample).encode()
    assert parse(body) == json.loads(body, parse_float=Decimal)
    assert boundedjson.MAX_DEPTH >= 4  # a national-interface message nests 4 levels
