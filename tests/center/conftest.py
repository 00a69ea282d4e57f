"""Fixtures of the center's tests: the database backends, a PostgreSQL cluster
of our own, and a real uvicorn server per backend.

Every end-to-end test runs on SQLite and on PostgreSQL (``center`` is
parametrised). PostgreSQL tests start a temporary cluster (initdb on a free
port, as user postgres when run as root) and stop it at the end; with
SSCARD_TEST_PG_URL they use that server instead. Without PostgreSQL they skip,
except where CI=true: there they fail.
"""

from __future__ import annotations

import datetime as dt
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from sscard_terminal.center.api import create_app
from sscard_terminal.center.clock import SHANGHAI, system_clock
from sscard_terminal.center.db import Database, migrate
from sscard_terminal.center.policy import Policy, load_policy
from sscard_terminal.center.seed.demo import seed_demo
from tests.center.center_helpers import (
    ADMIN_TOKEN,
    BACKENDS,
    Admin,
    Center,
    ClockedCenter,
    SettableClock,
    Terminal,
    free_port,
    start_server,
)


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail where CI=true (CI installs PostgreSQL)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)")
    pytest.skip(reason)


def _pg_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class PgCluster:
    url_base: str  # postgresql+psycopg://postgres@127.0.0.1:PORT
    _counter: Any = None

    def new_database(self) -> str:
        import psycopg

        if self._counter is None:
            self._counter = itertools.count(1)
        name = f"center_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(
            self.url_base.replace("+psycopg", "") + "/postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self.url_base}/{name}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    given = os.environ.get("SSCARD_TEST_PG_URL")
    if given:
        yield PgCluster(given.rstrip("/"))
        return
    bindir = _pg_bindir()
    if bindir is None:
        unavailable("PostgreSQL is not installed (Debian package postgresql)")
    as_root = os.geteuid() == 0
    if as_root:
        try:
            import pwd

            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no user postgres to run the cluster")
    workdir = Path(tempfile.mkdtemp(prefix="sscard-pg-"))
    data, sockets, logfile = workdir / "data", workdir / "run", workdir / "log"
    sockets.mkdir()
    if as_root:
        os.chown(workdir, pg_user.pw_uid, pg_user.pw_gid)
        os.chown(sockets, pg_user.pw_uid, pg_user.pw_gid)
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = free_port()
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    try:
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
            timeout=120,
        )
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(logfile),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(workdir, ignore_errors=True)
        unavailable(f"cannot start a PostgreSQL cluster: {exc} {detail.decode(errors='replace')}")
    try:
        yield PgCluster(f"postgresql+psycopg://postgres@127.0.0.1:{port}")
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="session")
def db_factory(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    """make(backend) -> a migrated, empty Database of that backend."""
    counter = itertools.count(1)
    made: list[Database] = []

    def make(backend: str) -> Database:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('db')}/center{next(counter)}.db"
        else:
            url = request.getfixturevalue("pg_cluster").new_database()
        db = Database(url)
        migrate(db)
        made.append(db)
        return db

    yield make
    for db in made:
        db.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def center(request: pytest.FixtureRequest, db_factory: Any, policy: Policy) -> Iterator[Center]:
    backend = request.param
    db = db_factory(backend)
    demo = seed_demo(db, policy, system_clock())
    app = create_app(db, policy, admin_token=ADMIN_TOKEN)
    server = start_server(app)
    http = httpx.Client(base_url=server.base_url, timeout=30)
    try:
        yield Center(backend, db, server.base_url, http, Admin(http, ADMIN_TOKEN), demo, policy)
    finally:
        http.close()
        server.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def clocked(
    request: pytest.FixtureRequest, db_factory: Any, policy: Policy
) -> Iterator[ClockedCenter]:
    """A running center with the demo data seeded on 2026-03-15 and a clock the
    tests set (sign in again after moving it to another day)."""
    clock = SettableClock(dt.datetime(2026, 3, 15, 10, 0, tzinfo=SHANGHAI))
    db = db_factory(request.param)
    demo = seed_demo(db, policy, clock())
    server = start_server(create_app(db, policy, admin_token=ADMIN_TOKEN, clock=clock))
    http = httpx.Client(base_url=server.base_url, timeout=30)
    try:
        yield ClockedCenter(
            Center(
                request.param, db, server.base_url, http, Admin(http, ADMIN_TOKEN), demo, policy
            ),
            clock,
        )
    finally:
        http.close()
        server.stop()


@pytest.fixture(scope="session")
def hospital(center: Center) -> Terminal:
    """A signed-in terminal of Ningbo No. 1 hospital (level 3, 330203)."""
    return center.terminal("H33020300001")


def today() -> dt.date:
    return system_clock().date()
