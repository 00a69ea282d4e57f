"""The message signature in ``cainfo``: an HMAC-SM3 over the envelope fields
(signtype "SM2", with a registered public key, is :mod:`.sm2sign`).

settlement-interface.md lets ``cainfo``/``signtype`` carry a signature (the
real platform uses SM2 certificates). This center uses a per-institution
shared secret instead, so that every message proves which institution sent
it, with HMAC (RFC 2104) over SM3 (GB/T 32905-2016):

    signtype = "HMAC-SM3"
    cainfo   = lower-case hex of HMAC-SM3(key = UTF-8 of the institution's secret,
                                          message = UTF-8 of canonical_string(envelope))

The canonical string is the canonical JSON (:func:`sscard_terminal.center.wire.canonical`)
of a JSON array holding, in this order, the values of :data:`SIGNED_FIELDS`:
every request-envelope field of settlement-interface.md except ``cainfo``
itself. An absent field or ``null`` counts as ``""``; ``input`` is the JSON
object itself (its keys sorted, numbers in canonical form). For example::

    ["9001","H33020300001202611250930000001","330203","","FSI_LOCAL","","",
     "HMAC-SM3","V1.0","1","0001","收费员01","2026-11-25 09:30:00",
     "H33020300001","宁波市第一医院","",{"signIn":{"ip":"10.0.0.8","mac":"","opter_no":"0001"}}]
"""

from __future__ import annotations

import hmac as std_hmac
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

from sscard_terminal.center.wire import canonical

__all__ = ["SIGNED_FIELDS", "SIGNTYPE", "canonical_string", "sign", "verify"]

SIGNTYPE = "HMAC-SM3"

#: The envelope fields covered by the signature, in the canonical order.
SIGNED_FIELDS: tuple[str, ...] = (
    "infno",
    "msgid",
    "mdtrtarea_admvs",
    "insuplc_admdvs",
    "recer_sys_code",
    "dev_no",
    "dev_safe_info",
    "signtype",
    "infver",
    "opter_type",
    "opter",
    "opter_name",
    "inf_time",
    "fixmedins_code",
    "fixmedins_name",
    "sign_no",
    "input",
)


def canonical_string(envelope: Mapping[str, Any], *, canonical_input: str | None = None) -> str:
    """The text that is signed: canonical JSON of the signed fields' values in order.

    ``canonical_input`` may pass the canonical JSON of ``input`` when it is known
    already (it is the last element of the array)."""
    values: list[Any] = []
    for name in SIGNED_FIELDS[:-1]:
        value = envelope.get(name)
        values.append("" if value is None else value)
    head = canonical(values)
    if canonical_input is None:
        body = envelope.get("input")
        canonical_input = canonical({} if body is None else body)
    return f"{head[:-1]},{canonical_input}]"


def sign(envelope: Mapping[str, Any], secret: str, *, canonical_input: str | None = None) -> str:
    """The ``cainfo`` for an envelope: 64 lower-case hex digits."""
    mac = hmac.HMAC(secret.encode("utf-8"), hashes.SM3())
    mac.update(canonical_string(envelope, canonical_input=canonical_input).encode("utf-8"))
    return mac.finalize().hex()


def verify(envelope: Mapping[str, Any], secret: str, *, canonical_input: str | None = None) -> bool:
    """Whether ``envelope["cainfo"]`` is the signature of the envelope (either case),
    compared in constant time."""
    given = envelope.get("cainfo")
    if not isinstance(given, str) or len(given) != 64:
        return False
    expected = sign(envelope, secret, canonical_input=canonical_input)
    return std_hmac.compare_digest(given.lower(), expected)
