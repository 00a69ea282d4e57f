"""Rules a and b as pure functions (benefits.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sscard_terminal.center.clock import Month
from sscard_terminal.center.policy import load_policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules.benefits import (
    BenefitStatus,
    PaidPeriod,
    active_intervals,
    benefit_status,
    require_active,
)

RULES = load_policy().benefits
M = Month.parse


def status(periods: list[tuple[str, str]], month: str) -> BenefitStatus:
    return benefit_status([PaidPeriod(M(a), M(b)) for a, b in periods], M(month), RULES)


def test_benefits_start_the_month_after_the_first_contribution() -> None:
    # rule a: paid first in March, nothing in March, benefits from April
    assert status([("2026-03", "2026-03")], "2026-03").psn_insu_stas == "0"
    assert status([("2026-03", "2026-03")], "2026-03").starts == M("2026-04")
    assert status([("2026-03", "2026-03")], "2026-04").psn_insu_stas == "1"
    assert status([("2026-03", "2026-03")], "2026-04").since == M("2026-04")


@pytest.mark.parametrize(
    ("month", "expected"),
    [("2026-02", "1"), ("2026-03", "1"), ("2026-04", "1"), ("2026-05", "2"), ("2027-01", "2")],
)
def test_care_in_month_t_is_refused_when_t_minus_last_paid_exceeds_3(
    month: str, expected: str
) -> None:
    # rule b: last paid January; T - 1 <= 3 allowed up to April, May refused
    assert status([("2020-01", "2026-01")], month).psn_insu_stas == expected


def test_suspension_names_its_start_and_benefits_resume_the_month_after_paying_again() -> None:
    periods = [("2020-01", "2026-01"), ("2026-08", "2026-12")]
    suspended = status(periods, "2026-06")
    assert suspended.psn_insu_stas == "2"
    assert suspended.since == M("2026-05") and suspended.starts == M("2026-09")
    assert status(periods, "2026-08").psn_insu_stas == "2"  # the month of paying again
    assert status(periods, "2026-09").psn_insu_stas == "1"
    assert status(periods, "2026-09").since == M("2026-09")


def test_a_short_gap_keeps_benefits_running() -> None:
    periods = [("2025-01", "2025-06"), ("2025-09", "2025-12")]  # July and August unpaid
    for month in ("2025-07", "2025-08", "2025-09", "2025-10"):
        assert status(periods, month).psn_insu_stas == "1"
    assert status(periods, "2025-10").since == M("2025-02")


def test_nothing_paid_and_terminated() -> None:
    assert status([], "2026-01").psn_insu_stas == "0"
    assert status([], "2026-01").starts is None
    terminated = benefit_status(
        [PaidPeriod(M("2020-01"), M("2026-12"))], M("2026-05"), RULES, terminated=True
    )
    assert terminated.psn_insu_stas == "4"


@pytest.mark.parametrize(
    ("periods", "month", "code"),
    [
        ([("2020-01", "2026-01")], "2026-06", "benefits.suspended"),
        ([("2026-06", "2026-06")], "2026-06", "benefits.not_started"),
        ([], "2026-06", "benefits.not_paid"),
    ],
)
def test_require_active_refuses_with_the_reason(
    periods: list[tuple[str, str]], month: str, code: str
) -> None:
    with pytest.raises(Refusal) as caught:
        require_active(status(periods, month), M(month), "310")
    assert caught.value.code == code
    assert caught.value.zh and caught.value.en


def test_periods_given_in_any_order_and_overlapping_merge() -> None:
    a = [PaidPeriod(M("2025-05"), M("2025-09")), PaidPeriod(M("2025-01"), M("2025-06"))]
    assert active_intervals(a, RULES) == [(M("2025-02"), M("2025-12"))]


months = st.integers(min_value=2000 * 12, max_value=2040 * 12).map(Month.from_index)


@given(st.lists(st.sets(months, max_size=30).map(sorted), max_size=1), months)
def test_the_interval_form_equals_the_rule_as_stated(
    paid_lists: list[list[Month]], month: Month
) -> None:
    """Benefits run in T iff some paid month p < T has T - p <= 3 (rules a, b)."""
    paid = paid_lists[0] if paid_lists else []
    periods = [PaidPeriod(p, p) for p in paid]
    before = [p for p in paid if p < month]
    expected = bool(before) and month - max(before) <= RULES.max_gap_months
    assert benefit_status(periods, month, RULES).active == expected


# -- what was paid when -----------------------------------------------------------------
D = dt.date.fromisoformat


def paid(first: str, last: str, on: str) -> PaidPeriod:
    return PaidPeriod(M(first), M(last), D(on))


def state(periods: list[PaidPeriod], month: str) -> str:
    return benefit_status(periods, M(month), RULES).psn_insu_stas


@pytest.mark.parametrize(
    ("month_paid", "paid_on", "first_active"),
    [
        ("2026-03", "2026-03-01", "2026-04"),  # first day of the month paid for
        ("2026-03", "2026-03-31", "2026-04"),  # last day of it
        ("2026-03", "2026-04-01", "2026-05"),  # the day after: paid late, a month later
        ("2026-12", "2026-12-31", "2027-01"),  # year edge: paid on New Year's Eve
        ("2026-12", "2027-01-01", "2027-02"),  # and on New Year's Day
    ],
)
def test_q1_benefits_start_the_month_after_the_payment(
    month_paid: str, paid_on: str, first_active: str
) -> None:
    periods = [paid(month_paid, month_paid, paid_on)]
    start = M(first_active)
    assert state(periods, str(start.plus(-1))) == "0"
    assert benefit_status(periods, start.plus(-1), RULES).starts == start
    assert state(periods, first_active) == "1"


def test_a_back_payment_covers_neither_past_nor_current_months() -> None:
    # paid in time up to January, then nothing; on 20 June February..June are paid
    periods = [PaidPeriod(M("2020-01"), M("2026-01")), paid("2026-02", "2026-06", "2026-06-20")]
    assert [state(periods, m) for m in ("2026-04", "2026-05", "2026-06", "2026-07")] == [
        "1",  # April: January is within 3 months
        "2",  # May: suspended, and the back-payment does not change it
        "2",  # June, the month of the back-payment: still suspended
        "1",  # July: the month after the payment
    ]
    assert state(periods, "2026-09") == "1" and state(periods, "2026-10") == "2"


def test_a_back_payment_of_long_past_months_opens_nothing() -> None:
    periods = [paid("2025-01", "2025-03", "2026-07-05")]
    assert all(state(periods, f"2026-{m:02d}") == "0" for m in range(1, 13))
    assert active_intervals(periods, RULES) == []


def test_the_lapse_rule_counts_what_was_paid_when() -> None:
    # in time to January; February..April paid on 10 May
    periods = [PaidPeriod(M("2020-01"), M("2026-01")), paid("2026-02", "2026-04", "2026-05-10")]
    assert state(periods, "2026-04") == "1"  # April - January = 3
    # May: the last month paid *before May* is January (4 months): suspended,
    # although by the months alone April would have been paid
    assert state(periods, "2026-05") == "2"
    assert state(periods, "2026-06") == "1" and state(periods, "2026-07") == "1"
    assert state(periods, "2026-08") == "2"  # April + 3 = July was the last


def test_paying_in_advance_changes_nothing_at_the_year_edge() -> None:
    # residents pay the next year in December: benefits from February (rule a)
    periods = [paid("2027-01", "2027-12", "2026-12-15")]
    assert state(periods, "2027-01") == "0" and state(periods, "2027-02") == "1"
    assert state(periods, "2028-03") == "1" and state(periods, "2028-04") == "2"


payments = st.lists(
    st.tuples(
        st.integers(min_value=2020 * 12, max_value=2030 * 12).map(Month.from_index),
        st.integers(min_value=-12, max_value=24),  # paid this many months after the month
        st.integers(min_value=1, max_value=28),
    ),
    max_size=12,
)


@given(payments, months)
def test_the_dated_interval_form_equals_the_rule_as_stated(
    made: list[tuple[Month, int, int]], month: Month
) -> None:
    """Benefits run in T iff some month p with 1 <= T - p <= 3 was paid in a
    month before T (rules a and b, what was paid when)."""
    periods = [
        PaidPeriod(p, p, dt.date(p.plus(late).year, p.plus(late).month, day))
        for p, late, day in made
    ]
    expected = any(
        1 <= month - p <= RULES.max_gap_months and p.plus(late) < month for p, late, _ in made
    )
    assert benefit_status(periods, month, RULES).active == expected
