"""The journal's state machine (settlement-interface.md, "Journal rule from
robust clients"): PENDING before sending, then SUCCESS, FAIL or UNKNOWN;
resolution; masking; the msgid counter across restarts; a PENDING entry left
behind by a killed process."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sscard_terminal.settlement import envelope as env
from sscard_terminal.settlement.envelope import SHANGHAI, OpterType, RequestParty
from sscard_terminal.settlement.errors import JournalError
from sscard_terminal.settlement.journal import (
    CardRecordState,
    Journal,
    Resolution,
    Status,
    mask_for_journal,
)

PARTY = RequestParty(
    "H33020300001", "宁波市第一医院", "330203", OpterType.OPERATOR, "0001", "王小明"
)
SECRET = "the-institutions-secret-never-stored"
ID_NUMBER = "330203199001011236"


def request(journal: Journal, infno: str, payload: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.now(SHANGHAI)
    seq, moment = journal.allocate(now)
    return env.build_request(
        infno,
        payload,
        party=PARTY,
        msgid=env.make_msgid(PARTY.fixmedins_code, moment, seq % 10000),
        inf_time=now,
        secret=SECRET,
        sign_no="S1",
        insuplc_admdvs="330200",
    )


def answer(infcode: int | str, output: dict[str, Any] | None = None, err: str | None = None) -> Any:
    return env.parse_response({"infcode": infcode, "output": output or {}, "err_msg": err})


SETTLE = {"data": {"psn_no": "P001", "mdtrt_id": "M001", "medfee_sumamt": Decimal("30.00")}}
SETLINFO = {
    "setl_id": "S001",
    "mdtrt_id": "M001",
    "psn_no": "P001",
    "insutype": "310",
    "clr_type": "11",
    "medfee_sumamt": Decimal("30.00"),
    "fund_pay_sumamt": Decimal("10.00"),
    "psn_part_amt": Decimal("20.00"),
    "acct_pay": Decimal("15.00"),
    "psn_cash_pay": Decimal("5.00"),
    "setl_time": "2026-05-09 10:00:00",
    "medins_setl_id": "x",
}


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.db")


def test_sqlite_is_durable(journal: Journal) -> None:
    conn = sqlite3.connect(journal.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()


def test_pending_then_success(journal: Journal) -> None:
    req = request(journal, "2207", SETTLE)
    journal.add_pending(req)
    entry = journal.get(req["msgid"])
    assert entry is not None and entry.status is Status.PENDING and entry.is_open
    assert entry.psn_no == "P001" and entry.mdtrt_id == "M001" and entry.kind == "booking"
    assert entry.pid == os.getpid()
    assert (
        journal.mark_answered(req["msgid"], answer("0", {"setlinfo": SETLINFO})) is Status.SUCCESS
    )
    entry = journal.get(req["msgid"])
    assert entry is not None and entry.status is Status.SUCCESS and not entry.is_open
    assert entry.booked and entry.infcode == 0 and entry.setl_id == "S001"
    assert entry.setlinfo is not None and entry.setlinfo["acct_pay"] == Decimal("15.00")


def test_pending_then_fail_and_unknown_and_not_sent(journal: Journal) -> None:
    refused, lost, undelivered = (request(journal, "2207", SETTLE) for _ in range(3))
    for req in (refused, lost, undelivered):
        journal.add_pending(req)
    assert journal.mark_answered(refused["msgid"], answer(-1, err="不行 / no")) is Status.FAIL
    journal.mark_unknown(lost["msgid"], "no answer: ReadTimeout")
    journal.mark_not_sent(undelivered["msgid"], "not delivered: ConnectError")
    by_msgid = {e.msgid: e for e in journal.entries()}
    assert by_msgid[refused["msgid"]].status is Status.FAIL
    assert by_msgid[refused["msgid"]].err_msg == "不行 / no"
    assert by_msgid[lost["msgid"]].status is Status.UNKNOWN
    assert by_msgid[lost["msgid"]].is_open
    assert by_msgid[undelivered["msgid"]].status is Status.FAIL
    assert [e.msgid for e in journal.open_entries()] == [lost["msgid"]]


def test_illegal_transitions_are_refused(journal: Journal) -> None:
    req = request(journal, "2207", SETTLE)
    journal.add_pending(req)
    journal.mark_answered(req["msgid"], answer(0, {"setlinfo": SETLINFO}))
    with pytest.raises(JournalError):
        journal.mark_unknown(req["msgid"], "late")
    with pytest.raises(JournalError):
        journal.mark_answered(req["msgid"], answer(-1))
    with pytest.raises(JournalError):
        journal.close_entry(req["msgid"], Resolution.CONFIRMED)
    with pytest.raises(JournalError):
        journal.add_pending(req)  # the same msgid twice
    with pytest.raises(JournalError):
        journal.mark_unknown("H33020300001000000000000000000", "never written")


def test_resolution_of_an_unknown_settlement(journal: Journal) -> None:
    original, lookup = request(journal, "2207", SETTLE), None
    journal.add_pending(original)
    journal.mark_unknown(original["msgid"], "no answer")
    lookup = request(journal, "5203", {"data": {"psn_no": "P001"}})
    journal.add_pending(lookup, resolves=original["msgid"])
    journal.mark_answered(lookup["msgid"], answer(0, {"setlinfo": SETLINFO}))
    journal.close_entry(
        original["msgid"],
        Resolution.CONFIRMED,
        status=Status.SUCCESS,
        resolved_by=lookup["msgid"],
        note="5203: booked",
        response={"infcode": 0, "output": {"setlinfo": SETLINFO}},
    )
    entry = journal.get(original["msgid"])
    assert entry is not None and not entry.is_open and entry.booked
    assert entry.resolution is Resolution.CONFIRMED and entry.resolved_by == lookup["msgid"]
    assert entry.setl_id == "S001"
    assert [r.msgid for r in journal.resolvers_of(original["msgid"])] == [lookup["msgid"]]
    # a confirmed settlement can still be reversed on purpose, but only once
    journal.close_entry(original["msgid"], Resolution.REVERSED, resolved_by="R1")
    entry = journal.get(original["msgid"])
    assert entry is not None and entry.status is Status.SUCCESS and not entry.booked
    with pytest.raises(JournalError):
        journal.close_entry(original["msgid"], Resolution.REVERSED, resolved_by="R2")


def test_an_unknown_reversed_without_knowing_stays_unknown_but_closed(journal: Journal) -> None:
    req = request(journal, "2201", {"data": {"psn_no": "P001"}})
    journal.add_pending(req)
    journal.mark_unknown(req["msgid"], "no answer")
    journal.close_entry(req["msgid"], Resolution.REVERSED, resolved_by="R1", note="2601")
    entry = journal.get(req["msgid"])
    assert entry is not None and entry.status is Status.UNKNOWN and not entry.is_open
    assert not entry.booked


def test_id_numbers_names_and_the_secret_are_not_stored(journal: Journal) -> None:
    req = request(
        journal,
        "1101",
        {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": ID_NUMBER, "psn_name": "张三丰"}},
    )
    journal.add_pending(req)
    journal.mark_answered(
        req["msgid"],
        answer(
            0,
            {
                "baseinfo": {"psn_no": "P001", "certno": ID_NUMBER, "psn_name": "张三丰"},
                "insuinfo": [],
            },
        ),
    )
    entry = journal.get(req["msgid"])
    assert entry is not None
    assert entry.request["input"]["data"]["mdtrt_cert_no"] == "330203********1236"
    assert entry.request["input"]["data"]["psn_name"] == "张**"
    assert entry.request["opter_name"] == "王**"
    assert "cainfo" not in entry.request
    assert entry.response is not None
    assert entry.response["output"]["baseinfo"]["certno"] == "330203********1236"
    assert entry.response["output"]["baseinfo"]["psn_name"] == "张**"
    journal.close()
    stored = b"".join(p.read_bytes() for p in journal.path.parent.iterdir() if p.is_file())
    assert ID_NUMBER.encode() not in stored
    assert "张三丰".encode() not in stored
    assert SECRET.encode() not in stored
    assert req["cainfo"].encode() not in stored


def test_mask_for_journal_finds_id_numbers_anywhere() -> None:
    masked = mask_for_journal({"a": [f"see {ID_NUMBER}."], "dr_name": "李医生", "n": 1})
    assert masked == {"a": ["see 330203********1236."], "dr_name": "李**", "n": 1}


def test_the_counter_survives_restarts_and_the_time_never_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    now = dt.datetime(2026, 5, 9, 10, 0, 0, tzinfo=SHANGHAI)
    with Journal(path) as first:
        assert first.allocate(now) == (1, now.replace(tzinfo=None))
        assert first.allocate(now)[0] == 2
    with Journal(path) as again:
        seq, moment = again.allocate(now - dt.timedelta(hours=1))  # the clock was set back
        assert seq == 3 and moment == now.replace(tzinfo=None)
        # at most `modulus` msgids share one second: then the time moves on
        stamps = [again.allocate(now, modulus=5)[1] for _ in range(8)]
        assert stamps[:2] == [now.replace(tzinfo=None)] * 2
        assert stamps[2:7] == [now.replace(tzinfo=None) + dt.timedelta(seconds=1)] * 5
        msgids = set()
        for _ in range(30):
            seq, moment = again.allocate(now, modulus=5)
            msgids.add(env.make_msgid("H33020300001", moment, seq % 5))
        assert len(msgids) == 30


def test_sign_no_cache_by_day(journal: Journal) -> None:
    today, tomorrow = dt.date(2026, 5, 9), dt.date(2026, 5, 10)
    assert journal.sign_no("H33020300001", "0001", today) is None
    journal.store_sign_no("H33020300001", "0001", today, "SIGN1", "M1")
    assert journal.sign_no("H33020300001", "0001", today) == "SIGN1"
    assert journal.sign_no("H33020300001", "0001", tomorrow) is None
    assert journal.sign_no("H33020300001", "0002", today) is None
    journal.forget_sign_no("H33020300001", "0001", "OTHER")
    assert journal.sign_no("H33020300001", "0001", today) == "SIGN1"
    journal.forget_sign_no("H33020300001", "0001", "SIGN1")
    assert journal.sign_no("H33020300001", "0001", today) is None


def test_books_count_what_stands(journal: Journal) -> None:
    def settled(infno: str, info: dict[str, Any]) -> str:
        req = request(journal, infno, SETTLE)
        journal.add_pending(req)
        journal.mark_answered(req["msgid"], answer(0, {"setlinfo": info}))
        return str(req["msgid"])

    settled("2207", SETLINFO)
    refund = {k: (-v if isinstance(v, Decimal) else v) for k, v in SETLINFO.items()}
    settled("2208", refund)
    reversed_one = settled("2102", {**SETLINFO, "clr_type": "41"})
    journal.close_entry(reversed_one, Resolution.REVERSED, resolved_by="R")
    books = journal.books(dt.date(2026, 5, 9), dt.date(2026, 5, 9), insutype="310")
    assert books.count == 2
    assert books.medfee_sumamt == Decimal("0.00") and books.acct_pay == Decimal("0.00")
    assert journal.books(dt.date(2026, 5, 10), dt.date(2026, 5, 10)).count == 0


CRASH = textwrap.dedent(
    """
    import datetime as dt, os, sys
    from sscard_terminal.settlement import envelope as env
    from sscard_terminal.settlement.journal import Journal
    from sscard_terminal.settlement.envelope import SHANGHAI, OpterType, RequestParty
    party = RequestParty("H33020300001", "h", "330203", OpterType.OPERATOR, "0001", "x")
    journal = Journal(sys.argv[1])
    now = dt.datetime.now(SHANGHAI)
    seq, moment = journal.allocate(now)
    request = env.build_request(
        "2207", {"data": {"psn_no": "P001", "mdtrt_id": "M001"}}, party=party,
        msgid=env.make_msgid("H33020300001", moment, seq), inf_time=now, secret="s",
        insuplc_admdvs="330200",
    )
    journal.add_pending(request)
    print(request["msgid"], flush=True)
    os._exit(9)  # the process dies: no mark, no close
    """
)


def test_a_pending_entry_survives_a_crash_and_is_open_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 9, done.stderr
    msgid = done.stdout.strip()
    with Journal(path) as journal:
        [entry] = journal.open_entries()
        assert entry.msgid == msgid and entry.status is Status.PENDING
        assert entry.pid != os.getpid()
        assert not journal.in_flight_elsewhere(entry)  # its process is gone


def test_a_pending_entry_of_a_live_process_is_left_alone(journal: Journal) -> None:
    req = request(journal, "2207", SETTLE)
    journal.add_pending(req)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        journal._conn.execute(
            "UPDATE messages SET pid = ? WHERE msgid = ?", (sleeper.pid, req["msgid"])
        )
        [entry] = journal.open_entries()
        assert journal.in_flight_elsewhere(entry)
    finally:
        sleeper.kill()
        sleeper.wait()
    [entry] = journal.open_entries()
    assert not journal.in_flight_elsewhere(entry)


# -- card records ---------------------------------------------------------------------------
BY_CARD = {
    "data": {
        **SETTLE["data"],
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": "A00000001",
    }
}


def test_a_card_settlement_owes_its_card_record_once_booked(journal: Journal) -> None:
    by_card, by_id = request(journal, "2207", BY_CARD), request(journal, "2207", SETTLE)
    for req in (by_card, by_id):
        journal.add_pending(req)
    assert journal.card_records_owed() == []  # not booked yet
    for req in (by_card, by_id):
        journal.mark_answered(req["msgid"], answer(0, {"setlinfo": SETLINFO}))
    [owed] = journal.card_records_owed()
    assert owed.msgid == by_card["msgid"] and owed.card_no == "A00000001"
    assert owed.card_record is CardRecordState.OWED
    assert journal.card_records_owed("B00000002") == []
    other = journal.get(by_id["msgid"])
    assert other is not None and other.card_record is None
    with pytest.raises(JournalError, match="owes no card record"):
        journal.card_record_done(by_id["msgid"], CardRecordState.WRITTEN)
    # a refund inherits the card of the settlement it refunds
    refund = request(journal, "2208", {"data": {"setl_id": "S001", "mdtrt_id": "M001"}})
    journal.add_pending(refund)
    refunded = journal.get(refund["msgid"])
    assert refunded is not None and refunded.card_no == "A00000001"
    journal.card_record_done(by_card["msgid"], CardRecordState.WRITTEN)
    assert journal.card_records_owed() == []  # the refund is not booked
    with pytest.raises(JournalError):  # done once only
        journal.card_record_done(by_card["msgid"], CardRecordState.SKIPPED, "again")
    done = journal.get(by_card["msgid"])
    assert done is not None and done.card_record is CardRecordState.WRITTEN
    assert done.as_json()["card_record"] == "WRITTEN"


def test_a_reversed_settlement_owes_no_card_record(journal: Journal) -> None:
    req = request(journal, "2207", BY_CARD)
    journal.add_pending(req)
    journal.mark_answered(req["msgid"], answer(0, {"setlinfo": SETLINFO}))
    journal.close_entry(req["msgid"], Resolution.REVERSED, note="reversed on purpose")
    assert journal.card_records_owed() == []


def test_a_journal_from_before_card_records_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE card_records")
    conn.execute("ALTER TABLE messages DROP COLUMN card_no")
    conn.commit()
    conn.close()
    with Journal(path) as reopened:
        req = request(reopened, "2207", BY_CARD)
        reopened.add_pending(req)
        entry = reopened.get(req["msgid"])
        assert entry is not None and entry.card_no == "A00000001"


def test_an_abandoned_registration_waits_for_its_visit_and_yields_to_a_settlement(
    journal: Journal,
) -> None:
    register = request(journal, "2201", {"data": {"psn_no": "P001", "insutype": "310"}})
    journal.add_pending(register)
    journal.mark_answered(register["msgid"], answer(0, {"data": {"mdtrt_id": "M001"}}))
    fees = request(journal, "2204", {"feedetail": [{"mdtrt_id": "M001", "chrg_bchno": "B1"}]})
    journal.add_pending(fees)
    journal.mark_unknown(fees["msgid"], "no answer")
    journal.abandon_visit(register["msgid"], "2204: no answer")
    assert journal.abandoned_visits() == []  # its 2204 is still open
    journal.close_entry(fees["msgid"], Resolution.REVERSED, note="2205")
    [abandoned] = journal.abandoned_visits()
    assert abandoned.msgid == register["msgid"] and abandoned.mdtrt_id == "M001"
    settle = request(journal, "2207", SETTLE)  # SETTLE is of visit M001
    journal.add_pending(settle)
    journal.mark_answered(settle["msgid"], answer(0, {"setlinfo": SETLINFO}))
    assert journal.abandoned_visits() == []  # a settlement of the visit stands
    journal.close_entry(settle["msgid"], Resolution.REVERSED, note="reversed")
    assert [e.msgid for e in journal.abandoned_visits()] == [register["msgid"]]
    journal.close_entry(register["msgid"], Resolution.REVERSED, note="2601")
    assert journal.abandoned_visits() == []
