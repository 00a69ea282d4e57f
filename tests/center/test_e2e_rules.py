"""Every rule of the guide (a-k) exercised through HTTP, on
SQLite and PostgreSQL; the demo persons show the guide's situations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sscard_terminal.center.clock import Month, add_months
from tests.center.center_helpers import (
    CLASS_A_DRUG,
    CLASS_A_SERVICE,
    CLASS_B_DRUG,
    CLASS_B_OWN,
    CLASS_C,
    Center,
    ClockedCenter,
    Insured,
    Terminal,
    check_identities,
    new_insured,
    register,
    settle_input,
    shanghai_now,
    stamp,
    unique_id_number,
    visit_with_fees,
)


def lookup(t: Terminal, card: dict[str, Any]) -> dict[str, Any]:
    return t.call(
        "1101",
        {
            "data": {
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": card["card_no"],
                "card_sn": card["card_sn"],
            }
        },
    )


def demo_insured(center: Center, key: str, card_index: int = -1) -> Insured:
    p = center.person(key)
    card = p["cards"][card_index] if p["cards"] else {"card_no": None, "card_sn": None}
    return Insured(p["psn_no"], p["id_number"], card["card_no"], card["card_sn"])


def month_now() -> Month:
    return Month.of(shanghai_now().date())


# -- a -------------------------------------------------------------------------------
def test_a_new_household_waits_for_the_month_after_paying(
    center: Center, hospital: Terminal
) -> None:
    demo = center.person("new_household")
    answer = lookup(hospital, demo["cards"][0])
    [insu] = answer["output"]["insuinfo"]
    assert insu["psn_insu_stas"] == "0"
    assert insu["psn_insu_date"] == str(month_now().plus(1).first_day)
    p = demo_insured(center, "new_household")
    r = hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": p.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": p.card_no,
                "ipt_otp_no": "1",
            }
        },
        "benefits.not_started",
    )
    assert str(month_now().plus(1)) in r["err_msg"]


def test_a_benefits_run_from_the_month_after_the_first_payment(
    center: Center, hospital: Terminal
) -> None:
    m = month_now()
    p = new_insured(center.admin, paid=(m.plus(-1), m.plus(-1)))
    register(hospital, p)


# -- b -------------------------------------------------------------------------------
def test_b_lapsed_contributions_suspend_benefits_and_the_account(
    center: Center, hospital: Terminal
) -> None:
    demo = center.person("lapsed")
    [insu] = lookup(hospital, demo["cards"][0])["output"]["insuinfo"]
    assert insu["psn_insu_stas"] == "2"
    assert insu["paus_insu_date"] == str(month_now().plus(-1).first_day)
    p = demo_insured(center, "lapsed")
    r = hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": p.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": p.card_no,
                "ipt_otp_no": "1",
            }
        },
        "benefits.suspended",
    )
    assert "personal account" in r["err_msg"]


def test_b_three_months_is_the_limit_and_paying_again_resumes_next_month(
    center: Center, hospital: Terminal
) -> None:
    m = month_now()
    ok = new_insured(center.admin, paid=(Month(2015, 1), m.plus(-3)))
    register(hospital, ok)
    late = new_insured(center.admin, paid=(Month(2015, 1), m.plus(-4)))
    hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": late.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": late.card_no,
                "ipt_otp_no": "1",
            }
        },
        "benefits.suspended",
    )
    center.admin.post(
        f"/persons/{late.psn_no}/contributions",
        {"insutype": "310", "first_month": str(m), "last_month": str(m)},
    )
    r = hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": late.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": late.card_no,
                "ipt_otp_no": "1",
            }
        },
        "benefits.suspended",
    )
    assert str(m.plus(1)) in r["err_msg"]


# -- c -------------------------------------------------------------------------------
def test_c_lost_and_replaced_cards_are_refused_naming_their_status(
    center: Center, hospital: Terminal
) -> None:
    lost = lookup(hospital, center.person("lost_card")["cards"][0])
    assert lost["infcode"] == -1 and lost["err_code"] == "card.lost"
    assert "正式挂失" in lost["err_msg"] and "lost" in lost["err_msg"]
    old, new = center.person("replaced_card")["cards"]
    answer = lookup(hospital, old)
    assert answer["err_code"] == "card.replaced" and "replaced" in answer["err_msg"]
    assert lookup(hospital, new)["infcode"] == 0
    assert new["card_no"] != old["card_no"] and new["card_sn"] != old["card_sn"]
    temp = lookup(hospital, center.person("temp_lost")["cards"][0])
    assert temp["err_code"] == "card.temporarily_lost"


def test_c_a_phone_report_blocks_at_once_and_id_plus_card_lifts_it(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin)
    mdtrt_id, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "10.00", "1")])
    center.admin.post(f"/cards/{p.card_no}/loss", {"kind": "temporary", "channel": "12333"})
    # blocked at once, also in the middle of a visit
    hospital.refused("2207", settle_input(p, mdtrt_id, total), "card.temporarily_lost")
    assert lookup(hospital, {"card_no": p.card_no, "card_sn": p.card_sn})["infcode"] == -1
    wrong = center.admin.post(
        f"/cards/{p.card_no}/loss/cancel",
        {"id_number": p.id_number, "card_sn": "0" * 32},
        expect=409,
    )
    assert wrong["err_code"] == "card.proof"
    center.admin.post(
        f"/cards/{p.card_no}/loss/cancel", {"id_number": p.id_number, "card_sn": p.card_sn}
    )
    hospital.ok("2207", settle_input(p, mdtrt_id, total))


def test_c_formal_loss_replacement_and_sporadic_reimbursement(clocked: ClockedCenter) -> None:
    # a fixed day: the replacement deadline is counted in working days, on the
    # holiday schedules of the years the calendar holds (policies/calendars/cn/)
    c = clocked
    c.at(2026, 3, 20, 10, 0)  # Friday
    today, reported = dt.date(2026, 3, 20), dt.date(2026, 3, 17)
    p = new_insured(c.center.admin, paid=(Month(2015, 1), Month(2026, 3)))
    hospital = c.terminal()
    # while the card is usable, no second card: a loss is reported and replaced
    held = c.center.admin.post(f"/persons/{p.psn_no}/cards", {"bank": "宁波银行"}, expect=409)
    assert held["err_code"] == "card.held" and p.card_no in held["err_msg"]
    loss = c.center.admin.post(
        f"/cards/{p.card_no}/loss", {"kind": "formal", "reported_on": str(reported)}
    )
    # 3-18, 3-19, 3-20, 3-23, 3-24
    assert loss["status"] == "lost" and loss["replacement_deadline"] == "2026-03-24"
    assert lookup(hospital, {"card_no": p.card_no, "card_sn": p.card_sn})["err_code"] == "card.lost"
    # a lost card cannot be "found" again: cancelling is for temporary reports only
    refused = c.center.admin.post(
        f"/cards/{p.card_no}/loss/cancel",
        {"id_number": p.id_number, "card_sn": p.card_sn},
        expect=409,
    )
    assert refused["err_code"] == "card.transition"
    # a lost card no longer blocks an application: a further card, at the full fee
    # (rule j: half fee for a first card only); the lost card stays refused
    further = c.center.admin.post(f"/persons/{p.psn_no}/cards", {"bank": "宁波银行"})
    assert further["status"] == "active" and further["card_no"] != p.card_no
    assert further["first_card"] is False and further["fee"] == Decimal("50.00")
    assert lookup(hospital, {"card_no": p.card_no, "card_sn": p.card_sn})["err_code"] == "card.lost"
    replacement_person = new_insured(c.center.admin, paid=(Month(2015, 1), Month(2026, 3)))
    c.center.admin.post(
        f"/cards/{replacement_person.card_no}/loss",
        {"kind": "formal", "reported_on": str(reported)},
    )
    done = c.center.admin.post(f"/cards/{replacement_person.card_no}/replacement", {})
    old, new = done["old_card"], done["new_card"]
    assert old["status"] == "replaced" and new["status"] == "active"
    assert new["card_no"] != old["card_no"] and new["card_sn"] != old["card_sn"]
    assert done["in_time"] is True and new["fee"] == Decimal("50.00")
    assert (
        lookup(hospital, {"card_no": old["card_no"], "card_sn": old["card_sn"]})["err_code"]
        == "card.replaced"
    )
    assert lookup(hospital, {"card_no": new["card_no"], "card_sn": new["card_sn"]})["infcode"] == 0
    # expenses between the loss and the new card: sporadic reimbursement
    claim = c.center.admin.post(
        f"/persons/{replacement_person.psn_no}/sporadic-claims",
        {"reason": "card_replacement", "bill_date": str(reported), "amount": "320.50"},
    )
    assert claim["status"] == "accepted"
    after = c.center.admin.post(
        f"/persons/{replacement_person.psn_no}/sporadic-claims",
        {"reason": "card_replacement", "bill_date": str(today), "amount": "1.00"},
        expect=409,
    )
    assert after["err_code"] == "sporadic.after_new_card"


def test_c_a_late_replacement_limits_reimbursement(clocked: ClockedCenter) -> None:
    c = clocked
    c.at(2026, 3, 20, 10, 0)  # a fixed day: see the test above
    p = new_insured(c.center.admin, paid=(Month(2015, 1), Month(2026, 3)))
    reported = dt.date(2026, 2, 13)  # Friday before the Spring Festival
    c.center.admin.post(
        f"/cards/{p.card_no}/loss", {"kind": "formal", "reported_on": str(reported)}
    )
    done = c.center.admin.post(f"/cards/{p.card_no}/replacement", {})
    assert done["in_time"] is False and "warning" in done
    # 2-14 (a Saturday worked), 2-15..2-23 off, 2-24, 2-25, 2-26, 2-27
    assert done["replacement_deadline"] == "2026-02-27"
    deadline = dt.date.fromisoformat(done["replacement_deadline"])
    c.center.admin.post(
        f"/persons/{p.psn_no}/sporadic-claims",
        {"reason": "card_replacement", "bill_date": str(deadline), "amount": "10.00"},
    )
    late = c.center.admin.post(
        f"/persons/{p.psn_no}/sporadic-claims",
        {
            "reason": "card_replacement",
            "bill_date": str(deadline + dt.timedelta(days=1)),
            "amount": "10.00",
        },
        expect=409,
    )
    assert late["err_code"] == "sporadic.replacement_late"


def test_c_a_damaged_card_is_reported_and_replaced(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    center.admin.post(f"/cards/{p.card_no}/loss", {"kind": "damaged"})
    assert (
        lookup(hospital, {"card_no": p.card_no, "card_sn": p.card_sn})["err_code"] == "card.damaged"
    )
    new = center.admin.post(f"/cards/{p.card_no}/replacement", {})["new_card"]
    p2 = Insured(p.psn_no, p.id_number, new["card_no"], new["card_sn"])
    register(hospital, p2)
    hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": p.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": p.card_no,
                "ipt_otp_no": "1",
            }
        },
        "card.replaced",
    )


def test_c_a_copied_card_number_with_another_identification_code_is_refused(
    center: Center, hospital: Terminal
) -> None:
    card = dict(center.person("normal")["cards"][0])
    card["card_sn"] = card["card_sn"][:-1] + ("0" if card["card_sn"][-1] != "0" else "1")
    assert lookup(hospital, card)["err_code"] == "card.sn_mismatch"


# -- d -------------------------------------------------------------------------------
def test_d_no_card_no_card_settlement_and_the_6_month_claim(
    center: Center, hospital: Terminal
) -> None:
    demo = center.person("no_card")
    assert demo["cards"] == []
    ident = demo["id_number"]
    found = hospital.ok("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": ident}})
    assert found["baseinfo"]["psn_no"] == demo["psn_no"]
    r = hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": demo["psn_no"],
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": ident,
                "ipt_otp_no": "1",
            }
        },
        "credential.settlement",
    )
    assert "sporadic" in r["err_msg"]
    today = shanghai_now().date()
    bill = today - dt.timedelta(days=200)
    last_day = add_months(bill, 6)
    emergency = {"fixmedins_code": "H33020300001", "med_type": "13"}
    center.admin.post(
        f"/persons/{demo['psn_no']}/sporadic-claims",
        {
            "reason": "no_card",
            "bill_date": str(bill),
            "amount": "860.00",
            "claim_date": str(last_day),
            **emergency,
        },
    )
    late = center.admin.post(
        f"/persons/{demo['psn_no']}/sporadic-claims",
        {
            "reason": "no_card",
            "bill_date": str(bill),
            "amount": "860.00",
            "claim_date": str(last_day + dt.timedelta(days=1)),
            **emergency,
        },
        expect=409,
    )
    assert late["err_code"] == "sporadic.too_late"


@pytest.mark.parametrize(
    ("code", "med_type", "expected"),
    [
        ("H33020300001", "13", None),  # Ningbo, designated, emergency
        ("H33010600001", "13", None),  # Hangzhou, designated for out-of-area care
        ("H33020300001", "11", "sporadic.not_emergency"),  # ordinary outpatient care
        (None, "13", "sporadic.institution"),
        ("H99999999999", "13", "sporadic.institution"),  # not registered
        ("H33020300099", "13", "sporadic.not_designated"),  # not designated at all
        ("P33020300003", "13", "sporadic.not_designated"),  # a pharmacy
        ("H33030200001", "13", "sporadic.not_designated"),  # Wenzhou, not for out-of-area
        ("H31010100001", "13", "sporadic.not_designated"),  # Shanghai
    ],
)
def test_d_the_no_card_claim_is_for_emergencies_at_designated_hospitals(
    center: Center, code: str | None, med_type: str, expected: str | None
) -> None:
    demo = center.person("no_card")
    body: dict[str, Any] = {
        "reason": "no_card",
        "bill_date": str(shanghai_now().date() - dt.timedelta(days=10)),
        "amount": "120.00",
        "med_type": med_type,
    }
    if code:
        body["fixmedins_code"] = code
    path = f"/persons/{demo['psn_no']}/sporadic-claims"
    if expected is None:
        assert center.admin.post(path, body)["status"] == "accepted"
        return
    refused = center.admin.post(path, body, expect=409)
    assert refused["err_code"] == expected
    assert (code or "fixmedins_code") in refused["err_msg"] or expected == "sporadic.not_emergency"


def test_d_once_the_person_holds_a_card_they_settle_with_it(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin, card=False)
    card = center.admin.post(f"/persons/{p.psn_no}/cards", {"bank": "中国银行宁波分行"})
    assert card["fee"] == Decimal("25.00") and card["first_card"] is True
    register(hospital, Insured(p.psn_no, p.id_number, card["card_no"], card["card_sn"]))
    had = center.admin.post(
        f"/persons/{p.psn_no}/sporadic-claims",
        {"reason": "no_card", "bill_date": str(shanghai_now().date()), "amount": "10.00"},
        expect=409,
    )
    assert had["err_code"] == "sporadic.had_card"


# -- e -------------------------------------------------------------------------------
def test_e_cixi_rural_gets_a_card_but_no_medical_use(center: Center, hospital: Terminal) -> None:
    demo = center.person("cixi_rural")
    answer = lookup(hospital, demo["cards"][0])
    assert answer["infcode"] == 0 and answer["output"]["insuinfo"] == []
    assert "慈溪" in answer["warn_msg"]
    p = demo_insured(center, "cixi_rural")
    hospital.refused(
        "2201",
        {
            "data": {
                "psn_no": p.psn_no,
                "insutype": "390",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": p.card_no,
                "ipt_otp_no": "1",
            }
        },
        "scheme.legacy",
        insuplc_admdvs="330282",
    )


def test_e_after_enrolling_in_the_residents_insurance_it_works(
    center: Center, hospital: Terminal
) -> None:
    m = month_now()
    p = new_insured(center.admin, insutype="", insuplc="330282", legacy_scheme="cixi-ncms")
    payload = {
        "data": {
            "psn_no": p.psn_no,
            "insutype": "390",
            "begntime": stamp(),
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": p.card_no,
            "ipt_otp_no": "1",
        }
    }
    hospital.refused("2201", payload, "scheme.legacy", insuplc_admdvs="330282")
    center.admin.post(f"/persons/{p.psn_no}/enrolments", {"insutype": "390", "psn_type": "1401"})
    center.admin.post(
        f"/persons/{p.psn_no}/contributions",
        {
            "insutype": "390",
            "first_month": str(m.plus(-1)),
            "last_month": str(m.plus(10)),
            "paid_on": str(m.plus(-1).first_day),
        },
    )
    hospital.ok("2201", payload, insuplc_admdvs="330282")


# -- f -------------------------------------------------------------------------------
def test_f_out_of_area_needs_filing_and_designation(center: Center) -> None:
    hangzhou = center.terminal("H33010600001")
    filed = demo_insured(center, "offsite_filed")
    mdtrt_id, total = visit_with_fees(hangzhou, filed, [(CLASS_A_DRUG, "100.00", "1")])
    info = hangzhou.ok("2207", settle_input(filed, mdtrt_id, total))["setlinfo"]
    check_identities(info)
    second, total = visit_with_fees(hangzhou, filed, [(CLASS_A_DRUG, "10.00", "1")])
    hangzhou.refused(
        "2203",
        {
            "mdtrtinfo": {
                "mdtrt_id": second,
                "psn_no": filed.psn_no,
                "med_type": "14",
                "dise_codg": "M03900",
            }
        },
        "area.special_disease",
    )
    hangzhou.refused(
        "2207", settle_input(filed, second, total, med_type="14"), "area.special_disease"
    )
    unfiled = demo_insured(center, "offsite_unfiled")
    hangzhou.refused(
        "2201",
        {
            "data": {
                "psn_no": unfiled.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": unfiled.card_no,
                "ipt_otp_no": "1",
            }
        },
        "area.no_filing",
    )
    wenzhou = center.terminal("H33030200001")
    wenzhou.refused(
        "2201",
        {
            "data": {
                "psn_no": filed.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": filed.card_no,
                "ipt_otp_no": "1",
            }
        },
        "area.not_designated",
    )
    shanghai = center.terminal("H31010100001")
    shanghai.refused(
        "2201",
        {
            "data": {
                "psn_no": filed.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": filed.card_no,
                "ipt_otp_no": "1",
            }
        },
        "area.out_of_province",
    )


def test_f_special_disease_at_home_needs_its_filing(center: Center, hospital: Terminal) -> None:
    chronic = demo_insured(center, "special_disease")
    filings = hospital.ok("5301", {"data": {"psn_no": chronic.psn_no}})["feedetail"]
    assert [f["opsp_dise_code"] for f in filings] == ["M03900"]
    mdtrt_id = register(hospital, chronic)
    hospital.ok(
        "2203",
        {
            "mdtrtinfo": {
                "mdtrt_id": mdtrt_id,
                "psn_no": chronic.psn_no,
                "med_type": "14",
                "dise_codg": "M03900",
                "dise_name": "高血压病",
            }
        },
    )
    other = new_insured(center.admin)
    assert hospital.ok("5301", {"data": {"psn_no": other.psn_no}})["feedetail"] == []
    other_visit = register(hospital, other)
    hospital.refused(
        "2203",
        {
            "mdtrtinfo": {
                "mdtrt_id": other_visit,
                "psn_no": other.psn_no,
                "med_type": "14",
                "dise_codg": "M03900",
            }
        },
        "special_disease.no_filing",
    )


def test_f_a_non_designated_institution_cannot_settle(center: Center) -> None:
    clinic = center.terminal("H33020300099")
    p = demo_insured(center, "normal")
    clinic.refused(
        "2201",
        {
            "data": {
                "psn_no": p.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": p.card_no,
                "ipt_otp_no": "1",
            }
        },
        "institution.not_designated",
    )


# -- g -------------------------------------------------------------------------------
def test_g_details_phone_changes_name_id_and_bank_do_not(center: Center) -> None:
    p = new_insured(center.admin)
    changed = center.admin.request(
        "PATCH", f"/persons/{p.psn_no}", {"phone": "13955556666", "postcode": "315040"}
    )
    assert changed["changed"] == ["phone", "postcode"]
    for body, code in (
        ({"name": "改名"}, "details.critical"),
        ({"id_number": unique_id_number()}, "details.critical"),
        ({"bank": "宁波银行"}, "details.bank"),
    ):
        answer = center.admin.request("PATCH", f"/persons/{p.psn_no}", body, expect=409)
        assert answer["err_code"] == code and " / " in answer["err_msg"]
    bank = center.admin.request("PATCH", f"/cards/{p.card_no}", {"bank": "中国银行"}, expect=409)
    assert bank["err_code"] == "details.bank"
    view = center.admin.request("GET", f"/persons/{p.psn_no}")
    assert view["phone"] == "13955556666" and view["name"] == "测试人"
    assert view["id_number"] == p.id_number and view["cards"][0]["bank"] == "宁波银行"


# -- h -------------------------------------------------------------------------------
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([CLASS_A_SERVICE, CLASS_A_DRUG, CLASS_B_DRUG, CLASS_B_OWN, CLASS_C]),
            st.integers(1, 400_000).map(lambda n: str(Decimal(n) / 100)),
            st.sampled_from(["1", "2", "0.5", "3"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["0", "1"]),
)
def test_h_identities_hold_for_settlements_through_http(
    center: Center, hospital: Terminal, items: list[tuple[str, str, str]], acct: str
) -> None:
    p = new_insured(center.admin, balance="700.00")
    mdtrt_id, total = visit_with_fees(hospital, p, items)
    pre = hospital.ok("2206", settle_input(p, mdtrt_id, total, acct=acct))["setlinfo"]
    check_identities(pre)
    done = hospital.ok("2207", settle_input(p, mdtrt_id, total, acct=acct))["setlinfo"]
    check_identities(done)
    assert Decimal(str(done["balc"])) == Decimal("700.00") - Decimal(str(done["acct_pay"]))


def test_h_the_deductible_counts_across_settlements_of_a_year(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin, balance="0.00")
    first, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "600.00", "1")])
    a = hospital.ok("2207", settle_input(p, first, total))["setlinfo"]
    assert Decimal(str(a["act_pay_dedc"])) == Decimal("600.00") and Decimal(str(a["hifp_pay"])) == 0
    second, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "600.00", "1")])
    b = hospital.ok("2207", settle_input(p, second, total))["setlinfo"]
    assert Decimal(str(b["act_pay_dedc"])) == Decimal("400.00")
    assert Decimal(str(b["hifp_pay"])) == Decimal("160.00")  # 80% of 200


def test_h_level_sets_the_ratio(center: Center) -> None:
    level2 = center.terminal("H33021200002")
    p = new_insured(center.admin, balance="0.00")
    first, total = visit_with_fees(level2, p, [(CLASS_A_DRUG, "2000.00", "1")])
    info = level2.ok("2206", settle_input(p, first, total))["setlinfo"]
    assert Decimal(str(info["hifp_pay"])) == Decimal("850.00")  # 85% of 1000 after 1000


def test_h_items_outside_the_catalogue_are_refused(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    mdtrt_id = register(hospital, p)
    from tests.center.center_helpers import fee

    hospital.refused(
        "2204",
        {"feedetail": [fee(mdtrt_id, p.psn_no, "1", "NOPE-123", "5.00")]},
        "catalogue.unknown",
    )


# -- i, j ----------------------------------------------------------------------------
def test_i_j_a_minors_card_needs_a_guardian_and_proof_first_card_half_fee(center: Center) -> None:
    child = center.admin.post(
        "/persons", {"id_number": unique_id_number(dt.date(2016, 3, 3)), "name": "小明"}
    )["psn_no"]
    guardian_id = center.person("normal")["id_number"]
    none = center.admin.post(f"/persons/{child}/cards", {"bank": "宁波银行"}, expect=409)
    assert none["err_code"] == "application.guardian"
    no_proof = center.admin.post(
        f"/persons/{child}/cards",
        {"bank": "宁波银行", "guardian_id_number": guardian_id, "guardian_relation": "father"},
        expect=409,
    )
    assert no_proof["err_code"] == "application.proof"
    birth = center.admin.post(
        f"/persons/{child}/cards",
        {
            "bank": "宁波银行",
            "guardian_id_number": guardian_id,
            "guardian_relation": "father",
            "relationship_proof": "birth_certificate",
        },
        expect=409,
    )
    assert birth["err_code"] == "application.proof"
    assert "not by the public security department" in birth["err_msg"]
    card = center.admin.post(
        f"/persons/{child}/cards",
        {
            "bank": "宁波银行",
            "guardian_id_number": guardian_id,
            "guardian_relation": "father",
            "relationship_proof": "household_register",
        },
    )
    assert card["fee"] == Decimal("25.00") and card["first_card"] is True
    view = center.admin.request("GET", f"/persons/{child}")
    assert view["guardian_psn_no"] == center.person("normal")["psn_no"]
    # the demo minor was applied for by its guardian
    minor = center.admin.request("GET", f"/persons/{center.person('minor')['psn_no']}")
    assert minor["guardian_psn_no"] == center.person("normal")["psn_no"]


# -- k -------------------------------------------------------------------------------
def test_k_id_numbers_are_checked_everywhere(center: Center, hospital: Terminal) -> None:
    bad = center.admin.post(
        "/persons", {"id_number": "330203199001011235", "name": "某"}, expect=409
    )
    assert bad["err_code"] == "id.invalid" and "199001" not in bad["err_msg"]
    sex = center.admin.post(
        "/persons",
        {
            "id_number": unique_id_number(),
            "name": "某",
            "sex": "2" if False else "1",
            "birth_date": "1970-01-01",
        },
        expect=409,
    )
    assert sex["err_code"] == "id.birth_date"
    hospital.refused(
        "1101",
        {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "330203199013011236"}},
        "id.invalid",
    )
    hospital.refused(
        "1101",
        {
            "data": {
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": center.person("normal")["cards"][0]["card_no"],
                "card_sn": center.person("normal")["cards"][0]["card_sn"],
                "certno": "330203199001011235",
            }
        },
        "id.invalid",
    )
