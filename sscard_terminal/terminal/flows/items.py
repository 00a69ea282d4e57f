"""The lines a terminal charges (:class:`Item`): parsed from the command line
or loaded from a JSON file, sent as the details of 2204 (``feedetail``) and
of 2101/2102 (``drugdetail``), and printed on the receipt."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from sscard_terminal.errors import UsageError
from sscard_terminal.settlement.models import DrugDetail, FeeDetail
from sscard_terminal.terminal.receipt import ReceiptLine

__all__ = ["Item", "details", "load_items", "parse_item", "receipt_lines", "sum_amount"]

CENT = Decimal("0.01")

#: a detail line of the settlement interface: 2204's or 2101/2102's
Detail = TypeVar("Detail", FeeDetail, DrugDetail)


@dataclass(frozen=True)
class Item:
    """One line the terminal charges: a catalogue code, a count and a price."""

    code: str
    count: Decimal
    price: Decimal
    name: str = ""
    medins_code: str = ""

    @property
    def amount(self) -> Decimal:
        return (self.count * self.price).quantize(CENT)


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, float | bool):
        value = str(value)
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise UsageError(f"{what}: {value!r} is not a number") from None
    if not result.is_finite() or result <= 0:
        raise UsageError(f"{what}: {value!r} must be positive")
    return result


def _item(node: Any, where: str) -> Item:
    if not isinstance(node, dict) or "code" not in node:
        raise UsageError(f"{where}: an item is an object with code, count and price")
    return Item(
        code=str(node["code"]),
        count=_decimal(node.get("count", node.get("cnt", 1)), f"{where}.count"),
        price=_decimal(node.get("price", node.get("pric")), f"{where}.price"),
        name=str(node.get("name", "")),
        medins_code=str(node.get("medins_code", "")),
    )


def load_items(path: str | Path) -> list[Item]:
    """Items from a JSON file: ``[{"code": ..., "count": "1", "price": "30.00",
    "name": ...}, ...]`` or ``{"items": [...]}``. Prices as strings keep them exact."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise UsageError(f"{source}: cannot read the items: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not JSON: {exc}") from None
    rows = data.get("items") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows:
        raise UsageError(f"{source}: no items")
    return [_item(row, f"{source}[{i}]") for i, row in enumerate(rows)]


def parse_item(text: str) -> Item:
    """``CODE:COUNT:PRICE[:NAME]`` from the command line."""
    parts = text.split(":", 3)
    if len(parts) < 3:
        raise UsageError(f"--item {text!r}: give CODE:COUNT:PRICE[:NAME]")
    return Item(
        parts[0],
        _decimal(parts[1], "--item count"),
        _decimal(parts[2], "--item price"),
        parts[3] if len(parts) > 3 else "",
    )


def sum_amount(items: Iterable[Item]) -> Decimal:
    """``medfee_sumamt``: the sum of the lines' amounts."""
    return sum((it.amount for it in items), Decimal("0.00"))


def details(kind: type[Detail], items: Sequence[Item], when: dt.datetime) -> list[Detail]:
    """The items as detail lines of ``kind`` (:class:`FeeDetail` for 2204,
    :class:`DrugDetail` for 2101/2102), numbered from 1, all charged at
    ``when``; the institution's own code is the catalogue code unless the
    item names one."""
    return [
        kind(
            feedetl_sn=str(i),
            med_list_codg=it.code,
            medins_list_codg=it.medins_code or it.code,
            cnt=it.count,
            pric=it.price,
            det_item_fee_sumamt=it.amount,
            fee_ocur_time=when,
        )
        for i, it in enumerate(items, 1)
    ]


def receipt_lines(items: Iterable[Item]) -> tuple[ReceiptLine, ...]:
    return tuple(
        ReceiptLine(it.name or it.code, it.code, it.count, it.price, it.amount) for it in items
    )
