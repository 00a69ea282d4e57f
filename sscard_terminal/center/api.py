"""The HTTP application (FastAPI): the national endpoint and the admin API.

- ``POST /fsi/api/rsfComIfsService/callService``: every transaction
  (settlement-interface.md, "Transport"); also reachable as
  ``/fsi/api/signInSignOutService/signIn`` and as ``.../callService/{infno}``
  (integration.md: the code appended, which must equal the envelope's infno).
  Business errors are HTTP 200 with infcode -1; HTTP 400/413 only for bodies
  that are no JSON object, 415 for a Content-Type other than JSON or plain
  text in UTF-8 (see :mod:`~sscard_terminal.center.envelope_forms`).
- ``/admin/...``: the operator's API, with ``Authorization: Bearer <token>``
  (``POST /admin/vouchers`` stands for the voucher app: a person's QR code).
- ``POST /localcfc/api/hsecfc/localQrCodeQuery``: the voucher exchange
  (``ec.query``, center/voucher.py), signed by the institution.
- ``GET /health``; the OpenAPI description at ``/openapi.json`` (``/docs``).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from sscard_terminal.center import gateway, voucher_api, wire
from sscard_terminal.center.admin import base as admin_base
from sscard_terminal.center.admin import cards as admin_cards
from sscard_terminal.center.admin import catalogue as admin_catalogue
from sscard_terminal.center.admin import claims as admin_claims
from sscard_terminal.center.admin import enrolments as admin_enrolments
from sscard_terminal.center.admin import filings as admin_filings
from sscard_terminal.center.admin import institutions as admin_institutions
from sscard_terminal.center.admin import persons as admin_persons
from sscard_terminal.center.clock import Clock, system_clock
from sscard_terminal.center.db import Database
from sscard_terminal.center.envelope import RequestEnvelope
from sscard_terminal.center.envelope_forms import Delivery
from sscard_terminal.center.gateway import GatewayHeaders
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.service import MAX_BODY, Admitted, CenterService, too_large

__all__ = [
    "CALL_SERVICE",
    "CALL_SERVICE_WITH_CODE",
    "app_from_env",
    "create_app",
    "delivery_of",
    "national_path",
    "prepare_to_serve",
]

CALL_SERVICE = "/fsi/api/rsfComIfsService/callService"
#: the endpoint with the transaction code appended (integration.md)
CALL_SERVICE_WITH_CODE = CALL_SERVICE + "/{infno}"
SIGN_IN = "/fsi/api/signInSignOutService/signIn"


class ResponseEnvelope(BaseModel):
    """The response envelope (settlement-interface.md, "Response envelope")."""

    infcode: int
    inf_refmsgid: str | None = None
    refmsg_time: str | None = None
    respond_time: str | None = None
    err_msg: str | None = None
    err_code: str | None = None
    warn_msg: str | None = None
    output: dict[str, Any] | None = None


class ErrorEnvelope(BaseModel):
    """Every answer other than 200: ``err_code`` a stable key, ``err_msg`` in
    Chinese and English."""

    infcode: int = Field(description="always -1")
    err_code: str
    err_msg: str


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description}


#: what the admin API may answer besides 200 (the OpenAPI document declares
#: every status an endpoint answers)
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("the body is not JSON"),
    401: _error("no admin token, or not exactly 'Authorization: Bearer <token>'"),
    404: _error("no such record"),
    409: _error("refused by a rule of the city (err_code says which)"),
    422: _error("a field is missing or malformed (err_msg names it)"),
    503: _error("the admin API is not enabled (the center was started without a token)"),
}

#: HTTP errors raised by the framework itself (an unparsable body, no such path)
_FRAMEWORK_CODES = {
    400: ("http.not_json", "报文不是JSON"),
    404: ("http.not_found", "路径不存在"),
    405: ("http.method", "不支持此请求方法"),
}


def _json(value: Any, status: int = 200) -> Response:
    return Response(wire.dumps(value), status_code=status, media_type="application/json")


def _refusal_response(refusal: Refusal) -> Response:
    status = 404 if isinstance(refusal, admin_base.NotFound) else 409
    return _json({"infcode": -1, "err_code": refusal.code, "err_msg": refusal.err_msg}, status)


def create_app(
    db: Database,
    policy: Policy,
    *,
    admin_token: str | None,
    clock: Clock = system_clock,
) -> FastAPI:
    """The application over one database and one area's policy."""
    service = CenterService(db, policy, clock)
    app = FastAPI(
        title="sscard-terminal settlement center",
        version="1",
        description=(
            "A stand-in for the city's medical-insurance platform: the national interface "
            "for designated institutions (callService) and an admin API. See docs/center.md."
        ),
    )
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for error in exc.errors()[:8]:
            where = ".".join(str(p) for p in error.get("loc", ()))
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
        text = "; ".join(parts)
        return _json(
            {
                "infcode": -1,
                "err_code": "input.invalid",
                "err_msg": f"输入不合法 ({text}) / invalid input: {text}",
            },
            422,
        )

    envelope_schema = RequestEnvelope.model_json_schema()

    # a few messages at a time in threads (more only fight over the GIL). Never
    # on the event loop: a message may wait on a database lock (SQLite's one
    # writer, a PostgreSQL row lock), and /health, the admin API and other
    # institutions' messages must keep answering meanwhile. Admission (parse,
    # envelope, signature: no write lock) has threads of its own, so that
    # messages waiting for a lock never hold up the refusal of others
    admitting = anyio.CapacityLimiter(4)
    processing = anyio.CapacityLimiter(4)

    async def dispatch(body: bytes, delivery: Delivery) -> tuple[int, bytes]:
        admitted = await anyio.to_thread.run_sync(service.admit, body, delivery, limiter=admitting)
        if not isinstance(admitted, Admitted):
            return admitted
        return await anyio.to_thread.run_sync(service.process, admitted, limiter=processing)

    async def call_service(request: Request) -> Response:
        delivery = delivery_of(request.url.path, request.headers)
        status, answer = await dispatch(await request.body(), delivery)
        return Response(answer, status_code=status, media_type="application/json")

    app.add_middleware(NationalFastPath, dispatch=dispatch)
    app.add_middleware(AdminGate, token=admin_token)

    gateway_headers = [
        {
            "name": name,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "gateway authentication, for institutions whose gateway option "
            "is also/only (docs/center.md)",
        }
        for name in gateway.HEADERS
    ]
    routes = (
        (CALL_SERVICE, "callService", "Call a national transaction (infno in the envelope)"),
        (
            CALL_SERVICE_WITH_CODE,
            "callServiceWithCode",
            "Call a national transaction, its code in the URL (must equal infno)",
        ),
        (SIGN_IN, "signIn", "Sign in (9001) - same as callService"),
    )
    for path, name, summary in routes:
        parameters = list(gateway_headers)
        if path == CALL_SERVICE_WITH_CODE:
            parameters.insert(
                0,
                {
                    "name": "infno",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "the 4-digit transaction code (infno)",
                },
            )
        app.add_api_route(
            path,
            call_service,
            methods=["POST"],
            name=name,
            summary=summary,
            response_model=ResponseEnvelope,
            openapi_extra={
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {
                        media: {"schema": envelope_schema}
                        for media in ("application/json", "text/plain")
                    },
                },
            },
            responses={
                400: _error(
                    "not a JSON object, or beyond the parser's bounds (size, nesting, "
                    "numbers, lone surrogates): never reached the business layer"
                ),
                413: _error("the body is too large"),
                415: _error("a Content-Type other than JSON or plain text in UTF-8"),
            },
            tags=["national interface"],
        )

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        return {"status": "ok", "database": db.backend, "area": policy.admdvs}

    install_admin_errors(app)
    app.include_router(_admin_router(db, policy, admin_token, clock, service))
    app.include_router(voucher_api.exchange_router(db, clock))
    return app


def _admin_router(
    db: Database, policy: Policy, token: str | None, clock: Clock, service: CenterService
) -> APIRouter:
    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        refused = admin_refusal(token, None if authorization is None else authorization.encode())
        if refused is not None:
            raise refused

    router = APIRouter(
        prefix="/admin",
        tags=["admin"],
        dependencies=[Depends(require_token)],
        responses=ADMIN_RESPONSES,
    )

    def run(operation: Callable[[Session], dict[str, Any]]) -> Response:
        try:
            with db.transaction() as session:
                return _json(operation(session))
        except Refusal as refusal:
            return _refusal_response(refusal)

    @router.post("/institutions", summary="Register an institution (returns its secret once)")
    def create_institution(req: admin_institutions.InstitutionIn) -> Response:
        service.forget_institution(req.fixmedins_code)
        return run(lambda s: admin_institutions.create_institution(s, clock(), req))

    @router.post("/institutions/{code}/secret", summary="Give an institution a new secret")
    def rotate_secret(code: str) -> Response:
        response = run(lambda s: admin_institutions.rotate_secret(s, code))
        service.forget_institution(code)
        return response

    @router.put("/institutions/{code}/sm2-key", summary="Register an SM2 public key (signtype SM2)")
    def sm2_key(code: str, req: admin_institutions.SM2KeyIn) -> Response:
        response = run(lambda s: admin_institutions.set_sm2_key(s, code, req))
        service.forget_institution(code)
        return response

    @router.put("/institutions/{code}/gateway", summary="Gateway headers: off, also or only")
    def gateway_option(code: str, req: admin_institutions.GatewayIn) -> Response:
        response = run(lambda s: admin_institutions.set_gateway(s, code, req))
        service.forget_institution(code)
        return response

    @router.post("/persons", summary="Register a person (ID number checked, rule k)")
    def create_person(req: admin_persons.PersonIn) -> Response:
        return run(lambda s: admin_persons.create_person(s, policy, clock(), req))

    @router.get("/persons/{psn_no}", summary="A person, enrolments, account and cards")
    def get_person(psn_no: str) -> Response:
        return run(lambda s: admin_persons.person_view(s, policy, clock(), psn_no))

    @router.patch("/persons/{psn_no}", summary="Change non-critical details (rule g)")
    def change_person(psn_no: str, changes: dict[str, Any]) -> Response:
        return run(lambda s: admin_persons.change_person(s, psn_no, changes))

    @router.post("/persons/{psn_no}/enrolments", summary="Enrol in an insutype")
    def enrol(psn_no: str, req: admin_enrolments.EnrolmentIn) -> Response:
        return run(lambda s: admin_enrolments.enrol(s, policy, psn_no, req))

    @router.post("/persons/{psn_no}/contributions", summary="Record months paid (rules a, b)")
    def contributions(psn_no: str, req: admin_enrolments.ContributionIn) -> Response:
        return run(lambda s: admin_enrolments.add_contributions(s, policy, clock(), psn_no, req))

    @router.post("/persons/{psn_no}/account/credit", summary="Credit the personal account")
    def credit(psn_no: str, req: admin_enrolments.CreditIn) -> Response:
        return run(lambda s: admin_enrolments.credit_account(s, psn_no, req))

    @router.post("/persons/{psn_no}/cards", summary="Apply for a card (rules i, j)")
    def apply_card(psn_no: str, req: admin_cards.CardApplicationIn) -> Response:
        return run(lambda s: admin_cards.apply_card(s, policy, clock(), psn_no, req))

    @router.post("/persons/{psn_no}/filings", summary="Record a filing (rule f, 5301)")
    def filing(psn_no: str, req: admin_filings.FilingIn) -> Response:
        return run(lambda s: admin_filings.add_filing(s, psn_no, req))

    @router.post("/persons/{psn_no}/sporadic-claims", summary="Sporadic claim (rules c, d)")
    def claim(psn_no: str, req: admin_claims.ClaimIn) -> Response:
        return run(lambda s: admin_claims.sporadic_claim(s, policy, clock(), psn_no, req))

    @router.post(
        "/cards/{card_no}/loss", summary="Loss report: temporary, formal, damaged (rule c)"
    )
    def loss(card_no: str, req: admin_cards.LossReportIn) -> Response:
        return run(lambda s: admin_cards.report_loss(s, policy, clock(), card_no, req))

    @router.post("/cards/{card_no}/loss/cancel", summary="Cancel a temporary loss (ID + card)")
    def cancel_loss(card_no: str, req: admin_cards.CancelLossIn) -> Response:
        return run(lambda s: admin_cards.cancel_temporary_loss(s, clock(), card_no, req))

    @router.post("/cards/{card_no}/replacement", summary="Replace a lost or damaged card")
    def replace(card_no: str, req: admin_cards.ReplacementIn) -> Response:
        return run(lambda s: admin_cards.replace_card(s, policy, clock(), card_no, req))

    @router.post("/cards/{card_no}/financial-account", summary="Activate the financial account")
    def activate(card_no: str) -> Response:
        return run(lambda s: admin_cards.activate_financial_account(s, card_no))

    @router.patch("/cards/{card_no}", summary="Change card data: always refused (rule g, Q7)")
    def change_card(card_no: str, changes: dict[str, Any]) -> Response:
        return run(lambda s: admin_cards.change_card(s, card_no, changes))

    @router.get("/cards/{card_no}/person-file", summary="The person file for this card's image")
    def person_file(card_no: str) -> Response:
        return run(lambda s: admin_cards.person_file(s, card_no))

    @router.post("/vouchers", summary="Issue a voucher QR code (the person's phone app)")
    def new_voucher(req: voucher_api.VoucherIn) -> Response:
        def operation(session: Session) -> dict[str, Any]:
            return voucher_api.issue(session, clock(), req)

        return run(operation)

    @router.put("/catalogue", summary="Add or change a catalogue item")
    def catalogue(req: admin_catalogue.CatalogueIn) -> Response:
        return run(lambda s: admin_catalogue.upsert_catalogue(s, req))

    @router.post("/seed", summary="Seed demo data and/or N generated persons")
    def seed(req: SeedIn) -> Response:
        from sscard_terminal.center import seed as seeding

        try:
            result = seeding.seed(db, policy, clock(), persons=req.persons, demo=req.demo)
        except Refusal as refusal:
            return _refusal_response(refusal)
        return _json(result)

    return router


class SeedIn(BaseModel):
    """Seeding through the API: demo data and up to 100,000 generated persons
    (more with ``sscard center seed``)."""

    persons: int = Field(default=0, ge=0, le=100_000)
    demo: bool = True


Dispatch = Callable[[bytes, Delivery], Awaitable[tuple[int, bytes]]]


def national_path(path: str) -> bool:
    """Whether a path is one of the national endpoints (callService, with or
    without a transaction code appended, or signIn)."""
    if path in (CALL_SERVICE, SIGN_IN):
        return True
    head, slash, tail = path.rpartition("/")
    return head == CALL_SERVICE and bool(slash) and bool(tail)


def delivery_of(path: str, headers: Mapping[str, str]) -> Delivery:
    """How a request came: the code in its URL, Content-Type, gateway headers.
    ``headers`` maps lower-case names to values. Raises nothing: a bad code is
    refused by the pipeline."""
    path_infno = path[len(CALL_SERVICE) + 1 :] if path.startswith(CALL_SERVICE + "/") else None
    return Delivery(
        path_infno=path_infno,
        content_type=headers.get("content-type"),
        gateway=GatewayHeaders.from_headers(headers),
    )


class NationalFastPath:
    """ASGI middleware: ``POST`` to the national endpoints goes straight to the
    message pipeline, past the routing, dependency and exception layers that the
    admin API needs and a message does not (they cost about a quarter of a
    settlement's CPU time). The FastAPI routes of the same paths remain, for the
    OpenAPI description and as the reference behaviour: the same status codes
    and bodies (413 for a body over the pipeline's limit)."""

    def __init__(self, app: ASGIApp, dispatch: Dispatch) -> None:
        self.app = app
        self.dispatch = dispatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not national_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive, MAX_BODY)
        if body is _DISCONNECTED:
            return  # the client went away (or was timed out) before its body was complete
        if body is None:
            status, answer = too_large()
        else:
            headers = {
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in scope["headers"]
            }
            status, answer = await self.dispatch(body, delivery_of(scope["path"], headers))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


_DISCONNECTED = b"\x00disconnected"  # compared by identity only


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body; None when it is longer than ``limit`` (the rest is not
    read), :data:`_DISCONNECTED` when the connection ended before its end."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _DISCONNECTED
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def admin_refusal(token: str | None, authorization: bytes | None) -> _AdminHTTPError | None:
    """Why an admin request is refused (None: it is not). The header must be
    exactly ``Bearer <token>`` (RFC 6750, section 2.1: the scheme, one space, the
    token), compared in constant time; no other form is accepted."""
    if token is None:
        return _AdminHTTPError(
            503, "admin.disabled", "管理接口未启用", "the admin API is not enabled"
        )
    expected = b"Bearer " + token.encode("utf-8")
    if authorization is None or not hmac.compare_digest(authorization, expected):
        return _AdminHTTPError(
            401,
            "admin.token",
            "管理令牌无效：须为 Authorization: Bearer <令牌>",
            "missing or wrong admin token: send Authorization: Bearer <token>",
        )
    return None


class AdminGate:
    """ASGI middleware: a request to ``/admin`` is refused on its headers, before
    its body is read or parsed, unless it carries the admin token (no work
    before authentication)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (
            scope["path"] == "/admin" or scope["path"].startswith("/admin/")
        ):
            await self.app(scope, receive, send)
            return
        values = [value for name, value in scope["headers"] if name == b"authorization"]
        refused = admin_refusal(self.token, values[0] if len(values) == 1 else None)
        if refused is None:
            await self.app(scope, receive, send)
            return
        body = wire.dumps({"infcode": -1, "err_code": refused.code, "err_msg": refused.text})
        await send(
            {
                "type": "http.response.start",
                "status": refused.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _AdminHTTPError(Exception):
    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.code, self.text = status, code, f"{zh} / {en}"


def install_admin_errors(app: FastAPI) -> None:
    @app.exception_handler(_AdminHTTPError)
    async def _handler(request: Request, exc: _AdminHTTPError) -> Response:
        return _json({"infcode": -1, "err_code": exc.code, "err_msg": exc.text}, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _framework(request: Request, exc: StarletteHTTPException) -> Response:
        # the framework's own errors in the envelope of every other error
        code, zh = _FRAMEWORK_CODES.get(exc.status_code, (f"http.{exc.status_code}", "请求错误"))
        answer = {"infcode": -1, "err_code": code, "err_msg": f"{zh} / {exc.detail}"}
        return Response(
            wire.dumps(answer),
            status_code=exc.status_code,
            media_type="application/json",
            headers=exc.headers,
        )


def prepare_to_serve(db: Database) -> None:
    """What a long-running server does once its application is built: SQLite
    checkpoints in a thread of their own (``Database.start_checkpointer``), and
    the startup objects frozen out of the garbage collector's way, so that no
    full collection walks them in the middle of a request."""
    import gc

    db.start_checkpointer()
    gc.collect()
    gc.freeze()


def app_from_env() -> FastAPI:
    """The application configured by the environment (``sscard center serve
    --workers N`` starts each worker process with it): SSCARD_CENTER_DB,
    SSCARD_CENTER_POLICY and SSCARD_CENTER_ADMIN_TOKEN."""
    import os

    from sscard_terminal.center.masking import install_log_masking
    from sscard_terminal.center.policy import load_policy

    install_log_masking()
    db = Database(os.environ["SSCARD_CENTER_DB"])
    policy = load_policy(os.environ.get("SSCARD_CENTER_POLICY", "330200"))
    app = create_app(db, policy, admin_token=os.environ.get("SSCARD_CENTER_ADMIN_TOKEN"))
    prepare_to_serve(db)
    return app
