"""SM2 cainfo (center/sm2sign.py, settlement/sm2.py), the x-tif gateway
headers (center/gateway.py, settlement/gateway.py) and the envelope forms
(center/envelope_forms.py), without a server. OpenSSL (GM/T 0003 SM2 with
SM3 and the default user ID 1234567812345678) is the independent reference
that the two sides are checked against."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sscard_terminal.center import envelope as env_mod
from sscard_terminal.center import gateway, sm2sign
from sscard_terminal.center.envelope_forms import Delivery, check_content_type, normalise
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.settlement import gateway as client_gateway
from sscard_terminal.settlement.errors import ConfigError
from sscard_terminal.settlement.sm2 import (
    SM2Signer,
    generate_private_key,
    read_private_key,
    signed_text,
)

ENVELOPE: dict[str, Any] = {
    "infno": "9001",
    "msgid": "H33020300001202612061000000001",
    "mdtrtarea_admvs": "330203",
    "insuplc_admdvs": "",
    "recer_sys_code": "FSI_LOCAL",
    "dev_no": "null",
    "signtype": "SM2",
    "infver": "V1.0",
    "opter_type": "1",
    "opter": "0001",
    "opter_name": "收费员01",
    "inf_time": "2026-12-06 10:00:00",
    "fixmedins_code": "H33020300001",
    "fixmedins_name": "宁波市第一医院",
    "sign_no": None,
    "input": {"signIn": {"opter_no": "0001", "mac": "", "ip": "10.0.0.8"}},
}


def openssl(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=True)
    return done.stdout


def test_the_signed_text_is_the_fields_in_ascii_order_without_cainfo_and_input() -> None:
    env = {**ENVELOPE, "cainfo": "x", "Zeta": "z"}
    text = signed_text(env)
    assert text == sm2sign.signed_text(env)  # the client's and the center's agree
    assert text.split("&")[0] == "Zeta=z"  # ASCII: upper case before lower case
    assert "cainfo" not in text and "input" not in text and "signIn" not in text
    assert "&dev_no=null&" in text and "&sign_no=&" in text and "&insuplc_admdvs=&" in text
    names = [part.split("=", 1)[0] for part in text.split("&")]
    assert names == sorted(names)


def test_a_client_signature_verifies_and_any_changed_field_breaks_it() -> None:
    signer = SM2Signer(generate_private_key())
    key = sm2sign.parse_public_key(signer.public_key_hex)
    env = {**ENVELOPE, "cainfo": signer.sign(ENVELOPE)}
    assert re.fullmatch(r"[0-9a-f]{128}", env["cainfo"])
    assert sm2sign.verify(env, key)
    for name in ("infno", "msgid", "opter", "fixmedins_code", "dev_no"):
        assert not sm2sign.verify({**env, name: env[name] + "1"}, key), name
    assert not sm2sign.verify(env, sm2sign.parse_public_key(SM2Signer("1" * 64).public_key_hex))


def test_keys_whose_x_starts_with_0_or_4_work() -> None:
    """Leading zero bytes and digits of X survive every encoding (the pure-Python
    gmssl strips leading '0'/'4' digits of a key: a trap for the unwary)."""
    found = 0
    for d in range(1, 200):
        signer = SM2Signer(f"{d:064x}")
        if signer.public_key_hex[2] in "04":
            key = sm2sign.parse_public_key(signer.public_key_hex)
            assert sm2sign.verify({**ENVELOPE, "cainfo": signer.sign(ENVELOPE)}, key), d
            found += 1
    assert found >= 3


def test_openssl_signatures_verify_at_the_center_and_client_signatures_at_openssl(
    tmp_path: Path,
) -> None:
    pem = tmp_path / "key.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", str(pem))
    public_pem = openssl("pkey", "-in", str(pem), "-pubout").decode()
    text = openssl("pkey", "-in", str(pem), "-text", "-noout").decode()
    block = re.search(r"priv:\n((?:\s+[0-9a-f:]+\n)+)", text)
    assert block is not None
    private_hex = re.sub(r"[\s:]", "", block.group(1))[-64:].rjust(64, "0")
    key = sm2sign.parse_public_key(public_pem)
    signer = SM2Signer(private_hex)
    assert signer.public_key_hex == key.hex
    message = tmp_path / "m.txt"
    message.write_bytes(signed_text(ENVELOPE).encode())
    sm3 = ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    # OpenSSL signs (DER), the center verifies in every accepted encoding
    der = openssl("pkeyutl", "-sign", "-in", str(message), "-inkey", str(pem), *sm3)
    r, s = sm2sign.decode_signature(der.hex())
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    for form in (
        der.hex(),
        der.hex().upper(),
        base64.b64encode(der).decode(),
        raw.hex(),
        base64.b64encode(raw).decode(),
    ):
        assert sm2sign.verify({**ENVELOPE, "cainfo": form}, key), form
    # the client signs (r || s), OpenSSL verifies (DER)
    cainfo = signer.sign(ENVELOPE)
    r, s = sm2sign.decode_signature(cainfo)

    def integer(v: int) -> bytes:
        b = v.to_bytes(33, "big").lstrip(b"\0")
        b = b"\0" + b if b[0] & 0x80 else b
        return bytes([2, len(b)]) + b

    body = integer(r) + integer(s)
    (tmp_path / "sig").write_bytes(bytes([0x30, len(body)]) + body)
    (tmp_path / "pub.pem").write_text(public_pem)
    out = openssl(
        "pkeyutl",
        "-verify",
        "-in",
        str(message),
        "-pubin",
        "-inkey",
        str(tmp_path / "pub.pem"),
        *sm3,
        "-sigfile",
        str(tmp_path / "sig"),
    )
    assert b"Verified Successfully" in out


def test_public_keys_are_checked_when_registered(tmp_path: Path) -> None:
    good = SM2Signer(generate_private_key()).public_key_hex
    assert sm2sign.parse_public_key(good[2:]).hex == good  # X + Y
    assert sm2sign.parse_public_key(good.upper()).hex == good
    off_curve = good[:-1] + ("0" if good[-1] != "0" else "1")
    for bad, why in (
        (off_curve, "not a point"),
        ("05" + good[2:], "starts with 04"),
        (good[:-4], "130 hex digits"),
        ("zz" * 65, "130 hex digits"),
        ("", "130 hex digits"),
    ):
        with pytest.raises(sm2sign.SM2KeyError, match=why):
            sm2sign.parse_public_key(bad)
    # a P-256 key in PEM is no SM2 key
    pem = tmp_path / "p256.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(pem))
    with pytest.raises(sm2sign.SM2KeyError, match="not an uncompressed SM2 key"):
        sm2sign.parse_public_key(openssl("pkey", "-in", str(pem), "-pubout").decode())


@pytest.mark.parametrize(
    ("cainfo", "why"),
    [
        ("not a signature!", "hex or Base64"),
        ("00" * 64, r"\[1, n-1\]"),
        ("ab" * 10, "DER SEQUENCE"),
        ("3006020100020100", r"\[1, n-1\]"),
        ("30060201ff020101", "negative"),
    ],
)
def test_cainfo_that_is_no_signature_says_which_forms_it_may_take(cainfo: str, why: str) -> None:
    key = sm2sign.parse_public_key(SM2Signer(generate_private_key()).public_key_hex)
    with pytest.raises(sm2sign.SM2SignatureError, match=why):
        sm2sign.verify({**ENVELOPE, "cainfo": cainfo}, key)


def test_private_key_files_must_be_private_and_well_formed(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text(generate_private_key() + "\n")
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        read_private_key(key)
    key.chmod(0o600)
    assert repr(read_private_key(key)) == "SM2Signer(<private key>)"
    key.write_text("1234\n")
    with pytest.raises(ConfigError, match="64 hex digits"):
        read_private_key(key)
    with pytest.raises(ValueError, match="out of range"):
        SM2Signer("f" * 64)


# -- gateway headers ------------------------------------------------------------------------
SECRET = "ab" * 32


def headers(
    over: dict[str, str] | None = None, now: float = 1_765_000_000
) -> gateway.GatewayHeaders:
    made = client_gateway.gateway_headers("PAAS1", SECRET, now=lambda: now)
    made.update(over or {})
    return gateway.GatewayHeaders.from_headers(made)


def test_the_client_gateway_signature_is_sha256_hex_of_timestamp_secret_nonce_timestamp() -> None:
    made = client_gateway.gateway_headers("PAAS1", SECRET, now=lambda: 1_765_000_000.7)
    assert made["x-tif-timestamp"] == "1765000000"
    expected = hashlib.sha256(
        ("1765000000" + SECRET + made["x-tif-nonce"] + "1765000000").encode("utf-8")
    ).hexdigest()
    assert made["x-tif-signature"] == expected
    assert made["x-tif-nonce"] != client_gateway.gateway_headers("P", SECRET)["x-tif-nonce"]


def check(h: gateway.GatewayHeaders, guard: gateway.NonceGuard, now: float = 1_765_000_000) -> None:
    gateway.check(h, institution="H1", paasid="PAAS1", secret=SECRET, now=now, guard=guard)


def test_gateway_headers_are_checked_field_by_field() -> None:
    guard = gateway.NonceGuard()
    check(headers(), guard)
    cases = [
        (gateway.GatewayHeaders(), "x-tif-paasid"),
        (headers({"x-tif-paasid": "OTHER"}), "x-tif-paasid is not this institution's"),
        (headers({"x-tif-timestamp": "1765000000123"}), "x-tif-timestamp must be Unix time"),
        (headers({"x-tif-timestamp": "17650x"}), "x-tif-timestamp must be Unix time"),
        (headers(now=1_765_000_000 - 301), "within 300 s"),
        (headers({"x-tif-nonce": "a b"}), "x-tif-nonce must be 1-64"),
        (headers({"x-tif-signature": "abc"}), "x-tif-signature must be 64 hex"),
        (headers({"x-tif-signature": "0" * 64}), "wrong gateway signature"),
    ]
    for h, why in cases:
        with pytest.raises(Refusal, match=why):
            check(h, guard)


def test_a_nonce_is_spent_once_per_institution_and_only_by_a_valid_signature() -> None:
    guard = gateway.NonceGuard()
    h = headers()
    bad = gateway.GatewayHeaders(h.paasid, h.timestamp, h.nonce, "0" * 64)
    with pytest.raises(Refusal, match="wrong gateway signature"):
        check(bad, guard)
    check(h, guard)  # the failed attempt did not spend the nonce
    with pytest.raises(Refusal, match="used before") as refused:
        check(h, guard)
    assert refused.value.code == "auth.gateway_replay"
    guard.spend("H2", h.nonce or "")  # another institution's nonces are its own


def test_the_nonce_guard_forgets_after_its_window_and_is_bounded() -> None:
    guard = gateway.NonceGuard(window=600, limit=3)
    for n in "abc":
        guard.spend("H1", n, now=0)
    with pytest.raises(Refusal) as busy:
        guard.spend("H1", "d", now=1)
    assert busy.value.code == "auth.gateway_busy"
    guard.spend("H2", "d", now=1)  # others are not affected
    with pytest.raises(Refusal, match="used before"):
        guard.spend("H1", "a", now=599)
    guard.spend("H1", "a", now=600)  # the window has passed


# -- envelope forms --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "application/json",
        "text/plain",
        "text/plain; charset=utf-8",
        "text/plain;charset=UTF-8",
        'application/json; charset="utf8"',
        "TEXT/PLAIN",
    ],
)
def test_json_and_plain_text_in_utf8_are_read(value: str | None) -> None:
    assert check_content_type(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("application/x-www-form-urlencoded", "application/json or text/plain"),
        ("text/html", "application/json or text/plain"),
        ("text/plain; charset=gbk", "charset must be utf-8"),
    ],
)
def test_other_content_types_are_refused(value: str, why: str) -> None:
    refusal = check_content_type(value)
    assert refusal is not None and refusal.code == "http.content_type" and why in refusal.en


def test_empty_forms_input_text_and_the_code_in_the_url() -> None:
    sent = {**ENVELOPE, "sign_no": "null", "dev_safe_info": "", "input": '{"signIn":{"ip":"x"}}'}
    record = normalise(sent, Delivery(path_infno="9001"))
    assert "sign_no" not in record and "dev_safe_info" not in record and "dev_no" not in record
    assert record["input"] == {"signIn": {"ip": "x"}}
    envelope = env_mod.parse_envelope(record)
    assert envelope.sign_no is None and envelope.dev_no is None
    # the code in the URL fills a missing infno, and must equal a given one
    assert (
        normalise({k: v for k, v in sent.items() if k != "infno"}, Delivery(path_infno="9001"))[
            "infno"
        ]
        == "9001"
    )
    with pytest.raises(Refusal, match=r"envelope.infno must be the transaction code of the URL"):
        normalise(sent, Delivery(path_infno="1101"))
    with pytest.raises(Refusal, match="4-digit transaction code"):
        normalise(sent, Delivery(path_infno="11O1"))
    for text in ("[1]", "{", '"x"', "1e5"):
        with pytest.raises(Refusal, match="input must be a JSON object, or a JSON text"):
            normalise({**sent, "input": text}, Delivery())


def test_a_required_field_sent_empty_is_named_with_its_form() -> None:
    for empty in ("null", "", " null "):
        with pytest.raises(Refusal) as refused:
            env_mod.parse_envelope(normalise({**ENVELOPE, "opter": empty}, Delivery()))
        assert "envelope.opter: Field required; it must be text of 1-30 characters" in (
            refused.value.en
        )
    with pytest.raises(Refusal) as refused:
        env_mod.parse_envelope(normalise({**ENVELOPE, "opter_type": 1}, Delivery()))
    assert "envelope.opter_type" in refused.value.en and "the text 1, 2 or 3" in refused.value.en
