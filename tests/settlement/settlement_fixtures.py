"""Helpers of the settlement client's tests (imported by name, not through
``conftest``, so that they do not depend on which conftest pytest loaded
last): the real center (SQLite, the demo seed) served by uvicorn on a free
port, and fresh insured persons through its admin API (the center tests'
``tests/center/center_helpers.py``).

The tests may use the center's code to run it and to check its books; the
client package itself never imports it.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from sscard_terminal.center.api import create_app  # noqa: E402
from sscard_terminal.center.clock import system_clock  # noqa: E402
from sscard_terminal.center.db import Database, migrate  # noqa: E402
from sscard_terminal.center.policy import load_policy  # noqa: E402
from sscard_terminal.center.seed.demo import seed_demo  # noqa: E402
from sscard_terminal.settlement import (  # noqa: E402
    InstitutionConfig,
    SettlementClient,
)
from sscard_terminal.settlement.envelope import SHANGHAI  # noqa: E402
from sscard_terminal.settlement.models import PersonRef  # noqa: E402
from tests.center.center_helpers import Admin, Insured, new_insured  # noqa: E402

ADMIN_TOKEN = "settlement-tests-admin-token-0123456789"
HOSPITAL = "H33020300001"
PHARMACY = "P33020300003"
#: catalogue codes of the demo seed
CLASS_A_SERVICE = "001102000010000"  # cap 25.00
CLASS_A_DRUG = "XC10AAA005A001010100004"  # no cap
CLASS_B_DRUG = "XR05CBA020E001010100002"
CLASS_C = "310100001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningCenter:
    """A center with the demo data, and what the tests need to reach it."""

    db: Database
    base_url: str
    port: int
    admin: Admin
    demo: dict[str, Any]
    server: uvicorn.Server
    thread: threading.Thread

    def institution(self, code: str) -> dict[str, Any]:
        return next(i for i in self.demo["institutions"] if i["fixmedins_code"] == code)

    def institution_config(self, code: str, secret: str | None = None) -> InstitutionConfig:
        inst = self.institution(code)
        return InstitutionConfig(
            fixmedins_code=code,
            fixmedins_name=inst["fixmedins_name"],
            mdtrtarea_admvs=inst["admdvs"],
            secret=secret or inst["secret"],
        )

    def person(self, key: str) -> dict[str, Any]:
        person: dict[str, Any] = self.demo["persons"][key]
        return person

    def balance(self, psn_no: str) -> Decimal:
        view = self.admin.request("GET", f"/persons/{psn_no}")
        return Decimal(str(view["account_balance"]))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_center(tmp: Path) -> RunningCenter:
    policy = load_policy()
    db = Database(f"sqlite:///{tmp}/center.db")
    migrate(db)
    demo = seed_demo(db, policy, system_clock())
    app = create_app(db, policy, admin_token=ADMIN_TOKEN)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    base_url = f"http://127.0.0.1:{port}"
    admin = Admin(httpx.Client(base_url=base_url, timeout=30), ADMIN_TOKEN)
    return RunningCenter(db, base_url, port, admin, demo, server, thread)


ClientFactory = Callable[..., SettlementClient]


def insured(
    center: RunningCenter, balance: str = "1000.00", **kw: Any
) -> tuple[Insured, PersonRef]:
    """A fresh employee (310) with a card and ``balance`` in the account."""
    person = new_insured(center.admin, balance=balance, **kw)
    return person, PersonRef(person.psn_no, "330200")


def shanghai_now() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)
