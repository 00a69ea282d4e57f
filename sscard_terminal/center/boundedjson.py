"""Request bodies to JSON values at a bounded cost per byte (no unbounded work
before authentication).

:func:`parse` is the one way a request body becomes JSON values in the center.
It runs before any signature is checked, so what it accepts must cost a small,
bounded amount of CPU and memory per byte of body, whoever sent it:

- the body: at most :data:`MAX_BODY` bytes (HTTP 413 beyond), strict UTF-8
  (RFC 8259, section 8.1: no byte-order mark, no UTF-16 or UTF-32);
- nesting: at most :data:`MAX_DEPTH` objects and arrays inside one another;
- numbers: at most :data:`MAX_NUMBER_CHARS` characters of text, at most
  :data:`MAX_DIGITS` digits before the exponent and an exponent of at most
  :data:`MAX_EXPONENT` either way, checked on the number's text before any
  conversion (so ``1e400000`` is never expanded and a 4,300-digit integer never
  converted); ``NaN`` and ``Infinity`` are no JSON (RFC 8259, section 6);
- strings: no lone UTF-16 surrogate (``"\\ud800"``): such a string has no UTF-8
  form (RFC 8259, section 8.2) and could be neither journaled nor signed.

Numbers with a fraction or an exponent become :class:`decimal.Decimal`, as in
:func:`sscard_terminal.center.wire.loads` (settlement-interface.md, "Money").
Anything else is refused with one :class:`BodyRefused`, whose ``code`` and
``status`` (400 or 413) the HTTP layer answers as they are; nothing is journaled.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "MAX_NUMBER_CHARS",
    "BodyRefused",
    "parse",
]

#: the largest body accepted (a 3102 upload of some thousand fee lines is far less)
MAX_BODY = 4 * 1024 * 1024
#: objects and arrays inside one another (a message of the national interface needs 4)
MAX_DEPTH = 32
#: the text of one number, sign and exponent included
MAX_NUMBER_CHARS = 64
#: digits of one number before its exponent (an amount has 16 of them at most)
MAX_DIGITS = 40
#: the largest exponent either way (``1e40``, ``1e-40``)
MAX_EXPONENT = 40

# a lone surrogate can only come from a \\u escape (raw surrogate bytes are no
# UTF-8); a pair of them is one character and passes
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyRefused(ValueError):
    """A body the center does not read: HTTP ``status`` with ``code`` and a
    Chinese and English text that names the limit (never the body's content)."""

    def __init__(self, code: str, zh: str, en: str, status: int = 400) -> None:
        super().__init__(f"{zh} / {en}")
        self.code = code
        self.zh = zh
        self.en = en
        self.status = status

    @property
    def err_msg(self) -> str:
        """Chinese, then English (the form of every ``err_msg``)."""
        return f"{self.zh} / {self.en}"


def _too_large() -> BodyRefused:
    return BodyRefused(
        "http.too_large",
        f"报文过大（上限 {MAX_BODY} 字节）",
        f"the message is too large (at most {MAX_BODY} bytes)",
        413,
    )


_LIMITS_ZH = f"最多 {MAX_DIGITS} 位数字，指数绝对值不超过 {MAX_EXPONENT}"


def _number_refused(zh: str, en: str) -> BodyRefused:
    return BodyRefused(
        "http.number",
        f"报文中的数字不合法：{zh}（{_LIMITS_ZH}）",
        f"a number in the message is refused: {en} (at most {MAX_DIGITS} digits "
        f"and an exponent of at most {MAX_EXPONENT} either way)",
    )


def _digits(text: str) -> int:
    return len(text) - (text[:1] == "-")


def _parse_int(text: str) -> int:
    # called for every integer of a body: one length test in the common case
    if len(text) > MAX_DIGITS and _digits(text) > MAX_DIGITS:
        raise _number_refused("位数过多", "too many digits")
    return int(text)


def _parse_float(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_CHARS:
        raise _number_refused("位数过多", "too many digits")
    mantissa, _, exponent = text.lower().partition("e")
    if _digits(mantissa) - ("." in mantissa) > MAX_DIGITS:
        raise _number_refused("位数过多", "too many digits")
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        raise _number_refused("指数过大", "exponent too large")
    return Decimal(text)


def _no_constant(name: str) -> Any:
    raise _number_refused(f"{name} 不是JSON数字", f"{name} is no JSON number")


def _too_deep() -> BodyRefused:
    return BodyRefused(
        "http.too_deep",
        f"报文嵌套过深（最多 {MAX_DEPTH} 层对象或数组）",
        f"the message is nested too deeply (at most {MAX_DEPTH} levels of objects and arrays)",
    )


def _surrogate() -> BodyRefused:
    return BodyRefused(
        "http.surrogate",
        "报文字符串含有单独的 UTF-16 代理项（\\ud800-\\udfff），无法以 UTF-8 表示",
        "a string in the message holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
        "which has no UTF-8 form",
    )


def _not_json(detail: str) -> BodyRefused:
    return BodyRefused(
        "http.not_json", f"报文不是JSON（{detail}）", f"the body is not JSON ({detail})"
    )


_DECODER = json.JSONDecoder(
    parse_float=_parse_float, parse_int=_parse_int, parse_constant=_no_constant
)


def parse(body: bytes) -> Any:
    """The JSON value of a request body, within the limits of this module;
    raises :class:`BodyRefused` otherwise. Its cost is linear in ``len(body)``
    and bounded by :data:`MAX_BODY`."""
    if len(body) > MAX_BODY:
        raise _too_large()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_json("not UTF-8") from None
    try:
        value = _DECODER.decode(text)
    except BodyRefused:
        raise
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError: the position, never the content
        position = getattr(exc, "pos", None)
        raise _not_json(
            "syntax error" if position is None else f"syntax error at character {position}"
        ) from None
    _check_tree(value, strings=_SURROGATE_ESCAPE.search(body) is not None)
    return value


def _check_string(text: str) -> None:
    if _SURROGATE.search(text) is not None:
        raise _surrogate()


def _check_tree(value: Any, *, strings: bool) -> None:
    """Refuse nesting beyond :data:`MAX_DEPTH` and (when the body holds a
    surrogate escape) lone surrogates, without recursion."""
    if isinstance(value, str):
        if strings:
            _check_string(value)
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
            if strings:
                for key in item:
                    _check_string(key)
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise _too_deep()
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif strings and isinstance(child, str):
                _check_string(child)
