"""Fixtures of the settlement client's tests: a fresh real center per module,
clients of its demo institutions, and a fault-injecting TCP proxy in front of
it. The helpers live in ``settlement_fixtures.py``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sscard_terminal.settlement import Journal, Operator, SettlementClient
from sscard_terminal.settlement.envelope import OpterType
from tests.settlement.fault_proxy import FaultProxy
from tests.settlement.settlement_fixtures import (
    HOSPITAL,
    ClientFactory,
    RunningCenter,
    shanghai_now,
    start_center,
)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    """A fresh center per test module (so that each module's 3201 sees only
    its own settlements)."""
    running = start_center(tmp_path_factory.mktemp("center"))
    try:
        yield running
    finally:
        running.admin.http.close()
        running.stop()
        running.db.dispose()


@pytest.fixture(scope="module")
def journal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the module's terminals keep their journals (one per institution
    and operator, shared by every client of that terminal in the module)."""
    return tmp_path_factory.mktemp("journals")


@pytest.fixture(scope="module")
def slots() -> dict[str, int]:
    """One msgid slot per journal (per terminal) of the module's center: msgids
    are unique per institution across its terminals."""
    return {}


@pytest.fixture
def make_client(
    center: RunningCenter, journal_dir: Path, slots: dict[str, int]
) -> Iterator[ClientFactory]:
    """make_client(code=HOSPITAL, *, url=None, timeout=10, opter="0001", ...)"""
    made: list[SettlementClient] = []

    def make(
        code: str = HOSPITAL,
        *,
        url: str | None = None,
        timeout: float = 10.0,
        opter: str = "0001",
        opter_type: OpterType = OpterType.OPERATOR,
        secret: str | None = None,
        journal: Path | Journal | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> SettlementClient:
        journal = journal or journal_dir / f"{code}-{opter}.db"
        where = str(journal.path if isinstance(journal, Journal) else journal)
        slot = slots.setdefault(where, len(slots))
        client = SettlementClient(
            url or center.base_url,
            center.institution_config(code, secret),
            Operator(
                opter_type, opter, "收费员甲" if opter_type == OpterType.OPERATOR else "自助机"
            ),
            journal,
            timeout,
            msgid_slot=slot,
            clock=clock or shanghai_now,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def proxy(center: RunningCenter) -> Iterator[FaultProxy]:
    running = FaultProxy(("127.0.0.1", center.port))
    try:
        yield running
    finally:
        running.close()
