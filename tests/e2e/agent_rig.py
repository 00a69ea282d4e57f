"""Running ``sscard agent serve`` in its own process, and talking to it with the
``websockets`` library, for the agent's end-to-end tests and its benchmark."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets

SSCARD = str(Path(sys.executable).with_name("sscard"))
_LISTENING = re.compile(r"listening on ws://[^ ]+:(\d+)/")
_ids = itertools.count(1)


@dataclass
class AgentProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``signum`` and wait for the agent to end; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the agent did not stop within {timeout} s") from None


def start_agent(log_path: Path, *args: str, port: int = 0, timeout: float = 20.0) -> AgentProcess:
    """Start the agent with ``args``; return once it says where it listens."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [SSCARD, "agent", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        found = _LISTENING.search(text)
        if found:
            return AgentProcess(process, int(found.group(1)), log_path)
        if process.poll() is not None:
            raise AssertionError(f"the agent exited with {process.returncode}: {text}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the agent did not start within {timeout} s: {log_path.read_text()}")


async def call(ws: Any, function: str, timeout: float = 30.0, **args: Any) -> dict[str, Any]:
    """Send one request with a fresh requestId; return its answer (events are skipped)."""
    rid = f"r{next(_ids)}"
    await ws.send(json.dumps({"function": function, "requestId": rid, **args}))
    async with asyncio.timeout(timeout):
        while True:
            body: dict[str, Any] = json.loads(await ws.recv())
            if body.get("requestId") == rid:
                return body


async def next_event(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The next pushed event on ``ws`` (answers are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            body: dict[str, Any] = json.loads(await ws.recv())
            if "event" in body:
                return body


def connect(url: str, **kwargs: Any) -> Any:
    return websockets.connect(url, open_timeout=10, max_size=4 * 1024 * 1024, **kwargs)
