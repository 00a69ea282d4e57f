"""JSON on the wire, and the message signature in ``cainfo``.

settlement-interface.md, "Money": amounts are decimals with 2 places, never
floats. :func:`loads` reads every JSON number with a fraction or an exponent
as :class:`decimal.Decimal` (integers stay ``int``); :func:`dumps` writes a
Decimal as a JSON number with its own digits (``Decimal("12.30")`` -> ``12.30``)
and refuses floats, NaN and infinities.

settlement-interface.md, "Request envelope" lets ``cainfo``/``signtype`` carry
a signature. The project's center authenticates institutions with a shared
secret (signtype ``HMAC-SM3``):

    cainfo = lower-case hex of HMAC (RFC 2104) over SM3 (GB/T 32905-2016),
             key = UTF-8 of the institution's secret,
             message = UTF-8 of the canonical JSON of the array of the values of
             :data:`SIGNED_FIELDS` in that order (an absent field or null counts
             as ""; ``input`` is the JSON object itself).

:data:`SIGNED_FIELDS` are the request-envelope fields of the table in
settlement-interface.md in the table's order, without ``cainfo`` itself.
The canonical JSON (:func:`canonical`) has no whitespace, object keys sorted
by code point, characters other than ``"``, ``\\`` and control characters
written as themselves, and numbers in their shortest exact form: no exponent,
no trailing zeros in the fraction, no trailing point (``12.30`` -> ``12.3``,
``100.00`` -> ``100``, ``-0`` -> ``0``). Both sides compute it over the values
they hold after parsing, so ``12.30`` and ``12.3`` sign alike.

This module is written from that description alone: it shares no code with
any server.
"""

from __future__ import annotations

import hmac as std_hmac
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

__all__ = [
    "SIGNED_FIELDS",
    "SIGNTYPE",
    "WireFormatError",
    "canonical",
    "canonical_number",
    "dumps",
    "hmac_sm3",
    "loads",
    "sign",
    "signed_text",
    "verify",
]

#: The value of ``signtype`` for the shared-secret signature.
SIGNTYPE = "HMAC-SM3"

#: The request-envelope fields covered by ``cainfo``, in the canonical order
#: (settlement-interface.md, "Request envelope", without ``cainfo``).
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


class WireFormatError(ValueError):
    """A value that cannot be written as (canonical) JSON, or bytes that are no JSON."""


# -- reading ------------------------------------------------------------------------------
def _refuse_constant(name: str) -> Any:
    raise WireFormatError(f"{name} is not a JSON number")


def loads(body: bytes | str) -> Any:
    """Parse JSON: numbers with a fraction or exponent become Decimal, integers
    int; NaN and Infinity are refused."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except WireFormatError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WireFormatError(f"not JSON: {exc}") from None


# -- strings ------------------------------------------------------------------------------
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_ESCAPES: dict[int, str] = {
    code: _SHORT_ESCAPES.get(chr(code), f"\\u{code:04x}") for code in range(0x20)
}
_ESCAPES[ord('"')] = '\\"'
_ESCAPES[ord("\\")] = "\\\\"


def _string(text: str) -> str:
    """A JSON string: only ``"``, ``\\`` and U+0000..U+001F are escaped (the short
    forms where JSON has them, else ``\\u00XX``); all else is written as itself."""
    return '"' + text.translate(_ESCAPES) + '"'


# -- numbers ------------------------------------------------------------------------------
def _plain(value: Decimal) -> str:
    if not value.is_finite():
        raise WireFormatError("NaN and infinities are not JSON numbers")
    return format(value, "f")


def canonical_number(value: int | Decimal) -> str:
    """The shortest exact text of a number: ``12.30`` -> ``12.3``, ``1E+2`` ->
    ``100``, ``100.00`` -> ``100``, ``-0.0`` -> ``0``."""
    if isinstance(value, bool):
        raise WireFormatError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, Decimal):
        raise WireFormatError(f"{type(value).__name__} is not an exact number (use Decimal)")
    if not value.is_finite():
        raise WireFormatError("NaN and infinities are not JSON numbers")
    if value == value.to_integral_value():
        return str(int(value))
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# -- writing ------------------------------------------------------------------------------
def _write(value: Any, out: list[str], *, canon: bool) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(canonical_number(value) if canon else _plain(value))
    elif isinstance(value, float):
        raise WireFormatError("floats are not written (amounts are Decimal)")
    elif isinstance(value, Mapping):
        out.append("{")
        keys = list(value)
        for key in keys:
            if not isinstance(key, str):
                raise WireFormatError(f"object keys must be text, not {type(key).__name__}")
        for position, key in enumerate(sorted(keys) if canon else keys):
            if position:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out, canon=canon)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out, canon=canon)
        out.append("]")
    else:
        raise WireFormatError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes; keys in their given order, Decimal as a number
    with its own digits (``12.30``), floats refused."""
    out: list[str] = []
    _write(value, out, canon=False)
    return "".join(out).encode("utf-8")


def canonical(value: Any) -> str:
    """The canonical JSON text of a value (see the module's description)."""
    out: list[str] = []
    _write(value, out, canon=True)
    return "".join(out)


# -- the signature ------------------------------------------------------------------------
def signed_text(envelope: Mapping[str, Any]) -> str:
    """The text that ``cainfo`` signs: the canonical JSON of the values of
    :data:`SIGNED_FIELDS` in order, absent or null fields as ``""``."""
    values: list[Any] = []
    for name in SIGNED_FIELDS:
        value = envelope.get(name)
        if name == "input":
            values.append({} if value is None else value)
        else:
            values.append("" if value is None else value)
    return canonical(values)


def hmac_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) with SM3 (GB/T 32905-2016): 32 bytes."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(message)
    return mac.finalize()


def sign(envelope: Mapping[str, Any], secret: str) -> str:
    """``cainfo`` for a request envelope: 64 lower-case hex digits."""
    return hmac_sm3(secret.encode("utf-8"), signed_text(envelope).encode("utf-8")).hex()


def verify(envelope: Mapping[str, Any], secret: str) -> bool:
    """Whether ``envelope["cainfo"]`` signs the envelope (compared in constant time)."""
    given = envelope.get("cainfo")
    if not isinstance(given, str) or len(given) != 64:
        return False
    return std_hmac.compare_digest(given.lower(), sign(envelope, secret))
