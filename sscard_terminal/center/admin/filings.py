"""Filings: an out-of-area filing (rule f) or a special-disease filing (5301)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from sscard_terminal.center.admin.base import AdminModel, find_person
from sscard_terminal.center.models import Filing
from sscard_terminal.center.refusals import Refusal

__all__ = ["FilingIn", "add_filing"]


class FilingIn(AdminModel):
    kind: Literal["offsite", "special_disease"]
    area: str | None = Field(default=None, pattern=r"^\d{6}$")
    dise_code: str | None = Field(default=None, max_length=30)
    dise_name: str | None = Field(default=None, max_length=100)
    begin_date: dt.date
    end_date: dt.date | None = None


def add_filing(session: Session, psn_no: str, req: FilingIn) -> dict[str, Any]:
    find_person(session, psn_no)
    if req.kind == "offsite" and req.area is None:
        raise Refusal("filing.area", "异地就医备案须填写就医地", "an offsite filing needs its area")
    if req.kind == "special_disease" and not req.dise_code:
        raise Refusal(
            "filing.disease", "特殊病备案须填写病种", "a special-disease filing needs its disease"
        )
    if req.end_date is not None and req.end_date < req.begin_date:
        raise Refusal("filing.dates", "结束日期早于开始日期", "end_date is before begin_date")
    row = Filing(
        psn_no=psn_no,
        kind=req.kind,
        area=req.area,
        dise_code=req.dise_code,
        dise_name=req.dise_name,
        begin_date=req.begin_date,
        end_date=req.end_date,
    )
    session.add(row)
    session.flush()
    return {"id": row.id, "psn_no": psn_no, "kind": req.kind}
