"""Rule h: who pays what (settlement-interface.md, "Money"; guide: use of the card).

Per fee item (2204 / 2101 detail), by its catalogue class (chrgitm_lv):

- class C (03): all of it is self-paid (``fulamt_ownpay_amt``);
- above the catalogue's price cap, ``(pric - cap) x cnt`` is over-limit self-pay
  (``overlmt_amt``);
- class B (02): of the rest, ``selfpay_prop`` (the item's, or the policy's
  class-B default) is self-paid first (``preselfpay_amt``);
- what remains is in scope (``inscp_scp_amt``); class A (01) is in scope
  entirely below its cap.

Per settlement (2206/2207, 2101/2102), with this year's accumulators:

- the deductible (起付线) still open is paid by the person first (``act_pay_dedc``);
- the pooled fund pays ``ratio x (in-scope - deductible part)``, the ratio by
  institution level and insutype, limited by what the annual cap leaves
  (``crt_payb_lmt_amt``); a ratio of 0 (pharmacies) uses no deductible;
- the person's part is everything else; with ``acct_used_flag`` = 1 the
  personal account pays it first, down to a balance of 0; the rest is cash.

Identities (checked by property tests):

- medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt
- inscp_scp_amt = act_pay_dedc + hifp_pay + pool_prop_selfpay
- medfee_sumamt = fund_pay_sumamt + psn_part_amt;  fund_pay_sumamt = hifp_pay
- psn_part_amt = acct_pay + psn_cash_pay;  balc = balance before - acct_pay >= 0

All amounts are Decimal with 2 places; rounding is half-up to the fen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sscard_terminal.center.refusals import Refusal

__all__ = [
    "Accumulated",
    "CatalogueEntry",
    "FeeItem",
    "FundTerms",
    "ItemSplit",
    "SettlementCalc",
    "ZERO",
    "q2",
    "settle",
    "split_item",
]

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
CLASS_A, CLASS_B, CLASS_C = "01", "02", "03"


def q2(value: Decimal) -> Decimal:
    """Round half-up to the fen."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CatalogueEntry:
    """A catalogue item: its class, its own class-B self-pay share, its price cap."""

    code: str
    chrgitm_lv: str
    selfpay_prop: Decimal | None
    price_cap: Decimal | None
    med_chrgitm_type: str = ""


@dataclass(frozen=True)
class FeeItem:
    """One fee detail as uploaded: ``det_item_fee_sumamt`` = pric x cnt (to the fen)."""

    feedetl_sn: str
    med_list_codg: str
    cnt: Decimal
    pric: Decimal
    det_item_fee_sumamt: Decimal


@dataclass(frozen=True)
class ItemSplit:
    """How one item splits (the 2204 ``result`` row)."""

    feedetl_sn: str
    det_item_fee_sumamt: Decimal
    pric_uplmt_amt: Decimal | None
    selfpay_prop: Decimal
    fulamt_ownpay_amt: Decimal
    overlmt_amt: Decimal
    preselfpay_amt: Decimal
    inscp_scp_amt: Decimal
    chrgitm_lv: str
    med_chrgitm_type: str


def check_amount(item: FeeItem) -> None:
    """Refuse an item whose sum is not its price times its count, to the fen."""
    if item.cnt <= 0 or item.pric < 0:
        raise Refusal(
            "fee.amount",
            f"费用明细 {item.feedetl_sn}：数量须大于0、单价不能为负",
            f"fee detail {item.feedetl_sn}: cnt must be > 0 and pric >= 0",
        )
    expected = q2(item.pric * item.cnt)
    if expected != item.det_item_fee_sumamt:
        raise Refusal(
            "fee.amount",
            f"费用明细 {item.feedetl_sn}：明细金额 {item.det_item_fee_sumamt} "
            f"不等于单价×数量 {expected}",
            f"fee detail {item.feedetl_sn}: det_item_fee_sumamt {item.det_item_fee_sumamt} "
            f"is not pric x cnt = {expected}",
        )


def split_item(item: FeeItem, entry: CatalogueEntry, class_b_selfpay_prop: Decimal) -> ItemSplit:
    """The split of one item by catalogue class and price cap."""
    check_amount(item)
    total = item.det_item_fee_sumamt
    if entry.chrgitm_lv == CLASS_C:
        return ItemSplit(
            item.feedetl_sn,
            total,
            entry.price_cap,
            Decimal("1"),
            total,
            ZERO,
            ZERO,
            ZERO,
            entry.chrgitm_lv,
            entry.med_chrgitm_type,
        )
    overlimit = ZERO
    if entry.price_cap is not None and item.pric > entry.price_cap:
        overlimit = min(total, q2((item.pric - entry.price_cap) * item.cnt))
    base = total - overlimit
    if entry.chrgitm_lv == CLASS_B:
        prop = entry.selfpay_prop if entry.selfpay_prop is not None else class_b_selfpay_prop
    else:
        prop = Decimal("0")
    preselfpay = q2(base * prop)
    inscope = base - preselfpay
    return ItemSplit(
        item.feedetl_sn,
        total,
        entry.price_cap,
        prop,
        ZERO,
        overlimit,
        preselfpay,
        inscope,
        entry.chrgitm_lv,
        entry.med_chrgitm_type,
    )


@dataclass(frozen=True)
class FundTerms:
    """The pooled fund's terms for one settlement (from the policy)."""

    fund_pay_type: str
    deductible: Decimal
    annual_cap: Decimal
    pool_ratio: Decimal


@dataclass(frozen=True)
class Accumulated:
    """What this year already used: deductible paid and pooled fund paid."""

    dedc_used: Decimal = ZERO
    fund_paid: Decimal = ZERO


@dataclass(frozen=True)
class SettlementCalc:
    """The outcome of :func:`settle` (the 2206/2207 setlinfo amounts)."""

    medfee_sumamt: Decimal
    fulamt_ownpay_amt: Decimal
    overlmt_selfpay: Decimal
    preselfpay_amt: Decimal
    inscp_scp_amt: Decimal
    act_pay_dedc: Decimal
    hifp_pay: Decimal
    pool_prop_selfpay: Decimal
    fund_pay_sumamt: Decimal
    psn_part_amt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    balc: Decimal
    crt_payb_lmt_amt: Decimal
    fund_pay_type: str
    pool_ratio: Decimal

    def accumulated_after(self, before: Accumulated) -> Accumulated:
        return Accumulated(before.dedc_used + self.act_pay_dedc, before.fund_paid + self.hifp_pay)


def settle(
    splits: Sequence[ItemSplit],
    terms: FundTerms,
    accumulated: Accumulated,
    balance: Decimal,
    use_account: bool,
) -> SettlementCalc:
    """Split a settlement between the pooled fund, the personal account and cash."""
    if balance < 0:
        raise ValueError("a personal account balance is never negative")
    medfee = sum((s.det_item_fee_sumamt for s in splits), ZERO)
    fulamt = sum((s.fulamt_ownpay_amt for s in splits), ZERO)
    overlmt = sum((s.overlmt_amt for s in splits), ZERO)
    preself = sum((s.preselfpay_amt for s in splits), ZERO)
    inscope = sum((s.inscp_scp_amt for s in splits), ZERO)
    cap_left = max(ZERO, terms.annual_cap - accumulated.fund_paid)
    if terms.pool_ratio > 0:
        deductible_left = max(ZERO, terms.deductible - accumulated.dedc_used)
        dedc = min(inscope, deductible_left)
        hifp = min(q2((inscope - dedc) * terms.pool_ratio), cap_left)
    else:
        dedc = ZERO
        hifp = ZERO
    pool_selfpay = inscope - dedc - hifp
    fund_sum = hifp
    psn_part = medfee - fund_sum
    acct_pay = min(psn_part, balance) if use_account else ZERO
    cash = psn_part - acct_pay
    return SettlementCalc(
        medfee_sumamt=medfee,
        fulamt_ownpay_amt=fulamt,
        overlmt_selfpay=overlmt,
        preselfpay_amt=preself,
        inscp_scp_amt=inscope,
        act_pay_dedc=dedc,
        hifp_pay=hifp,
        pool_prop_selfpay=pool_selfpay,
        fund_pay_sumamt=fund_sum,
        psn_part_amt=psn_part,
        acct_pay=acct_pay,
        psn_cash_pay=cash,
        balc=balance - acct_pay,
        crt_payb_lmt_amt=cap_left,
        fund_pay_type=terms.fund_pay_type,
        pool_ratio=terms.pool_ratio,
    )
