"""Receipts: what a terminal hands the patient after a flow, as text and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sscard_terminal.codecs.masking import mask_id_number, mask_name


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    code: str
    quantity: Decimal
    price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Receipt:
    """A settlement receipt. Names and ID numbers are masked, as on paper slips."""

    title: str
    institution: str
    institution_name: str
    time: str
    holder_name: str
    holder_id: str
    card_number: str
    setl_id: str
    msgid: str
    total: Decimal
    fund: Decimal
    account: Decimal
    cash: Decimal
    balance: Decimal | None
    lines: tuple[ReceiptLine, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "institution": self.institution,
            "institution_name": self.institution_name,
            "time": self.time,
            "holder": mask_name(self.holder_name),
            "holder_id": mask_id_number(self.holder_id),
            "card_number": self.card_number,
            "setl_id": self.setl_id,
            "msgid": self.msgid,
            "total": str(self.total),
            "fund": str(self.fund),
            "account": str(self.account),
            "cash": str(self.cash),
            "balance": None if self.balance is None else str(self.balance),
            "lines": [
                {
                    "name": ln.name,
                    "code": ln.code,
                    "quantity": str(ln.quantity),
                    "price": str(ln.price),
                    "amount": str(ln.amount),
                }
                for ln in self.lines
            ],
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        width = 40
        out = [self.title.center(width), self.institution_name.center(width), "-" * width]
        out.append(f"时间 time        {self.time}")
        out.append(f"姓名 name        {mask_name(self.holder_name)}")
        out.append(f"证件 ID          {mask_id_number(self.holder_id)}")
        out.append(f"卡号 card        {self.card_number}")
        out.append(f"结算 settlement  {self.setl_id}")
        for key, value in self.extra.items():
            out.append(f"{key:<16}{value}")
        if self.lines:
            out.append("-" * width)
            for ln in self.lines:
                # the item code in full (a national code has 23 characters): it is
                # what the patient and the pharmacist check; the name may wrap
                out.append(ln.code if ln.name in ("", ln.code) else f"{ln.name}  {ln.code}")
                out.append(f"{'':<14} {ln.quantity:>5} x {ln.price:>8} = {ln.amount:>9}")
        out.append("-" * width)
        out.append(f"合计 total       {self.total:>12}")
        out.append(f"统筹 fund        {self.fund:>12}")
        out.append(f"个账 account     {self.account:>12}")
        out.append(f"现金 cash        {self.cash:>12}")
        if self.balance is not None:
            out.append(f"余额 balance     {self.balance:>12}")
        return "\n".join(out)
