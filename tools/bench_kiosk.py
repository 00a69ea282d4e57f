#!/usr/bin/env python3
"""Benchmark of a registration at the kiosk in the browser. Not a test.

Time from the card's insertion to the receipt on screen: the demo person
张三's ningbo-gen3 card is inserted (served through vpcd into "Virtual PCD 00
00", the virtual PSAM in "Virtual PCD 00 01", read through pcscd; with
``--transport virtual`` an in-process reader instead), Debian's Chromium
(Playwright) shows the identity, types the PIN on the PIN pad panel, chooses
the department and the doctor, confirms the split, and the clock stops when
the receipt with the queue number is on screen. The center runs as ``sscard
center serve`` on SQLite in its own process; the kiosk's app runs in this
process so that the card's APDUs and the center's HTTP exchanges can be timed.

After the browser's runs it runs the same registration ``--runs`` times
without the browser (``flows.kiosk_register`` on the same card, PSAM and
center, the kiosk stopped), the reference of the same run. It prints p50 /
p99 of both, their ratio, and of the browser's p50 run the share spent in
the card (APDUs), the center (HTTP) and the page (the rest: the browser's
rendering and clicks, the page's long poll, the kiosk's own work).

Run: .venv/bin/python tools/bench_kiosk.py [--runs 20] [--transport pcsc|virtual]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from sscard_terminal.center.clock import system_clock
from sscard_terminal.center.db import Database, migrate
from sscard_terminal.center.policy import load_policy
from sscard_terminal.center.seed.demo import seed_demo
from sscard_terminal.driver.pin import SimulatedPinPad
from sscard_terminal.kiosk.app import create_app
from sscard_terminal.kiosk.session import KioskSession
from sscard_terminal.settlement import InstitutionConfig, Operator, SettlementClient
from sscard_terminal.settlement.envelope import OpterType
from sscard_terminal.terminal.flows import QueueBook, kiosk_register
from sscard_terminal.terminal.payment import SimulatedPayments
from sscard_terminal.terminal.schedule import load_schedule
from sscard_terminal.terminal.station import Station, StationSpec
from sscard_terminal.transport import virtual
from sscard_terminal.transport.base import open_transport
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.factory import card_from_profile, new_image

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
HOSPITAL = "H33020300001"
PIN = "123456"
CARD_READER, PSAM_READER = "Virtual PCD 00 00", "Virtual PCD 00 01"
VIRTUAL_READER = "BENCH-KIOSK"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip


@dataclass
class Meter:
    seconds: float = 0.0
    count: int = 0

    def reset(self) -> None:
        self.seconds, self.count = 0.0, 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def center_process(directory: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``sscard center serve`` on a fresh SQLite file seeded with the demo data."""
    url = f"sqlite:///{directory / 'center.db'}"
    db = Database(url)
    migrate(db)
    demo = seed_demo(db, load_policy(), system_clock())
    db.dispose()
    port = _free_port()
    env = {**os.environ, "SSCARD_CENTER_ADMIN_TOKEN": secrets.token_hex(24)}
    proc = subprocess.Popen(
        [*CLI, "center", "serve", "--db", url, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1.0, trust_env=False)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the center did not start") from None
            time.sleep(0.1)
    try:
        yield base, demo
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _metered_client(base: str, demo: dict[str, Any], tmp: Path, opter: str, slot: int,
                    meter: Meter) -> SettlementClient:  # fmt: skip
    inst = next(i for i in demo["institutions"] if i["fixmedins_code"] == HOSPITAL)
    client = SettlementClient(
        base,
        InstitutionConfig(HOSPITAL, inst["fixmedins_name"], inst["admdvs"], inst["secret"]),
        Operator(OpterType.KIOSK, opter, "bench"),
        tmp / f"journal-{opter}.db",
        10.0,
        msgid_slot=slot,
    )
    post = client.http.post

    def metered(url: str, **kw: Any) -> httpx.Response:
        t0 = time.perf_counter()
        try:
            return post(url, **kw)
        finally:
            meter.seconds += time.perf_counter() - t0
            meter.count += 1

    client.http.post = metered  # type: ignore[method-assign,assignment]
    return client


def _open_metered(transport: str, meter: Meter) -> Callable[[str | None], Any]:
    def open_card(reader: str | None) -> Any:
        opened = open_transport(transport, reader=reader)
        opened.connect()
        transmit = opened.transmit

        def metered(command: bytes) -> bytes:
            t0 = time.perf_counter()
            try:
                answer: bytes = transmit(command)
                return answer
            finally:
                meter.seconds += time.perf_counter() - t0
                meter.count += 1

        opened.transmit = metered  # type: ignore[method-assign]
        return opened

    return open_card


class Slots:
    """Insert and remove the card: vpcd slots through pcscd, or the in-process reader."""

    def __init__(self, transport: str, person_file: Path) -> None:
        self.transport = transport
        self.person_file = person_file
        self.threads: dict[int, tuple[threading.Event, threading.Thread]] = {}
        self.card = CardOS(new_image("ningbo-gen3", person_file))

    def _serve(self, card: Any, slot: int) -> None:
        from sscard_terminal.vpcd.bridge import serve_card, slot_port

        stop = threading.Event()
        thread = threading.Thread(
            target=serve_card, args=(card,), kwargs={"port": slot_port(slot), "stop": stop},
            daemon=True,
        )  # fmt: skip
        thread.start()
        self.threads[slot] = (stop, thread)

    def _stop(self, slot: int) -> None:
        stop, thread = self.threads.pop(slot)
        stop.set()
        thread.join(timeout=10)

    def psam(self) -> None:
        if self.transport == "pcsc":
            from sscard_terminal.demo import wait_for_card

            self._serve(card_from_profile("psam-ningbo"), 1)
            wait_for_card(PSAM_READER)

    def insert(self) -> None:
        if self.transport == "pcsc":
            self._serve(self.card, 0)
        else:
            virtual.insert_card(VIRTUAL_READER, self.card)

    def wait_present(self) -> None:
        if self.transport == "pcsc":
            from sscard_terminal.demo import wait_for_card

            wait_for_card(CARD_READER)

    def remove(self) -> None:
        if self.transport == "pcsc":
            from sscard_terminal.demo import wait_for_card

            self._stop(0)
            wait_for_card(CARD_READER, present=False)
        else:
            virtual.remove_card(VIRTUAL_READER)

    def close(self) -> None:
        for slot in list(self.threads):
            self._stop(slot)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def run(runs: int, transport: str) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    if transport == "pcsc":
        from sscard_terminal.system.pcscd import ensure_pcscd

        ensure_pcscd()
    with tempfile.TemporaryDirectory() as name, center_process(Path(name)) as (base, demo):
        tmp = Path(name)
        person_file = tmp / "normal.json"
        person_file.write_text(
            json.dumps(demo["persons"]["normal"]["person_file"], ensure_ascii=False), "utf-8"
        )
        slots = Slots(transport, person_file)
        slots.psam()
        card_meter, center_meter = Meter(), Meter()
        reader = CARD_READER if transport == "pcsc" else VIRTUAL_READER
        spec = (
            StationSpec(transport=transport, reader=reader, sam="pcsc", sam_reader=PSAM_READER)
            if transport == "pcsc"
            else StationSpec(transport=transport, reader=reader, sam="software")
        )
        kiosk_client = _metered_client(base, demo, tmp, "K001", 1, center_meter)
        station = Station(
            spec, client=lambda: kiosk_client, open_card=_open_metered(transport, card_meter)
        )
        direct_card, direct_center = Meter(), Meter()
        direct_client = _metered_client(base, demo, tmp, "K002", 2, direct_center)
        direct_station = Station(spec, open_card=_open_metered(transport, direct_card))
        schedule = load_schedule()
        browser_s: list[tuple[float, float, float]] = []
        direct_s: list[tuple[float, float, float]] = []
        port = _free_port()
        with station, direct_station:
            session = KioskSession(
                station, schedule, SimulatedPayments(), queue=QueueBook(tmp / "q1.db"),
                idle_seconds=600, reader=reader,
            )  # fmt: skip
            session.start()
            server = uvicorn.Server(
                uvicorn.Config(create_app(session, port), host="127.0.0.1", port=port,
                               log_level="warning", access_log=False)
            )  # fmt: skip
            threading.Thread(target=server.run, daemon=True).start()
            while not server.started:
                time.sleep(0.01)
            direct_queue = QueueBook(tmp / "q2.db")
            try:
                with sync_playwright() as playwright:
                    context = playwright.chromium.launch_persistent_context(
                        str(tmp / "chromium"), executable_path="/usr/bin/chromium",
                        args=CHROMIUM_ARGS, headless=True,
                        viewport={"width": 1080, "height": 1920},
                    )  # fmt: skip
                    tab = context.new_page()
                    tab.goto(f"http://127.0.0.1:{port}/")

                    def on(screen: str) -> None:
                        expect(tab.locator("body")).to_have_attribute(
                            "data-screen", screen, timeout=30000
                        )

                    on("welcome")
                    for i in range(runs + 1):  # the first round warms up
                        card_meter.reset()
                        center_meter.reset()
                        t0 = time.perf_counter()
                        slots.insert()
                        on("pin")
                        expect(tab.locator("#pin-keys button.digit")).to_have_count(10)
                        for digit in PIN:
                            tab.locator(f'#pin-keys button.digit:text-is("{digit}")').click()
                        tab.locator('#pin-keys button[data-key="ok"]').click()
                        on("menu")
                        tab.locator('#screen button[data-action="register"]').click()
                        tab.locator('#screen button[data-action="dept"][data-arg="0301"]').click()
                        tab.locator('#screen button[data-action="doctor"][data-arg="D002"]').click()
                        on("confirm")
                        tab.locator('#screen button[data-action="pay"]').click()
                        on("receipt")
                        total = time.perf_counter() - t0
                        if i:
                            browser_s.append((total, card_meter.seconds, center_meter.seconds))
                        tab.locator('#screen button[data-action="finish"]').click()
                        on("take_card")
                        slots.remove()
                        on("welcome")
                    context.close()
                session.stop()  # its reader watcher would start on the reference's card
                for i in range(runs + 1):
                    # the reference: the same registration without the browser
                    slots.insert()
                    slots.wait_present()
                    direct_card.reset()
                    direct_center.reset()
                    t0 = time.perf_counter()
                    with direct_station.card() as card:
                        kiosk_register(
                            card, direct_station.sam, SimulatedPinPad([PIN]), direct_client,
                            schedule, "0301", "D001", SimulatedPayments(), queue=direct_queue,
                        )  # fmt: skip
                    total = time.perf_counter() - t0
                    if i:
                        direct_s.append((total, direct_card.seconds, direct_center.seconds))
                    slots.remove()
            finally:
                server.should_exit = True
                session.stop()
                direct_queue.close()
                slots.close()
        kiosk_client.close()
        direct_client.close()
    return {"browser": browser_s, "direct": direct_s}


def _report(name: str, rows: list[tuple[float, float, float]]) -> tuple[float, float]:
    totals = [r[0] for r in rows]
    p50, p99 = _pct(totals, 0.5), _pct(totals, 0.99)
    median_row = min(rows, key=lambda r: abs(r[0] - p50))
    total, card, center = median_row
    rest = total - card - center
    print(
        f"{name:<22} p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms   of the p50 run: "
        f"card {card * 1000:6.1f} ms ({card / total:4.0%})  center {center * 1000:6.1f} ms "
        f"({center / total:4.0%})  page/terminal {rest * 1000:6.1f} ms ({rest / total:4.0%})"
    )
    return p50, p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--transport", choices=["pcsc", "virtual"], default="pcsc")
    args = parser.parse_args()
    print(
        f"kiosk registration, {args.runs} runs, transport {args.transport}, "
        f"{platform.node()} ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}), "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    result = run(args.runs, args.transport)
    b50, b99 = _report("browser (insert->receipt)", result["browser"])
    d50, d99 = _report("direct flow (reference)", result["direct"])
    print(f"ratio browser / direct: p50 {b50 / d50:.2f}, p99 {b99 / d99:.2f}")
    print(f"p50 mean check: {statistics.mean(r[0] for r in result['browser']) * 1000:.1f} ms mean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
