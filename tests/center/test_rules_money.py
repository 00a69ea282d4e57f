"""Rule h as pure functions (money.py), and the settlement identities of
settlement-interface.md checked by property tests."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import money
from sscard_terminal.center.rules.money import (
    Accumulated,
    CatalogueEntry,
    FeeItem,
    FundTerms,
    q2,
    settle,
    split_item,
)

B10 = Decimal("0.10")
A = CatalogueEntry("A", "01", None, None)
A_CAP = CatalogueEntry("AC", "01", None, Decimal("25.00"))
B = CatalogueEntry("B", "02", None, None)
B_OWN = CatalogueEntry("BO", "02", Decimal("0.20"), Decimal("5.00"))
C = CatalogueEntry("C", "03", None, None)
TERMS = FundTerms("310100", Decimal("1000.00"), Decimal("300000.00"), Decimal("0.80"))


def item(pric: str, cnt: str = "1", sn: str = "1", code: str = "X") -> FeeItem:
    p, c = Decimal(pric), Decimal(cnt)
    return FeeItem(sn, code, c, p, q2(p * c))


def test_class_a_in_scope_below_its_cap() -> None:
    s = split_item(item("30.00"), A_CAP, B10)
    assert (s.overlmt_amt, s.inscp_scp_amt, s.preselfpay_amt) == (
        Decimal("5.00"),
        Decimal("25.00"),
        Decimal(0),
    )
    assert split_item(item("20.00"), A_CAP, B10).inscp_scp_amt == Decimal("20.00")


def test_class_b_pays_its_share_first_and_class_c_is_self_paid() -> None:
    s = split_item(item("600.00", "2"), B, B10)
    assert (s.preselfpay_amt, s.inscp_scp_amt) == (Decimal("120.00"), Decimal("1080.00"))
    own = split_item(item("8.00", "3"), B_OWN, B10)  # cap 5: 9.00 over limit, 20% of 15
    assert (own.overlmt_amt, own.preselfpay_amt, own.inscp_scp_amt) == (
        Decimal("9.00"),
        Decimal("3.00"),
        Decimal("12.00"),
    )
    c = split_item(item("100.00"), C, B10)
    assert c.fulamt_ownpay_amt == Decimal("100.00") and c.inscp_scp_amt == 0


def test_sum_must_be_price_times_count() -> None:
    with pytest.raises(Refusal) as caught:
        split_item(FeeItem("1", "X", Decimal("2"), Decimal("10.00"), Decimal("20.01")), A, B10)
    assert caught.value.code == "fee.amount"
    with pytest.raises(Refusal):
        split_item(FeeItem("1", "X", Decimal("0"), Decimal("10.00"), Decimal("0.00")), A, B10)


def test_deductible_then_ratio_then_account() -> None:
    splits = [split_item(item("1500.00"), A, B10)]
    calc = settle(splits, TERMS, Accumulated(), Decimal("300.00"), use_account=True)
    assert calc.act_pay_dedc == Decimal("1000.00")
    assert calc.hifp_pay == Decimal("400.00")  # 80% of 500
    assert calc.pool_prop_selfpay == Decimal("100.00")
    assert calc.psn_part_amt == Decimal("1100.00")
    assert (calc.acct_pay, calc.psn_cash_pay, calc.balc) == (
        Decimal("300.00"),
        Decimal("800.00"),
        Decimal(0),
    )
    # with the deductible already met this year, the fund pays 80% of all of it
    later = settle(splits, TERMS, calc.accumulated_after(Accumulated()), Decimal("0"), True)
    assert later.act_pay_dedc == 0 and later.hifp_pay == Decimal("1200.00")


def test_annual_cap_limits_the_fund() -> None:
    splits = [split_item(item("5000.00"), A, B10)]
    near = Accumulated(Decimal("1000.00"), Decimal("299000.00"))
    calc = settle(splits, TERMS, near, Decimal("0"), use_account=False)
    assert calc.crt_payb_lmt_amt == Decimal("1000.00") and calc.hifp_pay == Decimal("1000.00")
    spent = settle(
        splits, TERMS, Accumulated(Decimal("1000"), Decimal("300000")), Decimal(0), False
    )
    assert spent.hifp_pay == 0 and spent.psn_cash_pay == Decimal("5000.00")


def test_without_account_flag_the_account_is_untouched() -> None:
    calc = settle(
        [split_item(item("50.00"), A, B10)],
        TERMS,
        Accumulated(),
        Decimal("90.00"),
        use_account=False,
    )
    assert calc.acct_pay == 0 and calc.balc == Decimal("90.00")


def test_a_zero_ratio_uses_no_deductible() -> None:
    pharmacy = FundTerms("310100", Decimal("1000.00"), Decimal("300000.00"), Decimal("0"))
    calc = settle([split_item(item("50.00"), A, B10)], pharmacy, Accumulated(), Decimal("0"), True)
    assert calc.act_pay_dedc == 0 and calc.hifp_pay == 0
    assert calc.pool_prop_selfpay == Decimal("50.00")


# -- property tests: the identities of settlement-interface.md ------------------------
cents = st.integers(min_value=0, max_value=2_000_000).map(lambda n: Decimal(n) / 100)
ratios = st.integers(min_value=0, max_value=100).map(lambda n: Decimal(n) / 100)
entries = st.builds(
    CatalogueEntry,
    code=st.just("X"),
    chrgitm_lv=st.sampled_from(["01", "02", "03"]),
    selfpay_prop=st.none() | ratios,
    price_cap=st.none() | cents,
)
items = st.builds(
    lambda pric, cnt, n: FeeItem(str(n), "X", cnt, pric, q2(pric * cnt)),
    pric=st.integers(min_value=0, max_value=10_000_000).map(lambda n: Decimal(n) / 10000),
    cnt=st.integers(min_value=1, max_value=100_000).map(lambda n: Decimal(n) / 1000),
    n=st.integers(0, 999),
)
terms = st.builds(
    FundTerms,
    fund_pay_type=st.just("310100"),
    deductible=cents,
    annual_cap=cents,
    pool_ratio=ratios,
)
accumulated = st.builds(Accumulated, dedc_used=cents, fund_paid=cents)


@settings(max_examples=400)
@given(
    st.lists(st.tuples(items, entries), min_size=1, max_size=12),
    terms,
    accumulated,
    cents,
    st.booleans(),
    ratios,
)
def test_settlement_identities_hold_for_every_settlement(
    lines: list[tuple[FeeItem, CatalogueEntry]],
    fund: FundTerms,
    acc: Accumulated,
    balance: Decimal,
    use: bool,
    b_prop: Decimal,
) -> None:
    splits = [split_item(i, e, b_prop) for i, e in lines]
    for s in splits:
        assert s.det_item_fee_sumamt == (
            s.fulamt_ownpay_amt + s.overlmt_amt + s.preselfpay_amt + s.inscp_scp_amt
        )
        assert min(s.fulamt_ownpay_amt, s.overlmt_amt, s.preselfpay_amt, s.inscp_scp_amt) >= 0
    c = settle(splits, fund, acc, balance, use)
    assert c.medfee_sumamt == (
        c.fulamt_ownpay_amt + c.overlmt_selfpay + c.preselfpay_amt + c.inscp_scp_amt
    )
    assert c.inscp_scp_amt == c.act_pay_dedc + c.hifp_pay + c.pool_prop_selfpay
    assert c.medfee_sumamt == c.fund_pay_sumamt + c.psn_part_amt
    assert c.fund_pay_sumamt == c.hifp_pay
    assert c.psn_part_amt == c.acct_pay + c.psn_cash_pay
    assert c.balc == balance - c.acct_pay and c.balc >= 0
    assert min(c.act_pay_dedc, c.hifp_pay, c.pool_prop_selfpay, c.acct_pay, c.psn_cash_pay) >= 0
    # the fund pays ratio x (in scope - deductible part), limited by what the cap leaves
    cap_left = max(Decimal(0), fund.annual_cap - acc.fund_paid)
    if fund.pool_ratio > 0:
        assert c.act_pay_dedc == min(
            c.inscp_scp_amt, max(Decimal(0), fund.deductible - acc.dedc_used)
        )
        assert c.hifp_pay == min(q2((c.inscp_scp_amt - c.act_pay_dedc) * fund.pool_ratio), cap_left)
    assert c.hifp_pay <= cap_left
    # the account pays the personal part first, down to 0
    assert c.acct_pay == (min(c.psn_part_amt, balance) if use else 0)
    for value in (c.medfee_sumamt, c.hifp_pay, c.acct_pay, c.psn_cash_pay, c.balc):
        assert value == value.quantize(Decimal("0.01"))
    # booking and then reversing leaves the accumulators where they were
    after = c.accumulated_after(acc)
    assert after.dedc_used - c.act_pay_dedc == acc.dedc_used
    assert after.fund_paid - c.hifp_pay == acc.fund_paid


def test_module_constants() -> None:
    assert Decimal("0.00") == money.ZERO
