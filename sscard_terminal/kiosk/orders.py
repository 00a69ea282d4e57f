"""Outpatient fees registered at the desk, as the hospital information system
(HIS) hands them to a kiosk: the stand-in is a JSON file the desk writes
(``sscard kiosk serve --orders FILE``), read again at every look-up::

    [{"psn_no": "33020000000000000001", "mdtrt_id": "...", "ipt_otp_no": "OP1",
      "dept_name": "内科", "dr_name": "王医生", "dise_codg": "J06.900",
      "dise_name": "急性上呼吸道感染",
      "items": [{"code": "XC10AAA005A001010100004", "count": "2", "price": "6.00",
                 "name": "药品"}]}]

A visit paid at the kiosk is remembered (``mark_paid``) so that it is not
offered twice; the desk learns of the payment from the center (5203) or its
own reconciliation.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from sscard_terminal.errors import UsageError
from sscard_terminal.terminal.flows import DeskVisit, Item, parse_item

__all__ = ["OrdersBook"]


def _visit(node: Any, where: str) -> tuple[str, DeskVisit]:
    if not isinstance(node, dict):
        raise UsageError(f"{where}: an order is an object")
    try:
        items = tuple(
            parse_item(
                f"{i['code']}:{i['count']}:{i['price']}"
                + (f":{i['name']}" if i.get("name") else "")
            )
            for i in node["items"]
        )
        return str(node["psn_no"]), DeskVisit(
            mdtrt_id=str(node["mdtrt_id"]),
            items=items,
            ipt_otp_no=node.get("ipt_otp_no"),
            dept_name=node.get("dept_name"),
            dr_name=node.get("dr_name"),
            dise_codg=node.get("dise_codg"),
            dise_name=node.get("dise_name"),
        )
    except (KeyError, TypeError) as exc:
        raise UsageError(
            f"{where}: an order needs psn_no, mdtrt_id and items [{{code, count, price}}] "
            f"(missing {exc})"
        ) from None


class OrdersBook:
    """The desk's open visits by person."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._paid: dict[str, str] = {}
        self._lock = threading.Lock()

    def outstanding(self, psn_no: str) -> list[DeskVisit]:
        """The person's visits with fees still to pay."""
        if not self.path.exists():
            return []
        try:
            nodes = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UsageError(f"{self.path}: the orders file is not readable JSON") from None
        if not isinstance(nodes, list):
            raise UsageError(f"{self.path}: the orders file is a JSON list")
        found = [_visit(n, f"{self.path}[{i}]") for i, n in enumerate(nodes)]
        with self._lock:
            return [v for who, v in found if who == psn_no and v.mdtrt_id not in self._paid]

    def mark_paid(self, mdtrt_id: str, setl_id: str) -> None:
        with self._lock:
            self._paid[mdtrt_id] = setl_id


_ = Item  # re-exported for the orders' items
