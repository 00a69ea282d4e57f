"""The settlement hot path's storage (center/fastsql.py, center/db.py): statements
run on the driver read and write exactly what SQLAlchemy would, batches keep
their order and their transaction, driver errors are SQLAlchemy's, and a
server's SQLite checkpoints happen in a thread of their own."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from sscard_terminal.center import fastsql, store
from sscard_terminal.center.db import CHECKPOINT_INTERVAL
from sscard_terminal.center.models import Account, Person
from tests.center.center_helpers import BACKENDS

SIGN_IN = {
    "sign_no": "S1",
    "fixmedins_code": "H33020300001",
    "opter": "0001",
    "sign_date": dt.date(2026, 11, 25),
    "signed_in_at": dt.datetime(2026, 11, 25, 9, 30, 1),
    "signed_out_at": None,
}


def _person(db: Any, psn_no: str, balance: Decimal) -> None:
    with db.transaction() as s:
        s.add(
            Person(
                psn_no=psn_no,
                id_number=f"33020319900101{psn_no[-4:]}",
                name="x",
                sex="1",
                birth_date=dt.date(1990, 1, 1),
                naty="01",
                birthplace="330203",
                insuplc_admdvs="330200",
                created_at=dt.datetime(2026, 1, 1),
            )
        )
        s.flush()
        s.add(Account(psn_no=psn_no, balance=balance))


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_and_types_are_sqlalchemys(backend: str, db_factory: Any) -> None:
    db = db_factory(backend)
    _person(db, "P0001", Decimal("1234.56"))
    with db.begin() as conn:
        conn.execute(
            insert(store.T.institutions),
            {
                "fixmedins_code": "H33020300001",
                "name": "h",
                "kind": "hospital",
                "level": "3",
                "admdvs": "330203",
                "designated": True,
                "offsite_designated": False,
                "secret": "s",
                "created_at": dt.datetime(2026, 1, 1),
            },
        )
        conn.execute(insert(store.T.sign_ins), SIGN_IN)
    with db.begin() as conn:
        fast = fastsql.run(conn, store.Fast.SIGN_IN, {"sign_no": "S1"})
        core = conn.execute(store.SIGN_IN, {"sign_no": "S1"}).all()
        assert [tuple(r) for r in fast] == [tuple(r) for r in core]
        assert fast[0].sign_date == dt.date(2026, 11, 25)
        assert fast[0].signed_out_at is None
        balances = fastsql.run(
            conn, store.Fast.BALANCES, {"psn_no": "P0001", "year": 2026, "insutype": "310"}
        )
        assert balances[0].balance == Decimal("1234.56")
        assert balances[0].acc_psn_no is None
        assert fastsql.run(conn, store.Fast.SIGN_IN, {"sign_no": "nope"}) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_keeps_its_order_and_its_transaction(backend: str, db_factory: Any) -> None:
    db = db_factory(backend)
    _person(db, "P0002", Decimal("10.00"))
    with db.begin() as conn:
        batch = fastsql.Batch(conn)
        batch.add(store.Fast.SET_BALANCE, {"b_psn_no": "P0002", "balance": Decimal("7.25")})
        batch.add(
            store.Fast.BALANCES, {"psn_no": "P0002", "year": 2026, "insutype": "310"}
        )  # reads the write before it, in the same transaction
        batch.add(store.Fast.PERSON_LOCK, {"psn_no": "P0002"})
        written, balances, persons = batch.run(commit=True)
        assert written == []
        assert balances[0].balance == Decimal("7.25")
        assert persons[0].insuplc_admdvs == "330200"
    with db.begin() as conn:
        assert conn.execute(select(Account.balance)).scalar_one() == Decimal("7.25")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_batch_raises_sqlalchemys_error_and_rolls_back(
    backend: str, db_factory: Any
) -> None:
    db = db_factory(backend)
    _person(db, "P0003", Decimal("10.00"))
    with pytest.raises(IntegrityError), db.begin() as conn:
        batch = fastsql.Batch(conn)
        batch.add(store.Fast.SET_BALANCE, {"b_psn_no": "P0003", "balance": Decimal("1.00")})
        row = {
            "fixmedins_code": "H33020300001",
            "msgid": "M1",
            "infno": "2207",
            "received_at": dt.datetime(2026, 11, 25, 9, 30),
            "request_digest": "d",
            "psn_no": None,
            "infcode": 0,
            "request": "{}",
            "response": "{}",
            "setl_id": None,
            "mdtrt_id": None,
            "reversed_by": None,
        }
        batch.add(store.Fast.NEW_JOURNAL, row)
        batch.add(store.Fast.NEW_JOURNAL, row)  # the same msgid again
        batch.run(commit=True)
    with db.begin() as conn:
        assert conn.execute(select(Account.balance)).scalar_one() == Decimal("10.00")
        assert conn.execute(select(store.T.journal)).all() == []


def test_expanding_parameters_are_refused() -> None:
    from sqlalchemy.dialects import sqlite

    with pytest.raises(ValueError, match="expanding"):
        fastsql.Prepared(store.CATALOGUE).compiled(sqlite.dialect())


def test_a_server_checkpoints_sqlite_in_its_own_thread(db_factory: Any) -> None:
    db = db_factory("sqlite")
    path = db.engine.url.database
    db.start_checkpointer()
    try:
        assert any(t.name == "sqlite-checkpoint" for t in threading.enumerate())
        with db.begin() as conn:  # the commits leave the checkpoints to the thread
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        for n in range(20):
            _person(db, f"P1{n:03d}", Decimal("1.00"))
        time.sleep(CHECKPOINT_INTERVAL * 10)
        # the database file itself (its WAL ignored) holds the rows
        main = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            assert main.execute("SELECT count(*) FROM persons").fetchone()[0] == 20
        finally:
            main.close()
    finally:
        db.dispose()
    time.sleep(CHECKPOINT_INTERVAL * 4)
    assert not any(t.name == "sqlite-checkpoint" for t in threading.enumerate())
    with db.begin() as conn:  # without the thread, commits checkpoint again
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
