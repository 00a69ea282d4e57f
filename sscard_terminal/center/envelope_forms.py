"""The forms in which real clients deliver an envelope, brought to one form
before it is validated.

integration.md, "What national-interface clients send":

- the body is JSON sent as ``Content-Type: application/json`` or ``text/plain``
  (with or without ``charset=utf-8``): :func:`check_content_type`;
- the URL may be the endpoint with the transaction code appended
  (``.../callService/1101``): the code must be the envelope's ``infno``
  (an envelope without ``infno`` takes it from the URL);
- an empty field may be sent as ``""`` or as the literal text ``"null"``: both
  count as absent (a required field is then missing, and named so);
- ``input`` may be a JSON text holding the object rather than the object;
  it is parsed with the same rules as the body.

:func:`normalise` returns the envelope as the center validates and journals
it. Signatures are checked over what was sent (see
:mod:`~sscard_terminal.center.signature` and :mod:`~sscard_terminal.center.sm2sign`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sscard_terminal.center import wire
from sscard_terminal.center.gateway import GatewayHeaders
from sscard_terminal.center.refusals import Refusal

__all__ = [
    "EMPTY_FORMS",
    "MEDIA_TYPES",
    "Delivery",
    "check_content_type",
    "infno_of_path",
    "normalise",
]

#: the texts that mean "empty" in a field (integration.md)
EMPTY_FORMS = frozenset({"", "null"})
#: the media types a body may be declared as
MEDIA_TYPES = frozenset({"application/json", "text/plain"})
_CHARSETS = frozenset({"utf-8", "utf8"})
_INFNO = re.compile(r"[0-9]{4}")


@dataclass(frozen=True)
class Delivery:
    """How a body arrived: the transaction code in the URL (if any), the
    Content-Type, and the gateway headers."""

    path_infno: str | None = None
    content_type: str | None = None
    gateway: GatewayHeaders = field(default_factory=GatewayHeaders)


def check_content_type(value: str | None) -> Refusal | None:
    """None when the Content-Type is one the center reads (absent, JSON or
    plain text, UTF-8), else the refusal (HTTP 415)."""
    if value is None or not value.strip():
        return None
    media, *params = (part.strip() for part in value.split(";"))
    charset = None
    for param in params:
        name, _, given = param.partition("=")
        if name.strip().lower() == "charset":
            charset = given.strip().strip('"').lower()
    if media.lower() not in MEDIA_TYPES:
        return Refusal(
            "http.content_type",
            "Content-Type 须为 application/json 或 text/plain",
            "Content-Type must be application/json or text/plain (the body is JSON)",
        )
    if charset is not None and charset not in _CHARSETS:
        return Refusal(
            "http.content_type",
            "Content-Type 的 charset 须为 utf-8",
            "the Content-Type charset must be utf-8 (the body is UTF-8 JSON)",
        )
    return None


def infno_of_path(segment: str) -> str:
    """The transaction code after ``callService/``; raises :class:`Refusal`."""
    if not _INFNO.fullmatch(segment):
        raise Refusal(
            "envelope.infno",
            "URL 中 callService/ 之后须为4位交易编号",
            "the URL's part after callService/ must be the 4-digit transaction code (infno)",
        )
    return segment


def _empty(value: Any) -> bool:
    return isinstance(value, str) and value.strip() in EMPTY_FORMS


def normalise(
    raw: Mapping[str, Any],
    delivery: Delivery,
    parse_text: Callable[[str], Any] = wire.loads,
) -> dict[str, Any]:
    """The envelope with empty forms removed, ``input`` an object and ``infno``
    checked against the URL; raises :class:`Refusal` naming the field.

    ``parse_text`` parses ``input`` given as a JSON text (the body's parser)."""
    envelope = {name: value for name, value in raw.items() if not _empty(value)}
    if delivery.path_infno is not None:
        infno = envelope.setdefault("infno", infno_of_path(delivery.path_infno))
        if infno != delivery.path_infno:
            raise Refusal(
                "envelope.infno",
                f"infno 须与 URL 中的交易编号 {delivery.path_infno} 相同",
                f"envelope.infno must be the transaction code of the URL ({delivery.path_infno})",
            )
    body = envelope.get("input")
    if isinstance(body, str):
        try:
            body = parse_text(body)
        except (wire.WireError, ValueError):
            body = None
        if not isinstance(body, dict):
            raise Refusal(
                "envelope.invalid",
                "input 须为JSON对象，或内容为JSON对象的字符串",
                "envelope.input must be a JSON object, or a JSON text holding one",
            )
        envelope["input"] = body
    return envelope
