"""The catalogue: drugs and services with their class (A, B, C), own class-B
self-pay share and price cap, which rule h reads.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from sscard_terminal.center.admin.base import AdminModel
from sscard_terminal.center.models import CatalogueItem
from sscard_terminal.center.transactions.fields import Amount

__all__ = ["CatalogueIn", "upsert_catalogue"]


class CatalogueIn(AdminModel):
    list_code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["drug", "service"]
    chrgitm_lv: Literal["01", "02", "03"]
    selfpay_prop: Decimal | None = Field(default=None, ge=0, le=1)
    price_cap: Amount | None = None
    med_chrgitm_type: str = Field(default="", max_length=6)


def upsert_catalogue(session: Session, req: CatalogueIn) -> dict[str, Any]:
    row = session.get(CatalogueItem, req.list_code)
    if row is None:
        row = CatalogueItem(list_code=req.list_code)
        session.add(row)
    row.name = req.name
    row.kind = req.kind
    row.chrgitm_lv = req.chrgitm_lv
    row.selfpay_prop = req.selfpay_prop
    row.price_cap = req.price_cap
    row.med_chrgitm_type = req.med_chrgitm_type
    return {"list_code": req.list_code}
