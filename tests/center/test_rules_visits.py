"""When a visit may start and on which days it is judged (rules/visits.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from sscard_terminal.center.clock import Month
from sscard_terminal.center.policy import load_policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import visits

RULES = load_policy().visits
T = dt.datetime.fromisoformat


def test_the_ningbo_policy_registers_a_visit_on_its_day_or_the_next() -> None:
    assert RULES.begntime_days_back == 1


@pytest.mark.parametrize(
    ("received", "begntime", "code"),
    [
        # first and last second allowed, and the second before: the day before, 00:00:00
        ("2026-04-15 10:00:00", "2026-04-14 00:00:00", None),
        ("2026-04-15 10:00:00", "2026-04-13 23:59:59", "visit.begntime_too_early"),
        ("2026-04-15 10:00:00", "2026-04-15 10:01:00", None),  # a minute of skew
        ("2026-04-15 10:00:00", "2026-04-15 10:01:01", "input.future"),
        # month edges
        ("2026-04-01 00:10:00", "2026-03-31 00:00:00", None),
        ("2026-04-01 00:10:00", "2026-03-30 23:59:59", "visit.begntime_too_early"),
        ("2026-03-01 08:00:00", "2026-02-28 00:00:00", None),
        ("2026-03-01 08:00:00", "2026-02-27 23:59:59", "visit.begntime_too_early"),
        ("2028-03-01 08:00:00", "2028-02-29 00:00:00", None),  # leap day
        ("2028-03-01 08:00:00", "2028-02-28 23:59:59", "visit.begntime_too_early"),
        # year edge
        ("2027-01-01 00:05:00", "2026-12-31 00:00:00", None),
        ("2027-01-01 00:05:00", "2026-12-30 23:59:59", "visit.begntime_too_early"),
        # a terminal's clock years behind
        ("2026-04-15 10:00:00", "2026-01-01 08:00:00", "visit.begntime_too_early"),
    ],
)
def test_start_time_edges(received: str, begntime: str, code: str | None) -> None:
    if code is None:
        visits.require_start_time(T(begntime), T(received), RULES)
        return
    with pytest.raises(Refusal) as caught:
        visits.require_start_time(T(begntime), T(received), RULES)
    assert caught.value.code == code
    if code == "visit.begntime_too_early":
        assert "visits.begntime_days_back = 1" in caught.value.en
        assert begntime in caught.value.en and begntime in caught.value.zh


def test_a_policy_of_zero_days_registers_only_on_the_day() -> None:
    same_day = RULES.model_copy(update={"begntime_days_back": 0})
    visits.require_start_time(T("2026-04-15 00:00:00"), T("2026-04-15 10:00:00"), same_day)
    with pytest.raises(Refusal):
        visits.require_start_time(T("2026-04-14 23:59:59"), T("2026-04-15 10:00:00"), same_day)


@pytest.mark.parametrize(
    ("visit_day", "today", "months"),
    [
        ("2026-03-31", "2026-03-31", ["2026-03"]),
        ("2026-03-31", "2026-04-01", ["2026-03", "2026-04"]),
        ("2026-12-31", "2027-01-01", ["2026-12", "2027-01"]),
    ],
)
def test_rules_are_judged_in_the_visits_month_and_the_messages(
    visit_day: str, today: str, months: list[str]
) -> None:
    got = visits.judged_months(dt.date.fromisoformat(visit_day), dt.date.fromisoformat(today))
    assert got == [Month.parse(m) for m in months]
