#!/usr/bin/env python3
"""Benchmark of the settlement center. Not a test.

Measures, with the center served by ``sscard center serve`` in its own
process and this process as the load generator (raw HTTP/1.1 keep-alive):

  (a) 2207 settlements per second sustained (closed loop, --connections
      concurrent terminals) on SQLite and on PostgreSQL;
  (b) p50/p99 latency of 2207 at a fixed offered load (open loop, --rate per
      second, latency measured from the intended send time, so a stalled
      server cannot hide its queue);
  (c) the same two measures, in the same run, against a reference: a bare
      FastAPI/uvicorn endpoint that parses the envelope and returns a fixed
      answer without touching a database (same uvicorn settings);
  (d) 1101 person look-up latency (p50/p99 at a fixed offered load) with
      --big persons seeded (7,200,000 = Ningbo's card count).

Targets: settlements >= 25% of the reference's rate; p99 < 50 ms at
500 settlements/s; 1101 p99 < 5 ms at 7.2 million persons.

Each sustained run also reports the CPU time per message of the server
processes, of PostgreSQL (all processes of the temporary cluster) and of this
load generator (cpu_us_*), which all share the machine's cores.

Run:  .venv/bin/python tools/bench_center.py [--seconds 15] [--rate 500]
          [--backends sqlite,postgresql] [--big 7200000] [--big-backend sqlite]
PostgreSQL: a temporary cluster is started (initdb; as user postgres when run
as root) with its default durability settings, unless --pg-url is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import glob
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from sscard_terminal.center import signature, wire  # noqa: E402
from sscard_terminal.center.api import CALL_SERVICE  # noqa: E402
from sscard_terminal.center.clock import system_clock  # noqa: E402
from sscard_terminal.center.db import Database, migrate  # noqa: E402
from sscard_terminal.center.models import FeeDetail, Visit  # noqa: E402
from sscard_terminal.center.policy import load_policy  # noqa: E402
from sscard_terminal.center.rules import money  # noqa: E402
from sscard_terminal.center.seed.bulk import bulk_person, seed_bulk  # noqa: E402
from sscard_terminal.center.seed.demo import seed_demo  # noqa: E402

SSCARD = str(Path(sys.executable).parent / "sscard")
CODE = "H33020300001"
DRUG, SERVICE = "XC10AAA005A001010100004", "001102000010000"

REFERENCE_APP = """
import json
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
ANSWER = json.dumps({"infcode": 0, "inf_refmsgid": "330200202601010000000000000000",
                     "refmsg_time": "20260101000000000", "respond_time": "20260101000000000",
                     "err_msg": None, "warn_msg": None,
                     "output": {"setlinfo": {"setl_id": "X", "medfee_sumamt": "125.00"}}}).encode()


@app.post("/fsi/api/rsfComIfsService/callService")
async def call_service(request: Request) -> Response:
    envelope = json.loads(await request.body())
    if not isinstance(envelope, dict) or "infno" not in envelope or "input" not in envelope:
        return Response(b'{"infcode": -1}', media_type="application/json")
    return Response(ANSWER, media_type="application/json")
"""


# -- processes --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: the root processes whose CPU time (with their descendants') is counted per run:
#: "server" (sscard center serve) and "postgresql" (the postmaster of a temp cluster)
WATCHED: dict[str, int] = {}


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of a process and all its living descendants."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, seconds in times.items():
        p = pid
        while p > 1 and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += seconds
    return total


def cpu_snapshot() -> dict[str, float]:
    """CPU seconds so far of the watched processes and of this load generator."""
    out = {name: _tree_cpu(pid) for name, pid in WATCHED.items()}
    out["load_generator"] = time.process_time()
    return out


def cpu_per_message(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """Microseconds of CPU per message, per process group."""
    return {
        f"cpu_us_{name}": round((after[name] - before[name]) / max(n, 1) * 1e6)
        for name in before
        if name in after
    }


def wait_http(port: int, process: subprocess.Popen[bytes], path: str = "/health") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"server exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


@contextlib.contextmanager
def serve_center(db_url: str, workdir: Path, workers: int = 1) -> Iterator[int]:
    port = free_port()
    env = dict(os.environ, SSCARD_CENTER_ADMIN_TOKEN="bench-token-0123456789")
    process = subprocess.Popen(
        [
            SSCARD,
            "center",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-migrate",
            "--admin-token-file",
            str(workdir / "token"),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        wait_http(port, process)
        WATCHED["server"] = process.pid
        yield port
    finally:
        WATCHED.pop("server", None)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def serve_reference(workdir: Path) -> Iterator[int]:
    (workdir / "reference_app.py").write_text(REFERENCE_APP)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "reference_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-server-header",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http(port, process, "/docs")
        WATCHED["server"] = process.pid
        yield port
    finally:
        WATCHED.pop("server", None)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def postgres_cluster(workdir: Path, settings: tuple[str, ...] = ()) -> Iterator[str]:
    found = shutil.which("pg_ctl")
    bindir = Path(found).resolve().parent if found else None
    if bindir is None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not candidates:
            raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
        bindir = Path(candidates[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = root / "data"
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c shared_buffers=512MB "
        "-c max_connections=200 -c max_wal_size=4GB"
    ) + "".join(f" -c {setting}" for setting in settings)
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "center",
            ],
            check=True,
            capture_output=True,
        )
        WATCHED["postgresql"] = int((data / "postmaster.pid").read_text().split()[0])
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/center"
    finally:
        WATCHED.pop("postgresql", None)
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


# -- load generation ---------------------------------------------------------------------
class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> bytes:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n")[0].decode())
        return body


def http_request(body: bytes) -> bytes:
    return (
        f"POST {CALL_SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Result:
    done: int
    seconds: float
    latencies_ms: list[float]
    failures: int

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def closed_loop(port: int, requests: list[bytes], connections: int, seconds: float) -> Result:
    """Each connection sends its next request as soon as the last answered."""
    queue = iter(requests)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal failures
        conn = await Connection.open(port)
        while time.perf_counter() < deadline:
            raw = next(queue, None)
            if raw is None:
                break
            start = time.perf_counter()
            body = await conn.request(raw)
            latencies.append((time.perf_counter() - start) * 1000)
            if b'"infcode":0' not in body and b'"infcode": 0' not in body:
                failures += 1
                if failures <= 3 and os.environ.get("BENCH_DEBUG"):
                    print("failed:", body[:300], flush=True)
        conn.writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return Result(len(latencies), time.perf_counter() - start, latencies, failures)


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float) -> Result:
    """Send at ``rate`` per second whatever the answers do; latency counts from the
    intended send time (no coordinated omission)."""
    total = min(len(requests), int(rate * seconds))
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(16):
        idle.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter()

    async def one(raw: bytes, intended: float) -> None:
        nonlocal failures
        conn = idle.get_nowait() if not idle.empty() else await Connection.open(port)
        body = await conn.request(raw)
        latencies.append((time.perf_counter() - intended) * 1000)
        if b'"infcode":0' not in body and b'"infcode": 0' not in body:
            failures += 1
        idle.put_nowait(conn)

    tasks = []
    for i in range(total):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[i], intended)))
    await asyncio.gather(*tasks)
    return Result(total, time.perf_counter() - start, latencies, failures)


# -- the center's data ---------------------------------------------------------------------
_START = system_clock().replace(tzinfo=None, microsecond=0)


@dataclass
class Bench:
    secret: str
    admdvs: str
    name: str
    sign_no: str = ""
    seq: int = 0

    def envelope(self, infno: str, payload: dict[str, Any], insuplc: str = "") -> bytes:
        self.seq += 1
        now = system_clock().replace(tzinfo=None)
        # unique: each block of 10,000 sequence numbers one second further back
        stamp = _START - dt.timedelta(seconds=self.seq // 10000)
        env = {
            "infno": infno,
            "msgid": f"{CODE}{stamp:%Y%m%d%H%M%S}{self.seq % 10000:04d}",
            "mdtrtarea_admvs": self.admdvs,
            "insuplc_admdvs": insuplc,
            "recer_sys_code": "BENCH",
            "signtype": "HMAC-SM3",
            "infver": "V1.0",
            "opter_type": "2",
            "opter": "K01",
            "opter_name": "kiosk",
            "inf_time": f"{now:%Y-%m-%d %H:%M:%S}",
            "fixmedins_code": CODE,
            "fixmedins_name": self.name,
            "sign_no": self.sign_no,
            "input": payload,
        }
        env["cainfo"] = signature.sign(env, self.secret)
        return wire.dumps(env)


def prepare(db: Database, persons: int, visits: int) -> tuple[Bench, list[bytes]]:
    """Demo data, ``persons`` employees, and ``visits`` open visits with two fee
    details each (bulk-inserted: the set-up is not what is measured)."""
    policy = load_policy()
    now = system_clock()
    demo = seed_demo(db, policy, now)
    seed_bulk(db, policy, now, persons)
    inst = next(i for i in demo["institutions"] if i["fixmedins_code"] == CODE)
    bench = Bench(inst["secret"], inst["admdvs"], inst["fixmedins_name"])
    employees = [g for g in (bulk_person(policy, i) for i in range(persons)) if not g["resident"]]
    entries = {
        DRUG: money.CatalogueEntry(DRUG, "01", None, None),
        SERVICE: money.CatalogueEntry(SERVICE, "01", None, Decimal("25.00")),
    }
    local = now.replace(tzinfo=None, microsecond=0)
    visit_rows, fee_rows, bodies = [], [], []
    for n in range(visits):
        g = employees[n % len(employees)]
        mdtrt_id = f"BENCH{n:025d}"
        visit_rows.append(
            dict(
                mdtrt_id=mdtrt_id,
                fixmedins_code=CODE,
                psn_no=g["psn_no"],
                kind="outpatient",
                insutype="310",
                med_type="11",
                begntime=local,
                ipt_otp_no=str(n),
                mdtrt_cert_type="03",
                card_no=g["card_no"],
                atddr_no=None,
                dr_name=None,
                dept_code=None,
                dept_name=None,
                caty=None,
                dise_codg=None,
                dise_name=None,
                status="open",
                msgid="BENCH",
                created_at=local,
            )
        )
        for sn, (code, pric) in enumerate(((DRUG, "100.00"), (SERVICE, "25.00")), 1):
            s = money.split_item(
                money.FeeItem(str(sn), code, Decimal(1), Decimal(pric), Decimal(pric)),
                entries[code],
                Decimal("0.1"),
            )
            fee_rows.append(
                dict(
                    mdtrt_id=mdtrt_id,
                    feedetl_sn=str(sn),
                    chrg_bchno="1",
                    rxno=None,
                    fee_ocur_time=local,
                    med_list_codg=code,
                    medins_list_codg=code,
                    cnt=Decimal(1),
                    pric=Decimal(pric),
                    det_item_fee_sumamt=s.det_item_fee_sumamt,
                    pric_uplmt_amt=s.pric_uplmt_amt,
                    selfpay_prop=s.selfpay_prop,
                    fulamt_ownpay_amt=s.fulamt_ownpay_amt,
                    overlmt_amt=s.overlmt_amt,
                    preselfpay_amt=s.preselfpay_amt,
                    inscp_scp_amt=s.inscp_scp_amt,
                    chrgitm_lv=s.chrgitm_lv,
                    med_chrgitm_type="",
                    status="open",
                    setl_id=None,
                    msgid="BENCH",
                )
            )
        bodies.append((g, mdtrt_id))
    with db.transaction() as session:
        for start in range(0, len(visit_rows), 5000):
            session.execute(insert(Visit), visit_rows[start : start + 5000])
        for start in range(0, len(fee_rows), 10000):
            session.execute(insert(FeeDetail), fee_rows[start : start + 10000])
    return bench, [b for b in bodies]  # type: ignore[misc]


def settle_down(db: Database) -> None:
    """After the bulk set-up: statistics and visibility map up to date (PostgreSQL
    VACUUM ANALYZE, SQLite ANALYZE and a WAL checkpoint), so that the measured
    load does not pay for autovacuum or checkpoints of the set-up."""
    if db.is_sqlite:
        raw = db.engine.raw_connection()  # autocommit mode (the center emits its BEGINs)
        try:
            raw.driver_connection.execute("ANALYZE")  # type: ignore[union-attr]
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
        return
    with db.engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.exec_driver_sql("VACUUM ANALYZE")


def settle_bodies(bench: Bench, visits: list[Any]) -> list[bytes]:
    out = []
    for g, mdtrt_id in visits:
        payload = {
            "data": {
                "psn_no": g["psn_no"],
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": g["card_no"],
                "med_type": "11",
                "medfee_sumamt": "125.00",
                "psn_setlway": "01",
                "mdtrt_id": mdtrt_id,
                "chrg_bchno": "0000",
                "acct_used_flag": "1",
                "insutype": "310",
            }
        }
        out.append(http_request(bench.envelope("2207", payload, "330200")))
    return out


async def sign_in(bench: Bench, port: int) -> None:
    conn = await Connection.open(port)
    answer = wire.loads(
        await conn.request(
            http_request(
                bench.envelope(
                    "9001", {"signIn": {"opter_no": "K01", "mac": "", "ip": "127.0.0.1"}}
                )
            )
        )
    )
    conn.writer.close()
    if answer["infcode"] != 0:
        raise SystemExit(f"sign-in refused: {answer['err_msg']}")
    bench.sign_no = answer["output"]["signinoutb"]["sign_no"]


def run_settlements(
    backend: str,
    db_url: str,
    workdir: Path,
    args: argparse.Namespace,
    report: dict[str, Any],
    workers: int = 1,
) -> None:
    db = Database(db_url)
    migrate(db)
    needed = (
        int((args.rate + args.low_rate) * args.seconds)
        + args.max_sustained * int(args.seconds)
        + 1000
    )
    print(f"[{backend}] preparing {needed} visits ...", flush=True)
    bench, visits = prepare(db, 20_000, needed)
    settle_down(db)
    db.dispose()
    with serve_center(db_url, workdir, workers) as port:
        asyncio.run(sign_in(bench, port))
        bodies = settle_bodies(bench, visits)
        warm, rest = bodies[:500], bodies[500:]
        asyncio.run(closed_loop(port, warm, args.connections, 30))
        sustained_bodies = rest[: args.max_sustained * int(args.seconds)]
        offered = rest[len(sustained_bodies) :]
        before = cpu_snapshot()
        sustained = asyncio.run(closed_loop(port, sustained_bodies, args.connections, args.seconds))
        cpu = cpu_per_message(before, cpu_snapshot(), sustained.done)
        fixed = asyncio.run(open_loop(port, offered, args.rate, args.seconds))
        low = asyncio.run(
            open_loop(port, offered[int(args.rate * args.seconds) :], args.low_rate, args.seconds)
        )
    name = backend if workers == 1 else f"{backend}_{workers}_workers"
    report[name] = {
        "workers": workers,
        "sustained_per_s": round(sustained.rate, 1),
        "sustained_p50_ms": round(sustained.pct(0.5), 2),
        "sustained_p99_ms": round(sustained.pct(0.99), 2),
        "failures": sustained.failures + fixed.failures + low.failures,
        f"at_{args.rate}_per_s_p50_ms": round(fixed.pct(0.5), 2),
        f"at_{args.rate}_per_s_p99_ms": round(fixed.pct(0.99), 2),
        **cpu,
    }
    report[name][f"at_{args.low_rate}_per_s_p50_ms"] = round(low.pct(0.5), 2)
    report[name][f"at_{args.low_rate}_per_s_p99_ms"] = round(low.pct(0.99), 2)
    print(f"[{name}] {json.dumps(report[name])}", flush=True)


def run_reference(workdir: Path, args: argparse.Namespace, report: dict[str, Any]) -> None:
    bench = Bench("x" * 64, "330203", "ref")
    fake = [({"psn_no": "1", "card_no": "D"}, "M")] * (args.max_sustained * 4 * int(args.seconds))
    bodies = settle_bodies(bench, fake)
    with serve_reference(workdir) as port:
        asyncio.run(closed_loop(port, bodies[:500], args.connections, 30))
        before = cpu_snapshot()
        sustained = asyncio.run(closed_loop(port, bodies[500:], args.connections, args.seconds))
        cpu = cpu_per_message(before, cpu_snapshot(), sustained.done)
        fixed = asyncio.run(open_loop(port, bodies, args.rate, args.seconds))
    report["reference"] = {
        **cpu,
        "sustained_per_s": round(sustained.rate, 1),
        "sustained_p50_ms": round(sustained.pct(0.5), 2),
        "sustained_p99_ms": round(sustained.pct(0.99), 2),
        f"at_{args.rate}_per_s_p50_ms": round(fixed.pct(0.5), 2),
        f"at_{args.rate}_per_s_p99_ms": round(fixed.pct(0.99), 2),
    }
    print(f"[reference] {json.dumps(report['reference'])}", flush=True)


def run_lookups(
    backend: str, db_url: str, workdir: Path, args: argparse.Namespace, report: dict[str, Any]
) -> None:
    policy = load_policy()
    db = Database(db_url)
    migrate(db)
    started = time.perf_counter()
    with db.engine.connect() as connection:
        have = connection.execute(text("SELECT count(*) FROM persons")).scalar_one()
    if have >= args.big:
        print(f"[1101 {backend}] reusing {have} persons", flush=True)
        run_lookup_load(backend, db, db_url, workdir, args, report, seeding=None)
        return
    print(f"[1101 {backend}] seeding {args.big} persons ...", flush=True)
    seed_demo(db, policy, system_clock())
    last = [time.perf_counter()]
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            rate = done[0] / (last[0] - started)
            print(f"  {done[0]:,} persons, {rate:,.0f}/s", flush=True)

    seed_bulk(db, policy, system_clock(), args.big, chunk=50_000, progress=progress)
    run_lookup_load(backend, db, db_url, workdir, args, report, time.perf_counter() - started)


def run_lookup_load(
    backend: str,
    db: Database,
    db_url: str,
    workdir: Path,
    args: argparse.Namespace,
    report: dict[str, Any],
    seeding: float | None,
) -> None:
    policy = load_policy()
    with db.engine.connect() as connection:
        inst = connection.execute(
            text("SELECT secret, admdvs, name FROM institutions WHERE fixmedins_code = :c"),
            {"c": CODE},
        ).one()
    db.dispose()
    bench = Bench(inst.secret, inst.admdvs, inst.name)
    rng = random.Random(7)
    with serve_center(db_url, workdir) as port:
        asyncio.run(sign_in(bench, port))
        count = int(args.lookup_rate * args.seconds) + 500
        bodies = []
        for _ in range(count):
            g = bulk_person(policy, rng.randrange(args.big))
            bodies.append(
                http_request(
                    bench.envelope(
                        "1101",
                        {
                            "data": {
                                "mdtrt_cert_type": "03",
                                "mdtrt_cert_no": g["card_no"],
                                "card_sn": g["card_sn"],
                            }
                        },
                    )
                )
            )
        asyncio.run(closed_loop(port, bodies[:500], 4, 30))
        fixed = asyncio.run(open_loop(port, bodies[500:], args.lookup_rate, args.seconds))
    report[f"lookup_1101_{backend}"] = {
        "persons": args.big,
        "seed_seconds": None if seeding is None else round(seeding),
        f"at_{args.lookup_rate}_per_s_p50_ms": round(fixed.pct(0.5), 2),
        f"at_{args.lookup_rate}_per_s_p99_ms": round(fixed.pct(0.99), 2),
        "failures": fixed.failures,
    }
    print(f"[1101 {backend}] {json.dumps(report[f'lookup_1101_{backend}'])}", flush=True)


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
        f"{mem:.0f} GiB, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=500.0, help="offered 2207 per second")
    parser.add_argument(
        "--low-rate", type=float, default=200.0, help="a second offered 2207 load per second"
    )
    parser.add_argument("--connections", type=int, default=16, help="closed-loop terminals")
    parser.add_argument(
        "--max-sustained",
        type=int,
        default=3000,
        help="settlements prepared per second of the sustained run",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", help="use this PostgreSQL database instead of a temp cluster")
    parser.add_argument(
        "--pg-workers",
        type=int,
        default=2,
        help="also measure PostgreSQL with this many worker processes (1: skip)",
    )
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the temporary PostgreSQL cluster, e.g. synchronous_commit=off "
        "(not for headline figures: the default is PostgreSQL's durable defaults)",
    )
    parser.add_argument("--big", type=int, default=7_200_000, help="persons for 1101 (0: skip)")
    parser.add_argument("--big-backend", default="sqlite")
    parser.add_argument(
        "--big-db",
        type=Path,
        help="SQLite file for the 1101 run: seeded when missing, kept, reused",
    )
    parser.add_argument("--lookup-rate", type=float, default=200.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": machine(),
        "date": str(dt.date.today()),
        "seconds": args.seconds,
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-center-"))
    try:
        backends = [b for b in args.backends.split(",") if b and b != "none"]
        if backends:
            run_reference(workdir, args, report)
        for backend in backends:
            if backend == "sqlite":
                run_settlements("sqlite", f"sqlite:///{workdir}/bench.db", workdir, args, report)
            elif args.pg_url:
                run_settlements("postgresql", args.pg_url, workdir, args, report)
            else:
                with postgres_cluster(workdir, tuple(args.pg_setting)) as url:
                    run_settlements("postgresql", url, workdir, args, report)
                if args.pg_workers > 1:
                    with postgres_cluster(workdir, tuple(args.pg_setting)) as url:
                        run_settlements(
                            "postgresql", url, workdir, args, report, workers=args.pg_workers
                        )
        ref = report.get("reference", {}).get("sustained_per_s", 0)
        for entry in report.values():
            if isinstance(entry, dict) and "workers" in entry and ref:
                entry["share_of_reference"] = round(entry["sustained_per_s"] / ref, 3)
        if args.big:
            if args.big_backend == "sqlite":
                big = args.big_db or workdir / "big.db"
                run_lookups("sqlite", f"sqlite:///{big}", workdir, args, report)
            elif args.pg_url:
                run_lookups("postgresql", args.pg_url, workdir, args, report)
            else:
                with postgres_cluster(workdir, tuple(args.pg_setting)) as url:
                    run_lookups("postgresql", url, workdir, args, report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
