"""Rule c as pure functions (cards.py, sporadic.py) and rule d's windows."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sscard_terminal.center.clock import add_months
from sscard_terminal.center.policy import load_policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import cards, sporadic
from sscard_terminal.center.rules.area import AreaKind
from sscard_terminal.center.rules.cards import CardEvent, CardStatus

POLICY = load_policy()
D = dt.date.fromisoformat


def test_temporary_loss_blocks_and_is_cancelled() -> None:
    blocked = cards.next_status(CardStatus.ACTIVE, CardEvent.TEMPORARY_LOSS)
    assert blocked is CardStatus.TEMPORARILY_LOST
    with pytest.raises(Refusal) as caught:
        cards.require_usable(blocked, "D01069901")
    assert caught.value.code == "card.temporarily_lost" and "临时挂失" in caught.value.zh
    assert cards.next_status(blocked, CardEvent.CANCEL_TEMPORARY_LOSS) is CardStatus.ACTIVE


@pytest.mark.parametrize("start", [CardStatus.ACTIVE, CardStatus.TEMPORARILY_LOST])
@pytest.mark.parametrize(
    ("event", "after"),
    [(CardEvent.FORMAL_LOSS, CardStatus.LOST), (CardEvent.DAMAGE, CardStatus.DAMAGED)],
)
def test_formal_loss_and_damage_lead_to_replacement(
    start: CardStatus, event: CardEvent, after: CardStatus
) -> None:
    status = cards.next_status(start, event)
    assert status is after
    assert cards.next_status(status, CardEvent.REPLACE) is CardStatus.REPLACED


@pytest.mark.parametrize("status", [CardStatus.LOST, CardStatus.REPLACED, CardStatus.DAMAGED])
def test_an_old_card_is_refused_forever(status: CardStatus) -> None:
    with pytest.raises(Refusal) as caught:
        cards.require_usable(status, "D01069901")
    assert caught.value.code == f"card.{status.value}"
    assert status.zh in caught.value.zh and status.en in caught.value.en
    for event in CardEvent:
        if event is CardEvent.REPLACE and status is not CardStatus.REPLACED:
            continue
        with pytest.raises(Refusal):
            cards.next_status(status, event)


def test_every_transition_not_in_the_table_is_refused() -> None:
    for status in CardStatus:
        for event in CardEvent:
            if (status, event) in cards.TRANSITIONS:
                continue
            with pytest.raises(Refusal) as caught:
                cards.next_status(status, event)
            assert caught.value.code == "card.transition"


@pytest.mark.parametrize(
    ("reported", "deadline"),
    [
        ("2026-11-23", "2026-11-30"),  # Monday -> next Monday
        ("2026-11-27", "2026-12-04"),  # Friday -> next Friday
        ("2026-11-28", "2026-12-04"),  # Saturday -> Friday
        (
            "2026-09-28",
            "2026-10-10",
        ),  # 9-29, 9-30, National Day, 10-8, 10-9, 10-10 (a Saturday worked)
        # Spring Festival 2026: 2-14 (a Saturday worked), 2-15..2-23 off, 2-24..2-27
        ("2026-02-13", "2026-02-27"),
        ("2026-02-23", "2026-02-28"),  # on the break's last day: 2-24..2-27, 2-28 (Saturday worked)
        # month edge: 4-30, then May Day 5-1..5-5, 5-6, 5-7, 5-8, 5-9 (Saturday worked), 5-11
        ("2026-04-30", "2026-05-11"),
        # year edges: 2025-12-31, New Year 1-1..1-3 off, 1-4 (a Sunday worked) .. 1-8
        ("2025-12-30", "2026-01-07"),
        ("2025-12-31", "2026-01-08"),
        ("2026-01-01", "2026-01-08"),
        ("2024-12-31", "2025-01-08"),  # 2025-01-01 off, no make-up day
    ],
)
def test_replacement_deadline_is_5_working_days(reported: str, deadline: str) -> None:
    got = cards.replacement_deadline(D(reported), 5, POLICY.calendar.working)
    assert got == D(deadline)


def test_a_deadline_in_a_year_without_a_schedule_is_refused_not_guessed() -> None:
    # 2026-12-24: 12-25, 12-28 .. 12-31 are the five working days, all in 2026
    assert cards.replacement_deadline(D("2026-12-24"), 5, POLICY.calendar.working) == D(
        "2026-12-31"
    )
    # from 12-28 the count reaches 2027, whose schedule is not in the calendar
    with pytest.raises(Refusal) as caught:
        cards.replacement_deadline(D("2026-12-28"), 5, POLICY.calendar.working)
    assert caught.value.code == "calendar.not_covered" and "2027" in caught.value.en


def test_sporadic_claims_up_to_and_including_6_months() -> None:
    sporadic.require_in_time(D("2026-01-15"), D("2026-07-15"), 6)
    with pytest.raises(Refusal) as caught:
        sporadic.require_in_time(D("2026-01-15"), D("2026-07-16"), 6)
    assert caught.value.code == "sporadic.too_late" and "2026-07-15" in caught.value.en
    # month ends clamp: 31 August + 6 months = 28 February
    assert sporadic.claim_deadline(D("2026-08-31"), 6) == D("2027-02-28")
    with pytest.raises(Refusal):
        sporadic.require_in_time(D("2026-08-31"), D("2027-03-01"), 6)
    with pytest.raises(Refusal) as caught:
        sporadic.require_in_time(D("2026-05-02"), D("2026-05-01"), 6)
    assert caught.value.code == "sporadic.future_bill"


@given(
    st.dates(min_value=D("2000-01-01"), max_value=D("2090-01-01")),
    st.integers(min_value=0, max_value=400),
)
def test_claim_window_property(bill: dt.date, days_later: int) -> None:
    claim = bill + dt.timedelta(days=days_later)
    in_time = claim <= add_months(bill, 6)
    try:
        sporadic.require_in_time(bill, claim, 6)
    except Refusal:
        assert not in_time
    else:
        assert in_time


def test_no_card_route_is_for_care_before_the_first_card() -> None:
    sporadic.require_no_card(D("2026-03-01"), [D("2026-03-02")])
    with pytest.raises(Refusal) as caught:
        sporadic.require_no_card(D("2026-03-02"), [D("2026-03-02")])
    assert caught.value.code == "sporadic.had_card"


def test_replacement_gap() -> None:
    loss, deadline = D("2026-11-23"), D("2026-11-30")
    # in time: everything from the loss to the new card
    sporadic.require_in_replacement_gap(D("2026-12-05"), loss, deadline, D("2026-11-27"), None)
    with pytest.raises(Refusal) as caught:
        sporadic.require_in_replacement_gap(
            D("2026-12-06"), loss, deadline, D("2026-11-27"), D("2026-12-06")
        )
    assert caught.value.code == "sporadic.after_new_card"
    with pytest.raises(Refusal) as caught:
        sporadic.require_in_replacement_gap(D("2026-11-22"), loss, deadline, None, None)
    assert caught.value.code == "sporadic.before_loss"
    # late application: bills up to the deadline only
    sporadic.require_in_replacement_gap(D("2026-11-30"), loss, deadline, D("2026-12-10"), None)
    with pytest.raises(Refusal) as caught:
        sporadic.require_in_replacement_gap(D("2026-12-01"), loss, deadline, D("2026-12-10"), None)
    assert caught.value.code == "sporadic.replacement_late"


@pytest.mark.parametrize(
    ("phone", "formal", "start"),
    [
        ("2026-04-29", "2026-05-06", "2026-04-29"),  # 12333 first: the loss began then
        ("2026-05-06", "2026-05-06", "2026-05-06"),
        (None, "2026-05-06", "2026-05-06"),
        ("2026-05-07", "2026-05-06", "2026-05-06"),  # a later call does not move it
    ],
)
def test_the_loss_starts_with_the_first_report(phone: str | None, formal: str, start: str) -> None:
    assert sporadic.loss_start(D(phone) if phone else None, D(formal)) == D(start)


def test_a_telephone_report_opens_the_replacement_period_on_its_day() -> None:
    start = sporadic.loss_start(D("2026-04-29"), D("2026-05-06"))
    deadline = cards.replacement_deadline(D("2026-05-06"), 5, POLICY.calendar.working)
    assert deadline == D("2026-05-12")  # 5-7, 5-8, 5-9 (Saturday worked), 5-11, 5-12
    for bill in ("2026-04-29", "2026-05-05", "2026-05-12"):
        sporadic.require_in_replacement_gap(D(bill), start, deadline, D("2026-05-11"), None)
    with pytest.raises(Refusal) as caught:
        sporadic.require_in_replacement_gap(D("2026-04-28"), start, deadline, D("2026-05-11"), None)
    assert caught.value.code == "sporadic.before_loss" and "2026-04-29" in caught.value.en


def _hospital(
    kind: str = "hospital",
    designated: bool = True,
    offsite: bool = False,
    where: AreaKind = AreaKind.LOCAL,
) -> sporadic.BillingInstitution:
    return sporadic.BillingInstitution("H33020300001", kind, designated, offsite, where)


@pytest.mark.parametrize(
    ("med_type", "institution", "expected"),
    [
        ("13", _hospital(), None),
        ("13", _hospital(offsite=True, where=AreaKind.IN_PROVINCE), None),
        ("11", _hospital(), "sporadic.not_emergency"),
        ("14", _hospital(), "sporadic.not_emergency"),
        (None, _hospital(), "sporadic.not_emergency"),
        ("13", None, "sporadic.institution"),
        ("13", _hospital(designated=False), "sporadic.not_designated"),
        ("13", _hospital(kind="pharmacy"), "sporadic.not_designated"),
        ("13", _hospital(where=AreaKind.IN_PROVINCE), "sporadic.not_designated"),
        (
            "13",
            _hospital(offsite=True, where=AreaKind.OUT_OF_PROVINCE),
            "sporadic.not_designated",
        ),
    ],
)
def test_the_no_card_route_is_emergency_care_at_a_designated_hospital(
    med_type: str | None, institution: sporadic.BillingInstitution | None, expected: str | None
) -> None:
    if expected is None:
        sporadic.require_emergency_at_designated(med_type, institution, "H33020300001")
        return
    with pytest.raises(Refusal) as caught:
        sporadic.require_emergency_at_designated(med_type, institution, "H33020300001")
    assert caught.value.code == expected and caught.value.zh and caught.value.en
