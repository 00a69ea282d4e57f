"""A cardholder record as a plain-text table for a terminal: one row per item,
labelled in English and Chinese as :mod:`sscard_terminal.codecs.records`
declares them, the labels padded to the widest (CJK characters take two
columns). Shown by ``sscard read`` and by the demo."""

from __future__ import annotations

import unicodedata

from sscard_terminal.codecs.records import EF05_ITEMS, EF06_ITEMS
from sscard_terminal.driver.cardholder import CardholderRecord


def _rows(record: CardholderRecord) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("ATR", record.atr.hex(" ").upper()),
        ("card reset info", record.historical_bytes.hex().upper()),
        ("region code", record.issuer.region),
    ]
    for spec in EF05_ITEMS:
        rows.append((f"{spec.label} ({spec.label_zh})", getattr(record.issuer, spec.key) or ""))
    if record.holder is None:
        rows.append(("cardholder (EF06)", record.holder_unavailable or "not read"))
    else:
        for spec in EF06_ITEMS:
            if spec.key == "name_ext":
                continue
            rows.append((f"{spec.label} ({spec.label_zh})", getattr(record.holder, spec.key) or ""))
    return rows


def display_width(text: str) -> int:
    """Columns a string takes in a terminal: CJK wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def record_table(record: CardholderRecord) -> str:
    rows = _rows(record)
    width = max(display_width(k) for k, _ in rows)
    return "\n".join(f"{k}{' ' * (width - display_width(k))}  {v}" for k, v in rows)
