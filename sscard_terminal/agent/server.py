"""The reader agent's service: WebSocket and HTTP POST on one loopback port.

A small ASGI application served by uvicorn. Both WebSocket messages and HTTP
POST bodies carry the requests of :mod:`sscard_terminal.agent.protocol`; card
work runs on worker threads (:mod:`sscard_terminal.agent.card_calls`), never
on the event loop. Safety (docs/agent.md, "Safety"):

- browser requests whose ``Origin`` is not on the allow-list get 403 (the
  WebSocket handshake is refused); requests without an ``Origin`` (programs,
  not pages) are served; ``null``/``file://`` only when allowed explicitly;
- one client holds a reader at a time: a second waits up to ``busy_wait``
  seconds, then gets ``busy``; APDUs never interleave;
- every card call answers within ``call_timeout`` seconds (``timeout``);
- requests are bounded in size (``tooLarge``) and in rate per client
  (``rateLimited``); a bad request gets an error answer and the agent goes on;
- insertions and removals are pushed to subscribed WebSocket clients from the
  transport's reader watcher (SCardGetStatusChange for PC/SC), not by APDUs;
- the log shows calls with names and ID numbers masked, never a PIN or key.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sscard_terminal.agent.card_calls import (
    CardCalls,
    HsmHold,
    check_itype,
    record_line,
    record_row,
)
from sscard_terminal.agent.protocol import (
    MAX_REQUEST_BYTES,
    WEBSOCKET_ONLY,
    BadRequest,
    CallTimeoutError,
    Code,
    ReaderBusyError,
    Request,
    answer,
    encode,
    error_answer,
    masked_for_log,
    parse_request,
)
from sscard_terminal.errors import SscardError
from sscard_terminal.transport.base import ReaderEvent, watch_readers

log = logging.getLogger("sscard_terminal.agent")

T = TypeVar("T")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: a WebSocket message larger than this closes the connection (1009); up to it,
#: a request larger than MAX_REQUEST_BYTES gets a ``tooLarge`` answer
WS_MAX_SIZE = 2 * 1024 * 1024


@dataclass(frozen=True)
class AgentConfig:
    allow_origins: tuple[str, ...] = ()
    #: serve pages opened from files (Origin ``null`` or ``file://``)
    allow_file_origin: bool = False
    #: seconds a card call may take before the client gets ``timeout``
    call_timeout: float = 15.0
    #: seconds a call waits for a reader another client holds before ``busy``
    busy_wait: float = 3.0
    #: seconds a card stays held between HSM step 1 and step 2
    hsm_hold: float = 30.0
    #: requests per second per client, and the burst allowed above it
    rate: float = 100.0
    burst: int = 200
    #: card calls in flight on one WebSocket at a time
    max_in_flight: int = 8

    def origin_allowed(self, origin: str | None) -> bool:
        if origin is None:
            return True  # not a browser page: a local program
        if origin in ("null", "file://"):
            return self.allow_file_origin
        return origin.rstrip("/") in {o.rstrip("/") for o in self.allow_origins}


class TokenBucket:
    """``rate`` requests per second with bursts of ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(eq=False)
class Client:
    """One WebSocket connection (or one HTTP request)."""

    peer: str
    send: Send | None = None
    subscribed: bool = False
    in_flight: int = 0
    bucket: TokenBucket | None = None
    holds: set[str] = field(default_factory=set)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def push(self, body: dict[str, Any]) -> None:
        if self.send is None:
            return
        async with self.send_lock:
            await self.send({"type": "websocket.send", "text": encode(body)})


@dataclass
class _Hold:
    hold: HsmHold
    client: Client
    timer: asyncio.TimerHandle | None = None


class Agent:
    """The ASGI application of ``sscard agent serve``."""

    def __init__(self, calls: CardCalls, config: AgentConfig) -> None:
        self.calls = calls
        self.config = config
        self._pool = ThreadPoolExecutor(
            max_workers=len(calls.readers) + 3, thread_name_prefix="sscard-agent-card"
        )
        self._locks: dict[str, asyncio.Lock] = {}
        self._holds: dict[str, _Hold] = {}
        self._clients: set[Client] = set()
        self._http_bucket = TokenBucket(config.rate, config.burst)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_events = threading.Event()
        self._watcher_thread: threading.Thread | None = None
        self._watcher: Any = None

    # -- ASGI ----------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._locks = {reader: asyncio.Lock() for reader in self.calls.readers}
        self._watcher_thread = threading.Thread(
            target=self._watch, name="sscard-agent-events", daemon=True
        )
        self._watcher_thread.start()

    async def _shutdown(self) -> None:
        self._stop_events.set()
        watcher = self._watcher
        if watcher is not None:
            watcher.cancel()
        for token in list(self._holds):
            await self._release_hold(token)
        if self._watcher_thread is not None:
            await asyncio.to_thread(self._watcher_thread.join, 3)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- HTTP --------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        origin = headers.get("origin")
        peer = _peer(scope)
        if not self.config.origin_allowed(origin):
            log.warning("refused HTTP request from %s: Origin %r is not allowed", peer, origin)
            await _respond(
                send, 403, answer(Code.BAD_REQUEST, f"Origin {origin!r} is not allowed"), None
            )
            return
        if scope["method"] == "OPTIONS":
            await _respond(send, 204, None, origin, preflight=True)
            return
        if scope["method"] != "POST":
            body = answer(Code.BAD_REQUEST, "send the request as an HTTP POST with a JSON body")
            await _respond(send, 405, body, origin)
            return
        raw = bytearray()
        too_large = False
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            more = message.get("more_body", False)
            if len(raw) > MAX_REQUEST_BYTES:
                too_large = True
                break
        if too_large:
            body = answer(Code.TOO_LARGE, f"the request is larger than {MAX_REQUEST_BYTES} bytes")
            await _respond(send, 413, body, origin)
            return
        if not self._http_bucket.take():
            body = answer(Code.RATE_LIMITED, "too many requests; slow down")
            await _respond(send, 429, body, origin)
            return
        client = Client(peer)
        result = await self._handle(bytes(raw), client)
        await _respond(send, 200, result, origin)

    # -- WebSocket ---------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        origin = headers.get("origin")
        peer = _peer(scope)
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        if not self.config.origin_allowed(origin):
            log.warning("refused WebSocket from %s: Origin %r is not allowed", peer, origin)
            await send({"type": "websocket.close", "code": 1008})  # uvicorn answers 403
            return
        await send({"type": "websocket.accept"})
        client = Client(peer, send=send, bucket=TokenBucket(self.config.rate, self.config.burst))
        self._clients.add(client)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                assert client.bucket is not None
                if not client.bucket.take():
                    await client.push(answer(Code.RATE_LIMITED, "too many requests; slow down"))
                    continue
                task = asyncio.create_task(self._serve_message(raw, client))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            self._clients.discard(client)
            client.send = None
            for token in list(client.holds):
                await self._release_hold(token)
            for task in tasks:
                task.cancel()

    async def _serve_message(self, raw: str | bytes, client: Client) -> None:
        if client.in_flight >= self.config.max_in_flight:
            await client.push(
                answer(Code.BUSY, f"at most {self.config.max_in_flight} calls at a time")
            )
            return
        client.in_flight += 1
        try:
            result = await self._handle(raw, client)
        finally:
            client.in_flight -= 1
        try:
            await client.push(result)
        except Exception:  # the client went away meanwhile
            log.debug("could not answer %s", client.peer, exc_info=True)

    # -- requests ----------------------------------------------------------------------
    async def _handle(self, raw: str | bytes, client: Client) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            request = parse_request(raw)
        except BadRequest as exc:
            log.info("%s bad request: %s", client.peer, exc)
            return answer(exc.code, str(exc), request_id=exc.request_id, out=str(exc))
        try:
            result = await self._dispatch(request, client)
        except BadRequest as exc:
            result = answer(exc.code, str(exc), request_id=request.request_id, out=str(exc))
        except SscardError as exc:
            result = error_answer(exc, request.request_id)
        except Exception:  # a bug: one answer, the details in the log
            log.exception("%s %s failed", client.peer, request.function)
            message = "internal error in the agent; see its log"
            result = answer(Code.INTERNAL, message, request_id=request.request_id, out=message)
        elapsed = (time.perf_counter() - started) * 1000
        log.info(
            "%s %s id=%s %s %.1f ms",
            client.peer,
            request.function,
            request.request_id,
            masked_for_log(result, request.function),
            elapsed,
        )
        return result

    async def _dispatch(self, request: Request, client: Client) -> dict[str, Any]:
        rid = request.request_id
        function = request.function
        if function in WEBSOCKET_ONLY:
            if client.send is None:
                raise BadRequest(f"{function} works on a WebSocket only", request_id=rid)
            client.subscribed = function == "subscribe"
            return answer(Code.OK, request_id=rid, subscribed=client.subscribed)
        if function == "iGetReaders":
            rows = await self._off_loop(self.calls.status)
            names = "".join(f"{row['reader']}|" for row in rows)
            return answer(Code.OK, request_id=rid, out=names, readers=rows)
        if function == "iReadCardStatus":
            rows = await self._off_loop(self.calls.status)
            reader = self.calls.resolve_reader(request.reader)
            row = next(r for r in rows if r["reader"] == reader)
            out = "1" if row["cardPresent"] else "0"
            return answer(Code.OK, request_id=rid, out=out, reader=reader, readers=rows)
        if function == "iReadCardBas_HSM_Step2":
            return await self._hsm_step2(request, client)
        check_itype(request.itype)
        reader = self.calls.resolve_reader(request.reader)
        if function == "iReadCardBas":
            line = await self._with_reader(reader, lambda: self.calls.read_line(reader))
            return answer(Code.OK, request_id=rid, out=line)
        if function == "iReadCardBas_HSM_Step1":
            return await self._hsm_step1(request, reader, client)
        if function == "iVerifyPIN":
            tries = await self._with_reader(reader, lambda: self.calls.verify_pin(reader))
            return answer(Code.OK, request_id=rid, triesLeft=tries)
        if function == "iChangePIN":
            await self._with_reader(reader, lambda: self.calls.change_pin(reader))
            return answer(Code.OK, request_id=rid)
        if function == "iReadTransRecords":
            records = await self._with_reader(reader, lambda: self.calls.read_records(reader))
            out = "\n".join(record_line(r) for r in records)
            return answer(
                Code.OK, request_id=rid, out=out, records=[record_row(r) for r in records]
            )
        raise BadRequest(f"unknown function {function!r}", request_id=rid)  # pragma: no cover

    # -- card work off the loop --------------------------------------------------------
    async def _off_loop(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, work)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.config.call_timeout)
        except TimeoutError:
            raise CallTimeoutError(self.config.call_timeout) from None

    async def _acquire(self, reader: str) -> asyncio.Lock:
        lock = self._locks[reader]
        try:
            await asyncio.wait_for(lock.acquire(), self.config.busy_wait)
        except TimeoutError:
            raise ReaderBusyError(reader) from None
        return lock

    async def _with_reader(self, reader: str, work: Callable[[], T]) -> T:
        """Run ``work`` holding ``reader``; the reader is free again when the work
        ends, even when the client was already told ``timeout``."""
        lock = await self._acquire(reader)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, work)
        future.add_done_callback(lambda _f: lock.release())
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.config.call_timeout)
        except TimeoutError:
            raise CallTimeoutError(self.config.call_timeout) from None

    async def _hsm_step1(self, request: Request, reader: str, client: Client) -> dict[str, Any]:
        lock = await self._acquire(reader)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, lambda: self.calls.hsm_step1(reader))
        try:
            hold, line, ia_answer = await asyncio.wait_for(
                asyncio.shield(future), self.config.call_timeout
            )
        except TimeoutError:

            def late(f: asyncio.Future[tuple[HsmHold, str, str]]) -> None:
                if not f.cancelled() and f.exception() is None:
                    f.result()[0].close()
                lock.release()

            future.add_done_callback(late)
            raise CallTimeoutError(self.config.call_timeout) from None
        except BaseException:
            lock.release()
            raise
        token = secrets.token_hex(8)
        entry = _Hold(hold, client)
        entry.timer = loop.call_later(
            self.config.hsm_hold, lambda: asyncio.ensure_future(self._release_hold(token))
        )
        self._holds[token] = entry
        client.holds.add(token)
        return answer(
            Code.OK,
            request_id=request.request_id,
            out=line,
            iaAnswer=ia_answer,
            hsmSession=token,
            expiresIn=self.config.hsm_hold,
        )

    async def _hsm_step2(self, request: Request, client: Client) -> dict[str, Any]:
        token = request.args.get("hsmSession")
        if token is None and len(client.holds) == 1:
            token = next(iter(client.holds))
        entry = self._holds.pop(token, None) if isinstance(token, str) else None
        if entry is None:
            raise BadRequest(
                "no step 1 is pending for this client: call iReadCardBas_HSM_Step1 first "
                "(and send its hsmSession), within its expiresIn seconds",
                request_id=request.request_id,
            )
        if entry.timer is not None:
            entry.timer.cancel()
        entry.client.holds.discard(token or "")
        lock = self._locks[entry.hold.reader]
        key = str(request.args["pKey"])
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, lambda: self.calls.hsm_step2(entry.hold, key))
        future.add_done_callback(lambda _f: lock.release())
        try:
            line = await asyncio.wait_for(asyncio.shield(future), self.config.call_timeout)
        except TimeoutError:
            raise CallTimeoutError(self.config.call_timeout) from None
        return answer(Code.OK, request_id=request.request_id, out=line)

    async def _release_hold(self, token: str) -> None:
        entry = self._holds.pop(token, None)
        if entry is None:
            return
        if entry.timer is not None:
            entry.timer.cancel()
        entry.client.holds.discard(token)
        lock = self._locks[entry.hold.reader]
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, entry.hold.close)
        except Exception:
            log.debug("closing a held card failed", exc_info=True)
        finally:
            lock.release()

    # -- events --------------------------------------------------------------------------
    def _watch(self) -> None:
        """The event thread: the transport's reader watcher, events to the loop."""
        try:
            self._watcher = watch_readers(self.calls.station.spec.transport)
        except SscardError as exc:
            log.warning("no card events: %s", exc.one_line())
            return
        watcher = self._watcher
        first = True
        try:
            while not self._stop_events.is_set():
                try:
                    events = watcher.wait(1.0)
                except Exception:
                    log.warning("the reader watcher failed; retrying", exc_info=True)
                    self._stop_events.wait(0.5)
                    continue
                if first:
                    first = False  # the cards already present when the agent started
                    continue
                for event in events:
                    configured = self.calls.serves(event.reader)
                    if configured is not None and self._loop is not None:
                        self._loop.call_soon_threadsafe(self._broadcast, event, configured)
        finally:
            watcher.close()

    def _broadcast(self, event: ReaderEvent, reader: str) -> None:
        body: dict[str, Any] = {
            "event": "cardInserted" if event.present else "cardRemoved",
            "reader": reader,
            "readerName": event.reader,
        }
        if event.present:
            body["atr"] = event.atr.hex().upper() if event.atr else None
        log.info("%s in %r", body["event"], reader)
        for client in list(self._clients):
            if client.subscribed:
                asyncio.ensure_future(_push_quietly(client, body))


async def _push_quietly(client: Client, body: dict[str, Any]) -> None:
    try:
        await client.push(body)
    except Exception:
        log.debug("could not push an event to %s", client.peer, exc_info=True)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


async def _respond(
    send: Send,
    status: int,
    body: dict[str, Any] | None,
    origin: str | None,
    *,
    preflight: bool = False,
) -> None:
    payload = encode(body).encode("utf-8") if body is not None else b""
    headers = [(b"content-type", b"application/json; charset=utf-8")] if body is not None else []
    if origin is not None:
        headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"Origin"),
        ]
        if preflight:
            headers += [
                (b"access-control-allow-methods", b"POST, OPTIONS"),
                (b"access-control-allow-headers", b"content-type"),
                (b"access-control-allow-private-network", b"true"),
                (b"access-control-max-age", b"600"),
            ]
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def run_agent(agent: Agent, host: str, port: int, announce: Callable[[str], None] = print) -> None:
    """Listen on ``host:port`` (0: a free port), say where in one line, serve until
    SIGINT or SIGTERM, then shut down cleanly (held cards released, events stopped)."""
    import signal
    import socket

    import uvicorn

    from sscard_terminal.errors import UsageError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror})",
            hint="is another agent running there? choose another --port",
        ) from None
    actual = sock.getsockname()[1]
    where = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(
        agent,
        lifespan="on",
        log_level="warning",
        access_log=False,
        ws_max_size=WS_MAX_SIZE,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises a captured signal after its shutdown, with the handler it
    # found: make that one quiet, so that SIGINT/SIGTERM end the agent with 0
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _s, _f: None)
    announce(
        f"sscard agent: listening on ws://{where}:{actual}/ and http://{where}:{actual}/ "
        f"(readers: {', '.join(agent.calls.readers)})"
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
