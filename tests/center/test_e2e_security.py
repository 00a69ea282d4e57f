"""Security through HTTP: signatures per institution,
sign-in, own visits only, the admin token, bad input (never a 500, nothing
booked), masking in journals and logs, HTTPS."""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from sscard_terminal.center import signature, wire
from sscard_terminal.center.api import create_app
from sscard_terminal.center.boundedjson import MAX_DIGITS
from sscard_terminal.center.masking import MaskingFilter, install_log_masking, mask_json
from sscard_terminal.center.models import JournalEntry, Settlement, SignIn
from sscard_terminal.center.transactions import REGISTRY
from tests.center.center_helpers import (
    ADMIN_TOKEN,
    CLASS_A_DRUG,
    Center,
    Terminal,
    fee,
    new_insured,
    register,
    settle_input,
    start_server,
    visit_with_fees,
)


def normal_card(center: Center) -> dict[str, Any]:
    return {
        "data": {
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": center.person("normal")["cards"][0]["card_no"],
            "card_sn": center.person("normal")["cards"][0]["card_sn"],
        }
    }


def journaled(center: Center, code: str, msgid: str) -> bool:
    with center.db.engine.connect() as c:
        return (
            c.execute(
                select(func.count())
                .select_from(JournalEntry)
                .where(JournalEntry.fixmedins_code == code, JournalEntry.msgid == msgid)
            ).scalar_one()
            > 0
        )


# -- signatures ----------------------------------------------------------------------
def test_unsigned_and_wrongly_signed_messages_are_refused_and_not_journaled(
    center: Center, hospital: Terminal
) -> None:
    env = hospital.envelope("1101", normal_card(center))
    unsigned = {k: v for k, v in env.items() if k != "cainfo"}
    answer = hospital.send(unsigned)
    assert answer["infcode"] == -1 and answer["err_code"] == "auth.unsigned"
    tampered = dict(env, input={"data": {**env["input"]["data"], "mdtrt_cert_no": "D99999999"}})
    assert hospital.send(tampered)["err_code"] == "auth.signature"
    assert hospital.send(dict(env, signtype="SM2"))["err_code"] == "auth.signtype"
    assert hospital.send(dict(env, opter_name="改了"))["err_code"] == "auth.signature"
    assert not journaled(center, hospital.code, env["msgid"])
    # the untouched message still goes through with its msgid
    assert hospital.send(env)["infcode"] == 0


def test_no_terminal_speaks_for_another_institution(center: Center, hospital: Terminal) -> None:
    other = center.institution("H33021200002")
    # signed with our own secret, claiming the other institution's code
    impostor = Terminal(
        hospital.http,
        other["fixmedins_code"],
        other["fixmedins_name"],
        hospital.secret,
        other["admdvs"],
        sign_no=hospital.sign_no,
    )
    env = impostor.envelope("1101", normal_card(center))
    assert impostor.send(env)["err_code"] == "auth.signature"
    # its msgid was not used up: the real institution can still use it
    real = center.terminal("H33021200002")
    legit = real.envelope("1101", normal_card(center), msgid=env["msgid"])
    assert real.send(legit)["infcode"] == 0
    # a msgid must carry the sender's own code
    foreign = hospital.envelope("1101", normal_card(center), msgid=env["msgid"])
    assert hospital.send(foreign)["err_code"] == "envelope.msgid"
    unknown = Terminal(hospital.http, "H99999999999", "x", "y" * 64, "330203")
    assert unknown.call("9001", {"signIn": {"opter_no": "0001"}})["err_code"] == "auth.institution"


# -- sign-in ----------------------------------------------------------------------------
def test_sign_no_is_required_and_must_be_live_own_and_today(center: Center) -> None:
    t = center.terminal(opter="0100")
    payload = normal_card(center)
    assert t.call("1101", payload, sign_no="")["err_code"] == "signin.missing"
    assert t.call("1101", payload, sign_no="1" * 30)["err_code"] == "signin.unknown"
    other = center.terminal("H33021200002", opter="0100")
    assert t.call("1101", payload, sign_no=other.sign_no)["err_code"] == "signin.unknown"
    assert t.call("1101", payload, opter="0101")["err_code"] == "signin.opter"
    with center.db.engine.begin() as c:
        c.execute(
            update(SignIn)
            .where(SignIn.sign_no == t.sign_no)
            .values(sign_date=dt.date.today() - dt.timedelta(days=1))
        )
    expired = t.call("1101", payload)
    assert expired["err_code"] == "signin.expired" and "9001" in expired["err_msg"]
    t.sign_in()
    assert t.call("1101", payload)["infcode"] == 0


# -- own visits only -----------------------------------------------------------------------
def test_an_institution_sees_and_changes_only_its_own_visits(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin)
    mdtrt_id, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "10.00", "1")])
    info = hospital.ok("2207", settle_input(p, mdtrt_id, total))["setlinfo"]
    other = center.terminal("H33021200002")
    other.refused(
        "2204", {"feedetail": [fee(mdtrt_id, p.psn_no, "9", CLASS_A_DRUG, "1.00")]}, "visit.unknown"
    )
    other.refused("2206", settle_input(p, mdtrt_id, total), "visit.unknown")
    other.refused(
        "2208",
        {"data": {"setl_id": info["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": p.psn_no}},
        "visit.unknown",
    )
    other.refused("2202", {"data": {"psn_no": p.psn_no, "mdtrt_id": mdtrt_id}}, "visit.unknown")
    other.refused(
        "5203", {"data": {"psn_no": p.psn_no, "setl_id": info["setl_id"]}}, "settlement.unknown"
    )
    other.refused(
        "5203",
        {"data": {"psn_no": p.psn_no, "medins_setl_id": info["medins_setl_id"]}},
        "query.unknown",
    )
    other.refused(
        "2601",
        {"data": {"psn_no": p.psn_no, "omsgid": info["medins_setl_id"], "oinfno": "2207"}},
        "reversal.foreign",
    )
    assert hospital.ok("5203", {"data": {"psn_no": p.psn_no, "setl_id": info["setl_id"]}})


# -- admin token ---------------------------------------------------------------------------
def test_the_admin_api_needs_the_token(center: Center) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": ADMIN_TOKEN[:-1]}):
        response = center.http.post(
            "/admin/persons", json={"id_number": "x", "name": "y"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["err_code"] == "admin.token"
    # the national endpoint does not open the admin API
    assert center.http.get("/admin/persons/1").status_code == 401


def test_admin_api_disabled_without_a_token(center: Center) -> None:
    server = start_server(create_app(center.db, center.policy, admin_token=None))
    try:
        response = httpx.post(
            f"{server.base_url}/admin/seed", json={}, headers={"authorization": "Bearer x"}
        )
        assert response.status_code == 503
    finally:
        server.stop()


def test_admin_input_errors_are_422_without_echoing_values(center: Center) -> None:
    secret_id = "330203199001011236"
    response = center.http.post(
        "/admin/persons",
        json={"id_number": secret_id, "name": 5, "sex": "x"},
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 422
    assert secret_id not in response.text and "sex" in response.json()["err_msg"]


# -- bad input ---------------------------------------------------------------------------
def books(center: Center) -> tuple[Any, ...]:
    with center.db.engine.connect() as c:
        return (
            c.execute(select(func.count()).select_from(Settlement)).scalar_one(),
            c.execute(text("SELECT coalesce(sum(balance), 0) FROM accounts")).scalar_one(),
            c.execute(text("SELECT count(*) FROM fee_details")).scalar_one(),
            c.execute(text("SELECT count(*) FROM visits")).scalar_one(),
            c.execute(text("SELECT coalesce(sum(fund_paid), 0) FROM accumulators")).scalar_one(),
        )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'"text"', 400),
        (b"{", 400),
        (b'{"a": NaN}', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
        (b"\xff\xfe", 400),
        (b"{}", 200),
        (b'{"infno": 2207}', 200),
    ],
)
def test_bodies_that_are_no_message(center: Center, body: bytes, status: int) -> None:
    response = center.http.post("/fsi/api/rsfComIfsService/callService", content=body)
    assert response.status_code == status
    answer = response.json()
    assert answer["infcode"] == -1 and " / " in answer["err_msg"]


def test_a_too_large_body_is_413(center: Center) -> None:
    response = center.http.post(
        "/fsi/api/rsfComIfsService/callService", content=b" " * (4 * 1024 * 1024 + 1)
    )
    assert response.status_code == 413


def test_every_transaction_refuses_bad_input_and_books_nothing(
    center: Center, hospital: Terminal
) -> None:
    before = books(center)
    bad_inputs: list[dict[str, Any]] = [
        {},
        {"data": None},
        {"data": {"psn_no": ["x"]}},
        {"data": "x"},
        {"feedetail": [{"feedetl_sn": 1}]},
        {"data": {"medfee_sumamt": "1.001"}},
        {"druginfo": {}, "drugdetail": []},
    ]
    for infno in sorted(REGISTRY):
        if infno == "9001":
            continue
        for payload in bad_inputs:
            answer = hospital.call(infno, payload)
            assert answer["infcode"] == -1, (infno, payload, answer)
            assert answer["err_code"] in ("input.invalid", "person.unknown", "reconcile.file"), (
                infno,
                answer,
            )
    assert books(center) == before


def test_a_refused_upload_stores_none_of_its_lines(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    mdtrt_id = register(hospital, p)
    good = fee(mdtrt_id, p.psn_no, "1", CLASS_A_DRUG, "10.00")
    bad = dict(fee(mdtrt_id, p.psn_no, "2", CLASS_A_DRUG, "10.00"), det_item_fee_sumamt="10.01")
    hospital.refused("2204", {"feedetail": [good, bad]}, "fee.amount")
    hospital.refused("2206", settle_input(p, mdtrt_id, "10.00"), "settle.no_details")
    float_amount = dict(good, det_item_fee_sumamt=Decimal("10.0"))  # a JSON number 10.0
    hospital.ok("2204", {"feedetail": [float_amount]})


#: numbers within the center's bounds (boundedjson: MAX_DIGITS digits): longer
#: ones are refused with 400 before any envelope is read, which
#: tests/center/test_boundedjson.py checks at every edge
_BIG = 10 ** (MAX_DIGITS - 3) - 1
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-_BIG, max_value=_BIG)
    | st.text(max_size=20)
    | st.decimals(min_value=-_BIG, max_value=_BIG, allow_nan=False, allow_infinity=False, places=3),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "data",
                    "psn_no",
                    "mdtrt_id",
                    "feedetail",
                    "medfee_sumamt",
                    "setl_id",
                    "omsgid",
                    "druginfo",
                    "signIn",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(sorted(REGISTRY)), json_values)
def test_fuzzed_inputs_never_500_and_never_book(
    center: Center, hospital: Terminal, infno: str, payload: Any
) -> None:
    before = books(center)
    env = hospital.envelope(infno, payload if isinstance(payload, dict) else {"data": payload})
    response = hospital.post(env)
    assert response.status_code == 200
    answer = wire.loads(response.content)
    if infno != "9001":
        assert answer["infcode"] == -1
        assert books(center) == before


def test_envelope_fields_are_validated(center: Center, hospital: Terminal) -> None:
    payload = normal_card(center)
    for field, value in (
        ("infver", "V2.0"),
        ("opter_type", "9"),
        ("inf_time", "2026-13-01 00:00:00"),
        ("mdtrtarea_admvs", "33"),
        ("opter", ""),
        ("opter_type", 1),
    ):
        answer = hospital.call("1101", payload, **{field: value})
        assert answer["err_code"] == "envelope.invalid", (field, answer)
        assert field in answer["err_msg"]
    assert hospital.call("1101", payload, mdtrtarea_admvs="330212")["infcode"] == 0
    p = new_insured(center.admin)
    hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": p.psn_no,
                "insutype": "310",
                "begntime": "2026-01-01 00:00:00",
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": p.card_no,
                "ipt_otp_no": "1",
            }
        },
        "envelope.mdtrtarea_admvs",
        mdtrtarea_admvs="330212",
    )
    hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": p.psn_no,
                "insutype": "310",
                "begntime": "2026-01-01 00:00:00",
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": p.card_no,
                "ipt_otp_no": "1",
            }
        },
        "envelope.insuplc_admdvs",
        insuplc_admdvs="",
    )
    hospital.refused("9999", {}, "infno.unsupported")


# -- masking -----------------------------------------------------------------------------------
def test_journals_hold_no_id_numbers_or_names(center: Center, hospital: Terminal) -> None:
    hospital.ok(
        "1101",
        {
            "data": {
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": "330203199001011236",
                "psn_name": "张三",
                "certno": "330203199001011236",
            }
        },
    )
    msgid = hospital.last_msgid
    with center.db.engine.connect() as c:
        row = c.execute(
            select(JournalEntry.request, JournalEntry.response).where(JournalEntry.msgid == msgid)
        ).one()
        everything = " ".join(
            c.execute(select(JournalEntry.request, JournalEntry.response)).scalars().all()
        )
    for stored in row:
        assert "330203199001011236" not in stored and "张三" not in stored
        assert "330203********1236" in stored
    assert "330203199001011236" not in everything
    for demo in center.demo["persons"].values():
        assert demo["id_number"] not in everything


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    handler = logging.StreamHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_log_masking()
        assert any(isinstance(f, MaskingFilter) for f in handler.filters)
        record = logging.LogRecord(
            "x", logging.INFO, __file__, 1, "person %s", ("330203199001011236",), None
        )
        cast(logging.Filter, handler.filters[0]).filter(record)
        assert record.getMessage() == "person 330203********1236"
    finally:
        root.removeHandler(handler)
    masked = mask_json(
        {
            "psn_name": "张三",
            "certno": "330203199001011236",
            "note": "id 330203199001011236 here",
            "amount": Decimal("1.00"),
        }
    )
    assert masked == {
        "psn_name": "张*",
        "certno": "330203********1236",
        "note": "id 330203********1236 here",
        "amount": Decimal("1.00"),
    }


def test_center_logs_never_show_personal_data(
    center: Center, hospital: Terminal, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hospital.ok("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "330203199001011236"}})
    hospital.call(
        "1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "330203199001011237"}}
    )
    text_logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "330203199001011236" not in text_logged and "张三" not in text_logged


# -- HTTPS --------------------------------------------------------------------------------------
def test_https_with_a_certificate_of_the_operators_choice(center: Center, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    app = create_app(center.db, center.policy, admin_token=ADMIN_TOKEN)
    server = start_server(app, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file))
    try:
        context = ssl.create_default_context(cafile=str(cert_file))
        with httpx.Client(base_url=server.base_url, verify=context) as client:
            inst = center.institution("H33020300001")
            t = Terminal(
                client,
                inst["fixmedins_code"],
                inst["fixmedins_name"],
                inst["secret"],
                inst["admdvs"],
                opter="0555",
            )
            assert len(t.sign_in()) == 30
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.base_url}/health")  # not trusted without the certificate
    finally:
        server.stop()


def test_signature_is_over_the_documented_canonical_order() -> None:
    env = {
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
    expected = (
        '["9001","H33020300001202611250930000001","330203","","FSI_LOCAL","","",'
        '"HMAC-SM3","V1.0","1","0001","收费员01","2026-11-25 09:30:00","H33020300001",'
        '"宁波市第一医院","",{"signIn":{"ip":"10.0.0.8","mac":"","opter_no":"0001"}}]'
    )
    assert signature.canonical_string(env) == expected
    from cryptography.hazmat.primitives import hashes, hmac

    mac = hmac.HMAC(b"secret", hashes.SM3())
    mac.update(expected.encode("utf-8"))
    assert signature.sign(env, "secret") == mac.finalize().hex()
    signed = dict(env, cainfo=signature.sign(env, "secret").upper())
    assert signature.verify(signed, "secret")
    assert not signature.verify(dict(signed, sign_no="1"), "secret")
    assert not signature.verify(signed, "other")
    # amounts as numbers or text in their canonical forms
    assert signature.canonical_string(
        {"input": {"a": Decimal("12.30")}}
    ) == signature.canonical_string({"input": {"a": Decimal("12.3")}})
    assert json.loads(signature.canonical_string({}))[-1] == {}
