#!/usr/bin/env python3
"""Benchmark of libSSCardDriver.so: iReadCardBas from C against the same
read through the Python driver, in the same run.

The ningbo-gen2 test card is served on vpcd slot 0 by `sscard card serve` in a
process of its own, so that both readers below see the same card the same way.
The library is built by `sscard native build` into a temporary directory and a
small C program, compiled here, calls it.

- C: ``iReadCardBas(1, buf)``, as a kiosk calls it: the configuration file
  read, the reader connected, the national line read (10 APDUs on this card),
  the reader released. The first call of each process also starts the embedded
  Python: it is timed apart, over several process starts ("start-up").
- Python: the same read through the driver in this process:
  ``open_reader`` + ``read_national_line`` + close.

It prints the p50 of each, their ratio (C / Python), and the start-up p50.

Run: .venv/bin/python tools/bench_native.py [--reads 200] [--starts 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sscard_terminal.demo import wait_for_card  # noqa: E402
from sscard_terminal.driver.discovery import open_reader  # noqa: E402
from sscard_terminal.driver.national import read_national_line  # noqa: E402
from sscard_terminal.driver.sscard import SocialSecurityCard  # noqa: E402
from sscard_terminal.native.build import build  # noqa: E402
from sscard_terminal.native.config import ENV_VAR  # noqa: E402
from sscard_terminal.system.pcscd import ensure_pcscd  # noqa: E402

READER = "Virtual PCD 00 00"

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "SSCardDriver.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 0;
    char out[SSCARD_OUTINFO_SIZE];
    double t0 = now();
    long rc = iReadCardBas(1, out);
    printf("first %.9f\n", now() - t0);
    if (rc != 0) { fprintf(stderr, "iReadCardBas: %ld\n", rc); return 1; }
    for (int i = 0; i < n; i++) {
        t0 = now();
        rc = iReadCardBas(1, out);
        double spent = now() - t0;
        if (rc != 0) { fprintf(stderr, "iReadCardBas: %ld\n", rc); return 1; }
        printf("call %.9f\n", spent);
    }
    printf("line %s\n", out);
    return 0;
}
"""


def python_reads(n: int) -> tuple[list[float], str]:
    times: list[float] = []
    line = ""
    for _ in range(n):
        t0 = time.perf_counter()
        with open_reader(READER) as transport:
            line = str(read_national_line(SocialSecurityCard(transport)))
        times.append(time.perf_counter() - t0)
    return times, line


def c_run(program: Path, env: dict[str, str], n: int) -> tuple[float, list[float], bytes]:
    result = subprocess.run([str(program), str(n)], capture_output=True, env=env, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"the C program failed: {result.stderr.decode(errors='replace')}")
    first, times, line = 0.0, [], b""
    for raw in result.stdout.splitlines():
        kind, _, value = raw.partition(b" ")
        if kind == b"first":
            first = float(value)
        elif kind == b"call":
            times.append(float(value))
        elif kind == b"line":
            line = value
    return first, times, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=200, help="timed reads per batch")
    parser.add_argument("--starts", type=int, default=5, help="process starts for start-up")
    parser.add_argument("--rounds", type=int, default=2, help="alternating C/Python batches")
    args = parser.parse_args()
    pcscd = ensure_pcscd()
    server = subprocess.Popen(
        [sys.executable, "-m", "sscard_terminal.cli.main", "card", "serve"]
        + ["--profile", "ningbo-gen2", "--slot", "0"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_card(READER)
        with tempfile.TemporaryDirectory(prefix="bench-native-") as tmp:
            out = Path(tmp)
            build(out)
            source = out / "bench.c"
            source.write_text(PROGRAM, encoding="ascii")
            program = out / "bench"
            subprocess.run(
                ["gcc", "-O2", "-o", str(program), str(source), f"-I{out}", f"-L{out}"]
                + ["-lSSCardDriver", f"-Wl,-rpath,{out}"],
                check=True,
            )
            ini = out / "SSCardDriver.ini"
            ini.write_text(f"[reader]\nname = {READER}\n", encoding="utf-8")
            env = {**os.environ, ENV_VAR: str(ini)}
            python_reads(10)  # warm up this process's imports and pcscd
            c_times: list[float] = []
            py_times: list[float] = []
            rounds = []
            for _ in range(args.rounds):
                _, c_batch, c_line = c_run(program, env, args.reads)
                py_batch, py_line = python_reads(args.reads)
                if c_line.decode("gbk") != py_line:
                    raise SystemExit(f"the lines differ: {c_line!r} vs {py_line!r}")
                c_times += c_batch
                py_times += py_batch
                rounds.append((statistics.median(c_batch), statistics.median(py_batch)))
            starts = [c_run(program, env, 0)[0] for _ in range(args.starts)]
    finally:
        server.terminate()
        server.wait(timeout=10)
        pcscd.stop()
    c50, py50 = statistics.median(c_times), statistics.median(py_times)
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}"
    )
    print(f"card: ningbo-gen2 on {READER!r} (sscard card serve), {args.reads} reads per batch")
    for i, (c, p) in enumerate(rounds, 1):
        print(
            f"round {i}: C p50 {c * 1000:.2f} ms, Python p50 {p * 1000:.2f} ms, ratio {c / p:.2f}"
        )
    print(f"iReadCardBas from C:        p50 {c50 * 1000:.2f} ms")
    print(f"Python driver, same read:   p50 {py50 * 1000:.2f} ms")
    print(f"ratio C / Python:           {c50 / py50:.2f}")
    print(
        f"embedding start-up (first call of a process, {args.starts} starts): "
        f"p50 {statistics.median(starts) * 1000:.0f} ms, "
        f"min {min(starts) * 1000:.0f} ms, max {max(starts) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
