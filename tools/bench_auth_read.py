#!/usr/bin/env python3
"""Benchmark of a full authenticated 3.0 read.

The ningbo-gen3 card is served on vpcd slot 0 and the virtual PSAM on slot 1,
both through pcscd, as a kiosk with a SAM slot has them. One read = SELECT
SSSE, EF05, EXTERNAL AUTHENTICATE with RKSSSE through the PSAM, EF06. For each
security module (software, PSAM over PC/SC) it prints the APDUs and bytes on
the wire of the card and of the PSAM, the median time through PC/SC, and the
time the same bytes would take on 9600-baud contact cards (12 etu per byte).

Run: .venv/bin/python tools/bench_auth_read.py [--reads 50]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sscard_terminal.demo import wait_for_card  # noqa: E402
from sscard_terminal.driver.psam import PsamSam  # noqa: E402
from sscard_terminal.driver.security_modules import open_security_module  # noqa: E402
from sscard_terminal.driver.sscard import SocialSecurityCard  # noqa: E402
from sscard_terminal.system.pcscd import ensure_pcscd  # noqa: E402
from sscard_terminal.transport.base import open_transport  # noqa: E402
from sscard_terminal.vcard.factory import card_from_profile  # noqa: E402
from sscard_terminal.vpcd.bridge import serve_card, slot_port  # noqa: E402

SECONDS_PER_BYTE_9600 = 12 / 9600
LABELS = ("software", "pcsc")
CARD_READER, PSAM_READER = "Virtual PCD 00 00", "Virtual PCD 00 01"


def serve(card: object, slot: int) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_card, args=(card,), kwargs={"port": slot_port(slot), "stop": stop}, daemon=True
    )
    thread.start()
    return stop, thread


def run(reads: int) -> list[dict[str, object]]:
    servers = [
        serve(card_from_profile("ningbo-gen3"), 0),
        serve(card_from_profile("psam-ningbo"), 1),
    ]
    results: list[dict[str, object]] = []
    try:
        wait_for_card(CARD_READER)
        wait_for_card(PSAM_READER)
        for label in LABELS:
            sam = PsamSam.open(PSAM_READER) if label == "pcsc" else open_security_module("software")
            times = []
            card_stats = psam_stats = None
            try:
                for _ in range(reads):
                    psam_session = getattr(sam, "session", None)
                    if psam_session is not None:
                        psam_session.stats.reset()
                    with open_transport(reader=CARD_READER) as transport:
                        driver = SocialSecurityCard(transport)
                        t0 = time.perf_counter()
                        record = driver.read(sam=sam)
                        times.append(time.perf_counter() - t0)
                        assert record.holder is not None and record.holder.id_number
                        card_stats = driver.session.stats
                        psam_stats = psam_session.stats if psam_session is not None else None
            finally:
                sam.close()
            assert card_stats is not None
            card_bytes = card_stats.bytes_total
            psam_bytes = psam_stats.bytes_total if psam_stats else 0
            results.append(
                {
                    "sam": label,
                    "card_apdus": card_stats.apdus,
                    "card_bytes": card_bytes,
                    "psam_apdus": psam_stats.apdus if psam_stats else 0,
                    "psam_bytes": psam_bytes,
                    "median_ms": statistics.median(times) * 1000,
                    "at_9600_ms": (card_bytes + psam_bytes) * SECONDS_PER_BYTE_9600 * 1000,
                }
            )
    finally:
        for stop, thread in servers:
            stop.set()
            thread.join(timeout=5)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50)
    args = parser.parse_args()
    pcscd = ensure_pcscd()
    try:
        results = run(args.reads)
    finally:
        pcscd.stop()
    print(f"machine: {platform.node()} {platform.machine()} Python {platform.python_version()}")
    for r in results:
        print(
            f"authenticated 3.0 read, --sam {r['sam']}: card {r['card_apdus']} APDUs / "
            f"{r['card_bytes']} bytes, PSAM {r['psam_apdus']} APDUs / {r['psam_bytes']} bytes; "
            f"{r['median_ms']:.2f} ms median through PC/SC; "
            f"{r['at_9600_ms']:.0f} ms for those bytes at 9600 baud"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
