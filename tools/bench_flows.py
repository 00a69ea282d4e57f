#!/usr/bin/env python3
"""Benchmark of the three terminal flows. Not a test.

The demo person 张三's ningbo-gen3 card is served on vpcd slot 0 and the
virtual PSAM on slot 1 (threads of this process, as in bench_auth_read.py),
both reached through pcscd with pyscard; the center runs as
``sscard center serve`` in its own process on loopback with a fresh SQLite
database and the demo seed. Each flow runs ``--runs`` times end to end (card
read with the PSAM, PIN by a simulated PIN pad, the center's messages, the
card record, the receipt) and the benchmark prints, per flow:

- the card's APDUs and bytes on the wire (commands and responses, SW
  included), the PSAM's, and the center's messages and HTTP body bytes;
- p50 / p99 of the whole flow, and how much of the p50 run was spent in card
  and PSAM APDUs, in HTTP to the center, and in the terminal itself (the
  rest: its journal's durable commits, two per message, and the code);
- the time the card's and PSAM's bytes would take on 9600-baud contact cards
  (12 etu per byte, no guard time or processing time: a lower bound).

Run: .venv/bin/python tools/bench_flows.py [--runs 30]
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sscard_terminal.center.clock import system_clock  # noqa: E402
from sscard_terminal.center.db import Database, migrate  # noqa: E402
from sscard_terminal.center.policy import load_policy  # noqa: E402
from sscard_terminal.center.seed.demo import seed_demo  # noqa: E402
from sscard_terminal.demo import wait_for_card  # noqa: E402
from sscard_terminal.driver.pin import SimulatedPinPad  # noqa: E402
from sscard_terminal.driver.psam import PsamSam  # noqa: E402
from sscard_terminal.driver.sscard import SocialSecurityCard  # noqa: E402
from sscard_terminal.settlement import InstitutionConfig, Operator, SettlementClient  # noqa: E402
from sscard_terminal.settlement.envelope import OpterType  # noqa: E402
from sscard_terminal.system.pcscd import ensure_pcscd  # noqa: E402
from sscard_terminal.terminal.flows import (  # noqa: E402
    Item,
    QueueBook,
    hospital_swipe,
    kiosk_register,
    pharmacy_purchase,
)
from sscard_terminal.terminal.payment import SimulatedPayments  # noqa: E402
from sscard_terminal.terminal.receipt import Receipt  # noqa: E402
from sscard_terminal.terminal.schedule import load_schedule  # noqa: E402
from sscard_terminal.transport.base import open_transport  # noqa: E402
from sscard_terminal.vcard.cardos import CardOS  # noqa: E402
from sscard_terminal.vcard.factory import card_from_profile, new_image  # noqa: E402
from sscard_terminal.vpcd.bridge import serve_card, slot_port  # noqa: E402

SECONDS_PER_BYTE_9600 = 12 / 9600
CARD_READER, PSAM_READER = "Virtual PCD 00 00", "Virtual PCD 00 01"
HOSPITAL, PHARMACY = "H33020300001", "P33020300003"
PIN = "123456"
CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]


@dataclass
class Meter:
    """Time and bytes of one kind of traffic during one flow."""

    count: int = 0
    sent: int = 0
    received: int = 0
    seconds: float = 0.0


@dataclass
class Run:
    seconds: float
    card: Meter
    psam: Meter
    center: Meter


@dataclass
class FlowResult:
    name: str
    runs: list[Run] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        times = sorted(r.seconds for r in self.runs)
        p50 = statistics.median(times)
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        middle = min(self.runs, key=lambda r: abs(r.seconds - p50))
        last = self.runs[-1]
        card_bytes = last.card.sent + last.card.received
        psam_bytes = last.psam.sent + last.psam.received
        return {
            "flow": self.name,
            "card_apdus": last.card.count,
            "card_bytes": card_bytes,
            "psam_apdus": last.psam.count,
            "psam_bytes": psam_bytes,
            "center_messages": last.center.count,
            "center_bytes": last.center.sent + last.center.received,
            "p50_ms": p50 * 1000,
            "p99_ms": p99 * 1000,
            "p50_card_ms": (middle.card.seconds + middle.psam.seconds) * 1000,
            "p50_center_ms": middle.center.seconds * 1000,
            "p50_rest_ms": (
                middle.seconds - middle.card.seconds - middle.psam.seconds - middle.center.seconds
            )
            * 1000,
            "at_9600_ms": (card_bytes + psam_bytes) * SECONDS_PER_BYTE_9600 * 1000,
        }


def _meter_transport(transport: Any, meter: Meter) -> Callable[[], None]:
    """Count and time every APDU of ``transport``; returns the undo."""
    transmit = transport.transmit

    def metered(command: bytes) -> bytes:
        t0 = time.perf_counter()
        answer: bytes = transmit(command)
        meter.seconds += time.perf_counter() - t0
        meter.count += 1
        meter.sent += len(command)
        meter.received += len(answer)
        return answer

    transport.transmit = metered

    def undo() -> None:
        transport.transmit = transmit

    return undo


def _meter_http(client: SettlementClient, meter: Meter) -> Callable[[], None]:
    http: httpx.Client = client._http  # the client's own connection settings
    post = http.post

    def metered(url: str, **kw: Any) -> httpx.Response:
        t0 = time.perf_counter()
        answer = post(url, **kw)
        meter.seconds += time.perf_counter() - t0
        meter.count += 1
        meter.sent += len(kw.get("content") or b"")
        meter.received += len(answer.content)
        return answer

    http.post = metered  # type: ignore[method-assign, assignment]

    def undo() -> None:
        http.post = post  # type: ignore[method-assign]

    return undo


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
        [*CLI, "center", "serve", "--db", url, "--port", str(port), "--log-level", "warning",
         "--admin-token-file", str(directory / "admin-token")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/openapi.json", timeout=1.0)
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


def _serve(card: Any, slot: int) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_card, args=(card,), kwargs={"port": slot_port(slot), "stop": stop}, daemon=True
    )
    thread.start()
    return stop, thread


def _client(url: str, demo: dict[str, Any], code: str, opter: str, slot: int, tmp: Path,
            kiosk: bool = False) -> SettlementClient:  # fmt: skip
    inst = next(i for i in demo["institutions"] if i["fixmedins_code"] == code)
    return SettlementClient(
        url,
        InstitutionConfig(code, inst["fixmedins_name"], inst["admdvs"], inst["secret"]),
        Operator(OpterType.KIOSK if kiosk else OpterType.OPERATOR, opter, "bench"),
        tmp / f"journal-{code}-{opter}.db",
        10.0,
        msgid_slot=slot,
    )


def run(runs: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as name, center_process(Path(name)) as (url, demo):
        tmp = Path(name)
        person_file = tmp / "normal.json"
        import json

        person_file.write_text(
            json.dumps(demo["persons"]["normal"]["person_file"], ensure_ascii=False), "utf-8"
        )
        servers = [
            _serve(CardOS(new_image("ningbo-gen3", person_file)), 0),
            _serve(card_from_profile("psam-ningbo"), 1),
        ]
        clients = {
            "hospital swipe": _client(url, demo, HOSPITAL, "B001", 1, tmp),
            "pharmacy purchase": _client(url, demo, PHARMACY, "B001", 2, tmp),
            "kiosk registration": _client(url, demo, HOSPITAL, "K001", 3, tmp, kiosk=True),
        }
        payments = SimulatedPayments()
        schedule = load_schedule()
        flows: dict[str, Callable[..., Receipt]] = {
            "hospital swipe": lambda card, sam, client: hospital_swipe(
                card, sam, SimulatedPinPad([PIN]), client,
                [Item("001102000010000", Decimal(1), Decimal("20.00"), "诊查费"),
                 Item("XJ01CAA040A001010100001", Decimal(2), Decimal("1.20"), "阿莫西林胶囊")],
            ),
            "pharmacy purchase": lambda card, sam, client: pharmacy_purchase(
                card, sam, SimulatedPinPad([PIN]), client,
                [Item("XC10AAA005A001010100004", Decimal(1), Decimal("12.50"), "阿托伐他汀钙片"),
                 Item("310100001", Decimal(1), Decimal("3.00"), "自费")],
                payments,
            ),
            "kiosk registration": lambda card, sam, client: kiosk_register(
                card, sam, SimulatedPinPad([PIN]), client, schedule, "0701", "D010",
                payments, queue=QueueBook(),
            ),
        }  # fmt: skip
        results: list[dict[str, Any]] = []
        try:
            wait_for_card(CARD_READER)
            wait_for_card(PSAM_READER)
            with PsamSam.open(PSAM_READER) as sam:
                for name, flow in flows.items():
                    client = clients[name]
                    client.current_sign_no()  # 9001 once a day, not part of a flow
                    result = FlowResult(name)
                    for _ in range(runs):
                        card_meter, psam_meter, http_meter = Meter(), Meter(), Meter()
                        undo_psam = _meter_transport(sam.transport, psam_meter)
                        undo_http = _meter_http(client, http_meter)
                        try:
                            with open_transport(reader=CARD_READER) as transport:
                                undo_card = _meter_transport(transport, card_meter)
                                t0 = time.perf_counter()
                                receipt = flow(SocialSecurityCard(transport), sam, client)
                                seconds = time.perf_counter() - t0
                                undo_card()
                        finally:
                            undo_psam()
                            undo_http()
                        assert receipt.extra["card_record"] == "written", receipt.extra
                        result.runs.append(Run(seconds, card_meter, psam_meter, http_meter))
                    results.append(result.summary())
        finally:
            for client in clients.values():
                client.close()
            for stop, thread in servers:
                stop.set()
                thread.join(timeout=5)
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    pcscd = ensure_pcscd()
    try:
        results = run(args.runs)
    finally:
        pcscd.stop()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {args.runs} runs per flow"
    )
    print(
        "| flow | card APDUs / bytes | PSAM APDUs / bytes | center messages / bytes "
        "| p50 / p99 | of the p50: card+PSAM / center / terminal | card+PSAM bytes at 9600 baud |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['flow']} | {r['card_apdus']} / {r['card_bytes']} "
            f"| {r['psam_apdus']} / {r['psam_bytes']} "
            f"| {r['center_messages']} / {r['center_bytes']:,} "
            f"| {r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms "
            f"| {r['p50_card_ms']:.1f} / {r['p50_center_ms']:.1f} / {r['p50_rest_ms']:.1f} ms "
            f"| {r['at_9600_ms']:.0f} ms |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
