"""The kiosk's session and web app without a browser: the card in
an in-process virtual reader (no pcscd), the software security module, a
real center (uvicorn on a free port, SQLite, the demo seed). The browser
tests through pcscd are tests/e2e/test_kiosk_browser_pcsc.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sscard_terminal.errors import PinBlockedError, WrongPinError  # noqa: E402
from sscard_terminal.kiosk.app import create_app  # noqa: E402
from sscard_terminal.kiosk.session import KioskSession  # noqa: E402
from sscard_terminal.kiosk.texts import refusal  # noqa: E402
from sscard_terminal.settlement import Operator, SettlementClient  # noqa: E402
from sscard_terminal.settlement.envelope import OpterType  # noqa: E402
from sscard_terminal.settlement.errors import CenterRefused, CenterUnavailable  # noqa: E402
from sscard_terminal.terminal.payment import SimulatedPayments  # noqa: E402
from sscard_terminal.terminal.schedule import load_schedule  # noqa: E402
from sscard_terminal.terminal.station import Station, StationSpec  # noqa: E402
from sscard_terminal.transport import virtual  # noqa: E402
from tests.e2e.flow_rig import PIN, card_for  # noqa: E402
from tests.settlement.settlement_fixtures import HOSPITAL, RunningCenter, start_center  # noqa: E402

READER = "KIOSK-TEST"
PORT = 8611


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    running = start_center(tmp_path_factory.mktemp("center"))
    try:
        yield running
    finally:
        running.admin.http.close()
        running.stop()
        running.db.dispose()


@pytest.fixture
def kiosk(center: RunningCenter, tmp_path: Path) -> Iterator[tuple[KioskSession, TestClient]]:
    def client() -> SettlementClient:
        return SettlementClient(
            center.base_url,
            center.institution_config(HOSPITAL),
            Operator(OpterType.KIOSK, "K002", "自助机2"),
            tmp_path / "journal.db",
            10.0,
            msgid_slot=33,
        )

    station = Station(
        StationSpec(transport="virtual", reader=READER, sam="software"), client=client
    )
    station.open()
    session = KioskSession(
        station, load_schedule(), SimulatedPayments(), idle_seconds=60, reader=READER
    )
    session.start()
    http = TestClient(create_app(session, PORT), base_url=f"http://127.0.0.1:{PORT}")
    try:
        yield session, http
    finally:
        virtual.remove_card(READER)
        session.stop()
        station.close()


ORIGIN = {"origin": f"http://127.0.0.1:{PORT}"}


def wait_screen(http: TestClient, name: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = http.get("/api/view").json()
        if view["screen"] == name:
            return view
        assert time.monotonic() < deadline, view
        time.sleep(0.02)


def type_pin(http: TestClient, view: dict[str, Any], pin: str) -> list[str]:
    """Press the PIN pad's keys as the page does; returns the request bodies."""
    tokens = {k["label"]: k["token"] for k in view["pinpad"]["keys"]}
    bodies = [json.dumps({"key": tokens[d]}) for d in pin] + [json.dumps({"key": "ok"})]
    for body in bodies:
        answer = http.post(
            "/api/pinpad", content=body, headers={**ORIGIN, "content-type": "application/json"}
        )
        assert answer.status_code == 200
    return bodies


def test_identity_masked_pin_by_tokens_and_the_idle_reset(
    center: RunningCenter, kiosk: tuple[KioskSession, TestClient]
) -> None:
    session, http = kiosk
    virtual.insert_card(READER, card_for(center.person("normal")["person_file"]))
    view = wait_screen(http, "pin")
    while not view["pinpad"]["active"]:
        view = http.get("/api/view").json()
    values = [value for _, value in view["lines"]]
    assert "张*" in values and any(v.endswith("1236") and "*" in v for v in values)
    assert "张三" not in json.dumps(view, ensure_ascii=False)
    sent = type_pin(http, view, PIN)
    assert not any(PIN in body for body in sent)
    assert all(json.loads(b)["key"] not in PIN for b in sent[:-1])  # tokens, not digits
    view = wait_screen(http, "menu")
    assert PIN not in json.dumps(view)
    assert any(b["action"] == "register" for b in view["buttons"])
    # 60 s without a touch: welcome, nothing personal left
    session.idle_check(now=time.monotonic() + 61)
    view = wait_screen(http, "welcome")
    text = json.dumps(view, ensure_ascii=False)
    assert "张*" not in text and "D01069901" not in text and view["lines"][0][0] == ""


def test_host_and_origin_are_checked(kiosk: tuple[KioskSession, TestClient]) -> None:
    _, http = kiosk
    body = {"action": "home"}
    assert http.post("/api/action", json=body).status_code == 403  # no Origin
    evil = {"origin": "http://evil.example"}
    assert http.post("/api/action", json=body, headers=evil).status_code == 403
    assert http.post("/api/action", json=body, headers=ORIGIN).status_code == 200
    other_host = {"host": "kiosk.example:8611"}
    assert http.get("/api/view", headers=other_host).status_code == 421
    assert http.get("/").headers["cache-control"] == "no-store"
    bad = http.post("/api/pinpad", json={"key": "1"}, headers=ORIGIN)
    assert bad.status_code == 422  # a digit is not a key token


def test_one_sentence_per_refusal() -> None:
    cases = [
        (PinBlockedError(0x6983), "密码已锁定", "unblocked"),
        (WrongPinError(0x63C2), "还可再试 2 次", "2 tries left"),
        (CenterUnavailable("down"), "暂时无法连接医保中心", "cannot be reached"),
        (CenterRefused("x", err_code="card.lost"), "此卡已挂失停用", "replacement card"),
        (CenterRefused("x", err_code="card.replaced"), "新卡替换", "new card"),
        (CenterRefused("x", err_code="area.no_filing"), "异地就医备案", "out-of-area filing"),
        (CenterRefused("x", err_code="voucher.token_used"), "刷新", "refresh"),
    ]
    for exc, zh, en in cases:
        said_zh, said_en = refusal(exc)
        assert zh in said_zh and en in said_en, (exc, said_zh, said_en)
        assert "；" in said_zh and ";" in said_en  # the cause; what to do next
