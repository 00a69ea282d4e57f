"""The flows of settlement-interface.md through HTTP, on SQLite and PostgreSQL:
sign in, look a person up by card, register, upload fees, pre-settle, settle,
refund, reverse, reconcile the day."""

from __future__ import annotations

from decimal import Decimal

from tests.center.center_helpers import (
    CLASS_A_DRUG,
    CLASS_A_SERVICE,
    CLASS_B_DRUG,
    CLASS_C,
    Center,
    Terminal,
    check_identities,
    fee,
    new_insured,
    register,
    settle_input,
    shanghai_now,
    stamp,
    visit_with_fees,
)


def test_sign_in_gives_a_sign_no_that_later_messages_use(center: Center) -> None:
    t = center.terminal(sign_in=False)
    sign_no = t.sign_in()
    assert len(sign_no) == 30 and sign_no.isdigit()
    normal = center.person("normal")
    card = normal["cards"][0]
    out = t.ok(
        "1101",
        {
            "data": {
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": card["card_no"],
                "card_sn": card["card_sn"],
            }
        },
    )
    assert out["baseinfo"]["psn_no"] == normal["psn_no"]
    assert out["baseinfo"]["certno"] == "330203199001011236"
    assert out["baseinfo"]["psn_name"] == "张三"
    assert out["baseinfo"]["gend"] == "1" and out["baseinfo"]["brdy"] == "1990-01-01"
    [insu] = out["insuinfo"]
    assert insu["insutype"] == "310" and insu["psn_insu_stas"] == "1"
    assert Decimal(str(insu["balc"])) >= 0
    assert insu["insuplc_admdvs"] == "330200"


def test_person_lookup_by_id_number(center: Center, hospital: Terminal) -> None:
    out = hospital.ok(
        "1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "330203199001011236"}}
    )
    assert out["baseinfo"]["psn_no"] == center.person("normal")["psn_no"]


def test_outpatient_register_upload_presettle_settle_refund(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin, balance="500.00")
    mdtrt_id, total = visit_with_fees(
        hospital,
        p,
        [
            (CLASS_A_SERVICE, "30.00", "1"),
            (CLASS_B_DRUG, "600.00", "2"),
            (CLASS_C, "100.00", "1"),
            (CLASS_A_DRUG, "12.5", "4"),
        ],
    )
    assert total == "1380.00"
    hospital.ok(
        "2203",
        {
            "mdtrtinfo": {
                "mdtrt_id": mdtrt_id,
                "psn_no": p.psn_no,
                "med_type": "11",
                "dise_codg": "J06.900",
                "dise_name": "上呼吸道感染",
            },
            "diseinfo": [
                {
                    "diag_type": "1",
                    "diag_srt_no": "1",
                    "diag_code": "J06.900",
                    "diag_name": "上呼吸道感染",
                }
            ],
        },
    )
    pre = hospital.ok("2206", settle_input(p, mdtrt_id, total))["setlinfo"]
    check_identities(pre)
    assert pre["setl_id"] is None
    # deductible 1000 first, then 80% at level 3; account pays the person's part
    assert Decimal(str(pre["overlmt_selfpay"])) == Decimal("5.00")
    assert Decimal(str(pre["preselfpay_amt"])) == Decimal("120.00")
    assert Decimal(str(pre["fulamt_ownpay_amt"])) == Decimal("100.00")
    assert Decimal(str(pre["inscp_scp_amt"])) == Decimal("1155.00")
    assert Decimal(str(pre["act_pay_dedc"])) == Decimal("1000.00")
    assert Decimal(str(pre["hifp_pay"])) == Decimal("124.00")
    assert Decimal(str(pre["acct_pay"])) == Decimal("500.00")
    assert Decimal(str(pre["psn_cash_pay"])) == Decimal("756.00")
    # pre-settlement booked nothing: the same numbers again
    again = hospital.ok("2206", settle_input(p, mdtrt_id, total))["setlinfo"]
    assert again == pre
    answer = hospital.call("2207", settle_input(p, mdtrt_id, total))
    assert answer["infcode"] == 0
    info = answer["output"]["setlinfo"]
    check_identities(info)
    assert info["medins_setl_id"] == hospital.last_msgid
    assert {k: info[k] for k in pre if k != "setl_id"} == {k: pre[k] for k in pre if k != "setl_id"}
    assert Decimal(str(info["balc"])) == 0
    [detail] = answer["output"]["setldetail"]
    assert detail["fund_pay_type"] == "310100" and detail["fund_payamt"] == info["hifp_pay"]
    # nothing left to settle
    hospital.refused("2207", settle_input(p, mdtrt_id, total), "settle.no_details")
    # 5203 by setl_id
    found = hospital.ok("5203", {"data": {"psn_no": p.psn_no, "setl_id": info["setl_id"]}})
    assert found["setlinfo"]["setl_stas"] == "valid"
    # refund (2208): money back, a row of negative amounts
    refund = hospital.ok(
        "2208", {"data": {"setl_id": info["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": p.psn_no}}
    )["setlinfo"]
    assert Decimal(str(refund["medfee_sumamt"])) == -Decimal(total)
    assert Decimal(str(refund["acct_pay"])) == Decimal("-500.00")
    assert Decimal(str(refund["balc"])) == Decimal("500.00")
    assert refund["orig_setl_id"] == info["setl_id"] and refund["refd_setl_flag"] == "1"
    # after the refund the same details settle again with the same split
    again = hospital.ok("2207", settle_input(p, mdtrt_id, total))["setlinfo"]
    assert again["hifp_pay"] == info["hifp_pay"] and again["acct_pay"] == info["acct_pay"]
    view = center.admin.request("GET", f"/persons/{p.psn_no}")
    assert Decimal(str(view["account_balance"])) == 0


def test_resident_settles_without_personal_account(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin, insutype="390")
    mdtrt_id, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "500.00", "1")], insutype="390")
    info = hospital.ok("2207", settle_input(p, mdtrt_id, total, insutype="390"))["setlinfo"]
    check_identities(info)
    # 390: deductible 300, 55% at level 3, no personal account
    assert Decimal(str(info["act_pay_dedc"])) == Decimal("300.00")
    assert Decimal(str(info["hifp_pay"])) == Decimal("110.00")
    assert Decimal(str(info["acct_pay"])) == 0
    assert Decimal(str(info["psn_cash_pay"])) == Decimal("390.00")


def test_withdraw_details_and_cancel_registration(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    mdtrt_id = register(hospital, p)
    lines = [
        fee(mdtrt_id, p.psn_no, "1", CLASS_A_DRUG, "10.00", batch="B1"),
        fee(mdtrt_id, p.psn_no, "2", CLASS_A_DRUG, "20.00", batch="B2"),
    ]
    hospital.ok("2204", {"feedetail": lines})
    out = hospital.ok(
        "2205", {"data": {"mdtrt_id": mdtrt_id, "chrg_bchno": "B1", "psn_no": p.psn_no}}
    )
    assert out["data"]["withdrawn"] == 1
    # only B2 is left: 20.00
    hospital.refused("2206", settle_input(p, mdtrt_id, "30.00"), "settle.sum_mismatch")
    hospital.ok("2206", settle_input(p, mdtrt_id, "20.00"))
    # a withdrawn feedetl_sn may be uploaded again; a live one may not
    hospital.ok("2204", {"feedetail": [fee(mdtrt_id, p.psn_no, "1", CLASS_A_DRUG, "10.00")]})
    hospital.refused(
        "2204",
        {"feedetail": [fee(mdtrt_id, p.psn_no, "2", CLASS_A_DRUG, "1.00")]},
        "fee.duplicate_sn",
    )
    hospital.ok("2202", {"data": {"psn_no": p.psn_no, "mdtrt_id": mdtrt_id, "ipt_otp_no": "OP1"}})
    hospital.refused(
        "2204", {"feedetail": [fee(mdtrt_id, p.psn_no, "9", CLASS_A_DRUG, "1.00")]}, "visit.closed"
    )


def test_pharmacy_presettle_settle_cancel(center: Center) -> None:
    pharmacy = center.terminal("P33020300003")
    p = new_insured(center.admin, balance="50.00")
    payload = {
        "druginfo": {
            "psn_no": p.psn_no,
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": p.card_no,
            "med_type": "41",
            "medfee_sumamt": "80.00",
            "insutype": "310",
            "acct_used_flag": "1",
            "psn_setlway": "01",
        },
        "drugdetail": [
            {
                "feedetl_sn": "1",
                "med_list_codg": CLASS_A_DRUG,
                "medins_list_codg": "YP1",
                "cnt": "2",
                "pric": "20.00",
                "det_item_fee_sumamt": "40.00",
            },
            {
                "feedetl_sn": "2",
                "med_list_codg": CLASS_B_DRUG,
                "medins_list_codg": "YP2",
                "cnt": "1",
                "pric": "40.00",
                "det_item_fee_sumamt": "40.00",
            },
        ],
    }
    pre = pharmacy.ok("2101", payload)
    check_identities(pre["setlinfo"])
    assert [row["preselfpay_amt"] for row in pre["detlcutinfo"]] == [
        Decimal("0.00"),
        Decimal("4.00"),
    ]
    # pharmacies: no pooled fund (ratio 0), the account pays first
    assert Decimal(str(pre["setlinfo"]["hifp_pay"])) == 0
    assert Decimal(str(pre["setlinfo"]["act_pay_dedc"])) == 0
    assert Decimal(str(pre["setlinfo"]["acct_pay"])) == Decimal("50.00")
    done = pharmacy.ok("2102", payload)["setlinfo"]
    check_identities(done)
    assert done["setl_id"] and done["mdtrt_id"] and done["med_type"] == "41"
    assert done["clr_type"] == "41"
    # 2208 is for outpatient settlements only
    pharmacy.refused(
        "2208",
        {"data": {"setl_id": done["setl_id"], "mdtrt_id": done["mdtrt_id"], "psn_no": p.psn_no}},
        "settlement.kind",
    )
    back = pharmacy.ok(
        "2103",
        {"data": {"setl_id": done["setl_id"], "mdtrt_id": done["mdtrt_id"], "psn_no": p.psn_no}},
    )["setlinfo"]
    assert Decimal(str(back["balc"])) == Decimal("50.00")
    pharmacy.refused(
        "2103",
        {"data": {"setl_id": done["setl_id"], "mdtrt_id": done["mdtrt_id"], "psn_no": p.psn_no}},
        "settlement.not_valid",
    )


def test_reconcile_the_day(center: Center) -> None:
    """3201 totals and 3202 rows of one institution's day, refunds included."""
    t = center.terminal("H33021200002")  # level 2, used by this test only
    today = shanghai_now().date().isoformat()
    settled = []
    for amount in ("100.00", "250.00", "40.00"):
        p = new_insured(center.admin)
        mdtrt_id, total = visit_with_fees(t, p, [(CLASS_A_DRUG, amount, "1")])
        info = t.ok("2207", settle_input(p, mdtrt_id, total))["setlinfo"]
        settled.append((p, info))
    p, first = settled[0]
    refund = t.ok(
        "2208",
        {"data": {"setl_id": first["setl_id"], "mdtrt_id": first["mdtrt_id"], "psn_no": p.psn_no}},
    )["setlinfo"]
    rows = [info for _, info in settled] + [refund]
    sums = {
        k: sum(Decimal(str(r[k])) for r in rows)
        for k in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")
    }
    assert sums["medfee_sumamt"] == Decimal("290.00")
    head = {
        "insutype": "310",
        "clr_type": "11",
        "setl_optins": "330200",
        "stmt_begndate": today,
        "stmt_enddate": today,
    }
    out = t.ok(
        "3201", {"data": {**head, **{k: str(v) for k, v in sums.items()}, "fixmedins_setl_cnt": 4}}
    )
    assert out["stmtinfo"]["stmt_rslt"] == "0", out
    wrong = t.ok(
        "3201",
        {
            "data": {
                **head,
                **{k: str(v) for k, v in sums.items()},
                "medfee_sumamt": "291.00",
                "fixmedins_setl_cnt": 4,
            }
        },
    )
    assert wrong["stmtinfo"]["stmt_rslt"] == "1"
    assert "medfee_sumamt" in wrong["stmtinfo"]["stmt_rslt_dscr"]
    details = [
        {
            "setl_id": r["setl_id"],
            "mdtrt_id": r["mdtrt_id"],
            "psn_no": r["psn_no"],
            "medfee_sumamt": str(r["medfee_sumamt"]),
            "fund_pay_sumamt": str(r["fund_pay_sumamt"]),
            "acct_pay": str(r["acct_pay"]),
            "refd_setl_flag": r["refd_setl_flag"],
        }
        for r in rows
    ]
    head3202 = {
        "setl_optins": "330200",
        "stmt_begndate": today,
        "stmt_enddate": today,
        "insutype": "310",
    }
    out = t.ok("3202", {"data": head3202, "detail": details})
    assert out["stmtinfo"]["stmt_rslt"] == "0"
    assert [r["stmt_rslt"] for r in out["result"]] == ["0"] * 4
    # one row missing, one amount wrong, one unknown
    details[1] = {**details[1], "acct_pay": "0.01"}
    details[2] = {**details[2], "setl_id": "X" * 30}
    out = t.ok("3202", {"data": head3202, "detail": details[:3]})
    codes = {r["setl_id"]: r["stmt_rslt"] for r in out["result"]}
    assert codes[rows[0]["setl_id"]] == "0"
    assert codes[rows[1]["setl_id"]] == "1"
    assert codes["X" * 30] == "2"
    assert codes[rows[2]["setl_id"]] == "3" and codes[rows[3]["setl_id"]] == "3"
    assert out["stmtinfo"]["stmt_rslt"] == "1"
    # the rows must come inline
    t.refused("3202", {"data": {**head3202, "file_qury_no": "F1"}}, "reconcile.file")


def test_sign_out_ends_the_sign_no(center: Center) -> None:
    t = center.terminal(opter="0777")
    t.ok("9002", {"signOut": {"sign_no": t.sign_no, "opter_no": "0777"}})
    card = center.person("normal")["cards"][0]
    answer = t.call(
        "1101",
        {
            "data": {
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": card["card_no"],
                "card_sn": card["card_sn"],
            }
        },
    )
    assert answer["infcode"] == -1 and answer["err_code"] == "signin.signed_out"
    t.sign_in()
    t.ok(
        "1101",
        {
            "data": {
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": card["card_no"],
                "card_sn": card["card_sn"],
            }
        },
    )


def test_fee_time_in_the_future_is_refused(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    mdtrt_id = register(hospital, p)
    future = stamp(shanghai_now().replace(year=shanghai_now().year + 1))
    hospital.refused(
        "2204",
        {"feedetail": [fee(mdtrt_id, p.psn_no, "1", CLASS_A_DRUG, "1.00", when=future)]},
        "input.future",
    )
