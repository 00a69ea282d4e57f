"""No work before authentication, against a real server on SQLite
and PostgreSQL: hostile bodies cost a bounded amount and are refused with 400
and a code, nothing journaled, while /health keeps answering; a message that
waits on a database lock holds up neither /health nor other institutions."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from sscard_terminal.center import wire
from sscard_terminal.center.models import JournalEntry
from tests.center.center_helpers import (
    CLASS_A_DRUG,
    Center,
    Terminal,
    new_insured,
    settle_input,
    visit_with_fees,
)

CALL_SERVICE = "/fsi/api/rsfComIfsService/callService"


def journal_size(center: Center) -> int:
    with center.db.engine.connect() as c:
        count = c.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
        c.rollback()
    return int(count)


def with_input(t: Terminal, raw_input: bytes) -> bytes:
    """A signed 1101 envelope whose input is replaced by ``raw_input`` (JSON text)."""
    env = t.envelope("1101", {"data": {"psn_no": "PLACEHOLDER"}})
    marker = b'{"data":{"psn_no":"PLACEHOLDER"}}'
    body = wire.dumps(env)
    assert body.count(marker) == 1
    return body.replace(marker, raw_input)


HOSTILE = {
    "1e400000": (b'{"data":{"psn_no":1e400000}}', "http.number"),
    "thousands of 1e-999999": (
        b'{"data":{"fee":[' + b",".join([b"1e-999999"] * 1500) + b"]}}",
        "http.number",
    ),
    "4,300-digit integer": (b'{"data":{"psn_no":' + b"7" * 4300 + b"}}", "http.number"),
    "970 levels": (b'{"data":' + b"[" * 970 + b"]" * 970 + b"}", "http.too_deep"),
    "lone surrogate": (b'{"data":{"psn_no":"\\ud800"}}', "http.surrogate"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_bodies_are_400_with_a_code_and_not_journaled(
    center: Center, hospital: Terminal, case: str
) -> None:
    raw_input, code = HOSTILE[case]
    before = journal_size(center)
    response = hospital.post(with_input(hospital, raw_input))
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["infcode"] == -1 and answer["err_code"] == code
    assert " / " in answer["err_msg"]
    assert journal_size(center) == before


def test_health_answers_while_hostile_bodies_arrive(center: Center, hospital: Terminal) -> None:
    bodies = [with_input(hospital, raw) for raw, _ in HOSTILE.values()]
    stop = threading.Event()
    statuses: list[int] = []

    def attack() -> None:
        with httpx.Client(base_url=center.base_url, timeout=30) as client:
            while not stop.is_set():
                for body in bodies:
                    statuses.append(client.post(CALL_SERVICE, content=body).status_code)

    attackers = [threading.Thread(target=attack) for _ in range(4)]
    for thread in attackers:
        thread.start()
    try:
        with httpx.Client(base_url=center.base_url, timeout=10) as client:
            for _ in range(20):
                health = client.get("/health")
                assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        stop.set()
        for thread in attackers:
            thread.join()
    assert statuses and set(statuses) == {400}


def test_a_message_waiting_on_a_lock_holds_up_nobody_else(center: Center) -> None:
    hospital = center.terminal("H33020300001")
    other = center.terminal("H33021200002")
    waiting_person = new_insured(center.admin)
    other_person = new_insured(center.admin)
    mdtrt_id, total = visit_with_fees(hospital, waiting_person, [(CLASS_A_DRUG, "12.00", "1")])
    env = hospital.envelope("2207", settle_input(waiting_person, mdtrt_id, total))
    with center.db.engine.connect() as holder, ThreadPoolExecutor(2) as pool:
        # SQLite: BEGIN IMMEDIATE takes the database's write lock; PostgreSQL: the
        # person's row, which a settlement locks
        holder.execute(
            text("SELECT psn_no FROM persons WHERE psn_no = :p FOR UPDATE")
            if center.backend == "postgresql"
            else text("SELECT psn_no FROM persons WHERE psn_no = :p"),
            {"p": waiting_person.psn_no},
        )
        waiting: Future[Any] = pool.submit(hospital.send, env)
        with httpx.Client(base_url=center.base_url, timeout=10) as client:
            for _ in range(5):
                assert client.get("/health").status_code == 200
        # another institution: a forged message is refused, a query for another
        # person answers (PostgreSQL; SQLite has one writer: it waits its turn)
        forged = other.envelope("1101", {"data": {"psn_no": other_person.psn_no}})
        forged["opter_name"] = "改了"
        assert other.send(forged)["err_code"] == "auth.signature"
        bad = other.envelope("1101", {"data": {"psn_no": other_person.psn_no}}, infver="V9")
        assert other.send(bad)["err_code"] == "envelope.invalid"
        # an institution nobody cached is looked up without waiting for the lock
        stranger = Terminal(other.http, "H99999999998", "x", "0" * 64, "330203")
        assert stranger.call("1101", {"data": {}})["err_code"] == "auth.institution"
        if center.backend == "postgresql":
            card = {
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": other_person.card_no,
                "card_sn": other_person.card_sn,
            }
            info = other.ok("1101", {"data": card})
            assert info["baseinfo"]["psn_no"] == other_person.psn_no
        assert not waiting.done()  # the lock really held the settlement
        holder.rollback()
        answer = waiting.result(timeout=30)
    assert answer["infcode"] == 0, answer


@pytest.mark.parametrize("case", ["1e400000", "970 levels", "4,300-digit integer"])
def test_input_as_a_json_text_is_parsed_within_the_same_bounds(
    center: Center, hospital: Terminal, case: str
) -> None:
    raw_input, _ = HOSTILE[case]
    before = journal_size(center)
    body = with_input(hospital, json.dumps(raw_input.decode()).encode())
    response = hospital.post(body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["infcode"] == -1 and answer["err_code"] == "envelope.invalid"
    assert journal_size(center) == before
