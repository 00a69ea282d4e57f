"""What the kiosk's browser tests share: the center in a process of its own
(``sscard center seed`` + ``sscard center serve`` on a free port, SQLite),
the kiosk in a process of its own (``sscard kiosk serve``: the card reader
and the PSAM reader through pcscd, the center over HTTP), and Debian's
Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from sscard_terminal.settlement import InstitutionConfig, Operator, SettlementClient
from sscard_terminal.settlement.envelope import OpterType

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
ADMIN_TOKEN = "kiosk-tests-admin-token-0123456789"
HOSPITAL = "H33020300001"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1, trust_env=False).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer at {url}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class CenterProcess:
    """``sscard center serve`` over a seeded SQLite database."""

    base: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.db = f"sqlite:///{self.base}/center.db"
        self.seed = self.base / "seed"
        done = subprocess.run(
            [*CLI, "center", "seed", "--db", self.db, "--out", str(self.seed)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        self.demo: dict[str, Any] = json.loads((self.seed / "demo.json").read_text("utf-8"))
        self.institutions = {
            i["fixmedins_code"]: i
            for i in json.loads((self.seed / "institutions.json").read_text("utf-8"))
        }
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "SSCARD_CENTER_ADMIN_TOKEN": ADMIN_TOKEN}
        self.proc = subprocess.Popen(
            [*CLI, "center", "serve", "--db", self.db, "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_http(f"{self.base_url}/health", self.proc, "the center")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def admin(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        answer = httpx.request(
            method,
            f"{self.base_url}/admin{path}",
            json=body,
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
            trust_env=False,
        )
        assert answer.status_code == expect, answer.text
        return answer.json()

    def person(self, key: str) -> dict[str, Any]:
        person: dict[str, Any] = self.demo[key]
        return person

    def person_file(self, key: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.seed / "persons" / f"{key}.json").read_text("utf-8")
        )
        return data

    def balance(self, psn_no: str) -> Decimal | None:
        """The personal account's balance (None: the person has no account)."""
        value = self.admin("GET", f"/persons/{psn_no}")["account_balance"]
        return None if value is None else Decimal(str(value))

    def account_balance(self, psn_no: str) -> Decimal:
        """The balance of a person who has a personal account."""
        balance = self.balance(psn_no)
        if balance is None:
            raise LookupError(f"person {psn_no} has no personal account")
        return balance

    def institution_config(self, code: str = HOSPITAL) -> InstitutionConfig:
        inst = self.institutions[code]
        return InstitutionConfig(
            fixmedins_code=code,
            fixmedins_name=inst["fixmedins_name"],
            mdtrtarea_admvs=inst["admdvs"],
            secret=inst["secret"],
        )

    def desk_client(self, journal: Path) -> SettlementClient:
        """A hospital desk's client (for visits the kiosk then settles)."""
        return SettlementClient(
            self.base_url,
            self.institution_config(),
            Operator(OpterType.OPERATOR, "0009", "收费员"),
            journal,
            10.0,
            msgid_slot=90,
        )


def terminal_yaml(
    center: CenterProcess, directory: Path, *, url: str | None = None, code: str = HOSPITAL
) -> Path:
    inst = center.institutions[code]
    secret = directory / "kiosk.secret"
    secret.write_text(inst["secret"], encoding="utf-8")
    secret.chmod(0o600)
    path = directory / "terminal.yaml"
    config = {
        "center": url or center.base_url,
        "journal": str(directory / "journal-kiosk.db"),
        "msgid_slot": 7,
        "institution": {
            "fixmedins_code": code,
            "fixmedins_name": inst["fixmedins_name"],
            "mdtrtarea_admvs": inst["admdvs"],
            "secret_file": str(secret),
        },
        "operator": {"opter_type": 2, "opter": "K001", "opter_name": "自助机1"},
    }
    path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return path


@dataclass
class KioskProcess:
    """``sscard kiosk serve`` with the card in "Virtual PCD 00 00" and the PSAM
    in "Virtual PCD 00 01"."""

    config: Path
    orders: Path
    idle_seconds: float = 60.0
    schedule: Path | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self) -> None:
        token = self.config.parent / "admin.token"
        token.write_text(ADMIN_TOKEN + "\n", encoding="utf-8")
        self.log = self.config.parent / f"kiosk-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if k != "SSCARD_CENTER_ADMIN_TOKEN"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    *CLI, "kiosk", "serve", "--config", str(self.config),
                    "--reader", "Virtual PCD 00 00", "--sam", "pcsc",
                    "--sam-reader", "Virtual PCD 00 01", "--port", str(self.port),
                    "--orders", str(self.orders), "--idle-seconds", str(self.idle_seconds),
                    "--admin-token-file", str(token),
                    *(["--schedule", str(self.schedule)] if self.schedule else []),
                ],
                env=env, stdout=out, stderr=out,
            )  # fmt: skip
        _wait_http(f"{self.url}/api/view", self.proc, "the kiosk")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def log_text(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log else ""


def launch_browser(playwright: Any) -> Any:
    """A persistent context of Debian's Chromium in a fresh user-data-dir,
    1080x1920 portrait."""
    profile = tempfile.mkdtemp(prefix="sscard-kiosk-chromium-")
    return playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1080, "height": 1920},
        locale="zh-CN",
    )
