"""JSON on the wire: amounts as decimals, never floats.

settlement-interface.md, "Money": amounts are decimals with 2 places. The
center parses every JSON number with a fraction or exponent as
:class:`decimal.Decimal` (:func:`loads`), and writes Decimal values back as
JSON numbers with their own digits (:func:`dumps`: ``Decimal("12.30")`` is
written ``12.30``). :func:`canonical` is the canonical JSON text over which
the signature is computed (see :mod:`sscard_terminal.center.signature`).
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

__all__ = ["WireError", "canonical", "canonical_number", "dumps", "loads"]

_encode_string = json.encoder.py_encode_basestring


class WireError(ValueError):
    """The bytes are not a JSON document the center accepts."""


def _no_constant(name: str) -> Any:
    raise WireError(f"{name} is not allowed in JSON")


def loads(body: bytes | str) -> Any:
    """Parse JSON; non-integral numbers become Decimal; NaN and Infinity are refused."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except WireError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WireError(f"not JSON: {exc}") from None


_MARK = "\x00" + secrets.token_hex(6)
_MARK_JSON = json.dumps(_MARK)[1:-1]  # as json writes it: \u0000 and the token
_OPEN, _CLOSE = '"' + _MARK_JSON, _MARK_JSON + '"'  # around each Decimal's digits


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise WireError("a non-finite decimal cannot be written as JSON")
        return f"{_MARK}{value:f}{_MARK}"
    raise WireError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """JSON as UTF-8 bytes, Decimal as numbers with their own digits (``12.30``).

    The C encoder writes each Decimal as a string between two markers (a NUL
    and a random token, which no JSON text can contain unescaped), and the
    markers and quotes are then removed around the digits."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_default)
    if _MARK_JSON in text:
        # the markers and quotes around the digits go (two C-speed replaces)
        text = text.replace(_OPEN, "").replace(_CLOSE, "")
    return text.encode("utf-8")


def canonical_number(value: int | Decimal) -> str:
    """The canonical text of a number: no exponent, no trailing fraction zeros,
    no trailing point (``12.30`` -> ``12.3``, ``1E+2`` -> ``100``, ``-0`` -> ``0``)."""
    if isinstance(value, bool):
        raise WireError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    if not value.is_finite():
        raise WireError("a non-finite number has no canonical form")
    if value == value.to_integral_value():
        return str(int(value))
    text = format(value.normalize(), "f")
    return text


def _canon(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int | Decimal):
        out.append(canonical_number(value))
    elif isinstance(value, float):
        out.append(canonical_number(Decimal(repr(value))))
    elif isinstance(value, dict):
        out.append("{")
        for position, key in enumerate(sorted(value, key=str)):
            if position:
                out.append(",")
            out.append(_encode_string(str(key)))
            out.append(":")
            _canon(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _canon(item, out)
        out.append("]")
    else:
        raise WireError(f"cannot canonicalise {type(value).__name__}")


def canonical(value: Any) -> str:
    """Canonical JSON text: object keys sorted by code point, no whitespace,
    non-ASCII characters as themselves, strings escaped as Python's ``json``
    does with ``ensure_ascii=False`` (only ``"``, ``\\`` and control characters),
    numbers as :func:`canonical_number`."""
    out: list[str] = []
    _canon(value, out)
    return "".join(out)
