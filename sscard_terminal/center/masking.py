"""Masking of personal data in journals and logs.

Journals keep every message with ID numbers and names masked by the
project's own helpers (:mod:`sscard_terminal.codecs.masking`): by key for the
fields of the interface that hold them, and by form for any text that looks
like an 18-character ID number wherever it appears. :class:`MaskingFilter`
does the same to log records.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

from sscard_terminal.codecs.masking import mask_id_number, mask_name

__all__ = ["ID_KEYS", "NAME_KEYS", "MaskingFilter", "install_log_masking", "mask_json", "mask_text"]

#: Keys whose values are ID numbers.
ID_KEYS = frozenset({"certno", "psn_cert_no", "id_number", "gurn_certno", "guardian_id_number"})
#: Keys whose values are names of people.
NAME_KEYS = frozenset({"psn_name", "name", "dr_name", "opter_name", "gurn_name", "guardian_name"})

_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def mask_text(text: str) -> str:
    """Mask every ID-number-shaped run of characters in free text."""
    return _ID_RE.sub(lambda m: mask_id_number(m.group(0)), text)


#: leaf types that never need masking (checked first: most leaves are these or str)
_SCALARS = frozenset({int, float, bool, Decimal, type(None)})


def mask_json(value: Any, key: str | None = None) -> Any:
    """A copy of a JSON value with ID numbers and names masked (the value itself
    when nothing needed masking)."""
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            name = k if type(k) is str else str(k)
            kind = type(v)
            if kind is str:
                masked = _mask_string(v, name)
            elif kind in _SCALARS:
                out[k] = v
                continue
            else:
                masked = mask_json(v, name)
            if masked is not v:
                changed = True
            out[k] = masked
        return out if changed else value
    if isinstance(value, list):
        items = [mask_json(v, key) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, str):
        return _mask_string(value, key)
    return value


def _mask_string(value: str, key: str | None) -> str:
    if key in ID_KEYS:
        return mask_id_number(value)
    if key in NAME_KEYS:
        return mask_name(value) if value else value
    if len(value) >= 18:
        masked = mask_text(value)
        return masked if masked != value else value
    return value


class MaskingFilter(logging.Filter):
    """Masks ID-number-shaped text in every record that passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


def install_log_masking() -> None:
    """Put :class:`MaskingFilter` on every handler of the root and uvicorn loggers."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())
