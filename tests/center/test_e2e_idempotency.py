"""Idempotency and reversal through HTTP, on SQLite and
PostgreSQL: repeated msgids, 2601 of every reversible transaction, 5203, and
concurrent messages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from sscard_terminal.center.models import Settlement
from tests.center.center_helpers import (
    CLASS_A_DRUG,
    Center,
    Insured,
    Terminal,
    check_identities,
    fee,
    new_insured,
    next_msgid,
    register,
    settle_input,
    stamp,
    visit_with_fees,
)


def balance(center: Center, psn_no: str) -> Decimal:
    return Decimal(str(center.admin.request("GET", f"/persons/{psn_no}")["account_balance"]))


def settlements_of(center: Center, mdtrt_id: str) -> int:
    with center.db.engine.connect() as c:
        return c.execute(
            select(func.count()).select_from(Settlement).where(Settlement.mdtrt_id == mdtrt_id)
        ).scalar_one()


def test_a_repeated_settlement_gets_the_original_answer_and_books_once(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin, balance="1000.00")
    mdtrt_id, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "1500.00", "1")])
    env = hospital.envelope("2207", settle_input(p, mdtrt_id, total))
    first = hospital.send(env)
    assert first["infcode"] == 0
    second = hospital.send(env)
    assert second == first
    assert settlements_of(center, mdtrt_id) == 1
    assert balance(center, p.psn_no) == Decimal("1000.00") - Decimal(
        str(first["output"]["setlinfo"]["acct_pay"])
    )
    # a different body under the same msgid is refused and changes nothing
    other = hospital.envelope("2207", settle_input(p, mdtrt_id, "1.00"), msgid=env["msgid"])
    assert hospital.send(other)["err_code"] == "msgid.reused"
    assert hospital.send(env) == first


def test_repeated_lookups_and_refusals_answer_the_same(center: Center, hospital: Terminal) -> None:
    card = center.person("normal")["cards"][0]
    env = hospital.envelope(
        "1101",
        {
            "data": {
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": card["card_no"],
                "card_sn": card["card_sn"],
            }
        },
    )
    first = hospital.send(env)
    assert hospital.send(env) == first
    assert first["output"]["baseinfo"]["certno"] == "330203199001011236"  # unmasked again
    refused = hospital.envelope(
        "1101", {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": "D99999999"}}
    )
    answer = hospital.send(refused)
    assert answer["infcode"] == -1 and hospital.send(refused) == answer


def test_concurrent_copies_of_one_message_book_once(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin, balance="100.00")
    mdtrt_id, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "80.00", "1")])
    env = hospital.envelope("2207", settle_input(p, mdtrt_id, total))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: hospital.send(env), range(8)))
    assert all(a == answers[0] for a in answers) and answers[0]["infcode"] == 0
    assert settlements_of(center, mdtrt_id) == 1
    assert balance(center, p.psn_no) == Decimal("20.00")


def test_concurrent_settlements_of_one_person_lose_no_update(center: Center) -> None:
    terminals = [center.terminal(opter=f"09{i:02d}") for i in range(6)]
    p = new_insured(center.admin, balance="300.00")
    visits = [visit_with_fees(t, p, [(CLASS_A_DRUG, "70.00", "1")]) for t in terminals]
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda tv: tv[0].call("2207", settle_input(p, tv[1][0], tv[1][1])),
                zip(terminals, visits, strict=True),
            )
        )
    paid = [Decimal(str(a["output"]["setlinfo"]["acct_pay"])) for a in answers if a["infcode"] == 0]
    assert len(paid) == 6 and sum(paid) == Decimal("300.00")
    assert sorted(paid) == [Decimal("0.00"), Decimal("20.00")] + [Decimal("70.00")] * 4
    assert balance(center, p.psn_no) == 0


def settle(
    hospital: Terminal, p: Insured, amount: str = "1500.00"
) -> tuple[str, str, dict[str, Any]]:
    mdtrt_id, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, amount, "1")])
    env = hospital.envelope("2207", settle_input(p, mdtrt_id, total))
    answer = hospital.send(env)
    assert answer["infcode"] == 0
    return mdtrt_id, env["msgid"], answer["output"]["setlinfo"]


def reverse(hospital: Terminal, p: Insured, omsgid: str, oinfno: str) -> dict[str, Any]:
    return hospital.call("2601", {"data": {"psn_no": p.psn_no, "omsgid": omsgid, "oinfno": oinfno}})


def test_reversing_a_settlement_restores_balance_and_accumulators(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin, balance="1000.00")
    mdtrt_id, msgid, info = settle(hospital, p)
    assert Decimal(str(info["act_pay_dedc"])) == Decimal("1000.00")
    env = hospital.envelope(
        "2601", {"data": {"psn_no": p.psn_no, "omsgid": msgid, "oinfno": "2207"}}
    )
    first = hospital.send(env)
    assert first["infcode"] == 0 and first["output"]["data"]["rvs_stas"] == "reversed"
    assert hospital.send(env) == first  # the same 2601 again
    again = reverse(hospital, p, msgid, "2207")  # a new 2601 for the same original
    assert again["infcode"] == 0 and again["output"]["data"]["rvs_stas"] == "already_reversed"
    assert balance(center, p.psn_no) == Decimal("1000.00")
    # the deductible is open again, the details settle again with the same split
    redo = hospital.ok("2207", settle_input(p, mdtrt_id, "1500.00"))["setlinfo"]
    assert redo["act_pay_dedc"] == info["act_pay_dedc"] and redo["acct_pay"] == info["acct_pay"]
    status = hospital.ok("5203", {"data": {"psn_no": p.psn_no, "setl_id": info["setl_id"]}})
    assert status["setlinfo"]["setl_stas"] == "reversed"


def test_reversing_a_refund_restores_the_settlement(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin, balance="1000.00")
    mdtrt_id, msgid, info = settle(hospital, p)
    after_settle = balance(center, p.psn_no)
    refund_env = hospital.envelope(
        "2208", {"data": {"setl_id": info["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": p.psn_no}}
    )
    assert hospital.send(refund_env)["infcode"] == 0
    assert balance(center, p.psn_no) == Decimal("1000.00")
    # the settlement was refunded: reversing it needs the refund reversed first
    assert reverse(hospital, p, msgid, "2207")["err_code"] == "reversal.refunded"
    assert reverse(hospital, p, refund_env["msgid"], "2208")["infcode"] == 0
    assert balance(center, p.psn_no) == after_settle
    status = hospital.ok("5203", {"data": {"psn_no": p.psn_no, "setl_id": info["setl_id"]}})
    assert status["setlinfo"]["setl_stas"] == "valid"
    hospital.refused("2207", settle_input(p, mdtrt_id, "1500.00"), "settle.no_details")
    # and now the settlement itself can be reversed
    assert reverse(hospital, p, msgid, "2207")["output"]["data"]["rvs_stas"] == "reversed"
    assert balance(center, p.psn_no) == Decimal("1000.00")


def test_reversing_a_pharmacy_settlement_and_its_refund(center: Center) -> None:
    pharmacy = center.terminal("P33020300003")
    p = new_insured(center.admin, balance="100.00")
    payload = {
        "druginfo": {
            "psn_no": p.psn_no,
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": p.card_no,
            "med_type": "41",
            "medfee_sumamt": "30.00",
            "insutype": "310",
            "acct_used_flag": "1",
        },
        "drugdetail": [
            {
                "feedetl_sn": "1",
                "med_list_codg": CLASS_A_DRUG,
                "medins_list_codg": "Y",
                "cnt": "3",
                "pric": "10.00",
                "det_item_fee_sumamt": "30.00",
            }
        ],
    }
    env = pharmacy.envelope("2102", payload)
    info = pharmacy.send(env)["output"]["setlinfo"]
    assert balance(center, p.psn_no) == Decimal("70.00")
    cancel = pharmacy.envelope(
        "2103",
        {"data": {"setl_id": info["setl_id"], "mdtrt_id": info["mdtrt_id"], "psn_no": p.psn_no}},
    )
    assert pharmacy.send(cancel)["infcode"] == 0
    assert balance(center, p.psn_no) == Decimal("100.00")
    assert reverse(pharmacy, p, cancel["msgid"], "2103")["infcode"] == 0
    assert balance(center, p.psn_no) == Decimal("70.00")
    assert reverse(pharmacy, p, env["msgid"], "2102")["infcode"] == 0
    assert balance(center, p.psn_no) == Decimal("100.00")


def test_reversing_a_registration(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    env = hospital.envelope(
        "2201",
        {
            "data": {
                "psn_no": p.psn_no,
                "insutype": "310",
                "begntime": stamp(),
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": p.card_no,
                "ipt_otp_no": "R1",
            }
        },
    )
    mdtrt_id = hospital.send(env)["output"]["data"]["mdtrt_id"]
    assert reverse(hospital, p, env["msgid"], "2201")["infcode"] == 0
    hospital.refused(
        "2204", {"feedetail": [fee(mdtrt_id, p.psn_no, "1", CLASS_A_DRUG, "1.00")]}, "visit.closed"
    )
    # a settled visit cannot be reversed away
    settled_visit = register(hospital, p)
    reg_msgid = hospital.last_msgid
    hospital.ok("2204", {"feedetail": [fee(settled_visit, p.psn_no, "1", CLASS_A_DRUG, "5.00")]})
    hospital.ok("2207", settle_input(p, settled_visit, "5.00"))
    assert reverse(hospital, p, reg_msgid, "2201")["err_code"] == "visit.settled"


def test_reversal_of_refused_unknown_and_unreversible_messages(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin)
    refused = hospital.envelope("2207", settle_input(p, "X" * 30, "1.00"))
    assert hospital.send(refused)["infcode"] == -1
    nothing = reverse(hospital, p, refused["msgid"], "2207")
    assert nothing["output"]["data"]["rvs_stas"] == "nothing_booked"
    assert reverse(hospital, p, refused["msgid"], "2208")["err_code"] == "reversal.oinfno"
    lookup = hospital.envelope(
        "1101",
        {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": p.card_no, "card_sn": p.card_sn}},
    )
    hospital.send(lookup)
    assert reverse(hospital, p, lookup["msgid"], "1101")["err_code"] == "reversal.not_reversible"


def test_a_settlement_reversed_before_it_arrives_is_barred(
    center: Center, hospital: Terminal
) -> None:
    """The terminal's 2207 timed out before reaching the center: 5203 does not
    know it, 2601 bars it, and when the late copy arrives it is refused."""
    p = new_insured(center.admin, balance="500.00")
    mdtrt_id, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "100.00", "1")])
    late = hospital.envelope("2207", settle_input(p, mdtrt_id, total))
    hospital.refused(
        "5203", {"data": {"psn_no": p.psn_no, "medins_setl_id": late["msgid"]}}, "query.unknown"
    )
    barred = reverse(hospital, p, late["msgid"], "2207")
    assert barred["infcode"] == 0 and barred["output"]["data"]["rvs_stas"] == "barred"
    arrived = hospital.send(late)
    assert arrived["infcode"] == -1 and arrived["err_code"] == "reversal.barred"
    assert balance(center, p.psn_no) == Decimal("500.00")
    assert settlements_of(center, mdtrt_id) == 0
    assert (
        reverse(hospital, p, late["msgid"], "2207")["output"]["data"]["rvs_stas"]
        == "already_reversed"
    )


def test_5203_tells_the_terminal_what_became_of_its_settlement(
    center: Center, hospital: Terminal
) -> None:
    p = new_insured(center.admin, balance="500.00")
    mdtrt_id, msgid, info = settle(hospital, p, "100.00")
    by_msgid = hospital.ok("5203", {"data": {"psn_no": p.psn_no, "medins_setl_id": msgid}})
    assert by_msgid["setlinfo"]["setl_id"] == info["setl_id"]
    check_identities(by_msgid["setlinfo"])
    by_visit = hospital.ok("5203", {"data": {"psn_no": p.psn_no, "mdtrt_id": mdtrt_id}})
    assert by_visit["setlinfo"]["setl_id"] == info["setl_id"]
    refused = hospital.envelope("2207", settle_input(p, mdtrt_id, "100.00"))
    hospital.send(refused)
    answer = hospital.ok("5203", {"data": {"psn_no": p.psn_no, "medins_setl_id": refused["msgid"]}})
    assert answer["msg_stas"] == "refused" and answer["err_code"] == "settle.no_details"
    hospital.refused(
        "5203",
        {"data": {"psn_no": p.psn_no, "medins_setl_id": next_msgid(hospital.code)}},
        "query.unknown",
    )
    hospital.refused("5203", {"data": {"psn_no": p.psn_no}}, "input.invalid")
