"""5203 settlement query and 5301 special-disease filings (settlement-interface.md).

5203 tells a terminal what became of a settlement it never heard back about:
by setl_id, by the visit, or by the msgid of its own 2207/2102/2208/2103
(``medins_setl_id``). The answer is the settlement as it stands now
(``setl_stas`` valid / cancelled / reversed), or - for a message that was
refused - that refusal; a message the center never received is answered with
infcode -1 ``query.unknown`` (reverse it with 2601 to bar it for good).
"""

from __future__ import annotations

from typing import Any

from sscard_terminal.center import store, wire
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.transactions.common import (
    get_person,
    own_settlement,
    own_visit,
    setldetail,
    setlinfo_from_row,
)
from sscard_terminal.center.transactions.context import MessageContext
from sscard_terminal.center.transactions.fields import (
    Code30,
    InputModel,
    Text30,
)
from sscard_terminal.center.transactions.registry import transaction


class SettlementQuery(InputModel):
    psn_no: Code30
    setl_id: Text30
    mdtrt_id: Text30
    medins_setl_id: Text30


class SettlementQueryInput(InputModel):
    data: SettlementQuery


def _unknown(what: str) -> Refusal:
    return Refusal(
        "query.unknown",
        f"中心没有该结算（{what}）：原报文未到达，可用2601冲正使其永久失效",
        f"the center has no such settlement ({what}): the message never arrived; "
        "reverse it with 2601 to bar it for good",
    )


def _answer(row: Any) -> dict[str, Any]:
    return {"setlinfo": setlinfo_from_row(row._mapping), "setldetail": setldetail(row._mapping)}


@transaction("5203", "settlement information query", SettlementQueryInput)
def settlement_query(ctx: MessageContext, inp: SettlementQueryInput) -> dict[str, Any]:
    data = inp.data
    person = get_person(ctx, data.psn_no)
    if data.setl_id:
        row = own_settlement(ctx, data.setl_id)
        if row.psn_no != person.psn_no:
            raise _unknown(data.setl_id)
        return _answer(row)
    if data.medins_setl_id:
        entry = ctx.conn.execute(
            store.JOURNAL, {"code": ctx.code, "msgid": data.medins_setl_id}
        ).first()
        if entry is None or (entry.psn_no is not None and entry.psn_no != person.psn_no):
            raise _unknown(data.medins_setl_id)
        if entry.infcode != 0 or entry.setl_id is None:
            stored = wire.loads(entry.response)
            return {
                "setlinfo": None,
                "msg_stas": "refused",
                "omsgid": entry.msgid,
                "oinfno": entry.infno,
                "err_msg": stored.get("err_msg"),
                "err_code": stored.get("err_code"),
            }
        row = own_settlement(ctx, entry.setl_id)
        return _answer(row)
    if data.mdtrt_id:
        visit = own_visit(ctx, data.mdtrt_id, person.psn_no)
        row_or_none = ctx.conn.execute(
            store.LATEST_SETTLEMENT_OF_VISIT, {"mdtrt_id": visit.mdtrt_id}
        ).first()
        if row_or_none is None:
            raise _unknown(data.mdtrt_id)
        return _answer(row_or_none)
    raise Refusal(
        "input.invalid",
        "须提供 setl_id、mdtrt_id 或 medins_setl_id 之一",
        "give one of setl_id, mdtrt_id and medins_setl_id",
    )


class FilingQuery(InputModel):
    psn_no: Code30


class FilingQueryInput(InputModel):
    data: FilingQuery


@transaction("5301", "special disease filing query", FilingQueryInput)
def filing_query(ctx: MessageContext, inp: FilingQueryInput) -> dict[str, Any]:
    person = get_person(ctx, inp.data.psn_no)
    rows = ctx.conn.execute(store.SPECIAL_FILINGS, {"psn_no": person.psn_no})
    return {
        "feedetail": [
            {
                "opsp_dise_code": r.dise_code,
                "opsp_dise_name": r.dise_name,
                "begndate": str(r.begin_date),
                "enddate": str(r.end_date) if r.end_date else None,
                "insuplc_admdvs": person.insuplc_admdvs,
            }
            for r in rows
        ]
    }
