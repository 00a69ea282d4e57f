"""Slowloris: connections that send nothing, half a request line,
half the headers or half the body are closed after the request timeout, many
of them starve nobody, and a complete request may take longer than the timeout
(it waits on a database lock here). Raw sockets against a real uvicorn server
with the center's protocol (:mod:`sscard_terminal.center.connections`)."""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sscard_terminal.center.api import create_app
from sscard_terminal.center.clock import system_clock
from sscard_terminal.center.connections import guarded_protocol
from sscard_terminal.center.db import Database
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.seed.demo import seed_demo
from tests.center.center_helpers import Server, Terminal, free_port, start_server

TIMEOUT = 1.0
HALF = [
    b"",
    b"POST /fsi/api/rsfComIfsService/call",
    b"POST /fsi/api/rsfComIfsService/callService HTTP/1.1\r\nHost: x\r\nContent-Ty",
    b"POST /fsi/api/rsfComIfsService/callService HTTP/1.1\r\nHost: x\r\n"
    b'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"infno":',
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",  # answered, then idle
]


@pytest.fixture(scope="module")
def guarded(db_factory: Any, policy: Policy) -> Iterator[tuple[Server, Database, dict[str, Any]]]:
    db: Database = db_factory("sqlite")
    demo = seed_demo(db, policy, system_clock())
    server = start_server(create_app(db, policy, admin_token=None), http=guarded_protocol(TIMEOUT))
    try:
        yield server, db, demo
    finally:
        server.stop()


def address(server: Server) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def closed_by_server(sockets: list[socket.socket], within: float) -> int:
    """How many of ``sockets`` the server closed (EOF or reset) within ``within`` s."""
    selector = selectors.DefaultSelector()
    for s in sockets:
        selector.register(s, selectors.EVENT_READ)
    closed = 0
    deadline = time.monotonic() + within
    while closed < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            try:
                data = ready.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                selector.unregister(ready)
                closed += 1
    selector.close()
    return closed


def test_idle_and_half_sent_connections_are_closed_and_starve_nobody(
    guarded: tuple[Server, Database, dict[str, Any]],
) -> None:
    server, _, _ = guarded
    sockets: list[socket.socket] = []
    try:
        for i in range(500):
            s = socket.create_connection(address(server), timeout=10)
            s.sendall(HALF[i % len(HALF)]) if HALF[i % len(HALF)] else None
            sockets.append(s)
        # 500 connections hang: others are served all the same
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/health").status_code == 200
            refused = client.post("/fsi/api/rsfComIfsService/callService", content=b"{}")
            assert refused.status_code == 200 and refused.json()["err_code"] == "envelope.invalid"
        # every one of them is closed by the server after the timeout
        assert closed_by_server(sockets, within=30 * TIMEOUT) == len(sockets)
    finally:
        for s in sockets:
            s.close()


def test_a_trickled_request_is_closed_even_while_bytes_keep_coming(
    guarded: tuple[Server, Database, dict[str, Any]],
) -> None:
    server, _, _ = guarded
    with socket.create_connection(address(server), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\n")
        started = time.monotonic()
        try:
            while time.monotonic() - started < 30 * TIMEOUT:
                s.sendall(b"X-A: b\r\n")  # a header line now and then, never the end
                time.sleep(TIMEOUT / 5)
        except (BrokenPipeError, ConnectionResetError):
            pass
        else:
            pytest.fail("the trickling connection was never closed")


def test_a_complete_request_may_take_longer_than_the_timeout(
    guarded: tuple[Server, Database, dict[str, Any]],
) -> None:
    server, db, demo = guarded
    inst = demo["institutions"][0]
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        t = Terminal(
            http, inst["fixmedins_code"], inst["fixmedins_name"], inst["secret"], inst["admdvs"]
        )
        with db.engine.connect() as holder, ThreadPoolExecutor(1) as pool:
            holder.execute(text("SELECT 1 FROM institutions"))  # BEGIN IMMEDIATE: the write lock
            waiting = pool.submit(
                t.call, "9001", {"signIn": {"opter_no": "0001", "mac": "", "ip": "127.0.0.1"}}
            )
            time.sleep(3 * TIMEOUT)
            assert not waiting.done()
            holder.rollback()
            assert waiting.result(timeout=30)["infcode"] == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_sscard_center_serve_closes_idle_connections(tmp_path: Path, workers: int) -> None:
    """The command's ``--request-timeout``, in one process and in worker processes."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "sscard"),
            "center",
            "serve",
            "--db",
            f"sqlite:///{tmp_path}/serve.db",
            "--port",
            str(port),
            "--admin-token-file",
            str(tmp_path / "token"),
            "--log-level",
            "warning",
            "--request-timeout",
            str(TIMEOUT),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "serve did not start"
            time.sleep(0.2)
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
        sockets[1].sendall(b"POST /fsi/api/rsfComIfsService/callService HTTP/1.1\r\n")
        try:
            assert closed_by_server(sockets, within=30 * TIMEOUT) == len(sockets)
        finally:
            for s in sockets:
                s.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
