"""3201 reconciliation totals and 3202 reconciliation details (对账).

The center's books for a period are the institution's settlement rows with a
settlement date (Asia/Shanghai) in [stmt_begndate, stmt_enddate], of the
insutype (and clr_type when given), that were not reversed: each settlement
counts with its amounts, each refund (2208/2103) as a row of its own with
negative amounts. So ``fixmedins_setl_cnt`` counts settlements plus refunds
and the sums are net.

3202 takes the rows inline (``input.detail``) instead of a file uploaded with
9101; each row gets ``stmt_rslt``: 0 matches, 1 amounts differ, 2 the center
has no such settlement in the period, 3 only the center has it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import func, select

from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules.money import ZERO
from sscard_terminal.center.store import T
from sscard_terminal.center.transactions.context import MessageContext
from sscard_terminal.center.transactions.fields import (
    Code3,
    Code30,
    DateText,
    InputModel,
    SignedAmount,
    Text3,
    Text6,
    Text30,
    Text100,
)
from sscard_terminal.center.transactions.registry import transaction

MAX_DAYS = 366
COMPARED = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")


class Totals(InputModel):
    insutype: Code3
    clr_type: Text6
    setl_optins: str = Field(pattern=r"^\d{6}$")
    stmt_begndate: DateText
    stmt_enddate: DateText
    medfee_sumamt: SignedAmount
    fund_pay_sumamt: SignedAmount
    acct_pay: SignedAmount
    fixmedins_setl_cnt: int = Field(ge=0, le=10**9)


class TotalsInput(InputModel):
    data: Totals


def _period(begin: dt.date, end: dt.date) -> None:
    if end < begin:
        raise Refusal(
            "reconcile.period",
            "对账结束日期早于开始日期",
            "stmt_enddate is before stmt_begndate",
        )
    if (end - begin).days >= MAX_DAYS:
        raise Refusal(
            "reconcile.period",
            f"对账期间不能超过{MAX_DAYS}天",
            f"the period cannot exceed {MAX_DAYS} days",
        )


Settlement = T.settlements.c


def _filters(
    ctx: MessageContext, insutype: str | None, clr_type: str | None, begin: dt.date, end: dt.date
) -> list[Any]:
    conditions = [
        Settlement.fixmedins_code == ctx.code,
        Settlement.setl_date >= begin,
        Settlement.setl_date <= end,
        Settlement.status != "reversed",
    ]
    if insutype:
        conditions.append(Settlement.insutype == insutype)
    if clr_type:
        conditions.append(Settlement.clr_type == clr_type)
    return conditions


@transaction("3201", "reconciliation totals", TotalsInput)
def totals(ctx: MessageContext, inp: TotalsInput) -> dict[str, Any]:
    data = inp.data
    _period(data.stmt_begndate, data.stmt_enddate)
    row = ctx.conn.execute(
        select(
            func.count(),
            func.sum(Settlement.medfee_sumamt),
            func.sum(Settlement.fund_pay_sumamt),
            func.sum(Settlement.acct_pay),
        ).where(*_filters(ctx, data.insutype, data.clr_type, data.stmt_begndate, data.stmt_enddate))
    ).one()
    count = int(row[0])
    center = {
        "medfee_sumamt": row[1] if row[1] is not None else ZERO,
        "fund_pay_sumamt": row[2] if row[2] is not None else ZERO,
        "acct_pay": row[3] if row[3] is not None else ZERO,
    }
    differences = []
    for name, value in center.items():
        theirs = getattr(data, name)
        if Decimal(value) != theirs:
            differences.append(f"{name} center {value} / institution {theirs}")
    if count != data.fixmedins_setl_cnt:
        differences.append(
            f"fixmedins_setl_cnt center {count} / institution {data.fixmedins_setl_cnt}"
        )
    if differences:
        text = "; ".join(differences)
        result, describe = "1", f"对账不平 / not balanced: {text}"
    else:
        result, describe = "0", "对账相符 / balanced"
    return {
        "stmtinfo": {
            "setl_optins": data.setl_optins,
            "stmt_rslt": result,
            "stmt_rslt_dscr": describe,
            "medfee_sumamt": center["medfee_sumamt"],
            "fund_pay_sumamt": center["fund_pay_sumamt"],
            "acct_pay": center["acct_pay"],
            "fixmedins_setl_cnt": count,
        }
    }


class DetailRow(InputModel):
    setl_id: Code30
    mdtrt_id: Text30
    psn_no: Text30
    medins_setl_id: Text30
    msgid: Text30
    medfee_sumamt: SignedAmount
    fund_pay_sumamt: SignedAmount
    acct_pay: SignedAmount
    refd_setl_flag: str = Field(default="0", pattern=r"^[01]$")


class DetailHead(InputModel):
    setl_optins: str = Field(pattern=r"^\d{6}$")
    stmt_begndate: DateText
    stmt_enddate: DateText
    insutype: Text3
    clr_type: Text6
    file_qury_no: Text100


class DetailInput(InputModel):
    data: DetailHead
    detail: list[DetailRow] | None = Field(default=None, max_length=10000)


@transaction("3202", "reconciliation details", DetailInput)
def details(ctx: MessageContext, inp: DetailInput) -> dict[str, Any]:
    head = inp.data
    if inp.detail is None:
        raise Refusal(
            "reconcile.file",
            "本平台不接收对账明细文件（9101），请将明细行放在 input.detail 中",
            "this center takes no detail file (9101): send the rows inline in input.detail",
        )
    _period(head.stmt_begndate, head.stmt_enddate)
    rows = ctx.conn.execute(
        select(T.settlements).where(
            *_filters(ctx, head.insutype, head.clr_type, head.stmt_begndate, head.stmt_enddate)
        )
    )
    books = {r.setl_id: r for r in rows}
    seen: set[str] = set()
    result = []
    for theirs in inp.detail:
        mine = books.get(theirs.setl_id)
        seen.add(theirs.setl_id)
        entry: dict[str, Any] = {"setl_id": theirs.setl_id, "mdtrt_id": theirs.mdtrt_id}
        if mine is None:
            entry.update(stmt_rslt="2", memo="中心无此结算 / not in the center's books")
        else:
            differ = [n for n in COMPARED if getattr(mine, n) != getattr(theirs, n)]
            flag = "1" if mine.kind == "cancel" else "0"
            if flag != theirs.refd_setl_flag:
                differ.append("refd_setl_flag")
            if differ:
                entry.update(
                    stmt_rslt="1",
                    memo="金额不符 / differs: "
                    + ", ".join(f"{n} center {getattr(mine, n, flag)}" for n in differ),
                )
            else:
                entry.update(stmt_rslt="0", memo="相符 / matches")
        result.append(entry)
    for setl_id, mine in books.items():
        if setl_id in seen:
            continue
        result.append(
            {
                "setl_id": setl_id,
                "mdtrt_id": mine.mdtrt_id,
                "stmt_rslt": "3",
                "memo": "仅中心有 / only in the center's books",
                "medfee_sumamt": mine.medfee_sumamt,
                "fund_pay_sumamt": mine.fund_pay_sumamt,
                "acct_pay": mine.acct_pay,
                "refd_setl_flag": "1" if mine.kind == "cancel" else "0",
            }
        )
    balanced = all(r["stmt_rslt"] == "0" for r in result)
    return {
        "stmtinfo": {
            "setl_optins": head.setl_optins,
            "stmt_rslt": "0" if balanced else "1",
            "stmt_rslt_dscr": "对账相符 / balanced" if balanced else "对账不平 / not balanced",
            "rows": len(result),
        },
        "result": result,
    }
