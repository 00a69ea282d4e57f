#!/usr/bin/env python3
"""Benchmark of the virtual card and the PC/SC path.

Prints:
  (a) in-process APDUs per second of the virtual card on a fixed mix of
      SELECT and READ RECORD;
  (b) the median PC/SC round trip to the served card next to a trivial echo
      card served the same way (the other vpcd slot), measured interleaved in
      the same run, and their ratio;
  (c) the APDU count, bytes on the wire and time of one full `read` and of
      one national-line read through PC/SC, with the time the same bytes
      would take on a 9600-baud contact card (12 etu = 1.25 ms per byte).

Run: .venv/bin/python tools/bench_apdu.py [--seconds 2] [--round-trips 2000]
It starts pcscd if none runs (and stops it again).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sscard_terminal.demo import wait_for_card  # noqa: E402
from sscard_terminal.driver.national import LINE_HOLDER_KEYS, LINE_ISSUER_KEYS  # noqa: E402
from sscard_terminal.driver.sscard import SocialSecurityCard  # noqa: E402
from sscard_terminal.system.pcscd import ensure_pcscd  # noqa: E402
from sscard_terminal.transport.base import open_transport  # noqa: E402
from sscard_terminal.vcard.cardos import CardOS  # noqa: E402
from sscard_terminal.vcard.echo import EchoCard  # noqa: E402
from sscard_terminal.vcard.personalise import personalise  # noqa: E402
from sscard_terminal.vcard.profile import load_profile  # noqa: E402
from sscard_terminal.vpcd.bridge import serve_card, slot_port  # noqa: E402

SSSE = "7378312E73682EC9E7BBE1B1A3D5CF"
MIX = [
    bytes.fromhex(h)
    for h in (
        "00A4040C0F" + SSSE,  # SELECT SSSE, no FCI
        "00B2012C12",  # READ RECORD EF05 record 1 (card identification code)
        "00B207280B",  # EF05 tag 07 card number (SFI 05, by tag)
        "00B2083014",  # EF06 tag 08 ID number
        "00B2093020",  # EF06 tag 09 name
        "00A404000F" + SSSE + "1E",  # SELECT SSSE with FCI
        "00B20A3003",  # EF06 tag 0A: sex
        "00A4040006D15600000503",  # SELECT DF04 -> 61xx
    )
]
SECONDS_PER_BYTE_9600 = 12 / 9600  # 12 etu per character at 9600 baud


def bench_in_process(seconds: float) -> tuple[float, int]:
    card = CardOS(personalise(load_profile("ningbo-gen2")))
    for apdu in MIX:  # sanity: every command of the mix succeeds
        sw = card.process(apdu)[-2:]
        assert sw[0] in (0x90, 0x61), (apdu.hex(), sw.hex())
    n = 0
    process = card.process
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for apdu in MIX:
            process(apdu)
        n += len(MIX)
        if n % 4000 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    return n / elapsed, n


def _serve(card: object, slot: int) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_card, args=(card,), kwargs={"port": slot_port(slot), "stop": stop}, daemon=True
    )
    thread.start()
    return stop, thread


def bench_pcsc(round_trips: int) -> dict[str, object]:
    card = CardOS(personalise(load_profile("ningbo-gen2")))
    echo = EchoCard()
    stops = [_serve(card, 0), _serve(echo, 1)]
    try:
        wait_for_card("Virtual PCD 00 00")
        wait_for_card("Virtual PCD 00 01")
        read_cmd = bytes.fromhex("00B2083014")
        with (
            open_transport(reader="Virtual PCD 00 00") as t_card,
            open_transport(reader="Virtual PCD 00 01") as t_echo,
        ):
            t_card.transmit(bytes.fromhex("00A4040C0F" + SSSE))
            card_times: list[float] = []
            echo_times: list[float] = []
            for _ in range(round_trips // 100):  # interleave blocks: fair under noise
                for transport, sink in ((t_card, card_times), (t_echo, echo_times)):
                    for _ in range(100):
                        t0 = time.perf_counter()
                        transport.transmit(read_cmd)
                        sink.append(time.perf_counter() - t0)
        card_median = statistics.median(card_times)
        echo_median = statistics.median(echo_times)

        reads: dict[str, dict[str, float]] = {}
        for label, keys in (
            ("full read", None),
            ("national line", (LINE_ISSUER_KEYS, LINE_HOLDER_KEYS)),
        ):
            timings = []
            stats = None
            for _ in range(50):
                with open_transport(reader="Virtual PCD 00 00") as transport:
                    driver = SocialSecurityCard(transport)
                    t0 = time.perf_counter()
                    if keys is None:
                        driver.read()
                    else:
                        driver.read(*keys)
                    timings.append(time.perf_counter() - t0)
                    stats = driver.session.stats
            assert stats is not None
            reads[label] = {
                "apdus": stats.apdus,
                "bytes_on_wire": stats.bytes_total,
                "median_ms": statistics.median(timings) * 1000,
                "at_9600_baud_ms": stats.bytes_total * SECONDS_PER_BYTE_9600 * 1000,
            }
        return {
            "card_median_us": card_median * 1e6,
            "echo_median_us": echo_median * 1e6,
            "ratio": card_median / echo_median,
            "reads": reads,
        }
    finally:
        for stop, thread in stops:
            stop.set()
            thread.join(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rate, n = bench_in_process(args.seconds)
    pcscd = ensure_pcscd()
    try:
        pcsc = bench_pcsc(args.round_trips)
    finally:
        pcscd.stop()
    result = {
        "machine": f"{platform.node()} {platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}",
        "in_process_apdus_per_s": rate,
        "in_process_apdus": n,
        **pcsc,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"machine: {result['machine']}")
    print(f"(a) in-process: {rate:,.0f} APDUs/s ({n:,} APDUs, SELECT/READ RECORD mix)")
    print(
        f"(b) PC/SC round trip, median: served card {pcsc['card_median_us']:.0f} us, "
        f"echo card {pcsc['echo_median_us']:.0f} us, ratio {pcsc['ratio']:.2f}"
    )
    reads = pcsc["reads"]
    assert isinstance(reads, dict)
    for label, r in reads.items():
        print(
            f"(c) {label}: {r['apdus']} APDUs, {r['bytes_on_wire']} bytes on the wire, "
            f"{r['median_ms']:.2f} ms median through PC/SC, "
            f"{r['at_9600_baud_ms']:.0f} ms for those bytes at 9600 baud"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
