"""The policy calendar: the State Council's holiday and make-up-day schedules
(国务院办公厅关于YYYY年部分节假日安排的通知), one file per year."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from sscard_terminal.center.policy import HolidaySchedule, load_policy

POLICY = load_policy()
CALENDAR = POLICY.calendar.working
SCHEDULES = Path(__file__).parents[2] / "sscard_terminal/center/policies/calendars/cn"
D = dt.date.fromisoformat

#: Days of each year that are not working days: weekend days plus the weekdays
#: of the published breaks, less the weekend days worked in exchange - counted
#: by hand from each year's notice (2023: 105 + 18 - 7; 2024: 104 + 19 - 8;
#: 2025: 104 + 18 - 5; 2026: 104 + 19 - 6).
DAYS_OFF = {2023: 116, 2024: 115, 2025: 117, 2026: 117}

#: The breaks' lengths as published ("共N天"), in the order of the notice.
BREAKS = {
    2023: [3, 7, 1, 5, 3, 8],
    2024: [3, 8, 3, 5, 3, 3, 7],
    2025: [1, 8, 3, 5, 3, 8],
    2026: [3, 9, 3, 5, 3, 3, 7],
}


def test_the_calendar_covers_exactly_the_years_it_has_a_schedule_for() -> None:
    assert CALENDAR.years == sorted(DAYS_OFF)
    assert sorted(int(p.stem) for p in SCHEDULES.glob("*.yaml")) == sorted(DAYS_OFF)


@pytest.mark.parametrize("year", sorted(DAYS_OFF))
def test_each_years_count_of_days_off(year: int) -> None:
    assert CALENDAR.days_off(year) == DAYS_OFF[year]


@pytest.mark.parametrize("year", sorted(BREAKS))
def test_each_years_breaks_are_those_published(year: int) -> None:
    schedule = CALENDAR.schedules[year]
    assert [h.days for h in schedule.holidays] == BREAKS[year]
    assert schedule.notice == f"国务院办公厅关于{year}年部分节假日安排的通知"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-02-13", True),  # Friday before the Spring Festival
        ("2026-02-14", True),  # Saturday worked in exchange
        ("2026-02-15", False),  # first day of the break (a Sunday)
        ("2026-02-23", False),  # last day of the 9-day break, a Monday
        ("2026-02-24", True),  # the day after
        ("2026-02-28", True),  # Saturday worked in exchange
        ("2026-01-04", True),  # Sunday worked after New Year
        ("2025-12-31", True),
        ("2026-01-01", False),
        ("2026-01-02", False),
        ("2024-02-09", True),  # New Year's Eve 2024 was not a day off
        ("2024-02-18", True),  # Sunday worked
        ("2025-01-28", False),  # New Year's Eve 2025 is (revised 放假办法)
        ("2023-01-02", False),  # Monday of the New Year break that began 2022-12-31
        ("2023-10-07", True),
        ("2023-10-08", True),
        ("2026-10-08", True),
        ("2026-10-07", False),
        ("2026-09-25", False),  # Mid-Autumn Festival, a Friday
    ],
)
def test_working_days_at_the_breaks_edges(day: str, working: bool) -> None:
    assert CALENDAR.is_working_day(D(day)) is working


def _schedule(**change: object) -> dict[str, object]:
    data: dict[str, Any] = yaml.safe_load((SCHEDULES / "2026.yaml").read_text("utf-8"))
    data["holidays"][0].update(change)
    return data


def test_a_schedule_whose_break_does_not_match_its_length_is_refused() -> None:
    with pytest.raises(ValidationError, match="is 3 days, not 4"):
        HolidaySchedule.model_validate(_schedule(days=4))


def test_a_make_up_day_on_a_weekday_is_refused() -> None:
    with pytest.raises(ValidationError, match="is not a Saturday or Sunday"):
        HolidaySchedule.model_validate(_schedule(workdays=["2026-01-05"]))


def test_a_break_outside_its_year_is_refused() -> None:
    with pytest.raises(ValidationError, match="is not in 2026"):
        HolidaySchedule.model_validate(_schedule(**{"break": ["2027-01-01", "2027-01-03"]}))
