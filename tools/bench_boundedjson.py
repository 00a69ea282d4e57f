#!/usr/bin/env python3
"""Benchmark of the bounded request parse ("No work before
authentication"). Not a test.

For each body, the CPU time per byte and the peak memory per byte of what the
center does with it before the signature is checked (:meth:`CenterService.admit`
without the database: :func:`boundedjson.parse`, the envelope, the canonical
input), as ratios of the same run's reference, a genuine 1101 message and a
genuine 4 MiB 2204 upload. The hostile bodies are those of the issue: 1e400000,
a 15 KB body of 1e-999999, a 4,300-digit integer, 970 levels of nesting, a lone
surrogate; and the largest of each kind that fits in the body limit (4 MiB).
``before`` runs the same steps with the parse the center used before
(``json.loads`` with Decimal, then the canonical input), bounded by a time limit.

Run:  .venv/bin/python tools/bench_boundedjson.py [--repeat 5] [--before]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sscard_terminal.center import boundedjson, wire
from sscard_terminal.center.envelope import parse_envelope

ENVELOPE = {
    "infno": "1101",
    "msgid": "H33020300001" + "20261206093000" + "0001",
    "mdtrtarea_admvs": "330203",
    "insuplc_admdvs": "",
    "recer_sys_code": "FSI_LOCAL",
    "dev_no": "",
    "dev_safe_info": "",
    "cainfo": "0" * 64,
    "signtype": "HMAC-SM3",
    "infver": "V1.0",
    "opter_type": "1",
    "opter": "0001",
    "opter_name": "收费员甲",
    "inf_time": "2026-12-06 09:30:00",
    "fixmedins_code": "H33020300001",
    "fixmedins_name": "宁波市第一医院",
    "sign_no": "1" * 30,
}


def body_with(raw_input: bytes) -> bytes:
    head = json.dumps({**ENVELOPE, "input": None}, ensure_ascii=False).encode()
    return head.replace(b'"input": null', b'"input": ' + raw_input)


def fee_line(n: int) -> dict[str, Any]:
    return {
        "feedetl_sn": str(n),
        "mdtrt_id": "M" * 30,
        "psn_no": "3302" + "0" * 16,
        "chrg_bchno": "B1",
        "fee_ocur_time": "2026-12-06 09:30:00",
        "med_list_codg": "XC10AAA005A001010100004",
        "det_item_fee_sumamt": 12.30,
        "cnt": 1,
        "pric": 12.30,
    }


def upload(limit: int) -> bytes:
    lines: list[dict[str, Any]] = []
    body = b""
    while True:
        lines.append(fee_line(len(lines)))
        if len(lines) % 500 == 0:
            candidate = body_with(json.dumps({"feedetail": lines}).encode())
            if len(candidate) > limit:
                return body
            body = candidate


def fill(unit: bytes, limit: int, head: bytes = b'{"data":[', tail: bytes = b"]}") -> bytes:
    count = (limit - 2000) // (len(unit) + 1)
    return body_with(head + b",".join([unit] * count) + tail)


def bodies() -> dict[str, bytes]:
    limit = boundedjson.MAX_BODY
    return {
        "reference: 1101 message": body_with(
            b'{"data":{"mdtrt_cert_type":"03","mdtrt_cert_no":"A1"}}'
        ),
        "reference: 4 MiB 2204 upload": upload(limit),
        "1e400000": body_with(b'{"data":{"psn_no":1e400000}}'),
        "15 KB of 1e-999999": body_with(b'{"data":[' + b",".join([b"1e-999999"] * 1500) + b"]}"),
        "4 MiB of 1e-999999": fill(b"1e-999999", limit),
        "4,300-digit integer": body_with(b'{"data":' + b"7" * 4300 + b"}"),
        "4 MiB of 4,300-digit integers": fill(b"7" * 4300, limit),
        "970 levels": body_with(b'{"data":' + b"[" * 970 + b"]" * 970 + b"}"),
        "4 MiB of nesting": body_with(b"[" * ((limit - 2000) // 2) + b"]" * ((limit - 2000) // 2)),
        "lone surrogate": body_with(b'{"data":{"psn_no":"\\ud800"}}'),
        "4 MiB of surrogate pairs": fill(b'"\\ud83d\\ude00"', limit),
        "4 MiB of small numbers": fill(b"1", limit),
    }


def admit_now(body: bytes) -> None:
    """What the center does before the signature, without the database."""
    try:
        raw = boundedjson.parse(body)
    except boundedjson.BodyRefused:
        return
    try:
        envelope = parse_envelope(raw)
        wire.canonical(envelope.input)
    except Exception:  # a refusal: what matters is the cost
        return


def admit_before(body: bytes) -> None:
    """The same steps with the unbounded parse the center used to have."""
    try:
        raw = json.loads(body, parse_float=Decimal)
        envelope = parse_envelope(raw)
        wire.canonical(envelope.input)
    except Exception:
        return


def _measure(step: Callable[[bytes], None], body: bytes, repeat: int, out: Any) -> None:
    cpu = []
    for _ in range(repeat):
        started = time.process_time()
        step(body)
        cpu.append(time.process_time() - started)
    tracemalloc.start()
    step(body)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out.put((min(cpu), peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def measure(
    step: Callable[[bytes], None], body: bytes, repeat: int, limit: float
) -> tuple[float, float] | None:
    """(CPU seconds, peak traced bytes) in a child process; None past ``limit`` s."""
    queue: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=_measure, args=(step, body, repeat, queue))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    cpu, peak, _ = queue.get()
    return cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", action="store_true", help="also the parse of before")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per body (before)")
    args = parser.parse_args()
    cases = bodies()
    results: dict[str, dict[str, tuple[float, float] | None]] = {}
    for name, body in cases.items():
        results[name] = {"now": measure(admit_now, body, args.repeat, args.limit)}
        if args.before:
            results[name]["before"] = measure(admit_before, body, 1, args.limit)
    ref = results["reference: 4 MiB 2204 upload"]["now"]
    assert ref is not None
    ref_cpu = ref[0] / len(cases["reference: 4 MiB 2204 upload"])
    ref_mem = ref[1] / len(cases["reference: 4 MiB 2204 upload"])
    print(
        f"reference: 4 MiB 2204 upload, {ref_cpu * 1e9:.1f} ns CPU "
        f"and {ref_mem:.1f} B peak per byte"
    )
    print(
        f"{'body':34} {'bytes':>9} {'CPU/byte':>9} {'mem/byte':>9}"
        + (f" {'before CPU/byte':>16} {'before mem/byte':>16}" if args.before else "")
    )
    for name, body in cases.items():
        row = f"{name:34} {len(body):9d}"
        for key in ("now", "before") if args.before else ("now",):
            got = results[name][key]
            width = 9 if key == "now" else 16
            if got is None:
                row += f" {'>' + str(int(args.limit)) + ' s':>{width}} {'-':>{width}}"
            else:
                cpu, mem = got[0] / len(body) / ref_cpu, got[1] / len(body) / ref_mem
                row += f" {cpu:{width}.2f} {mem:{width}.2f}"
        print(row)


if __name__ == "__main__":
    main()
