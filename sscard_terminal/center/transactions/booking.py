"""Booking, cancelling and reversing settlements.

One settlement moves three balances: the personal account (acct_pay), and
this year's accumulators (deductible paid, pooled fund paid). Booking takes
them, a cancellation (2208, 2103) gives them back with a row of negative
amounts, a reversal (2601) of a settlement gives them back and marks it
reversed, and a reversal of a cancellation takes them again. The fee details
a settlement consumed are linked to it (settlement_items), so that each of
these steps knows exactly what to release or take back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sscard_terminal.center import store
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import money
from sscard_terminal.center.rules.money import ZERO, Accumulated, ItemSplit, SettlementCalc
from sscard_terminal.center.transactions.common import (
    AMOUNTS,
    account_and_accumulated,
    balances_from,
    clr_type_of,
)
from sscard_terminal.center.transactions.context import MessageContext

__all__ = [
    "Priced",
    "book",
    "cancel",
    "price",
    "reverse_cancellation",
    "reverse_settlement",
    "split_of",
]


def split_of(detail: Any) -> ItemSplit:
    """The stored split of a fee detail row."""
    return ItemSplit(
        detail.feedetl_sn,
        detail.det_item_fee_sumamt,
        detail.pric_uplmt_amt,
        detail.selfpay_prop,
        detail.fulamt_ownpay_amt,
        detail.overlmt_amt,
        detail.preselfpay_amt,
        detail.inscp_scp_amt,
        detail.chrgitm_lv,
        detail.med_chrgitm_type,
    )


@dataclass(frozen=True)
class Priced:
    """A calculated settlement and the balances it was calculated on (locked)."""

    calc: SettlementCalc
    balance: Decimal | None  # None: the person has no personal account
    accumulated: Accumulated | None  # None: nothing accumulated this year yet
    year: int


def price(
    ctx: MessageContext,
    person: Any,
    insutype: str,
    splits: Sequence[ItemSplit],
    acct_used_flag: str,
    medfee_sumamt: Decimal,
) -> Priced:
    """Rule h on the stored splits, with this year's accumulators and the balance
    (read with the person, see ``settlement_person(balances_of=...)``); the
    claimed medfee_sumamt must be the sum of the details."""
    fund = ctx.policy.fund(insutype)
    assert fund is not None  # checked by require_care_allowed
    year = ctx.today.year
    balance, accumulated = balances_from(person)
    has_account = balance is not None and fund.personal_account
    terms = money.FundTerms(
        fund.fund_pay_type,
        fund.deductible,
        fund.annual_cap,
        fund.pool_ratio.get(ctx.institution.level, Decimal(0)),
    )
    calc = money.settle(
        splits,
        terms,
        accumulated or Accumulated(),
        balance if has_account and balance is not None else ZERO,
        use_account=has_account and acct_used_flag == "1",
    )
    if calc.medfee_sumamt != medfee_sumamt:
        raise Refusal(
            "settle.sum_mismatch",
            f"医疗费总额 medfee_sumamt={medfee_sumamt} 与费用明细合计 {calc.medfee_sumamt} 不符",
            f"medfee_sumamt {medfee_sumamt} is not the sum of the fee details, "
            f"{calc.medfee_sumamt}",
        )
    return Priced(calc, balance, accumulated, year)


def _write_accumulator(
    ctx: MessageContext, psn_no: str, insutype: str, year: int, after: Accumulated, exists: bool
) -> None:
    if exists:
        ctx.conn.execute(
            store.SET_ACCUMULATOR,
            {
                "b_psn_no": psn_no,
                "b_year": year,
                "b_insutype": insutype,
                "dedc_used": after.dedc_used,
                "fund_paid": after.fund_paid,
            },
        )
    else:
        ctx.conn.execute(
            store.NEW_ACCUMULATOR,
            {
                "psn_no": psn_no,
                "year": year,
                "insutype": insutype,
                "dedc_used": after.dedc_used,
                "fund_paid": after.fund_paid,
            },
        )


def _move(
    ctx: MessageContext,
    psn_no: str,
    insutype: str,
    year: int,
    *,
    acct: Decimal,
    dedc: Decimal,
    fund: Decimal,
) -> Decimal:
    """Add ``acct`` to the account and ``dedc``/``fund`` to the accumulators;
    returns the new balance. Refuses to take an account below zero."""
    balance, accumulated = account_and_accumulated(ctx, psn_no, insutype, year)
    new_balance = ZERO
    if balance is not None:
        if balance + acct < 0:
            raise Refusal(
                "account.insufficient",
                "个人账户余额不足，不能恢复原结算",
                "the personal account balance is too low to restore the settlement",
            )
        new_balance = balance + acct
        if acct:
            ctx.conn.execute(store.SET_BALANCE, {"b_psn_no": psn_no, "balance": new_balance})
    elif acct != 0:  # pragma: no cover - an account that paid cannot vanish
        raise RuntimeError("settlement paid from an account that does not exist")
    before = accumulated or Accumulated()
    after = Accumulated(before.dedc_used + dedc, before.fund_paid + fund)
    _write_accumulator(ctx, psn_no, insutype, year, after, accumulated is not None)
    return new_balance


def book(
    ctx: MessageContext,
    *,
    visit: Any,
    details: Sequence[Any],
    priced: Priced,
    med_type: str,
) -> dict[str, Any]:
    """Book a settlement of ``details``: balances, accumulators, links. Returns
    the settlement row's values. The writes are deferred (``ctx.defer``): they
    reach the database with the message's journal entry, so nothing may read
    them back in this message."""
    calc = priced.calc
    row: dict[str, Any] = {
        "setl_id": ctx.new_id(),
        "kind": "settle",
        "orig_setl_id": None,
        "status": "valid",
        "mdtrt_id": visit.mdtrt_id,
        "psn_no": visit.psn_no,
        "fixmedins_code": ctx.code,
        "insutype": visit.insutype,
        "med_type": med_type,
        "clr_type": clr_type_of(med_type),
        "year": priced.year,
        **{name: getattr(calc, name) for name in AMOUNTS},
        "crt_payb_lmt_amt": calc.crt_payb_lmt_amt,
        "pool_ratio": calc.pool_ratio,
        "fund_pay_type": calc.fund_pay_type,
        "msgid": ctx.envelope.msgid,
        "setl_time": ctx.local_now,
        "setl_date": ctx.today,
    }
    # the last writes of the message: deferred, sent with its journal entry
    fast = store.Fast
    setl_id = row["setl_id"]
    after = calc.accumulated_after(priced.accumulated or Accumulated())
    if ctx.conn.dialect.name == "postgresql":  # one statement
        ctx.defer(
            fast.BOOK_POSTGRESQL,
            {
                **{f"s_{name}": value for name, value in row.items()},
                "detail_ids": [d.id for d in details],
                "acc_dedc_used": after.dedc_used,
                "acc_fund_paid": after.fund_paid,
                "new_balance": calc.balc,
                "set_balance": priced.balance is not None and bool(calc.acct_pay),
            },
        )
        ctx.setl_id = setl_id
        ctx.mdtrt_id = visit.mdtrt_id
        return row
    ctx.defer(fast.NEW_SETTLEMENT, row)
    ctx.defer_many(
        fast.NEW_SETTLEMENT_ITEM, [{"setl_id": setl_id, "fee_detail_id": d.id} for d in details]
    )
    ctx.defer(fast.SETTLE_LINKED_DETAILS, {"b_setl_id": setl_id, "new_setl_id": setl_id})
    if priced.balance is not None and calc.acct_pay:
        ctx.defer(fast.SET_BALANCE, {"b_psn_no": visit.psn_no, "balance": calc.balc})
    if priced.accumulated is not None:
        ctx.defer(
            fast.SET_ACCUMULATOR,
            {
                "b_psn_no": visit.psn_no,
                "b_year": priced.year,
                "b_insutype": visit.insutype,
                "dedc_used": after.dedc_used,
                "fund_paid": after.fund_paid,
            },
        )
    else:
        ctx.defer(
            fast.NEW_ACCUMULATOR,
            {
                "psn_no": visit.psn_no,
                "year": priced.year,
                "insutype": visit.insutype,
                "dedc_used": after.dedc_used,
                "fund_paid": after.fund_paid,
            },
        )
    ctx.setl_id = row["setl_id"]
    ctx.mdtrt_id = visit.mdtrt_id
    return row


def _linked_details(ctx: MessageContext, setl_id: str) -> list[Any]:
    return list(ctx.conn.execute(store.DETAILS_OF_SETTLEMENT, {"setl_id": setl_id}))


def _release(ctx: MessageContext, setl_id: str) -> None:
    ids = [d.id for d in _linked_details(ctx, setl_id) if d.setl_id == setl_id]
    if ids:
        ctx.conn.execute(store.OPEN_DETAILS_AGAIN, {"ids": ids})


def _give_back(ctx: MessageContext, row: Any) -> Decimal:
    return _move(
        ctx,
        row.psn_no,
        row.insutype,
        row.year,
        acct=row.acct_pay,
        dedc=-row.act_pay_dedc,
        fund=-row.hifp_pay,
    )


def _set_status(ctx: MessageContext, setl_id: str, status: str) -> None:
    ctx.conn.execute(store.SET_SETTLEMENT_STATUS, {"b_setl_id": setl_id, "status": status})


def cancel(ctx: MessageContext, original: Any) -> dict[str, Any]:
    """2208/2103: refund a valid settlement with a row of negative amounts."""
    if original.kind != "settle" or original.status != "valid":
        state = {"cancelled": "已退费", "reversed": "已冲正"}.get(original.status, original.status)
        raise Refusal(
            "settlement.not_valid",
            f"结算 {original.setl_id} {state}，不能再退",
            f"settlement {original.setl_id} is {original.status} and cannot be refunded",
        )
    balance = _give_back(ctx, original)
    _release(ctx, original.setl_id)
    _set_status(ctx, original.setl_id, "cancelled")
    values = original._mapping
    row: dict[str, Any] = {
        **dict(values),
        **{name: -values[name] for name in AMOUNTS if name != "balc"},
        "setl_id": ctx.new_id(),
        "kind": "cancel",
        "orig_setl_id": original.setl_id,
        "status": "valid",
        "balc": balance,
        "msgid": ctx.envelope.msgid,
        "setl_time": ctx.local_now,
        "setl_date": ctx.today,
    }
    ctx.conn.execute(store.NEW_SETTLEMENT, row)
    ctx.setl_id = row["setl_id"]
    ctx.mdtrt_id = original.mdtrt_id
    return row


def reverse_settlement(ctx: MessageContext, row: Any) -> None:
    """2601 of a 2207/2102: as if it never happened."""
    if row.status == "cancelled":
        raise Refusal(
            "reversal.refunded",
            f"结算 {row.setl_id} 已退费，请先冲正退费交易",
            f"settlement {row.setl_id} was refunded: reverse the refund first",
        )
    if row.status != "valid":
        return
    _give_back(ctx, row)
    _release(ctx, row.setl_id)
    _set_status(ctx, row.setl_id, "reversed")


def reverse_cancellation(ctx: MessageContext, cancel_row: Any) -> None:
    """2601 of a 2208/2103: the refund never happened, the settlement stands."""
    if cancel_row.status != "valid":
        return
    original = ctx.conn.execute(store.SETTLEMENT_LOCK, {"setl_id": cancel_row.orig_setl_id}).one()
    details = _linked_details(ctx, original.setl_id)
    if any(d.status != "open" for d in details):
        raise Refusal(
            "reversal.details_changed",
            "原结算的费用明细已重新结算或撤销，不能冲正退费",
            "the fee details of the settlement were settled again or withdrawn since the "
            "refund: it cannot be reversed",
        )
    _move(
        ctx,
        original.psn_no,
        original.insutype,
        original.year,
        acct=-original.acct_pay,
        dedc=original.act_pay_dedc,
        fund=original.hifp_pay,
    )
    ctx.conn.execute(
        store.SETTLE_DETAILS, {"ids": [d.id for d in details], "setl_id": original.setl_id}
    )
    _set_status(ctx, original.setl_id, "valid")
    _set_status(ctx, cancel_row.setl_id, "reversed")
