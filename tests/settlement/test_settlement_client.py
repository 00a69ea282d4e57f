"""The settlement client against the real center (SQLite, demo seed, uvicorn):
sign-in caching, every transaction as a typed call, the outpatient and
pharmacy flows, and the journal agreeing with the center's books (3201/3202).

Every message here is signed by the client's own HMAC-SM3 implementation and
accepted by the center: that proves the signature is the one the center
verifies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sscard_terminal.errors import ExitCode
from sscard_terminal.settlement import (
    CenterRefused,
    JournalError,
    Resolution,
    SettlementClient,
    Status,
)
from sscard_terminal.settlement.envelope import OpterType
from sscard_terminal.settlement.inputs import DrugSale, OutpatientSettlement
from sscard_terminal.settlement.models import (
    Diagnosis,
    DrugDetail,
    FeeDetail,
    PersonInfo,
    PersonRef,
    ReconcileRow,
    SetlInfo,
)
from sscard_terminal.settlement.resolution import reverse
from tests.settlement.settlement_fixtures import (
    CLASS_A_DRUG,
    CLASS_A_SERVICE,
    CLASS_B_DRUG,
    CLASS_C,
    HOSPITAL,
    PHARMACY,
    ClientFactory,
    RunningCenter,
    insured,
    shanghai_now,
)


def sign_ins(client: SettlementClient) -> list[str]:
    return [e.msgid for e in client.journal.entries(infno="9001") if e.status is Status.SUCCESS]


def check_money(info: SetlInfo) -> None:
    """settlement-interface.md, "Money"."""
    assert info.medfee_sumamt == (
        info.fulamt_ownpay_amt + info.overlmt_selfpay + info.preselfpay_amt + info.inscp_scp_amt
    )
    assert info.medfee_sumamt == info.fund_pay_sumamt + info.psn_part_amt + info.hosp_part_amt
    assert info.psn_part_amt == info.acct_pay + info.psn_cash_pay
    for value in (info.medfee_sumamt, info.fund_pay_sumamt, info.acct_pay, info.psn_cash_pay):
        assert isinstance(value, Decimal) and value == value.quantize(Decimal("0.01"))


def lookup(client: SettlementClient, center: RunningCenter, key: str = "normal") -> PersonInfo:
    card = center.person(key)["cards"][0]
    return client.person_by_card(card["card_no"], card["card_sn"])


# -- sign-in ------------------------------------------------------------------------------------
def test_signs_in_once_per_terminal_and_day(
    center: RunningCenter, make_client: ClientFactory, tmp_path: Path
) -> None:
    journal = tmp_path / "signin.db"
    first = make_client(opter="0101", journal=journal)
    lookup(first, center)
    lookup(first, center)
    assert len(sign_ins(first)) == 1
    # a new process of the same terminal uses the cached sign_no
    again = make_client(opter="0101", journal=journal)
    lookup(again, center)
    assert len(sign_ins(again)) == 1
    # a new day (Asia/Shanghai) signs in again
    tomorrow = make_client(
        opter="0101", journal=journal, clock=lambda: shanghai_now() + dt.timedelta(days=1)
    )
    lookup(tomorrow, center)
    assert len(sign_ins(tomorrow)) == 2


def test_signs_in_again_when_the_center_no_longer_knows_the_sign_no(
    center: RunningCenter, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(opter="0102", journal=tmp_path / "stale.db")
    client.journal.store_sign_no(
        HOSPITAL, "0102", client.today(), "2026010100000000000000000000", None
    )
    info = lookup(client, center)
    assert info.baseinfo.psn_no == center.person("normal")["psn_no"]
    entries = client.journal.entries()
    assert [(e.infno, e.status) for e in entries] == [
        ("1101", Status.FAIL),  # refused for its sign_no: booked nothing
        ("9001", Status.SUCCESS),
        ("1101", Status.SUCCESS),  # the same query, under a new msgid
    ]
    assert "9001" in (entries[0].err_msg or "")
    assert entries[0].msgid != entries[2].msgid
    # signed out: the next message signs in again
    client.sign_out()
    lookup(client, center)
    assert len(sign_ins(client)) == 2


def test_a_wrong_secret_is_refused_with_the_centers_reason(
    center: RunningCenter, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(secret="not-the-secret", journal=tmp_path / "bad.db")
    with pytest.raises(CenterRefused) as caught:
        lookup(client, center)
    assert caught.value.exit_code == ExitCode.CENTER_REFUSED
    assert "签名" in caught.value.err_msg and caught.value.infno == "9001"
    [entry] = client.journal.entries()
    assert entry.infno == "9001" and entry.status is Status.FAIL and entry.infcode == -1


# -- 1101 ---------------------------------------------------------------------------------------
def test_person_information_of_a_seeded_person(
    center: RunningCenter, make_client: ClientFactory
) -> None:
    client = make_client()
    normal = center.person("normal")
    info = lookup(client, center)
    assert info.baseinfo.psn_no == normal["psn_no"]
    assert info.baseinfo.certno == normal["id_number"] and info.baseinfo.psn_name == "张三"
    assert info.ref == PersonRef(normal["psn_no"], "330200")
    employee = info.insurance("310")
    assert employee is not None and employee.active
    assert isinstance(employee.balc, Decimal) and employee.balc >= 0
    # the journal keeps the answer masked
    entry = client.journal.get(client.last_msgid or "")
    assert entry is not None and entry.response is not None
    kept = entry.response["output"]["baseinfo"]
    assert kept["certno"] != normal["id_number"] and kept["certno"].endswith(
        normal["id_number"][-4:]
    )
    assert kept["psn_name"] == "张*"
    # by ID number too
    by_id = client.person_info("02", normal["id_number"])
    assert by_id.baseinfo.psn_no == normal["psn_no"]


@pytest.mark.parametrize("key", ["lost_card", "replaced_card"])
def test_a_card_that_cannot_be_used_is_refused_with_the_centers_reason(
    center: RunningCenter, make_client: ClientFactory, key: str
) -> None:
    client = make_client()
    cards = center.person(key)["cards"]
    unusable = next(c for c in cards if c["status"] != "active")
    with pytest.raises(CenterRefused) as caught:
        client.person_by_card(unusable["card_no"], unusable["card_sn"])
    assert caught.value.err_msg and " / " in caught.value.err_msg


def test_a_suspended_person_shows_in_insuinfo(
    center: RunningCenter, make_client: ClientFactory
) -> None:
    client = make_client()
    info = lookup(client, center, "lapsed")
    assert all(not i.active for i in info.insuinfo)
    assert {i.psn_insu_stas for i in info.insuinfo} == {"2"}


# -- outpatient ---------------------------------------------------------------------------------
def test_outpatient_visit_settlement_and_refund(
    center: RunningCenter, make_client: ClientFactory
) -> None:
    client = make_client()
    person, _ = insured(center, balance="500.00")
    info = client.person_by_card(person.card_no or "", person.card_sn or "")
    ref = info.ref
    visit = client.register(
        ref,
        insutype="310",
        mdtrt_cert_type="03",
        mdtrt_cert_no=person.card_no or "",
        card_sn=person.card_sn,
        ipt_otp_no="OP-1",
        dept_code="A01",
        dept_name="内科",
        dr_name="李医生",
    )
    assert visit.psn_no == ref.psn_no and len(visit.mdtrt_id) == 30
    client.visit_info(
        ref,
        visit.mdtrt_id,
        med_type="11",
        dise_codg="J06.900",
        dise_name="上呼吸道感染",
        diagnoses=[Diagnosis("J06.900", "上呼吸道感染")],
    )
    now = shanghai_now()
    lines = [
        FeeDetail(
            "1", CLASS_A_SERVICE, "H-1", Decimal("1"), Decimal("30.00"), Decimal("30.00"), now
        ),
        FeeDetail(
            "2", CLASS_B_DRUG, "H-2", Decimal("2"), Decimal("600.00"), Decimal("1200.00"), now
        ),
        FeeDetail("3", CLASS_C, "H-3", Decimal("1"), Decimal("100.00"), Decimal("100.00"), now),
        FeeDetail("4", CLASS_A_DRUG, "H-4", Decimal("4"), Decimal("12.5"), Decimal("50.00"), now),
    ]
    split = client.upload_fees(ref, visit.mdtrt_id, lines)
    assert [r.feedetl_sn for r in split] == ["1", "2", "3", "4"]
    assert split[0].overlmt_amt == Decimal("5.00") and split[2].fulamt_ownpay_amt == Decimal("100")
    total = sum((line.det_item_fee_sumamt for line in lines), Decimal("0"))
    settle_args: dict[str, Any] = {
        "mdtrt_id": visit.mdtrt_id,
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": person.card_no or "",
        "medfee_sumamt": total,
        "insutype": "310",
    }
    pre = client.pre_settle(OutpatientSettlement(ref, **settle_args))
    check_money(pre.setlinfo)
    assert pre.setlinfo.setl_id is None
    assert pre.setlinfo.acct_pay == Decimal("500.00")
    settled = client.settle(OutpatientSettlement(ref, **settle_args))
    settle_msgid = client.last_msgid
    setl = settled.setlinfo
    check_money(setl)
    assert setl.setl_id and setl.medins_setl_id == settle_msgid
    assert setl.acct_pay == pre.setlinfo.acct_pay and setl.psn_cash_pay == pre.setlinfo.psn_cash_pay
    assert settled.setldetail and settled.setldetail[0].fund_pay_type == "310100"
    assert center.balance(ref.psn_no) == Decimal("0.00")
    entry = client.journal.get(settle_msgid or "")
    assert entry is not None and entry.status is Status.SUCCESS and entry.setl_id == setl.setl_id
    # the center's view by 5203
    found = client.settlement_query(ref, setl_id=setl.setl_id)
    assert found.setlinfo is not None and found.setlinfo.setl_stas == "valid"
    # refund
    refund = client.cancel_settlement(ref, setl_id=setl.setl_id or "", mdtrt_id=visit.mdtrt_id)
    assert refund.setlinfo.is_refund and refund.setlinfo.medfee_sumamt == -total
    assert center.balance(ref.psn_no) == Decimal("500.00")
    after = client.settlement_query(ref, setl_id=setl.setl_id)
    assert after.setlinfo is not None and after.setlinfo.setl_stas == "cancelled"
    # the details are open again: withdraw them and cancel the visit
    withdrawn = client.withdraw_fees(ref, visit.mdtrt_id)
    assert withdrawn.withdrawn == 4
    client.cancel_registration(ref, visit.mdtrt_id, "OP-1")
    with pytest.raises(CenterRefused):
        client.upload_fees(ref, visit.mdtrt_id, lines[:1])


def test_kiosk_registration_fee(center: RunningCenter, make_client: ClientFactory) -> None:
    kiosk = make_client(opter="K001", opter_type=OpterType.KIOSK)
    person, _ = insured(center, balance="5.00")
    ref = kiosk.person_by_card(person.card_no or "", person.card_sn or "").ref
    visit = kiosk.register(
        ref, insutype="310", mdtrt_cert_type="03", mdtrt_cert_no=person.card_no or "",
        ipt_otp_no="Q-17", med_type="12",
    )  # fmt: skip
    fee = FeeDetail("1", "001101000010000", "REG", Decimal(1), Decimal("12.00"), Decimal("12.00"),
                    shanghai_now())  # fmt: skip
    kiosk.upload_fees(ref, visit.mdtrt_id, [fee])
    args: dict[str, Any] = {
        "mdtrt_id": visit.mdtrt_id,
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": person.card_no or "",
        "medfee_sumamt": Decimal("12.00"),
        "insutype": "310",
        "med_type": "12",
    }
    pre = kiosk.pre_settle(OutpatientSettlement(ref, **args))
    check_money(pre.setlinfo)
    settled = kiosk.settle(OutpatientSettlement(ref, **args))
    check_money(settled.setlinfo)
    sent = kiosk.journal.get(kiosk.last_msgid or "")
    assert (
        sent is not None and sent.request["opter_type"] == "2" and sent.request["opter"] == "K001"
    )


def test_a_settlement_reversed_on_purpose(
    center: RunningCenter, make_client: ClientFactory
) -> None:
    """E.g. the card record could not be written after 2207: the terminal reverses it."""
    client = make_client()
    person, _ = insured(center, balance="80.00")
    ref = client.person_by_card(person.card_no or "", person.card_sn or "").ref
    visit = client.register(
        ref, insutype="310", mdtrt_cert_type="03", mdtrt_cert_no=person.card_no or "",
        ipt_otp_no="OP-9",
    )  # fmt: skip
    line = FeeDetail("1", CLASS_A_DRUG, "D", Decimal(1), Decimal("60.00"), Decimal("60.00"),
                     shanghai_now())  # fmt: skip
    client.upload_fees(ref, visit.mdtrt_id, [line])
    settled = client.settle(OutpatientSettlement(
        ref, mdtrt_id=visit.mdtrt_id, mdtrt_cert_type="03", mdtrt_cert_no=person.card_no or "",
        medfee_sumamt=Decimal("60.00"), insutype="310",
    ))  # fmt: skip
    msgid = client.last_msgid or ""
    assert center.balance(ref.psn_no) == Decimal("80.00") - settled.setlinfo.acct_pay
    reversal = reverse(client, msgid)
    assert reversal.rvs_stas == "reversed" and reversal.omsgid == msgid
    entry = client.journal.get(msgid)
    assert entry is not None and entry.status is Status.SUCCESS and not entry.booked
    assert entry.resolution is Resolution.REVERSED
    assert center.balance(ref.psn_no) == Decimal("80.00")
    found = client.settlement_query(ref, setl_id=settled.setlinfo.setl_id)
    assert found.setlinfo is not None and found.setlinfo.setl_stas == "reversed"
    with pytest.raises(JournalError):
        reverse(client, msgid)  # once is enough: nothing is sent
    with pytest.raises(JournalError):
        reverse(client, client.journal.entries(infno="2204")[-1].msgid)


# -- pharmacy -----------------------------------------------------------------------------------
def test_pharmacy_purchase_and_cancel(center: RunningCenter, make_client: ClientFactory) -> None:
    pharmacy = make_client(PHARMACY)
    person, _ = insured(center, balance="100.00")
    ref = pharmacy.person_by_card(person.card_no or "", person.card_sn or "").ref
    lines = [
        DrugDetail("1", CLASS_A_DRUG, "Y-1", Decimal("3"), Decimal("10.00"), Decimal("30.00")),
        DrugDetail("2", CLASS_B_DRUG, "Y-2", Decimal("1"), Decimal("8.50"), Decimal("8.50")),
    ]
    args: dict[str, Any] = {
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": person.card_no or "",
        "card_sn": person.card_sn,
        "insutype": "310",
        "lines": lines,
    }
    pre = pharmacy.pharmacy_pre_settle(DrugSale(ref, **args))
    check_money(pre.setlinfo)
    assert pre.setlinfo.medfee_sumamt == Decimal("38.50") and len(pre.detlcutinfo) == 2
    sold = pharmacy.pharmacy_settle(DrugSale(ref, **args))
    check_money(sold.setlinfo)
    assert sold.setlinfo.setl_id and sold.setlinfo.mdtrt_id
    assert sold.setlinfo.acct_pay == pre.setlinfo.acct_pay
    balance = center.balance(ref.psn_no)
    assert balance == Decimal("100.00") - sold.setlinfo.acct_pay
    cancelled = pharmacy.pharmacy_cancel(
        ref, setl_id=sold.setlinfo.setl_id or "", mdtrt_id=sold.setlinfo.mdtrt_id or ""
    )
    assert cancelled.setlinfo.is_refund
    assert center.balance(ref.psn_no) == Decimal("100.00")


# -- queries, reconciliation --------------------------------------------------------------------
def test_special_disease_filings(center: RunningCenter, make_client: ClientFactory) -> None:
    client = make_client()
    info = lookup(client, center, "special_disease")
    [filing] = client.filings(info.ref)
    assert filing.opsp_dise_code == "M03900"


def test_the_journal_and_the_centers_books_agree(
    center: RunningCenter, make_client: ClientFactory
) -> None:
    """3201 with the journal's totals, and 3202 with its rows, for everything this
    module settled (every client of an institution shares one journal)."""
    today = shanghai_now().date()
    kiosk = make_client(opter="K001", opter_type=OpterType.KIOSK)  # the hospital's other terminal
    for code, clr_type, others in ((HOSPITAL, "11", [kiosk]), (PHARMACY, "41", [])):
        client = make_client(code)
        journals = [other.journal for other in others]
        own = client.journal_books(today, today, insutype="310", clr_type=clr_type)
        books = client.journal_books(
            today, today, insutype="310", clr_type=clr_type, others=journals
        )
        assert own.count >= 2 and books.count >= own.count, code
        alone = client.reconcile_journal(insutype="310", begin=today, end=today, clr_type=clr_type)
        assert alone.stmtinfo.balanced is (books == own)
        totals = client.reconcile_journal(
            insutype="310", begin=today, end=today, clr_type=clr_type, others=journals
        )
        assert totals.stmtinfo.balanced, totals.stmtinfo.stmt_rslt_dscr
        assert totals.stmtinfo.fixmedins_setl_cnt == books.count
        rows = [
            ReconcileRow(
                setl_id=e.setl_id or "",
                medfee_sumamt=Decimal(str(e.setlinfo["medfee_sumamt"])),
                fund_pay_sumamt=Decimal(str(e.setlinfo["fund_pay_sumamt"])),
                acct_pay=Decimal(str(e.setlinfo["acct_pay"])),
                mdtrt_id=e.mdtrt_id,
                psn_no=e.psn_no,
                msgid=e.msgid,
                refd_setl_flag="1" if e.infno in ("2208", "2103") else "0",
            )
            for c in (client, *others)
            for e in c.journal.entries()
            if e.booked and e.infno in ("2207", "2208", "2102", "2103") and e.setlinfo
        ]
        details = client.reconcile_details(
            begin=today, end=today, rows=rows, insutype="310", clr_type=clr_type
        )
        assert details.stmtinfo.balanced, [r for r in details.result if r.stmt_rslt != "0"]
        assert len(details.result) == len(rows)
        # a wrong total is noticed
        wrong = client.reconcile_totals(
            insutype="310", begin=today, end=today, clr_type=clr_type,
            medfee_sumamt=books.medfee_sumamt + 1, fund_pay_sumamt=books.fund_pay_sumamt,
            acct_pay=books.acct_pay, count=books.count,
        )  # fmt: skip
        assert not wrong.stmtinfo.balanced
