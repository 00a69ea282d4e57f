"""HTTP of the electronic voucher (center/voucher.py).

- ``POST /admin/vouchers`` (admin token): the voucher app's side, a new QR code
  for a person named by ``psn_no`` or ``id_number``.
- ``POST /localcfc/api/hsecfc/localQrCodeQuery``: the local voucher service's
  ``ec.query`` (integration.md). The body is the field's::

      {"data": {"businessType": "01101", "operatorId": "0001", "orgId": "H33020300001",
                "ecQrCode": "EC..."},
       "orgId": "H33020300001", "transType": "ec.query"}

  signed by the institution: header ``x-sscard-signature`` = lower-case hex
  of HMAC-SM3 (key: the institution's secret) over the raw body, as the
  national envelope's ``cainfo`` (center/signature.py). The answer is
  ``{code, message, data}``: code 0 with ``ecToken``, ``ecQrCode``,
  ``authNo``, ``idNo`` ... ; -1 with one sentence in Chinese and English.
"""

from __future__ import annotations

import hmac as std_hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field, model_validator
from sqlalchemy.orm import Session

from sscard_terminal.center import store, voucher, wire
from sscard_terminal.center.admin.base import AdminModel, NotFound
from sscard_terminal.center.clock import Clock
from sscard_terminal.center.db import Database
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import identity

__all__ = ["EXCHANGE_PATH", "SIGNATURE_HEADER", "VoucherIn", "exchange_router", "issue"]

EXCHANGE_PATH = "/localcfc/api/hsecfc/localQrCodeQuery"
SIGNATURE_HEADER = "x-sscard-signature"
MAX_EXCHANGE_BODY = 8192


class VoucherIn(AdminModel):
    """Who gets a code, and how long it and its token live."""

    psn_no: str | None = Field(default=None, min_length=1, max_length=30)
    id_number: str | None = Field(default=None, min_length=18, max_length=18)
    valid_seconds: int = Field(default=voucher.CODE_SECONDS, ge=1, le=3600)
    token_seconds: int = Field(default=voucher.TOKEN_SECONDS, ge=1, le=86400)

    @model_validator(mode="after")
    def _one_person(self) -> VoucherIn:
        if (self.psn_no is None) == (self.id_number is None):
            raise ValueError("give exactly one of psn_no and id_number")
        return self


def issue(session: Session, now: Any, req: VoucherIn) -> dict[str, Any]:
    """``POST /admin/vouchers``."""
    conn = session.connection()
    psn_no = req.psn_no
    if req.id_number is not None:
        ident = identity.check_id_number(req.id_number)
        row = conn.execute(store.PERSON_BY_ID, {"id_number": ident.value}).first()
        if row is None:
            raise NotFound(
                "person.unknown",
                f"未找到身份证号码为 {ident} 的参保人",
                f"no insured person with ID number {ident}",
            )
        psn_no = row.psn_no
    assert psn_no is not None
    if conn.execute(store.PERSON, {"psn_no": psn_no}).first() is None:
        raise NotFound("person.unknown", f"人员编号 {psn_no} 不存在", f"no person {psn_no}")
    return voucher.issue(
        conn,
        now.replace(tzinfo=None, microsecond=0),
        psn_no,
        valid_seconds=req.valid_seconds,
        token_seconds=req.token_seconds,
    )


def body_signature(secret: str, body: bytes) -> str:
    """HMAC-SM3 of the raw body with the institution's secret, lower-case hex."""
    mac = hmac.HMAC(secret.encode("utf-8"), hashes.SM3())
    mac.update(body)
    return mac.finalize().hex()


def _answer(code: int, message: str, data: dict[str, Any] | None = None) -> Response:
    body = {"code": code, "message": message, "data": data}
    return Response(wire.dumps(body), media_type="application/json")


def _refused(refusal: Refusal) -> Response:
    return _answer(-1, refusal.err_msg, {"errCode": refusal.code})


def exchange_router(db: Database, clock: Clock) -> APIRouter:
    router = APIRouter(tags=["electronic voucher"])

    @router.post(EXCHANGE_PATH, summary="ec.query: a voucher QR code for its ecToken")
    async def exchange(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_EXCHANGE_BODY:
            return _refused(Refusal("http.too_large", "报文过大", "the body is too large"))
        try:
            raw = json.loads(body)
            org = raw["orgId"]
            data = raw["data"]
            code = data["ecQrCode"]
            if raw.get("transType") != "ec.query" or not all(
                isinstance(v, str) for v in (org, code)
            ):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _refused(
                Refusal(
                    "input.invalid",
                    "报文须为 {orgId, transType: ec.query, data: {ecQrCode}} 的JSON",
                    "the body must be JSON {orgId, transType: ec.query, data: {ecQrCode}}",
                )
            )
        given = request.headers.get(SIGNATURE_HEADER, "")
        try:
            with db.transaction() as session:
                inst = session.connection().execute(store.INSTITUTION, {"code": org}).first()
                expected = body_signature(inst.secret, body) if inst is not None else ""
                if inst is None or not std_hmac.compare_digest(given.lower(), expected):
                    raise Refusal(
                        "voucher.signature",
                        "机构签名无效（x-sscard-signature）",
                        "the institution's signature (x-sscard-signature) is missing or wrong",
                    )
                if not inst.designated:
                    raise Refusal(
                        "institution.not_designated",
                        "本机构不是医保定点医药机构",
                        "this institution is not designated for medical insurance",
                    )
                now = clock().replace(tzinfo=None, microsecond=0)
                answer = voucher.exchange(session.connection(), now, org, code)
        except Refusal as refusal:
            return _refused(refusal)
        return _answer(0, "成功 / ok", answer)

    return router
