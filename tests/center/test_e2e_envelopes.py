"""The envelopes real clients send, against a real server (uvicorn)
on SQLite and PostgreSQL: JSON as text/plain, the transaction code in the URL,
"null" and "" for empty fields, input as a JSON text, signtype SM2 with a
registered public key, and the x-tif gateway headers as a per-institution
option. Every refusal names the field and the form it must take, and an
authentication refusal is not journaled (its msgid can be used afterwards)."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sscard_terminal.center import signature, wire
from sscard_terminal.center.api import CALL_SERVICE, SIGN_IN
from sscard_terminal.settlement.gateway import gateway_headers
from sscard_terminal.settlement.sm2 import SM2Signer, generate_private_key
from tests.center.center_helpers import Center, Terminal

_CODES = itertools.count(1)


def new_terminal(center: Center, **auth: Any) -> Terminal:
    """A terminal of an institution registered now (auth: sm2_public_key,
    gateway, gateway_paasid), not signed in."""
    code = f"H33020399{next(_CODES):03d}"
    made = center.admin.post(
        "/institutions",
        {
            "fixmedins_code": code,
            "name": f"测试医院{code[-3:]}",
            "kind": "hospital",
            "level": "2",
            "admdvs": "330203",
            **auth,
        },
    )
    return Terminal(center.http, code, f"测试医院{code[-3:]}", made["secret"], "330203")


def sign_in_input(t: Terminal) -> dict[str, Any]:
    return {"signIn": {"opter_no": t.opter, "mac": "", "ip": "127.0.0.1"}}


def post(
    center: Center,
    env: dict[str, Any] | bytes,
    *,
    path: str = CALL_SERVICE,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if content_type is not None:
        sent["content-type"] = content_type
    body = env if isinstance(env, bytes) else wire.dumps(env)
    return center.http.post(path, content=body, headers=sent)


def answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(wire.loads(response.content))


def refused(response: httpx.Response, code: str, *fragments: str) -> str:
    """The refusal's English text; checks its code and that it names what it must."""
    got = answer(response)
    assert got["infcode"] == -1 and got["err_code"] == code, got
    for fragment in fragments:
        assert fragment in got["err_msg"], (fragment, got["err_msg"])
    return str(got["err_msg"])


def sm2_envelope(t: Terminal, signer: SM2Signer, infno: str, payload: Any, **over: Any) -> Any:
    env = t.envelope(infno, payload, signtype="SM2", cainfo="", **over)
    del env["cainfo"]
    env["cainfo"] = signer.sign(env)
    return env


# -- Content-Type -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "text/plain;charset=UTF-8",
        'application/json; charset="utf-8"',
        None,
    ],
)
def test_json_sent_as_plain_text_or_with_charset_variants_is_read(
    center: Center, content_type: str | None
) -> None:
    t = new_terminal(center)
    env = t.envelope("9001", sign_in_input(t))
    got = answer(post(center, env, content_type=content_type))
    assert got["infcode"] == 0 and len(got["output"]["signinoutb"]["sign_no"]) == 30


@pytest.mark.parametrize(
    ("content_type", "why"),
    [
        (
            "application/x-www-form-urlencoded",
            "Content-Type must be application/json or text/plain",
        ),
        ("text/plain; charset=gbk", "charset must be utf-8"),
    ],
)
def test_other_content_types_are_refused_with_415(
    center: Center, content_type: str, why: str
) -> None:
    t = new_terminal(center)
    env = t.envelope("9001", sign_in_input(t))
    response = post(center, env, content_type=content_type)
    assert response.status_code == 415
    got = wire.loads(response.content)
    assert got["err_code"] == "http.content_type" and why in got["err_msg"]
    # nothing was journaled: the same message goes through afterwards
    assert answer(post(center, env))["infcode"] == 0


# -- the transaction code in the URL ---------------------------------------------------------
def test_the_transaction_code_may_be_appended_to_the_url_and_must_equal_infno(
    center: Center,
) -> None:
    t = new_terminal(center)
    env = t.envelope("9001", sign_in_input(t))
    wrong = refused(
        post(center, env, path=f"{CALL_SERVICE}/1101"),
        "envelope.infno",
        "envelope.infno must be the transaction code of the URL (1101)",
    )
    assert "infno" in wrong
    refused(
        post(center, env, path=f"{CALL_SERVICE}/91"),
        "envelope.infno",
        "must be the 4-digit transaction code",
    )
    assert post(center, env, path=f"{CALL_SERVICE}/9001/x").status_code == 404
    got = answer(post(center, env, path=f"{CALL_SERVICE}/9001", content_type="text/plain"))
    assert got["infcode"] == 0
    t.sign_no = got["output"]["signinoutb"]["sign_no"]
    # without infno in the body, the URL's code is the transaction
    normal = center.person("normal")
    card = normal["cards"][0]
    query = {
        "data": {
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": card["card_no"],
            "card_sn": card["card_sn"],
        }
    }
    env = t.envelope("1101", query)
    del env["infno"]
    env["cainfo"] = signature.sign(env, t.secret)
    got = answer(post(center, env, path=f"{CALL_SERVICE}/1101"))
    assert got["infcode"] == 0, got
    assert got["output"]["baseinfo"]["psn_no"] == normal["psn_no"]
    # sign-in's own endpoint stays
    assert answer(post(center, t.envelope("9001", sign_in_input(t)), path=SIGN_IN))["infcode"] == 0


# -- "null" and "" ------------------------------------------------------------------------------
def test_null_and_empty_texts_count_as_absent(center: Center) -> None:
    t = new_terminal(center)
    nulls = {"dev_no": "null", "dev_safe_info": "null", "insuplc_admdvs": "null", "sign_no": "null"}
    got = answer(post(center, t.envelope("9001", sign_in_input(t), **nulls)))
    assert got["infcode"] == 0, got
    t.sign_no = got["output"]["signinoutb"]["sign_no"]
    normal = center.person("normal")
    card = normal["cards"][0]
    data = {
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": card["card_no"],
        "card_sn": card["card_sn"],
        "begntime": "null",
        "psn_cert_type": "",
        "certno": "null",
        "psn_name": "null",
    }
    out = t.ok("1101", {"data": data}, dev_no="null")
    assert out["baseinfo"]["psn_no"] == normal["psn_no"]
    # a required field sent as "null" is named as missing, with its form
    refused(
        post(center, t.envelope("1101", {"data": {**data, "mdtrt_cert_no": "null"}})),
        "input.invalid",
        "input.data.mdtrt_cert_no: Field required",
    )
    refused(
        post(center, t.envelope("1101", {"data": data}, opter="null")),
        "envelope.invalid",
        "envelope.opter: Field required; it must be text of 1-30 characters",
    )
    refused(
        post(center, t.envelope("1101", {"data": data}, inf_time="")),
        "envelope.invalid",
        "envelope.inf_time: Field required; it must be the text yyyy-MM-dd HH:mm:ss",
    )


# -- input as a JSON text --------------------------------------------------------------------
def test_input_may_be_a_json_text(center: Center) -> None:
    t = new_terminal(center)
    env = t.envelope("9001", sign_in_input(t))  # HMAC-SM3 covers input as the object
    env["input"] = json.dumps(env["input"], ensure_ascii=False)
    got = answer(post(center, env, content_type="text/plain; charset=utf-8"))
    assert got["infcode"] == 0, got
    # a repeat of the same message is the same message, sent either way
    env2 = dict(env, input=json.loads(env["input"]))
    assert answer(post(center, env2)) == got
    for text in ("[1, 2]", '{"signIn": ', "null", '"text"'):
        bad = t.envelope("9001", sign_in_input(t))
        bad["input"] = text
        refused(
            post(center, bad),
            "envelope.invalid",
            "envelope.input",
            "must be a JSON object, or a JSON text holding one",
        )


# -- SM2 ----------------------------------------------------------------------------------------
def test_sm2_signatures_with_the_registered_public_key(center: Center) -> None:
    signer = SM2Signer(generate_private_key())
    t = new_terminal(center)
    env = sm2_envelope(t, signer, "9001", sign_in_input(t))
    refused(post(center, env), "auth.signtype", "no SM2 public key registered")
    view = center.admin.request(
        "PUT", f"/institutions/{t.code}/sm2-key", {"public_key": signer.public_key_hex}
    )
    assert view["sm2_public_key"] == signer.public_key_hex and "secret" not in view
    got = answer(post(center, env))  # the same msgid: the refusal was not journaled
    assert got["infcode"] == 0, got
    t.sign_no = got["output"]["signinoutb"]["sign_no"]
    normal = center.person("normal")
    card = normal["cards"][0]
    query = {
        "data": {
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": card["card_no"],
            "card_sn": card["card_sn"],
        }
    }
    got = answer(post(center, sm2_envelope(t, signer, "1101", query), content_type="text/plain"))
    assert got["output"]["baseinfo"]["psn_no"] == normal["psn_no"]
    # HMAC-SM3 with the secret still works beside it
    assert t.ok("1101", query)["baseinfo"]["psn_no"] == normal["psn_no"]
    # a changed field, another key, a cainfo that is no signature, an unknown signtype
    env = sm2_envelope(t, signer, "1101", query)
    refused(post(center, {**env, "opter_name": "别人"}), "auth.signature", "wrong signature")
    other = SM2Signer(generate_private_key())
    refused(post(center, sm2_envelope(t, other, "1101", query)), "auth.signature")
    refused(
        post(center, {**env, "cainfo": "not-a-signature"}),
        "auth.cainfo",
        "envelope.cainfo is no SM2 signature",
        "128 hex digits",
    )
    refused(
        post(center, {**env, "signtype": "RSA"}),
        "auth.signtype",
        "envelope.signtype must be HMAC-SM3 or SM2",
    )


def test_sm2_public_keys_are_checked_when_registered(center: Center, tmp_path: Path) -> None:
    t = new_terminal(center)
    good = SM2Signer(generate_private_key()).public_key_hex
    off_curve = good[:-1] + ("1" if good[-1] == "0" else "0")
    bad = center.admin.request(
        "PUT", f"/institutions/{t.code}/sm2-key", {"public_key": off_curve}, expect=422
    )
    assert "public_key" in bad["err_msg"] and "point of the SM2 curve" in bad["err_msg"]
    bad = center.admin.request(
        "PUT", f"/institutions/{t.code}/sm2-key", {"public_key": "04abc"}, expect=422
    )
    assert "04 + X + Y (130 hex digits)" in bad["err_msg"]
    center.admin.request(
        "PUT", "/institutions/H00000000000/sm2-key", {"public_key": good}, expect=404
    )
    # a PEM key as openssl writes it is kept as 04 + X + Y
    pem = tmp_path / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(pem)], check=True)
    public = subprocess.run(
        ["openssl", "pkey", "-in", str(pem), "-pubout"], check=True, capture_output=True, text=True
    ).stdout
    view = center.admin.request("PUT", f"/institutions/{t.code}/sm2-key", {"public_key": public})
    assert len(view["sm2_public_key"]) == 130 and view["sm2_public_key"].startswith("04")
    # removed: SM2 is refused again
    view = center.admin.request("PUT", f"/institutions/{t.code}/sm2-key", {"public_key": None})
    assert view["sm2_public_key"] is None


# -- gateway headers ----------------------------------------------------------------------------
def test_gateway_headers_required_besides_the_signature(center: Center) -> None:
    t = new_terminal(center, gateway="also")
    env = t.envelope("9001", sign_in_input(t))
    refused(post(center, env), "auth.gateway", "gateway header x-tif-paasid must be")
    sent = gateway_headers(t.code, t.secret)
    got = answer(post(center, env, headers=sent))  # same msgid: the refusal was not journaled
    assert got["infcode"] == 0, got
    t.sign_no = got["output"]["signinoutb"]["sign_no"]
    # a replayed nonce, a stale time, a wrong secret, a wrong paasid
    env = t.envelope("9001", sign_in_input(t))
    refused(post(center, env, headers=sent), "auth.gateway_replay", "x-tif-nonce was used before")
    stale = gateway_headers(t.code, t.secret, now=lambda: time.time() - 400)
    refused(post(center, env, headers=stale), "auth.gateway", "x-tif-timestamp must be within")
    refused(
        post(center, env, headers=gateway_headers(t.code, "0" * 64)),
        "auth.gateway_signature",
        "timestamp + secret + nonce + timestamp",
    )
    refused(
        post(center, env, headers=gateway_headers("SOMEONE", t.secret)),
        "auth.gateway",
        "x-tif-paasid is not this institution's paasid",
    )
    # the signature is still required with "also"
    unsigned = {**env, "cainfo": ""}
    refused(post(center, unsigned, headers=gateway_headers(t.code, t.secret)), "auth.unsigned")
    assert answer(post(center, env, headers=gateway_headers(t.code, t.secret)))["infcode"] == 0


def test_gateway_headers_alone_and_a_registered_paasid(center: Center) -> None:
    t = new_terminal(center, gateway="only", gateway_paasid="paas-77")
    env = t.envelope("9001", sign_in_input(t))
    unsigned = {**env, "cainfo": "", "signtype": "null"}
    refused(post(center, unsigned), "auth.gateway")
    refused(
        post(center, unsigned, headers=gateway_headers(t.code, t.secret)),
        "auth.gateway",
        "x-tif-paasid is not this institution's paasid",
    )
    got = answer(post(center, unsigned, headers=gateway_headers("paas-77", t.secret)))
    assert got["infcode"] == 0, got
    # a cainfo that is present is checked
    env = t.envelope("9001", sign_in_input(t))
    refused(
        post(center, {**env, "opter_name": "别人"}, headers=gateway_headers("paas-77", t.secret)),
        "auth.signature",
    )
    # switched off: the headers are ignored, the signature is what counts
    view = center.admin.request("PUT", f"/institutions/{t.code}/gateway", {"mode": "off"})
    assert view == {
        "fixmedins_code": t.code,
        "sm2_public_key": None,
        "gateway": "off",
        "gateway_paasid": t.code,
    }
    refused(post(center, unsigned, headers=gateway_headers("paas-77", t.secret)), "auth.unsigned")
    junk = {"x-tif-paasid": "?", "x-tif-nonce": "", "x-tif-signature": "x"}
    assert answer(post(center, env, headers=junk))["infcode"] == 0
    bad = center.admin.request(
        "PUT", f"/institutions/{t.code}/gateway", {"mode": "sometimes"}, expect=422
    )
    assert "mode" in bad["err_msg"]


def test_the_openapi_document_describes_the_forms(center: Center) -> None:
    spec = center.http.get("/openapi.json").json()
    with_code = spec["paths"][CALL_SERVICE + "/{infno}"]["post"]
    assert set(with_code["requestBody"]["content"]) == {"application/json", "text/plain"}
    names = {p["name"] for p in with_code["parameters"]}
    assert {"infno", "x-tif-paasid", "x-tif-timestamp", "x-tif-nonce", "x-tif-signature"} <= names
    assert "415" in spec["paths"][CALL_SERVICE]["post"]["responses"]
    assert "/admin/institutions/{code}/sm2-key" in spec["paths"]
    assert "/admin/institutions/{code}/gateway" in spec["paths"]
