"""Faults between the terminal and the center, through a real TCP proxy
(fault_proxy.py) in front of the real center: an answer lost after the center
booked, a message lost before it, the center down, an answer too late, a
reversal whose own answer is lost, and a terminal killed while it waits.

Each ends with the journal settled by resolve() - 5203 confirms or 2601
reverses - and the center's books agreeing with the journal: every settlement
booked once or not at all, never twice (settlement-interface.md, "Journal
rule from robust clients")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sscard_terminal.errors import ExitCode
from sscard_terminal.settlement import (
    CenterRefused,
    CenterUnavailable,
    OutcomeUnknown,
    Resolution,
    SettlementClient,
    Status,
)
from sscard_terminal.settlement.inputs import DrugSale, OutpatientSettlement
from sscard_terminal.settlement.models import DrugDetail, FeeDetail
from sscard_terminal.settlement.resolution import resolve
from tests.settlement.fault_proxy import FaultProxy
from tests.settlement.settlement_fixtures import (
    CLASS_A_DRUG,
    HOSPITAL,
    PHARMACY,
    ClientFactory,
    RunningCenter,
    insured,
    shanghai_now,
)

HERE = Path(__file__).parent


class Visit:
    """A registered visit with uploaded fees, ready for 2207."""

    def __init__(self, client: SettlementClient, center: RunningCenter, price: str) -> None:
        person, _ = insured(center, balance="1000.00")
        self.card_no = person.card_no or ""
        self.ref = client.person_by_card(self.card_no, person.card_sn or "").ref
        self.mdtrt_id = client.register(
            self.ref, insutype="310", mdtrt_cert_type="03", mdtrt_cert_no=self.card_no,
            ipt_otp_no="OP",
        ).mdtrt_id  # fmt: skip
        self.total = Decimal(price)
        client.upload_fees(
            self.ref,
            self.mdtrt_id,
            [FeeDetail("1", CLASS_A_DRUG, "D", Decimal(1), self.total, self.total, shanghai_now())],
        )

    def settle(self, client: SettlementClient) -> Any:
        return client.settle(
            OutpatientSettlement(
                self.ref,
                mdtrt_id=self.mdtrt_id,
                mdtrt_cert_type="03",
                mdtrt_cert_no=self.card_no,
                medfee_sumamt=self.total,
                insutype="310",
            )
        )


def settlements_of_visit(center: RunningCenter, mdtrt_id: str) -> list[tuple[str, str]]:
    """The center's settlement rows of a visit: (kind, status)."""
    with center.db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, status FROM settlements WHERE mdtrt_id = :m ORDER BY setl_time"),
            {"m": mdtrt_id},
        )
        return [(r[0], r[1]) for r in rows]


def books_agree(client: SettlementClient, clr_type: str) -> None:
    """3201 with the journal's totals: balanced; nothing left open."""
    today = shanghai_now().date()
    totals = client.reconcile_journal(insutype="310", begin=today, end=today, clr_type=clr_type)
    assert totals.stmtinfo.balanced, totals.stmtinfo.stmt_rslt_dscr
    assert client.journal.open_entries() == []


@pytest.fixture
def hospital(make_client: ClientFactory) -> SettlementClient:
    """The hospital terminal, straight to the center."""
    return make_client(HOSPITAL)


@pytest.fixture
def via_proxy(make_client: ClientFactory, proxy: FaultProxy) -> SettlementClient:
    """The same terminal (same journal), through the fault proxy, 1 s timeout."""
    return make_client(HOSPITAL, url=proxy.base_url, timeout=1.0)


def test_answer_lost_after_booking_is_confirmed_by_5203(
    center: RunningCenter,
    hospital: SettlementClient,
    via_proxy: SettlementClient,
    proxy: FaultProxy,
) -> None:
    visit = Visit(hospital, center, "300.00")
    proxy.arm("2207", "drop_answer")
    with pytest.raises(OutcomeUnknown) as caught:
        visit.settle(via_proxy)
    assert caught.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    msgid = caught.value.msgid
    entry = hospital.journal.get(msgid)
    assert entry is not None and entry.status is Status.UNKNOWN and entry.is_open
    assert settlements_of_visit(center, visit.mdtrt_id) == [("settle", "valid")]  # booked

    report = resolve(hospital)
    assert report.ok
    [outcome] = [o for o in report.outcomes if o.msgid == msgid]
    assert outcome.action == "confirmed" and outcome.status == "SUCCESS"
    entry = hospital.journal.get(msgid)
    assert entry is not None and entry.resolution is Resolution.CONFIRMED and entry.booked
    assert entry.setl_id and entry.setlinfo and entry.setlinfo["medins_setl_id"] == msgid
    lookup = hospital.journal.get(entry.resolved_by or "")
    assert lookup is not None and lookup.infno == "5203" and lookup.resolves == msgid
    found = hospital.settlement_query(visit.ref, setl_id=entry.setl_id)
    assert found.setlinfo is not None and found.setlinfo.setl_stas == "valid"
    # never twice: nothing is left to settle, and the center holds one settlement
    with pytest.raises(CenterRefused):
        visit.settle(hospital)
    assert settlements_of_visit(center, visit.mdtrt_id) == [("settle", "valid")]
    books_agree(hospital, "11")


def test_message_lost_before_the_center_is_reversed_and_barred(
    center: RunningCenter,
    hospital: SettlementClient,
    via_proxy: SettlementClient,
    proxy: FaultProxy,
) -> None:
    visit = Visit(hospital, center, "200.00")
    proxy.arm("2207", "blackhole")
    with pytest.raises(OutcomeUnknown) as caught:
        visit.settle(via_proxy)
    msgid = caught.value.msgid
    assert settlements_of_visit(center, visit.mdtrt_id) == []

    report = resolve(hospital)
    assert report.ok
    entry = hospital.journal.get(msgid)
    assert entry is not None and entry.resolution is Resolution.REVERSED
    assert entry.status is Status.FAIL and not entry.booked  # it never arrived
    infnos = [r.infno for r in hospital.journal.resolvers_of(msgid)]
    assert infnos == ["5203", "2601"]
    # the lost message arriving late is refused: it cannot book any more
    late = httpx.post(
        center.base_url + "/fsi/api/rsfComIfsService/callService",
        content=proxy.bodies[msgid],
        headers={"content-type": "application/json"},
    ).json()
    assert late["infcode"] == -1 and late["err_code"] == "reversal.barred"
    assert settlements_of_visit(center, visit.mdtrt_id) == []
    balance = center.balance(visit.ref.psn_no)
    # the terminal settles the visit anew, once
    settled = visit.settle(hospital)
    assert settlements_of_visit(center, visit.mdtrt_id) == [("settle", "valid")]
    assert center.balance(visit.ref.psn_no) == balance - settled.setlinfo.acct_pay
    books_agree(hospital, "11")


def test_center_down_books_nothing_and_leaves_nothing_open(
    center: RunningCenter,
    hospital: SettlementClient,
    via_proxy: SettlementClient,
    proxy: FaultProxy,
) -> None:
    visit = Visit(hospital, center, "150.00")
    proxy.stop()
    try:
        with pytest.raises(CenterUnavailable) as caught:
            visit.settle(via_proxy)
    finally:
        proxy.start()
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    entry = hospital.journal.get(caught.value.msgid)
    assert (
        entry is not None and entry.status is Status.FAIL and "not delivered" in (entry.error or "")
    )
    assert hospital.journal.open_entries() == []
    visit.settle(via_proxy)  # the center is back
    assert settlements_of_visit(center, visit.mdtrt_id) == [("settle", "valid")]
    books_agree(hospital, "11")


def test_an_answer_too_late_can_be_reversed_instead_of_confirmed(
    center: RunningCenter,
    hospital: SettlementClient,
    via_proxy: SettlementClient,
    proxy: FaultProxy,
) -> None:
    visit = Visit(hospital, center, "120.00")
    before = center.balance(visit.ref.psn_no)
    proxy.arm("2207", "delay", delay=2.5)
    with pytest.raises(OutcomeUnknown) as caught:
        visit.settle(via_proxy)
    msgid = caught.value.msgid
    assert center.balance(visit.ref.psn_no) < before  # the center booked it
    report = resolve(hospital, confirm_booked=False)
    assert report.ok
    entry = hospital.journal.get(msgid)
    assert entry is not None and entry.resolution is Resolution.REVERSED
    assert entry.status is Status.SUCCESS and not entry.booked  # booked, then reversed
    assert settlements_of_visit(center, visit.mdtrt_id) == [("settle", "reversed")]
    assert center.balance(visit.ref.psn_no) == before
    books_agree(hospital, "11")


def test_a_registration_whose_answer_is_lost_is_reversed(
    center: RunningCenter,
    hospital: SettlementClient,
    via_proxy: SettlementClient,
    proxy: FaultProxy,
) -> None:
    person, _ = insured(center)
    ref = hospital.person_by_card(person.card_no or "", person.card_sn or "").ref
    proxy.arm("2201", "drop_answer")
    with pytest.raises(OutcomeUnknown) as caught:
        via_proxy.register(
            ref, insutype="310", mdtrt_cert_type="03", mdtrt_cert_no=person.card_no or "",
            ipt_otp_no="OP",
        )  # fmt: skip
    report = resolve(hospital)
    assert report.ok
    entry = hospital.journal.get(caught.value.msgid)
    assert entry is not None and entry.resolution is Resolution.REVERSED
    assert entry.status is Status.SUCCESS  # 2601 said: it had been booked, now reversed
    with center.db.engine.connect() as conn:
        statuses = [r[0] for r in conn.execute(
            text("SELECT status FROM visits WHERE psn_no = :p"), {"p": ref.psn_no}
        )]  # fmt: skip
    assert statuses == ["reversed"]


def test_a_reversal_whose_answer_is_lost_is_finished_by_another(
    center: RunningCenter,
    hospital: SettlementClient,
    via_proxy: SettlementClient,
    proxy: FaultProxy,
) -> None:
    visit = Visit(hospital, center, "90.00")
    proxy.arm("2207", "blackhole")
    with pytest.raises(OutcomeUnknown) as caught:
        visit.settle(via_proxy)
    msgid = caught.value.msgid
    # resolution through the proxy: 5203 answers (unknown), the 2601's answer is lost
    proxy.arm("2601", "drop_answer")
    first = resolve(via_proxy)
    assert not first.ok and [o.msgid for o in first.still_open] == [msgid]
    [lost_reversal] = [r for r in hospital.journal.resolvers_of(msgid) if r.infno == "2601"]
    assert lost_reversal.status is Status.UNKNOWN
    # the next run never "confirms" what a reversal may have hit: it reverses again
    second = resolve(hospital)
    assert second.ok
    entry = hospital.journal.get(msgid)
    assert entry is not None and entry.resolution is Resolution.REVERSED and not entry.booked
    resolvers = hospital.journal.resolvers_of(msgid)
    assert [r.infno for r in resolvers] == ["5203", "2601", "2601"]
    orphan = hospital.journal.get(lost_reversal.msgid)
    assert orphan is not None and orphan.resolution is Resolution.CONFIRMED
    assert settlements_of_visit(center, visit.mdtrt_id) == []
    books_agree(hospital, "11")


def test_pharmacy_settlement_and_cancellation_with_lost_answers(
    center: RunningCenter, make_client: ClientFactory, proxy: FaultProxy
) -> None:
    pharmacy = make_client(PHARMACY)
    shaky = make_client(PHARMACY, url=proxy.base_url, timeout=1.0)
    person, _ = insured(center, balance="100.00")
    ref = pharmacy.person_by_card(person.card_no or "", person.card_sn or "").ref
    sale: dict[str, Any] = {
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": person.card_no or "",
        "insutype": "310",
        "lines": [
            DrugDetail("1", CLASS_A_DRUG, "Y", Decimal(2), Decimal("20.00"), Decimal("40.00"))
        ],
    }
    pre = pharmacy.pharmacy_pre_settle(DrugSale(ref, **sale))
    proxy.arm("2102", "drop_answer")
    with pytest.raises(OutcomeUnknown) as caught:
        shaky.pharmacy_settle(DrugSale(ref, **sale))
    assert resolve(pharmacy).ok
    entry = pharmacy.journal.get(caught.value.msgid)
    assert entry is not None and entry.resolution is Resolution.CONFIRMED and entry.booked
    assert entry.setlinfo is not None
    assert Decimal(str(entry.setlinfo["acct_pay"])) == pre.setlinfo.acct_pay
    assert center.balance(ref.psn_no) == Decimal("100.00") - pre.setlinfo.acct_pay
    books_agree(pharmacy, "41")
    # the cancellation's answer is lost too: 5203 by its msgid confirms the refund
    proxy.arm("2103", "drop_answer")
    with pytest.raises(OutcomeUnknown) as cancel:
        shaky.pharmacy_cancel(ref, setl_id=entry.setl_id or "", mdtrt_id=entry.mdtrt_id or "")
    assert resolve(pharmacy).ok
    refund = pharmacy.journal.get(cancel.value.msgid)
    assert refund is not None and refund.resolution is Resolution.CONFIRMED and refund.booked
    assert refund.setlinfo is not None and refund.setlinfo["refd_setl_flag"] == "1"
    assert center.balance(ref.psn_no) == Decimal("100.00")
    books_agree(pharmacy, "41")


def test_a_terminal_killed_while_waiting_is_settled_at_start_up(
    center: RunningCenter,
    hospital: SettlementClient,
    proxy: FaultProxy,
    slots: dict[str, int],
    tmp_path: Path,
) -> None:
    visit = Visit(hospital, center, "250.00")
    secret_file = tmp_path / "secret"
    secret_file.write_text(hospital.institution.secret + "\n")
    secret_file.chmod(0o600)
    args = {
        "url": proxy.base_url,
        "code": HOSPITAL,
        "name": hospital.institution.fixmedins_name,
        "admvs": hospital.institution.mdtrtarea_admvs,
        "secret_file": str(secret_file),
        "opter": hospital.operator.opter,
        "journal": str(hospital.journal.path),
        "slot": slots[str(hospital.journal.path)],
        "psn_no": visit.ref.psn_no,
        "insuplc_admdvs": visit.ref.insuplc_admdvs,
        "mdtrt_id": visit.mdtrt_id,
        "card_no": visit.card_no,
        "total": str(visit.total),
    }
    (tmp_path / "args.json").write_text(json.dumps(args))
    proxy.arm("2207", "hold")  # forwarded and booked; the answer is held back
    terminal = subprocess.Popen(
        [sys.executable, str(HERE / "crash_terminal.py"), str(tmp_path / "args.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.held.wait(30), terminal.stderr.read() if terminal.stderr else ""
        [pending] = hospital.journal.open_entries()
        assert pending.status is Status.PENDING and pending.pid == terminal.pid
        # while that terminal lives, resolution leaves its message alone
        busy = resolve(hospital)
        assert [o.action for o in busy.outcomes] == ["skipped"]
        assert hospital.journal.get(pending.msgid).is_open  # type: ignore[union-attr]
        os.kill(terminal.pid, signal.SIGKILL)
        terminal.wait(10)
    finally:
        if terminal.poll() is None:
            terminal.kill()
        proxy.release()
    assert settlements_of_visit(center, visit.mdtrt_id) == [("settle", "valid")]
    # start-up: the PENDING entry of the dead process is settled
    restarted = SettlementClient(
        center.base_url,
        hospital.institution,
        hospital.operator,
        hospital.journal.path,
        msgid_slot=slots[str(hospital.journal.path)],
    )
    with restarted:
        report = resolve(restarted)
    assert report.ok and [o.action for o in report.outcomes] == ["confirmed"]
    entry = hospital.journal.get(pending.msgid)
    assert entry is not None and entry.status is Status.SUCCESS and entry.booked
    assert settlements_of_visit(center, visit.mdtrt_id) == [("settle", "valid")]
    books_agree(hospital, "11")


def test_the_day_reconciles(center: RunningCenter, make_client: ClientFactory) -> None:
    """After every fault above: the center's books and the journals agree, and
    nothing is open."""
    books_agree(make_client(HOSPITAL), "11")
    books_agree(make_client(PHARMACY), "41")
