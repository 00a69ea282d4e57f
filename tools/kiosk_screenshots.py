#!/usr/bin/env python3
"""Screenshots of every kiosk screen, from the running kiosk. Not a test.

A center with the demo seed (SQLite in a temporary directory, uvicorn on a
free loopback port) and the kiosk's web app (the same app as ``sscard kiosk
serve``) run in this process; the cards are the demo persons' ningbo-gen3
cards in an in-process virtual reader (``--transport virtual``: no pcscd
needed, so the tool runs anywhere ``./run setup`` ran), the security module
is the software one. Debian's Chromium, driven by Playwright (never a
downloaded browser), renders the 1080x1920 portrait page; each screen is
written to ``docs/kiosk/NN-name.png``.

Run: .venv/bin/python tools/kiosk_screenshots.py [--out docs/kiosk]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from sscard_terminal.center.api import create_app as center_app
from sscard_terminal.center.clock import system_clock
from sscard_terminal.center.db import Database, migrate
from sscard_terminal.center.policy import load_policy
from sscard_terminal.center.seed.demo import seed_demo
from sscard_terminal.kiosk.app import create_app as kiosk_app
from sscard_terminal.kiosk.session import KioskSession
from sscard_terminal.settlement import InstitutionConfig, Operator, SettlementClient
from sscard_terminal.settlement.envelope import OpterType
from sscard_terminal.terminal.payment import SimulatedPayments
from sscard_terminal.terminal.schedule import load_schedule
from sscard_terminal.terminal.station import Station, StationSpec
from sscard_terminal.transport import virtual
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.factory import new_image

HOSPITAL = "H33020300001"
READER = "KIOSK-SCREENSHOTS"
PIN = "123456"  # ningbo-gen3's initial PIN
TOKEN = "kiosk-screenshots-admin-token-0123456789"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(app: Any, port: int) -> Iterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _card(person_file: dict[str, Any], directory: Path) -> CardOS:
    path = directory / "person.json"
    path.write_text(json.dumps(person_file, ensure_ascii=False), encoding="utf-8")
    return CardOS(new_image("ningbo-gen3", path))


class Shooter:
    def __init__(self, tab: Any, out: Path) -> None:
        self.tab, self.out, self.number = tab, out, 0

    def wait(self, screen: str) -> None:
        from playwright.sync_api import expect

        expect(self.tab.locator("body")).to_have_attribute("data-screen", screen, timeout=15000)
        time.sleep(0.4)  # the next poll has rendered the same view

    def shot(self, screen: str, name: str) -> None:
        self.wait(screen)
        self.number += 1
        path = self.out / f"{self.number:02d}-{name}.png"
        self.tab.screenshot(path=str(path))
        print(f"  {path}")

    def click(self, action: str, arg: str | None = None) -> None:
        selector = f'#screen button[data-action="{action}"]'
        if arg is not None:
            selector += f'[data-arg="{arg}"]'
        self.tab.locator(selector).click()

    def pin(self, digits: str) -> None:
        for digit in digits:
            self.tab.locator(f'#pin-keys button.digit:text-is("{digit}")').click()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/kiosk"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sscard-kiosk-shots-") as tmp_name:
        tmp = Path(tmp_name)
        policy = load_policy()
        db = Database(f"sqlite:///{tmp}/center.db")
        migrate(db)
        demo = seed_demo(db, policy, system_clock())
        center_port, kiosk_port = _free_port(), _free_port()
        center_url = f"http://127.0.0.1:{center_port}"
        inst = next(i for i in demo["institutions"] if i["fixmedins_code"] == HOSPITAL)
        config = InstitutionConfig(HOSPITAL, inst["fixmedins_name"], inst["admdvs"], inst["secret"])

        def client() -> SettlementClient:
            operator = Operator(OpterType.KIOSK, "K001", "自助机1")
            return SettlementClient(center_url, config, operator, tmp / "journal.db", 10.0)

        persons = demo["persons"]
        with _serve(center_app(db, policy, admin_token=TOKEN), center_port):
            station = Station(
                StationSpec(transport="virtual", reader=READER, sam="software"), client=client
            )
            with station:
                session = KioskSession(
                    station, load_schedule(), SimulatedPayments(), idle_seconds=60, reader=READER
                )
                session.start()
                try:
                    with (
                        _serve(kiosk_app(session, kiosk_port), kiosk_port),
                        sync_playwright() as playwright,
                    ):
                        context = playwright.chromium.launch_persistent_context(
                            str(tmp / "chromium"),
                            executable_path=CHROMIUM,
                            args=CHROMIUM_ARGS,
                            headless=True,
                            viewport={"width": 1080, "height": 1920},
                        )
                        tab = context.new_page()
                        tab.goto(f"http://127.0.0.1:{kiosk_port}/")
                        s = Shooter(tab, args.out)
                        s.shot("welcome", "welcome")
                        virtual.insert_card(READER, _card(persons["normal"]["person_file"], tmp))
                        s.wait("pin")
                        s.pin(PIN[:3])
                        s.shot("pin", "identity-and-pin-pad")
                        s.pin(PIN[3:])
                        tab.locator('#pin-keys button[data-key="ok"]').click()
                        s.shot("menu", "menu")
                        s.click("register")
                        s.shot("departments", "registration-departments")
                        s.click("dept", "0301")
                        s.shot("doctors", "registration-doctors")
                        s.click("doctor", "D001")
                        s.shot("confirm", "registration-split")
                        s.click("pay")
                        s.shot("receipt", "registration-receipt")
                        s.click("menu")
                        s.wait("menu")
                        s.click("balance")
                        s.shot("balance", "balance-and-records")
                        s.click("menu")
                        s.wait("menu")
                        s.click("loss")
                        s.shot("loss", "temporary-loss-report")
                        s.click("menu")
                        s.wait("menu")
                        s.click("finish")
                        s.shot("take_card", "take-your-card")
                        virtual.remove_card(READER)
                        s.wait("welcome")
                        virtual.insert_card(READER, _card(persons["lapsed"]["person_file"], tmp))
                        s.wait("pin")
                        s.pin(PIN)
                        tab.locator('#pin-keys button[data-key="ok"]').click()
                        s.shot("refused", "refusal-insurance-suspended")
                        virtual.remove_card(READER)
                        s.wait("welcome")
                        tab.locator("#lang").click()
                        s.shot("welcome", "welcome-english")
                        context.close()
                finally:
                    session.stop()
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
