"""2601 reversal (冲正; settlement-interface.md, "Transactions").

Reverses a booked 2207, 2102, 2208, 2103 or 2201 of the same institution,
found by its msgid (``omsgid``), restoring balances and accumulators. It is
idempotent: reversing what is already reversed, what was refused, or what
never arrived succeeds without booking anything. A message that never arrived
is barred: its msgid is journaled as reversed, so that if it arrives late it
is refused instead of booked.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sscard_terminal.center import envelope, store, wire
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.transactions import booking
from sscard_terminal.center.transactions.common import get_person
from sscard_terminal.center.transactions.context import MessageContext
from sscard_terminal.center.transactions.fields import (
    Code30,
    InputModel,
)
from sscard_terminal.center.transactions.outpatient import close_visit
from sscard_terminal.center.transactions.registry import transaction

REVERSIBLE = ("2207", "2102", "2208", "2103", "2201")
ANY_DIGEST = "*"


class Reverse(InputModel):
    psn_no: Code30
    omsgid: str = Field(pattern=r"^[A-Z0-9]{12}\d{18}$")
    oinfno: str = Field(pattern=r"^\d{4}$")


class ReverseInput(InputModel):
    data: Reverse


def barred_answer(ctx: MessageContext) -> dict[str, Any]:
    refusal = Refusal(
        "reversal.barred",
        f"该报文已被冲正（冲正报文 {ctx.envelope.msgid}），不予受理",
        f"this message was reversed (by {ctx.envelope.msgid}) before it arrived; it is not booked",
    )
    return envelope.failure(refusal, admdvs=ctx.policy.admdvs, received=ctx.now, answered=ctx.now)


@transaction("2601", "reversal", ReverseInput)
def reverse(ctx: MessageContext, inp: ReverseInput) -> dict[str, Any]:
    data = inp.data
    if data.oinfno not in REVERSIBLE:
        raise Refusal(
            "reversal.not_reversible",
            f"交易 {data.oinfno} 不能冲正（可冲正：{', '.join(REVERSIBLE)}）",
            f"transaction {data.oinfno} cannot be reversed (reversible: {', '.join(REVERSIBLE)})",
        )
    if data.omsgid[:12] != ctx.code:
        raise Refusal(
            "reversal.foreign",
            "只能冲正本机构的报文",
            "only this institution's own messages can be reversed",
        )
    person = get_person(ctx, data.psn_no, lock=True)
    original = ctx.conn.execute(
        store.JOURNAL_LOCK, {"code": ctx.code, "msgid": data.omsgid}
    ).first()
    if original is None:
        ctx.conn.execute(
            store.NEW_JOURNAL,
            {
                "fixmedins_code": ctx.code,
                "msgid": data.omsgid,
                "infno": data.oinfno,
                "received_at": ctx.local_now,
                "request_digest": ANY_DIGEST,
                "psn_no": person.psn_no,
                "infcode": -1,
                "request": "{}",
                "response": wire.dumps(barred_answer(ctx)).decode("utf-8"),
                "setl_id": None,
                "mdtrt_id": None,
                "reversed_by": ctx.envelope.msgid,
            },
        )
        ctx.warn(
            "原报文未到达中心，已登记冲正：该报文若迟到将被拒绝",
            "the original message never reached the center; it is now barred and will be "
            "refused if it arrives",
        )
        return {"data": {"omsgid": data.omsgid, "rvs_stas": "barred"}}
    if original.infno != data.oinfno:
        raise Refusal(
            "reversal.oinfno",
            f"原报文 {data.omsgid} 的交易号是 {original.infno}，不是 {data.oinfno}",
            f"message {data.omsgid} was a {original.infno}, not a {data.oinfno}",
        )
    if original.psn_no is not None and original.psn_no != person.psn_no:
        raise Refusal(
            "reversal.person",
            "原报文不是该人员的交易",
            "the original message is not this person's",
        )
    if original.reversed_by is not None:
        ctx.warn("原交易已冲正", f"already reversed by {original.reversed_by}")
        return {"data": {"omsgid": data.omsgid, "rvs_stas": "already_reversed"}}
    if original.infcode != 0:
        ctx.warn("原交易未成功，无需冲正", "the original was refused: nothing to reverse")
        return {"data": {"omsgid": data.omsgid, "rvs_stas": "nothing_booked"}}
    if data.oinfno in ("2207", "2102", "2208", "2103"):
        row = ctx.conn.execute(store.SETTLEMENT_LOCK, {"setl_id": original.setl_id}).one()
        if row.kind == "settle":
            booking.reverse_settlement(ctx, row)
        else:
            booking.reverse_cancellation(ctx, row)
        ctx.setl_id = row.setl_id
    else:
        visit = ctx.conn.execute(store.VISIT, {"mdtrt_id": original.mdtrt_id}).one()
        if visit.status == "open":
            close_visit(ctx, visit, "reversed")
        ctx.mdtrt_id = visit.mdtrt_id
    ctx.conn.execute(
        store.SET_REVERSED_BY, {"b_id": original.id, "reversed_by": ctx.envelope.msgid}
    )
    return {"data": {"omsgid": data.omsgid, "rvs_stas": "reversed"}}
