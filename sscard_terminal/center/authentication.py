"""How a message proves which institution sent it.

Given the institution's row (its secret, its SM2 public key, its gateway
option), :func:`authenticate` checks, in this order:

1. the x-tif gateway headers when the institution's option is ``also`` or
   ``only`` (:mod:`.gateway`);
2. ``cainfo`` by its ``signtype``: ``HMAC-SM3`` with the institution's secret
   (:mod:`.signature`) or ``SM2`` with its registered public key
   (:mod:`.sm2sign`), over the envelope as it was sent. With the gateway
   option ``only`` an empty cainfo is accepted (one that is present is
   checked).

Every failure is a :class:`~sscard_terminal.center.refusals.Refusal` naming
what is wrong and the form it must take (``auth.*``). Sans-IO: no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sscard_terminal.center import gateway, signature, sm2sign
from sscard_terminal.center.envelope import RequestEnvelope
from sscard_terminal.center.gateway import GatewayHeaders, NonceGuard
from sscard_terminal.center.refusals import Refusal

__all__ = ["authenticate"]


def authenticate(
    institution: Any,
    raw: Mapping[str, Any],
    envelope: RequestEnvelope,
    canonical_input: str,
    *,
    headers: GatewayHeaders,
    now: float,
    nonces: NonceGuard,
) -> None:
    """Raise :class:`Refusal` unless the message comes from ``institution``
    (a row with fixmedins_code, secret, sm2_public_key, gateway, gateway_paasid)."""
    mode = institution.gateway or "off"
    if mode != "off":
        gateway.check(
            headers,
            institution=institution.fixmedins_code,
            paasid=institution.gateway_paasid or institution.fixmedins_code,
            secret=institution.secret,
            now=now,
            guard=nonces,
        )
    if not envelope.cainfo:
        if mode == "only":
            return
        raise Refusal(
            "auth.unsigned", "报文未签名（cainfo 为空）", "the message is not signed (no cainfo)"
        )
    if envelope.signtype == signature.SIGNTYPE:
        valid = signature.verify(raw, institution.secret, canonical_input=canonical_input)
    elif envelope.signtype == sm2sign.SIGNTYPE:
        valid = _verify_sm2(raw, institution)
    else:
        raise Refusal(
            "auth.signtype",
            f"签名类型 signtype 须为 {signature.SIGNTYPE} 或 {sm2sign.SIGNTYPE}",
            f"envelope.signtype must be {signature.SIGNTYPE} or {sm2sign.SIGNTYPE}",
        )
    if not valid:
        raise Refusal(
            "auth.signature",
            "签名验证失败：报文被改动，或不是用本机构密钥签名",
            "wrong signature: the message was altered or not signed with this institution's key",
        )


def _verify_sm2(raw: Mapping[str, Any], institution: Any) -> bool:
    if not institution.sm2_public_key:
        raise Refusal(
            "auth.signtype",
            "本机构未登记SM2公钥：请用 HMAC-SM3 签名，或请经办机构登记公钥",
            "this institution has no SM2 public key registered: sign with HMAC-SM3, "
            "or have the operator register the key",
        )
    try:
        key = sm2sign.parse_public_key(institution.sm2_public_key)
        return sm2sign.verify(raw, key)
    except sm2sign.SM2SignatureError as exc:
        raise Refusal(
            "auth.cainfo",
            "cainfo 不是SM2签名：须为 r||s（128位十六进制）或DER签名，十六进制或Base64",
            f"envelope.cainfo is no SM2 signature ({exc}); it must be r || s "
            "(128 hex digits) or a DER signature, in hex or Base64",
        ) from None
