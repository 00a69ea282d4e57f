#!/usr/bin/env python3
"""Benchmark of the reader agent: ``iReadCardBas`` through the agent
over WebSocket against the same read through the driver directly, same run.

Two ningbo-gen2 cards are served through pcscd/vpcd (slots 0 and 1, two
readers). The direct read is what the agent does per call, in-process: the
station connects the reader, reads the national line, releases the card. The
agent is ``sscard agent serve`` in its own process (its log on, to a file),
called by one ``websockets`` client that waits for each answer. The two are
measured in alternating rounds so that both see the same machine. Then 8
clients at once (4 per reader) call the agent; each call's latency and the
total rate are reported, with the number of ``busy`` answers.

Run: .venv/bin/python tools/bench_agent.py [--calls 400] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import websockets  # noqa: E402

from sscard_terminal.demo import wait_for_card  # noqa: E402
from sscard_terminal.driver.national import read_national_line  # noqa: E402
from sscard_terminal.system.pcscd import ensure_pcscd  # noqa: E402
from sscard_terminal.terminal.station import Station, StationSpec  # noqa: E402
from sscard_terminal.vcard.factory import card_from_profile  # noqa: E402
from sscard_terminal.vpcd.bridge import serve_card, slot_port  # noqa: E402

READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
SSCARD = str(Path(sys.executable).with_name("sscard"))


def serve(slot: int) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_card,
        args=(card_from_profile("ningbo-gen2"),),
        kwargs={"port": slot_port(slot), "stop": stop},
        daemon=True,
    )
    thread.start()
    return stop, thread


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def direct_reads(station: Station, n: int) -> tuple[list[float], str]:
    times, line = [], ""
    for _ in range(n):
        t0 = time.perf_counter()
        with station.card(READERS[0]) as card:
            line = str(read_national_line(card, check_expiry=True))
        times.append(time.perf_counter() - t0)
    return times, line


async def agent_reads(url: str, n: int, reader: str = READERS[0]) -> tuple[list[float], str, int]:
    times, line, busy = [], "", 0
    async with websockets.connect(url) as ws:
        for i in range(n):
            t0 = time.perf_counter()
            await ws.send(
                json.dumps(
                    {"function": "iReadCardBas", "iType": 3, "requestId": i, "reader": reader}
                )
            )
            body = json.loads(await ws.recv())
            times.append(time.perf_counter() - t0)
            if body["success"] == -7:
                busy += 1
            elif body["success"] != 0:
                raise RuntimeError(f"the agent answered {body}")
            else:
                line = body["pOutInfo"]
    return times, line, busy


async def concurrent(url: str, clients: int, n: int) -> tuple[list[float], float, int]:
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(agent_reads(url, n, READERS[i % len(READERS)]) for i in range(clients))
    )
    wall = time.perf_counter() - t0
    times = [t for r in results for t in r[0]]
    return times, wall, sum(r[2] for r in results)


def start_agent(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [SSCARD, "agent", "serve", "--port", "0", "--reader", READERS[0], "--reader",
             READERS[1]],
            stderr=out, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if "listening on ws://" in text:
            port = text.split("listening on ws://127.0.0.1:")[1].split("/")[0]
            return process, f"ws://127.0.0.1:{port}/"
        if process.poll() is not None:
            raise RuntimeError(f"the agent exited: {text}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the agent did not start")


def ms(values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per side and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    pcscd = ensure_pcscd()
    servers = [serve(0), serve(1)]
    process: subprocess.Popen[bytes] | None = None
    try:
        for reader in READERS:
            wait_for_card(reader)
        with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
            process, url = start_agent(Path(tmp) / "agent.log")
            direct: list[float] = []
            agent: list[float] = []
            with Station(StationSpec(reader=READERS[0])) as station:
                direct_reads(station, 20)  # warm-up of both
                asyncio.run(agent_reads(url, 20))
                for _ in range(args.rounds):
                    times, direct_line = direct_reads(station, args.calls)
                    direct += times
                    times, agent_line, _busy = asyncio.run(agent_reads(url, args.calls))
                    agent += times
            assert agent_line == direct_line, (agent_line, direct_line)
            per_client = max(1, args.calls // 4)
            conc, wall, busy = asyncio.run(concurrent(url, args.clients, per_client))
            process.terminate()
            process.wait(10)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        for stop, thread in servers:
            stop.set()
            thread.join(timeout=5)
        pcscd.stop()
    d50, a50 = statistics.median(direct), statistics.median(agent)
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print(f"direct driver read (station, national line), {len(direct)} reads: {ms(direct)}")
    print(f"agent over WebSocket, same read, {len(agent)} calls: {ms(agent)}")
    ratio99 = percentile(agent, 0.99) / percentile(direct, 0.99)
    print(f"ratio agent/direct: p50 {a50 / d50:.2f} (target <= 1.5), p99 {ratio99:.2f}")
    n = len(conc)
    print(
        f"{args.clients} clients at once on {len(READERS)} readers, {n} calls: {ms(conc)}, "
        f"{n / wall:.0f} calls/s in total ({1 / d50:.0f}/s for one direct reader), "
        f"{busy} busy answers"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
