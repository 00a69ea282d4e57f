"""A real TCP proxy between the settlement client and the center that can lose
one message's answer (or the message itself) on purpose.

It relays HTTP/1.1 requests one per connection (the client opens one per
message), reading each request and answer by its Content-Length. A rule
armed for an infno acts on the next message of that infno, once:

- ``drop_answer``: forward the message, read the center's whole answer, then
  close the client's connection without sending it (booked, answer lost);
- ``blackhole``: never forward the message; keep the connection open until
  the client gives up (not booked, answer lost);
- ``delay``: forward, and send the answer only after ``delay`` seconds (the
  client has timed out by then);
- ``hold``: forward, read the answer, signal ``held`` and keep everything
  open until :meth:`release` (a terminal killed while waiting).

``stop()`` closes the listening socket (the center is "down": connection
refused); ``start()`` listens again on the same port. Every request body is
kept in ``bodies`` by msgid, so that a test can deliver a lost message late.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field


def _read_message(sock: socket.socket, *, deadline: float) -> bytes:
    """One HTTP/1.1 message (head and Content-Length body), b'' when closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def _body(message: bytes) -> bytes:
    return message.partition(b"\r\n\r\n")[2]


@dataclass
class Rule:
    infno: str
    action: str
    delay: float = 0.0


@dataclass
class FaultProxy:
    upstream: tuple[str, int]
    port: int = 0
    rules: list[Rule] = field(default_factory=list)
    bodies: dict[str, bytes] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    fired: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.start()

    # -- control ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, infno: str, action: str, delay: float = 0.0) -> None:
        with self._lock:
            self.rules.append(Rule(infno, action, delay))

    def release(self) -> None:
        self._release.set()

    def start(self) -> None:
        """Listen (again) on the proxy's port; a no-op while listening."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def close(self) -> None:
        self._release.set()
        self.stop()

    # -- relaying ---------------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _rule_for(self, infno: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.infno == infno:
                    self.rules.remove(rule)
                    return rule
        return None

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                request = _read_message(client, deadline=time.monotonic() + 30)
            except OSError:
                return
            if not request:
                return
            try:
                envelope = json.loads(_body(request))
                infno, msgid = str(envelope.get("infno")), str(envelope.get("msgid"))
            except ValueError:
                infno, msgid = "", ""
            with self._lock:
                self.bodies[msgid] = _body(request)
                self.seen.append(infno)
            rule = self._rule_for(infno)
            if rule is not None:
                self.fired.append((infno, msgid, rule.action))
            if rule is not None and rule.action == "blackhole":
                self._wait_for_close(client, 60)
                return
            try:
                answer = self._forward(request)
            except OSError:
                return
            if rule is None:
                client.sendall(answer)
                return
            if rule.action == "drop_answer":
                client.shutdown(socket.SHUT_RDWR)
                return
            if rule.action == "delay":
                time.sleep(rule.delay)
                with contextlib.suppress(OSError):
                    client.sendall(answer)
                return
            if rule.action == "hold":
                self.held.set()
                self._release.wait(120)
                return
            raise AssertionError(f"unknown action {rule.action}")

    def _forward(self, request: bytes) -> bytes:
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(request)
            return _read_message(upstream, deadline=time.monotonic() + 30)

    @staticmethod
    def _wait_for_close(client: socket.socket, seconds: float) -> None:
        client.settimeout(seconds)
        try:
            while client.recv(65536):
                pass
        except OSError:
            pass
