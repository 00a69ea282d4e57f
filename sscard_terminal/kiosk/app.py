"""The kiosk's web app (FastAPI, static HTML/JS, no build step).

- ``GET /``: the page (1080x1920 portrait); ``/static/...`` its script and style.
- ``GET /api/view[?after=VERSION]``: the current screen (:meth:`KioskSession.view`);
  with ``after``, a long poll that answers when the screen changed.
- ``POST /api/action`` ``{"action", "arg"}``: a button.
- ``POST /api/scan`` ``{"code"}``: what the voucher scanner typed.
- ``POST /api/pinpad`` ``{"key"}``: a key of the simulated PIN pad, as its
  one-entry token (never a digit: :mod:`.pinpad`).
- ``POST /api/lang`` ``{"lang": "zh"|"en"}``.

Served on the loopback interface only. Every request must name this server
in ``Host`` (``127.0.0.1:PORT`` or ``localhost:PORT``: no DNS rebinding),
and every POST must come from the page itself (``Origin`` equal to the
kiosk's own origin; a request without Origin is refused too), so no other
web page open on the machine can press the kiosk's buttons. Answers are
``Cache-Control: no-store``; the access log is off (the app logs no
request).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from sscard_terminal.errors import SscardError
from sscard_terminal.kiosk.session import KioskSession

__all__ = ["create_app"]

_STATIC = {
    "kiosk.js": "application/javascript; charset=utf-8",
    "kiosk.css": "text/css; charset=utf-8",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionIn(_Body):
    action: str = Field(pattern=r"^[a-z_]{1,20}$")
    arg: str = Field(default="", max_length=40, pattern=r"^[A-Za-z0-9_-]*$")


class ScanIn(_Body):
    code: str = Field(min_length=1, max_length=200)


class KeyIn(_Body):
    key: str = Field(pattern=r"^([0-9a-f]{16}|ok|clear|cancel)$")


class LangIn(_Body):
    lang: str = Field(pattern=r"^(zh|en)$")


def _asset(name: str) -> bytes:
    return resources.files("sscard_terminal.kiosk").joinpath("static").joinpath(name).read_bytes()


class _Guard(BaseHTTPMiddleware):
    """Host and Origin checks; no caching."""

    def __init__(self, app: Any, port: int) -> None:
        super().__init__(app)
        self.port = port

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        host = request.headers.get("host", "")
        if host not in hosts:
            return JSONResponse({"error": "wrong Host: the kiosk answers on loopback"}, 421)
        if request.method != "GET":
            origin = request.headers.get("origin", "")
            if origin not in {f"http://{h}" for h in hosts}:
                return JSONResponse({"error": "requests come from the kiosk page only"}, 403)
        response = await call_next(request)
        response.headers["cache-control"] = "no-store"
        response.headers["x-frame-options"] = "DENY"
        response.headers["content-security-policy"] = (
            "default-src 'self'; frame-ancestors 'none'; form-action 'none'"
        )
        response.headers["referrer-policy"] = "no-referrer"
        return response


def create_app(session: KioskSession, port: int) -> FastAPI:
    """The app over one kiosk session, served on 127.0.0.1:``port``."""
    app = FastAPI(title="sscard kiosk", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_Guard, port=port)

    def problem(exc: SscardError) -> JSONResponse:
        return JSONResponse({"error": exc.one_line()}, 422)

    @app.get("/")
    def index() -> Response:
        return Response(_asset("index.html"), media_type="text/html; charset=utf-8")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _STATIC:
            return JSONResponse({"error": "not found"}, 404)
        return Response(_asset(name), media_type=_STATIC[name])

    @app.get("/api/view")
    def view(after: int = -1) -> dict[str, Any]:
        """The screen; with ``after`` (a version the page shows), once it changed
        or after 20 s (a long poll: the page shows a change at once)."""
        if after >= 0:
            session.wait_change(after, 20.0)
        return session.view()

    @app.post("/api/action")
    def action(body: ActionIn) -> Response:
        session.act(body.action, body.arg)
        return JSONResponse({"ok": True})

    @app.post("/api/scan")
    def scan(body: ScanIn) -> Response:
        try:
            session.scan(body.code)
        except SscardError as exc:
            return problem(exc)
        return JSONResponse({"ok": True})

    @app.post("/api/pinpad")
    def pinpad(body: KeyIn) -> Response:
        session.press_key(body.key)
        return JSONResponse({"ok": True})

    @app.post("/api/lang")
    def lang(body: LangIn) -> Response:
        session.set_lang(body.lang)
        return JSONResponse({"ok": True})

    @app.post("/api/touch")
    def touch() -> Response:
        session.touch()
        return JSONResponse({"ok": True})

    return app
