"""Masking what the journal stores for display: ID numbers and names of
people (the terminal's logs and journal hold no personal data in clear)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sscard_terminal.codecs.masking import mask_id_number, mask_name

__all__ = ["mask_for_journal"]

_ID_KEYS = frozenset({"certno", "psn_cert_no", "id_number", "gurn_certno", "idcard"})
_NAME_KEYS = frozenset(
    {"psn_name", "name", "dr_name", "opter_name", "gurn_name", "guardian_name", "dise_dor_name"}
)
_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def mask_for_journal(value: Any, key: str | None = None) -> Any:
    """A copy of a JSON value with ID numbers (by key, and any 18-character
    ID-shaped text anywhere) and names of people masked."""
    if isinstance(value, Mapping):
        return {k: mask_for_journal(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_for_journal(v, key) for v in value]
    if isinstance(value, str) and value:
        if key in _ID_KEYS:
            return mask_id_number(value)
        if key in _NAME_KEYS:
            return mask_name(value)
        return _ID_RE.sub(lambda m: mask_id_number(m.group(0)), value)
    return value
