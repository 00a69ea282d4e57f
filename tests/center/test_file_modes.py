"""Files the center creates are readable by their owner only: the
SQLite database with its WAL and SHM files, the seeded secrets and person files,
the admin token; new directories 0700. Run under umask 022, where a plain
``open`` would make them world-readable."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from sscard_terminal.center.db import Database, migrate

SSCARD = str(Path(sys.executable).parent / "sscard")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_the_sqlite_database_wal_and_shm_are_0600(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "center.db"
    db = Database(f"sqlite:///{path}")
    try:
        migrate(db)
        with db.begin() as conn:
            conn.execute(text("CREATE TABLE probe (x INTEGER)"))
        with db.engine.connect() as conn:  # the WAL and SHM exist while a connection is open
            conn.execute(text("SELECT count(*) FROM probe"))
            wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
            assert wal.exists() and shm.exists()
            assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    finally:
        db.dispose()


def test_an_existing_database_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    db = Database(f"sqlite:///{path}")
    migrate(db)
    db.dispose()
    assert mode(path) == 0o640


def test_seeded_files_and_the_token_are_0600_in_0700_directories(
    tmp_path: Path, umask_022: None
) -> None:
    out = tmp_path / "new" / "seed"
    db = tmp_path / "seed.db"
    result = subprocess.run(
        [SSCARD, "center", "seed", "--db", f"sqlite:///{db}", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    files = [out / "institutions.json", out / "demo.json", *(out / "persons").iterdir()]
    assert len(files) > 3
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert {d.name: mode(d) for d in (tmp_path / "new", out, out / "persons")} == {
        "new": 0o700,
        "seed": 0o700,
        "persons": 0o700,
    }
    assert mode(db) == 0o600
    person = json.loads(next((out / "persons").iterdir()).read_text(encoding="utf-8"))
    single = tmp_path / "one" / "person.json"
    written = subprocess.run(
        [
            SSCARD,
            "center",
            "person-file",
            "--db",
            f"sqlite:///{db}",
            "--card-no",
            person["card"]["card_number"],
            "--out",
            str(single),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert written.returncode == 0, written.stderr
    assert (mode(single), mode(single.parent)) == (0o600, 0o700)


def test_the_admin_token_file_is_0600(tmp_path: Path, umask_022: None) -> None:
    from sscard_terminal.cli.center import _admin_token

    token_file = tmp_path / "etc" / "token"
    env = os.environ.pop("SSCARD_CENTER_ADMIN_TOKEN", None)
    try:
        token = _admin_token(token_file)
    finally:
        if env is not None:
            os.environ["SSCARD_CENTER_ADMIN_TOKEN"] = env
    assert len(token) >= 16
    assert (mode(token_file), mode(token_file.parent)) == (0o600, 0o700)
