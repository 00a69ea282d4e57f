"""The terminal's side of the electronic medical-insurance voucher
(integration.md, "The electronic medical-insurance voucher").

The kiosk or till reads the patient's QR code (a keyboard-wedge scanner
types it) and its local voucher service exchanges it for the person's
``ecToken`` (``ec.query``); the flows then send ``mdtrt_cert_type`` "01" with
the token as ``mdtrt_cert_no`` in 1101, 2201, 2206/2207 and 2101/2102. The
request is the field's ``{"data": {...}, "orgId": ..., "transType":
"ec.query"}``, signed with the institution's secret (HMAC-SM3 over the body
in ``x-sscard-signature``, as the center's docs/center.md says). Nothing is
booked, so nothing is journaled: a code that cannot be exchanged is simply
scanned again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx

from sscard_terminal.errors import UsageError
from sscard_terminal.settlement import wire
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.errors import CenterRefused, CenterUnavailable, UnexpectedAnswer

__all__ = ["EXCHANGE_PATH", "VOUCHER_CERT", "VoucherToken", "check_code", "ec_query"]

EXCHANGE_PATH = "/localcfc/api/hsecfc/localQrCodeQuery"
#: mdtrt_cert_type of the electronic voucher
VOUCHER_CERT = "01"
_CODE = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


@dataclass(frozen=True)
class VoucherToken:
    """What ``ec.query`` answered. ``repr`` shows no token and no ID number."""

    ec_token: str = field(repr=False)
    psn_no: str
    id_number: str = field(repr=False)
    name: str = field(repr=False)
    auth_no: str
    expires_at: str


def check_code(code: str) -> str:
    """The scanned code, stripped; a UsageError naming the form it must take."""
    text = code.strip()
    if not _CODE.match(text):
        raise UsageError(
            "--voucher: the voucher code must be 8-128 letters, digits, '-' or '_' "
            "(the text of the QR code the patient shows)"
        )
    return text


def ec_query(
    client: SettlementClient, code: str, *, operator_id: str | None = None
) -> VoucherToken:
    """Exchange a scanned QR code for the person's token (``ec.query``)."""
    code = check_code(code)
    org = client.institution.fixmedins_code
    body = wire.dumps(
        {
            "data": {
                "businessType": "01101",
                "operatorId": operator_id or client.operator.opter,
                "orgId": org,
                "ecQrCode": code,
            },
            "orgId": org,
            "transType": "ec.query",
        }
    )
    url = client.url.split("/fsi/", 1)[0] + EXCHANGE_PATH
    signature = wire.hmac_sm3(client.institution.secret.encode("utf-8"), body).hex()
    try:
        answer = client.http.post(
            url,
            content=body,
            headers={
                "content-type": "application/json; charset=utf-8",
                "x-sscard-signature": signature,
            },
        )
    except httpx.TransportError as exc:
        raise CenterUnavailable(
            f"ec.query: the voucher service cannot be reached ({type(exc).__name__})",
            infno="ec.query",
        ) from None
    try:
        parsed = answer.json()
        status, message, data = parsed["code"], parsed["message"], parsed["data"]
    except (ValueError, KeyError, TypeError):
        raise UnexpectedAnswer(
            f"ec.query: HTTP {answer.status_code}, the answer is not {{code, message, data}}"
        ) from None
    if status != 0:
        err_code = data.get("errCode") if isinstance(data, dict) else None
        raise CenterRefused(str(message), infno="ec.query", infcode=int(status), err_code=err_code)
    try:
        return VoucherToken(
            ec_token=str(data["ecToken"]),
            psn_no=str(data["psnNo"]),
            id_number=str(data["idNo"]),
            name=str(data["userName"]),
            auth_no=str(data["authNo"]),
            expires_at=str(data["tokenExpiresAt"]),
        )
    except (KeyError, TypeError):
        raise UnexpectedAnswer("ec.query: the answer's data has no ecToken") from None
