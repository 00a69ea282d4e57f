"""The key service over HTTP (FastAPI, served by uvicorn).

One endpoint does the work::

    POST /keyservice/v1/step1
    Authorization: Bearer <token>        (the terminal's own token, from the registry)
    {"line": "region|ATR|algorithm|card id code|IA process|IA source|EA process|EA source|"
             "terminal no|",                   (one string: the step-1 line)
     "ia_answer": "<16 hex digits>"}

    200 {"cryptogram": "<16 hex digits>"}
    400 {"error": "<reason>", "code": "malformed"}          a field that does not parse
    401 {"error": "<reason>", "code": "not-authorised"}     bearer token missing or wrong
    403 {"error": "unknown terminal", "code": "unknown-terminal"}
    403 {"error": "card answer does not verify", "code": "card-not-verified"}
    409 {"error": "<reason>", "code": "replayed"}           a random used before
    503 {"error": "<reason>", "code": "busy"}               this terminal's share of
                                                             the replay guard is full

and ``GET /keyservice/v1/health`` answers ``{"status": "ok"}``. Answers carry
``Cache-Control: no-store``; the OpenAPI pages are switched off. The service
binds 127.0.0.1 unless told otherwise; it speaks plain HTTP, so anything that
listens beyond the host belongs behind a TLS proxy. Request bodies never reach
a log (uvicorn's access log shows the method, path and status only).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from uvicorn.config import LOGGING_CONFIG

from sscard_terminal.keyservice.core import (
    MAX_LINE_LENGTH,
    CardNotVerified,
    KeyService,
    MalformedRequest,
    Refusal,
    ReplayedRequest,
    ServiceBusy,
    TerminalNotAuthorised,
    UnknownTerminal,
)

STEP1_PATH = "/keyservice/v1/step1"
HEALTH_PATH = "/keyservice/v1/health"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

#: HTTP status of each refusal
STATUS_OF: dict[type[Refusal], int] = {
    MalformedRequest: 400,
    TerminalNotAuthorised: 401,
    UnknownTerminal: 403,
    CardNotVerified: 403,
    ReplayedRequest: 409,
    ServiceBusy: 503,
}
_NO_STORE = {"Cache-Control": "no-store"}


class Step1Body(BaseModel):
    """The JSON body of a step-1 request."""

    model_config = ConfigDict(extra="forbid")

    line: str = Field(max_length=MAX_LINE_LENGTH)
    ia_answer: str = Field(max_length=64)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def refusal_response(refusal: Refusal) -> JSONResponse:
    """The HTTP answer to a refusal: its status, reason and code."""
    status = STATUS_OF.get(type(refusal), 403)
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"error": refusal.reason, "code": refusal.code}, status_code=status, headers=headers
    )


def create_app(service: KeyService) -> FastAPI:
    """The ASGI application around ``service``."""
    app = FastAPI(title="sscard key service", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        # pydantic's own messages would echo the input (the IA answer among it)
        fields = sorted(
            {
                str(e["loc"][-1])
                for e in exc.errors()
                if e.get("loc") and isinstance(e["loc"][-1], str) and e["loc"][-1] != "body"
            }
        )
        where = f" (check {', '.join(fields)})" if fields else ""
        return refusal_response(
            MalformedRequest('the body must be JSON {"line": "...", "ia_answer": "<hex>"}' + where)
        )

    @app.get(HEALTH_PATH)
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    @app.post(STEP1_PATH)
    def step1(body: Step1Body, authorization: str | None = Header(default=None)) -> JSONResponse:
        try:
            cryptogram = service.step1(body.line, body.ia_answer, token=bearer_token(authorization))
        except Refusal as refusal:
            return refusal_response(refusal)
        return JSONResponse({"cryptogram": cryptogram.hex().upper()}, headers=_NO_STORE)

    return app


def bind_socket(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    return host == "localhost" or host == "::1" or host.startswith("127.")


def make_server(
    service: KeyService,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    configure_logging: bool = True,
) -> uvicorn.Server:
    """A uvicorn server for ``service`` (not started). With ``configure_logging``
    False, uvicorn leaves the process's logging alone (for embedding and tests)."""
    config = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        log_level="info",
        server_header=False,
        log_config=LOGGING_CONFIG if configure_logging else None,
    )
    return uvicorn.Server(config)


@contextlib.contextmanager
def serve_in_thread(
    service: KeyService, host: str = DEFAULT_HOST, port: int = 0, *, timeout: float = 10.0
) -> Iterator[str]:
    """Run the service in a background thread; yield its base URL; stop on exit.

    For embedding and tests: a real server on a real socket (port 0 picks a
    free port, race-free, since the socket is bound before uvicorn starts).
    """
    sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    server = make_server(service, host=host, port=bound_port, configure_logging=False)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="keyservice", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the key service did not start")
        time.sleep(0.01)
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    try:
        yield f"http://{shown}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
