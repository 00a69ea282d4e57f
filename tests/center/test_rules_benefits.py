"""Rules a and b as pure functions (benefits.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sscard_terminal.center.clock import Month
from sscard_terminal.center.policy import load_policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules.benefits import (
    PaidPeriod,
    active_intervals,
    benefit_status,
    require_active,
)

RULES = load_policy().benefits
M = Month.parse


def status(periods: list[tuple[str, str]], month: str):
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
def test_require_active_refuses_with_the_reason(periods, month, code) -> None:
    with pytest.raises(Refusal) as caught:
        require_active(status(periods, month), M(month), "310")
    assert caught.value.code == code
    assert caught.value.zh and caught.value.en


def test_periods_given_in_any_order_and_overlapping_merge() -> None:
    a = [PaidPeriod(M("2025-05"), M("2025-09")), PaidPeriod(M("2025-01"), M("2025-06"))]
    assert active_intervals(a, RULES) == [(M("2025-02"), M("2025-12"))]


months = st.integers(min_value=2000 * 12, max_value=2040 * 12).map(Month.from_index)


@given(st.lists(st.sets(months, max_size=30).map(sorted), max_size=1), months)
def test_the_interval_form_equals_the_rule_as_stated(paid_lists, month) -> None:
    """Benefits run in T iff some paid month p < T has T - p <= 3 (rules a, b)."""
    paid = paid_lists[0] if paid_lists else []
    periods = [PaidPeriod(p, p) for p in paid]
    before = [p for p in paid if p < month]
    expected = bool(before) and month - max(before) <= RULES.max_gap_months
    assert benefit_status(periods, month, RULES).active == expected
