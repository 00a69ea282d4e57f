"""Request and response envelopes (settlement-interface.md, "Request envelope",
"Response envelope"): msgid, inf_time, opter_type, infver, the signature, and
infcode as a number or a string."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from sscard_terminal.errors import ExitCode, SscardError
from sscard_terminal.settlement import envelope as env
from sscard_terminal.settlement import wire
from sscard_terminal.settlement.envelope import OpterType, RequestParty
from sscard_terminal.settlement.errors import (
    CenterRefused,
    CenterUnavailable,
    OutcomeUnknown,
    UnexpectedAnswer,
)

UTC = dt.UTC
PARTY = RequestParty(
    fixmedins_code="H33020300001",
    fixmedins_name="宁波市第一医院",
    mdtrtarea_admvs="330203",
    opter_type=OpterType.KIOSK,
    opter="K01",
    opter_name="自助机01",
)


def test_msgid_is_code_time_and_sequence() -> None:
    moment = dt.datetime(2026, 11, 25, 1, 30, 5, 999_000, tzinfo=UTC)  # 09:30:05 in Shanghai
    msgid = env.make_msgid("H33020300001", moment, 7)
    assert msgid == "H33020300001" + "20261125093005" + "0007"
    assert len(msgid) == 30
    assert env.parse_msgid(msgid) == ("H33020300001", dt.datetime(2026, 11, 25, 9, 30, 5), 7)
    naive = dt.datetime(2026, 11, 25, 9, 30, 5)  # naive: already Shanghai wall time
    assert env.make_msgid("H33020300001", naive, 9999).endswith("202611250930059999")


@pytest.mark.parametrize(
    ("code", "sequence"), [("h33020300001", 1), ("H3302030000", 1), ("H33020300001", 10000)]
)
def test_msgid_refuses_bad_parts(code: str, sequence: int) -> None:
    with pytest.raises(ValueError):
        env.make_msgid(code, dt.datetime(2026, 1, 1), sequence)


def test_request_envelope_fields_and_signature() -> None:
    moment = dt.datetime(2026, 11, 25, 1, 30, 0, tzinfo=UTC)
    request = env.build_request(
        "2207",
        {"data": {"psn_no": "P1", "medfee_sumamt": Decimal("12.30")}},
        party=PARTY,
        msgid=env.make_msgid("H33020300001", moment, 1),
        inf_time=moment,
        secret="s",
        sign_no="S1",
        insuplc_admdvs="330200",
    )
    assert request["infno"] == "2207"
    assert request["inf_time"] == "2026-11-25 09:30:00"
    assert request["infver"] == "V1.0"
    assert request["opter_type"] == "2" and request["opter"] == "K01"
    assert request["signtype"] == "HMAC-SM3"
    assert request["insuplc_admdvs"] == "330200" and request["sign_no"] == "S1"
    for name, value in request.items():
        if name != "input":
            assert isinstance(value, str), name
    assert wire.verify(request, "s")
    assert request["cainfo"] == wire.sign(request, "s")
    assert not wire.verify(request, "other")


def test_party_checks_its_fields() -> None:
    with pytest.raises(ValueError):
        RequestParty("H33020300001", "x", "33020", OpterType.OPERATOR, "1", "a")
    with pytest.raises(ValueError):
        RequestParty("H33020300001", "x", "330203", OpterType.OPERATOR, "", "a")


@pytest.mark.parametrize(
    ("body", "infcode"),
    [
        (b'{"infcode": 0, "output": {"a": 1.50}}', 0),
        (b'{"infcode": "0", "output": {"a": 1.50}}', 0),
        (b'{"infcode": -1, "err_msg": "no"}', -1),
        (b'{"infcode": "-1", "err_msg": "no", "output": null}', -1),
    ],
)
def test_infcode_as_number_or_string(body: bytes, infcode: int) -> None:
    response = env.parse_response(body)
    assert response.infcode == infcode
    assert response.ok is (infcode == 0)
    if infcode == 0:
        assert response.output == {"a": Decimal("1.50")}
    else:
        assert response.output == {}


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"{}",
        b'{"infcode": "x"}',
        b'{"infcode": true}',
        b"<html>",
        b'{"infcode":0,"output":[]}',
    ],
)
def test_what_is_no_response_envelope(body: bytes) -> None:
    with pytest.raises(UnexpectedAnswer):
        env.parse_response(body)


def test_a_refusal_is_center_refused_with_exit_code_7() -> None:
    response = env.parse_response(
        {"infcode": "-1", "err_msg": "人员不存在 / no person", "err_code": "person.unknown"}
    )
    with pytest.raises(CenterRefused) as caught:
        response.raise_for_refusal("1101", "M1")
    error = caught.value
    assert isinstance(error, SscardError)
    assert error.exit_code == ExitCode.CENTER_REFUSED
    assert int(error.exit_code) == 7
    assert error.err_msg == "人员不存在 / no person" and error.err_code == "person.unknown"
    assert "人员不存在" in error.one_line()


def test_outcome_unknown_has_exit_code_8_and_says_what_to_do() -> None:
    error = OutcomeUnknown("2207 M1: no answer", infno="2207", msgid="M1")
    assert isinstance(error, CenterUnavailable) and isinstance(error, SscardError)
    assert error.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert int(error.exit_code) == 8
    assert "sscard journal resolve" in error.one_line()
