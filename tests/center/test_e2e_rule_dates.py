"""Rules judged on the right dates, through HTTP on SQLite and
PostgreSQL, on a center whose clock the test sets: the visit's day and the
message's day, start times the policy allows, contributions by the day they
were paid, at month and year edges."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sscard_terminal.center.clock import Month
from tests.center.center_helpers import (
    CLASS_A_DRUG,
    ClockedCenter,
    Insured,
    Terminal,
    new_insured,
    register,
    settle_input,
)

LONG_AGO = Month(2015, 1)


def lookup(t: Terminal, p: Insured) -> dict[str, Any]:
    return t.ok(
        "1101",
        {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": p.card_no, "card_sn": p.card_sn}},
    )


def balance(c: ClockedCenter, p: Insured) -> Decimal:
    view = c.center.admin.request("GET", f"/persons/{p.psn_no}")
    return Decimal(str(view["account_balance"]))


def fee_line(mdtrt_id: str, p: Insured, when: str, pric: str = "40.00") -> dict[str, Any]:
    return {
        "feedetl_sn": "1",
        "mdtrt_id": mdtrt_id,
        "psn_no": p.psn_no,
        "chrg_bchno": "B1",
        "rxno": "",
        "fee_ocur_time": when,
        "med_list_codg": CLASS_A_DRUG,
        "medins_list_codg": "H-1",
        "det_item_fee_sumamt": pric,
        "cnt": "1",
        "pric": pric,
    }


def registration(p: Insured, begntime: str) -> dict[str, Any]:
    return {
        "data": {
            "psn_no": p.psn_no,
            "insutype": "310",
            "begntime": begntime,
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": p.card_no,
            "ipt_otp_no": "OP1",
        }
    }


def paid_until(c: ClockedCenter, last: Month, amount: str = "500.00") -> Insured:
    """A person paid in time from 2015 to ``last``, with ``amount`` in the account."""
    return new_insured(c.center.admin, paid=(LONG_AGO, last), balance=amount)


# -- the visit's day and the settlement's day ---------------------------------------------
def test_a_visit_on_the_last_covered_day_does_not_settle_on_the_first_uncovered_one(
    clocked: ClockedCenter,
) -> None:
    c = clocked
    c.at(2026, 3, 31, 23, 50)
    lapsing = paid_until(c, Month(2025, 12))  # benefits up to March 2026 (rule b)
    steady = paid_until(c, Month(2026, 3))
    hospital = c.terminal()
    visits = {}
    for p in (lapsing, steady):
        visits[p.psn_no] = register(hospital, p, begntime="2026-03-31 23:45:00")
        hospital.ok("2204", {"feedetail": [fee_line(visits[p.psn_no], p, "2026-03-31 23:46:00")]})
        hospital.ok("2206", settle_input(p, visits[p.psn_no], "40.00"))
    c.at(2026, 4, 1, 0, 10)
    hospital = c.terminal()
    for infno in ("2206", "2207"):
        r = hospital.refused(
            infno, settle_input(lapsing, visits[lapsing.psn_no], "40.00"), "benefits.suspended"
        )
        assert "2026-04" in r["err_msg"] and "personal account" in r["err_msg"]
    assert balance(c, lapsing) == Decimal("500.00")
    # the same visit of a person still covered in April settles
    info = hospital.ok("2207", settle_input(steady, visits[steady.psn_no], "40.00"))["setlinfo"]
    assert Decimal(str(info["acct_pay"])) > 0


def test_a_start_time_the_day_before_cannot_bring_back_last_months_benefits(
    clocked: ClockedCenter,
) -> None:
    c = clocked
    c.at(2026, 4, 1, 0, 10)
    lapsing = paid_until(c, Month(2025, 12))
    steady = paid_until(c, Month(2026, 3))
    hospital = c.terminal()
    # within the policy's window, but April is judged too
    r = hospital.refused("2201", registration(lapsing, "2026-03-31 23:45:00"), "benefits.suspended")
    assert "2026-04" in r["err_msg"]
    hospital.ok("2201", registration(steady, "2026-03-31 00:00:00"))  # first second allowed
    # a second earlier is before the policy's window, whoever the person
    for p in (lapsing, steady):
        r = hospital.refused(
            "2201", registration(p, "2026-03-30 23:59:59"), "visit.begntime_too_early"
        )
        assert "begntime_days_back" in r["err_msg"] and "2026-03-31 00:00:00" in r["err_msg"]
    hospital.refused("2201", registration(steady, "2026-04-01 00:11:01"), "input.future")


def test_at_the_year_edge_the_new_year_is_judged_too(clocked: ClockedCenter) -> None:
    c = clocked
    c.at(2027, 1, 1, 0, 5)
    lapsing = paid_until(c, Month(2026, 9))  # covered up to December 2026
    steady = paid_until(c, Month(2026, 10))  # covered up to January 2027
    hospital = c.terminal()
    r = hospital.refused("2201", registration(lapsing, "2026-12-31 23:50:00"), "benefits.suspended")
    assert "2027-01" in r["err_msg"]
    hospital.ok("2201", registration(steady, "2026-12-31 23:50:00"))
    hospital.refused(
        "2201", registration(steady, "2026-12-30 23:59:59"), "visit.begntime_too_early"
    )


def test_a_suspended_person_cannot_spend_the_account_whatever_times_the_messages_carry(
    clocked: ClockedCenter,
) -> None:
    c = clocked
    c.at(2026, 4, 1, 9, 0)
    lapsing = paid_until(c, Month(2025, 12))
    pharmacy = c.terminal("P33020300003")
    purchase = {
        "druginfo": {
            "psn_no": lapsing.psn_no,
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": lapsing.card_no,
            "med_type": "41",
            "medfee_sumamt": "40.00",
            "insutype": "310",
            "acct_used_flag": "1",
            "psn_setlway": "01",
        },
        "drugdetail": [
            {
                "feedetl_sn": "1",
                "fee_ocur_time": "2026-03-20 10:00:00",
                "med_list_codg": CLASS_A_DRUG,
                "medins_list_codg": "YP1",
                "cnt": "1",
                "pric": "40.00",
                "det_item_fee_sumamt": "40.00",
            }
        ],
    }
    for infno in ("2101", "2102"):
        pharmacy.refused(infno, purchase, "benefits.suspended", inf_time="2026-03-20 10:00:00")
    hospital = c.terminal()
    hospital.refused(
        "2201",
        registration(lapsing, "2026-03-31 08:00:00"),
        "benefits.suspended",
        inf_time="2026-03-31 08:00:00",
    )
    assert balance(c, lapsing) == Decimal("500.00")
    # the account is unusable, not taken away (docs/center.md: across a lapse)
    [insu] = lookup(hospital, lapsing)["insuinfo"]
    assert insu["psn_insu_stas"] == "2" and Decimal(str(insu["balc"])) == Decimal("500.00")


# -- contributions by the day they were paid ------------------------------------------------
def test_a_back_payment_does_not_cover_the_current_month(clocked: ClockedCenter) -> None:
    c = clocked
    c.at(2026, 6, 20, 10, 0)
    p = paid_until(c, Month(2025, 12))
    paid = c.center.admin.post(
        f"/persons/{p.psn_no}/contributions",
        {"insutype": "310", "first_month": "2026-01", "last_month": "2026-06"},
    )
    assert paid["paid_on"] == "2026-06-20"
    assert (paid["benefits_from"], paid["benefits_until"]) == ("2026-07", "2026-09")
    hospital = c.terminal()
    [insu] = lookup(hospital, p)["insuinfo"]
    assert insu["psn_insu_stas"] == "2"
    r = hospital.refused("2201", registration(p, "2026-06-20 09:55:00"), "benefits.suspended")
    assert "2026-07" in r["err_msg"]
    future = c.center.admin.post(
        f"/persons/{p.psn_no}/contributions",
        {
            "insutype": "310",
            "first_month": "2026-07",
            "last_month": "2026-07",
            "paid_on": "2026-06-21",
        },
        expect=409,
    )
    assert future["err_code"] == "contribution.paid_on"
    c.at(2026, 7, 1, 8, 0)
    hospital = c.terminal()
    [insu] = lookup(hospital, p)["insuinfo"]
    assert insu["psn_insu_stas"] == "1"
    hospital.ok("2201", registration(p, "2026-07-01 07:55:00"))
    # the visit of 30 June could not be registered now: June is still not covered
    hospital.refused("2201", registration(p, "2026-06-30 23:00:00"), "benefits.suspended")


def test_q1_benefits_start_the_month_after_the_day_of_payment(clocked: ClockedCenter) -> None:
    c = clocked
    c.at(2026, 7, 1, 9, 0)
    hospital = c.terminal()
    on_time, late = (
        new_insured(c.center.admin, insutype="", balance=None),
        new_insured(c.center.admin, insutype="", balance=None),
    )
    for p, paid_on in ((on_time, "2026-06-30"), (late, "2026-07-01")):
        c.center.admin.post(f"/persons/{p.psn_no}/enrolments", {"insutype": "310"})
        c.center.admin.post(
            f"/persons/{p.psn_no}/contributions",
            {
                "insutype": "310",
                "first_month": "2026-06",
                "last_month": "2026-06",
                "paid_on": paid_on,
            },
        )
    hospital.ok("2201", registration(on_time, "2026-07-01 08:30:00"))
    r = hospital.refused("2201", registration(late, "2026-07-01 08:30:00"), "benefits.not_started")
    assert "2026-08" in r["err_msg"]
    [insu] = lookup(hospital, late)["insuinfo"]
    assert insu["psn_insu_stas"] == "0"


# -- a loss reported by telephone (12333) -------------------------------------------------
def claim(c: ClockedCenter, p: Insured, bill: str, expect: int = 200) -> dict[str, Any]:
    answer: dict[str, Any] = c.center.admin.post(
        f"/persons/{p.psn_no}/sporadic-claims",
        {"reason": "card_replacement", "bill_date": bill, "amount": "88.00"},
        expect=expect,
    )
    return answer


def test_a_telephone_report_before_the_formal_one_starts_the_replacement_period(
    clocked: ClockedCenter,
) -> None:
    c = clocked
    c.at(2026, 4, 20, 9, 0)
    called, found = paid_until(c, Month(2026, 4)), paid_until(c, Month(2026, 4))
    c.at(2026, 4, 29, 20, 0)  # Wednesday evening: 12333
    for p in (called, found):
        phone = c.center.admin.post(f"/cards/{p.card_no}/loss", {"kind": "temporary"})
        assert phone["phone_loss_reported_on"] == "2026-04-29"
    c.at(2026, 4, 30, 9, 0)  # one of the cards is found: the report is cancelled
    c.center.admin.post(
        f"/cards/{found.card_no}/loss/cancel",
        {"id_number": found.id_number, "card_sn": found.card_sn},
    )
    c.at(2026, 5, 6, 9, 0)  # after May Day, both report the card lost at the counter
    for p in (called, found):
        formal = c.center.admin.post(f"/cards/{p.card_no}/loss", {"kind": "formal"})
        # 5-7, 5-8, 5-9 (a Saturday worked), 5-11, 5-12
        assert formal["replacement_deadline"] == "2026-05-12"
    c.at(2026, 5, 11, 9, 0)
    for p in (called, found):
        assert c.center.admin.post(f"/cards/{p.card_no}/replacement", {})["in_time"] is True
    c.at(2026, 5, 20, 9, 0)
    # the telephone report's day is the first day of the period, the day before is not
    assert claim(c, called, "2026-04-29")["status"] == "accepted"
    assert claim(c, called, "2026-05-05")["status"] == "accepted"
    assert claim(c, called, "2026-04-28", expect=409)["err_code"] == "sporadic.before_loss"
    # a cancelled telephone report does not count: the loss began on 6 May
    assert claim(c, found, "2026-05-05", expect=409)["err_code"] == "sporadic.before_loss"
    assert claim(c, found, "2026-05-06")["status"] == "accepted"
    assert claim(c, found, "2026-05-11", expect=409)["err_code"] == "sporadic.after_new_card"


def test_a_loss_whose_deadline_falls_in_a_year_without_a_schedule_is_recorded(
    clocked: ClockedCenter,
) -> None:
    c = clocked
    c.at(2026, 12, 28, 9, 0)
    p = paid_until(c, Month(2026, 12))
    loss = c.center.admin.post(f"/cards/{p.card_no}/loss", {"kind": "formal"})
    assert loss["status"] == "lost" and loss["replacement_deadline"] is None
    assert "2027" in loss["warning"] and "calendar" in loss["warning"]
    c.at(2026, 12, 29, 9, 0)
    done = c.center.admin.post(f"/cards/{p.card_no}/replacement", {})
    assert done["new_card"]["status"] == "active" and done["in_time"] is None
    c.at(2026, 12, 30, 9, 0)
    refused = claim(c, p, "2026-12-28", expect=409)
    assert refused["err_code"] == "calendar.not_covered"
