"""The client's message engine: one message sent, journaled and classified.

settlement-interface.md, "Transport": ``POST {base}/fsi/api/rsfComIfsService/callService``
with the request envelope as JSON; the answer is a response envelope. The
engine:

- allocates each msgid from the journal's counter and the terminal's slot;
- signs in (9001) once per terminal (institution + operator) and day,
  Asia/Shanghai, and keeps the sign_no in the journal; it signs in again on a
  new day, or once when the center refuses a message for its sign_no;
- writes every message to the journal as PENDING before sending it, and
  marks it SUCCESS, FAIL or UNKNOWN after (settlement-interface.md, "Journal
  rule from robust clients");
- uses HTTP with timeouts and no connection reuse (a stale kept-alive
  connection would turn an idle pause into a lost answer);
- raises :class:`CenterRefused` (exit code 7) for infcode != 0,
  :class:`OutcomeUnknown` (exit code 8) when a message that books something
  got no answer - it is then settled by
  :func:`sscard_terminal.settlement.resolution.resolve` (5203 or 2601), never
  sent again - and :class:`CenterUnavailable` (8) when nothing can have been
  booked;
- sends any declared transaction (:meth:`MessageEngine.call`,
  :mod:`sscard_terminal.settlement.transactions`) and reads its typed result.

It imports nothing from any center: it talks to any server that follows the
interface.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
from pydantic import ValidationError

from sscard_terminal.settlement import envelope as env
from sscard_terminal.settlement import wire
from sscard_terminal.settlement.envelope import SHANGHAI, OpterType, RequestParty, Response
from sscard_terminal.settlement.errors import (
    CenterRefused,
    CenterUnavailable,
    OutcomeUnknown,
    UnexpectedAnswer,
)
from sscard_terminal.settlement.gateway import gateway_headers
from sscard_terminal.settlement.inputs import Context, Input, SignInRequest, SignOutRequest
from sscard_terminal.settlement.journal import Journal
from sscard_terminal.settlement.models import PersonRef, SignIn, SignOut, _Result
from sscard_terminal.settlement.sm2 import SM2Signer
from sscard_terminal.settlement.transactions import (
    SIGN_IN,
    SIGN_OUT,
    Kind,
    MissingNode,
    Transaction,
    kind_of,
)

__all__ = [
    "CALL_SERVICE",
    "Exchange",
    "InstitutionConfig",
    "MessageEngine",
    "Operator",
]

#: settlement-interface.md, "Transport".
CALL_SERVICE = "/fsi/api/rsfComIfsService/callService"

In = TypeVar("In", bound=Input)
R = TypeVar("R", bound=_Result)
#: msgids per terminal and second; the slot is the sequence's first two digits.
SLOT_SPAN = 100
MAX_SLOT = 10000 // SLOT_SPAN - 1


@dataclass(frozen=True)
class InstitutionConfig:
    """The designated institution (settlement-interface.md, "Request envelope":
    fixmedins_code, fixmedins_name, mdtrtarea_admvs) and its shared secret for
    the HMAC-SM3 signature. The secret is never written anywhere."""

    fixmedins_code: str
    fixmedins_name: str
    mdtrtarea_admvs: str
    secret: str = field(repr=False)
    recer_sys_code: str = env.DEFAULT_RECER_SYS_CODE
    #: sign with SM2 (signtype "SM2") instead of HMAC-SM3 when given
    sm2: SM2Signer | None = field(default=None, repr=False)
    #: send the x-tif gateway headers with this paasid when given
    gateway_paasid: str | None = None

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("the institution's secret is empty")


@dataclass(frozen=True)
class Operator:
    """Who operates the terminal: ``opter_type`` 1 operator, 2 self-service
    kiosk, 3 mobile; ``opter`` the operator's or the terminal's number."""

    opter_type: OpterType
    opter: str
    opter_name: str
    dev_no: str = ""
    mac: str = ""
    ip: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "opter_type", OpterType(str(self.opter_type)))


@dataclass(frozen=True)
class Exchange:
    """One message and its answer (infcode 0)."""

    msgid: str
    infno: str
    response: Response

    @property
    def output(self) -> dict[str, Any]:
        return self.response.output


def _shanghai_now() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def _is_sign_no_refusal(response: Response) -> bool:
    """The center refused the message for its sign_no (unknown, expired, signed
    out): ``err_code`` signin.* where the center sends one, else the text."""
    code = response.err_code or ""
    if code.startswith("signin.") and code != "signin.opter":
        return True
    text = (response.err_msg or "").lower()
    return "sign_no" in text or "签到编号" in text or "请先签到" in text or "重新签到" in text


class MessageEngine:
    """A terminal's sender of messages to the settlement center.

    ``journal`` is a :class:`Journal` or the path of its file (then the engine
    owns and closes it). ``timeout`` is the HTTP timeout in seconds for each
    message.

    msgids must be unique per institution (settlement-interface.md), and each
    terminal counts in its own journal: the 4-digit sequence is therefore the
    terminal's ``msgid_slot`` (00-99, one per terminal of the institution,
    from terminal.yaml) followed by the journal's counter mod 100, and the
    journal never lets more than 100 msgids of one terminal share a second
    (see :meth:`Journal.allocate`).
    """

    def __init__(
        self,
        base_url: str,
        institution: InstitutionConfig,
        operator: Operator,
        journal: Journal | str | os.PathLike[str],
        timeout: float = 15.0,
        *,
        connect_timeout: float = 5.0,
        msgid_slot: int = 0,
        clock: Callable[[], dt.datetime] = _shanghai_now,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 0 <= msgid_slot <= MAX_SLOT:
            raise ValueError(f"msgid_slot is 0-{MAX_SLOT}")
        self.url = base_url.rstrip("/") + CALL_SERVICE
        self.institution = institution
        self.operator = operator
        self.party = RequestParty(
            fixmedins_code=institution.fixmedins_code,
            fixmedins_name=institution.fixmedins_name,
            mdtrtarea_admvs=institution.mdtrtarea_admvs,
            opter_type=operator.opter_type,
            opter=operator.opter,
            opter_name=operator.opter_name,
            recer_sys_code=institution.recer_sys_code,
            dev_no=operator.dev_no,
        )
        self._owns_journal = not isinstance(journal, Journal)
        self.journal = journal if isinstance(journal, Journal) else Journal(Path(journal))
        self.timeout = timeout
        self.msgid_slot = msgid_slot
        self.clock = clock
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, connect_timeout)),
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
            trust_env=False,
        )
        self._lock = threading.RLock()
        self._in_flight: set[str] = set()
        self._local = threading.local()

    @property
    def http(self) -> httpx.Client:
        """The HTTP client (the voucher exchange, settlement/voucher.py, shares it)."""
        return self._http

    @property
    def last_msgid(self) -> str | None:
        """The msgid of the last message this thread sent (typed results also
        carry their own: ``result.msgid``)."""
        return getattr(self._local, "msgid", None)

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP client (and the journal when the client opened it)."""
        self._http.close()
        if self._owns_journal:
            self.journal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def in_flight(self) -> frozenset[str]:
        """msgids this client is sending right now (resolution leaves them alone)."""
        with self._lock:
            return frozenset(self._in_flight)

    def today(self) -> dt.date:
        """Today in Asia/Shanghai, by the client's clock."""
        return self.clock().astimezone(SHANGHAI).date()

    # -- messages -----------------------------------------------------------------------------
    def _next_msgid(self, now: dt.datetime) -> str:
        seq, moment = self.journal.allocate(now, SLOT_SPAN)
        sequence = self.msgid_slot * SLOT_SPAN + seq % SLOT_SPAN
        return env.make_msgid(self.institution.fixmedins_code, moment, sequence)

    def _send_once(
        self,
        infno: str,
        payload: Mapping[str, Any],
        *,
        person: PersonRef | None,
        sign_no: str | None,
        resolves: str | None,
        card_no: str | None = None,
        hold_visit: bool = False,
    ) -> tuple[str, Response]:
        """Journal, send and classify one message. Returns the msgid and an
        answer (infcode any); raises when there is no answer."""
        now = self.clock()
        msgid = self._next_msgid(now)
        request = env.build_request(
            infno,
            payload,
            party=self.party,
            msgid=msgid,
            inf_time=now,
            secret=self.institution.secret,
            sm2=self.institution.sm2,
            sign_no=sign_no,
            insuplc_admdvs=person.insuplc_admdvs if person else None,
        )
        body = wire.dumps(request)
        self.journal.add_pending(request, resolves=resolves, card_no=card_no, hold_visit=hold_visit)
        self._local.msgid = msgid
        books = kind_of(infno) is not Kind.QUERY
        with self._lock:
            self._in_flight.add(msgid)
        try:
            try:
                headers = {"content-type": "application/json; charset=utf-8"}
                if self.institution.gateway_paasid:
                    headers.update(
                        gateway_headers(self.institution.gateway_paasid, self.institution.secret)
                    )
                answer = self._http.post(self.url, content=body, headers=headers)
            except (
                httpx.ConnectError,
                httpx.ConnectTimeout,
                httpx.PoolTimeout,
                httpx.UnsupportedProtocol,
            ) as exc:
                self.journal.mark_not_sent(msgid, f"not delivered: {_describe(exc)}")
                raise CenterUnavailable(
                    f"{infno}: the center cannot be reached ({_describe(exc)})",
                    infno=infno,
                    msgid=msgid,
                ) from None
            except httpx.TransportError as exc:
                self.journal.mark_unknown(msgid, f"no answer: {_describe(exc)}")
                raise self._no_answer(infno, msgid, _describe(exc), books) from None
            return msgid, self._classify(infno, msgid, answer, books)
        finally:
            with self._lock:
                self._in_flight.discard(msgid)

    @staticmethod
    def _no_answer(infno: str, msgid: str, why: str, books: bool) -> CenterUnavailable:
        if books:
            return OutcomeUnknown(
                f"{infno} {msgid}: no answer from the center ({why}); it may or may not be booked",
                infno=infno,
                msgid=msgid,
            )
        return CenterUnavailable(
            f"{infno}: no answer from the center ({why})", infno=infno, msgid=msgid
        )

    def _classify(self, infno: str, msgid: str, answer: httpx.Response, books: bool) -> Response:
        status = answer.status_code
        try:
            response: Response | None = env.parse_response(answer.content)
        except UnexpectedAnswer as exc:
            response = None
            problem = str(exc)
        if response is not None and (200 <= status < 300 or response.infcode != 0):
            # an envelope: HTTP 200, or an HTTP error that carries a refusal
            self.journal.mark_answered(msgid, response)
            return response
        if 200 <= status < 300:
            # HTTP 200 but no envelope: whatever happened, we cannot tell
            self.journal.mark_unknown(msgid, f"HTTP {status}, {problem}")
            if books:
                raise OutcomeUnknown(
                    f"{infno} {msgid}: the answer is no response envelope ({problem})",
                    infno=infno,
                    msgid=msgid,
                )
            raise UnexpectedAnswer(f"{infno}: the answer is no response envelope ({problem})")
        if status >= 500 and books:
            # a gateway may have forwarded it before failing: settle it by 5203/2601
            self.journal.mark_unknown(msgid, f"HTTP {status}")
            raise OutcomeUnknown(
                f"{infno} {msgid}: HTTP {status} from the center", infno=infno, msgid=msgid
            )
        # settlement-interface.md: HTTP errors never reached the business layer
        self.journal.mark_not_sent(msgid, f"HTTP {status}: not taken by the business layer")
        if status >= 500:
            raise CenterUnavailable(f"{infno}: HTTP {status} from the center", infno=infno)
        raise CenterRefused(f"HTTP {status}", infno=infno, msgid=msgid, infcode=-1)

    def exchange(
        self,
        infno: str,
        payload: Mapping[str, Any],
        *,
        person: PersonRef | None = None,
        resolves: str | None = None,
        card_no: str | None = None,
        hold_visit: bool = False,
    ) -> Exchange:
        """Send one message of any transaction; the answer must be infcode 0.

        Signs in first when there is no sign_no for today. A refusal for the
        sign_no (unknown, expired, signed out) signs in again and sends the
        message once more under a new msgid (the refused one booked nothing).
        ``card_no``: the card a settlement or refund is made with, for the
        journal's card records (:meth:`Journal.add_pending`). ``hold_visit``:
        a 2201 whose visit the caller settles or cancels itself; until it
        does, the journal holds the visit for this process, and abandons it
        when the process is gone (:meth:`Journal.abandoned_visits`)."""
        sign_no = None if infno == SIGN_IN.infno else self.current_sign_no()
        sent = functools.partial(
            self._send_once,
            infno,
            payload,
            person=person,
            resolves=resolves,
            card_no=card_no,
            hold_visit=hold_visit,
        )
        msgid, response = sent(sign_no=sign_no)
        if (
            response.infcode != 0
            and sign_no is not None
            and infno != SIGN_OUT.infno
            and _is_sign_no_refusal(response)
        ):
            self.journal.forget_sign_no(
                self.institution.fixmedins_code, self.operator.opter, sign_no
            )
            sign_no = self.sign_in().sign_no
            msgid, response = sent(sign_no=sign_no)
        response.raise_for_refusal(infno, msgid)
        return Exchange(msgid, infno, response)

    # -- declared transactions ----------------------------------------------------------------
    def context(self) -> Context:
        """What the terminal adds to an input (operator, division, clock)."""
        return Context(
            opter=self.operator.opter,
            mac=self.operator.mac,
            ip=self.operator.ip,
            mdtrtarea_admvs=self.institution.mdtrtarea_admvs,
            clock=self.clock,
        )

    def _send(self, tx: Transaction[In, R], value: In) -> tuple[Exchange, Any]:
        if not isinstance(value, tx.input):
            raise TypeError(f"{tx.infno} takes a {tx.input.__name__}")
        route = value.route()
        ex = self.exchange(
            tx.infno,
            value.payload(self.context()),
            person=route.person,
            resolves=route.resolves,
            card_no=route.card_no,
            hold_visit=route.hold_visit,
        )
        try:
            return ex, tx.answer(ex.response)
        except MissingNode as exc:
            raise UnexpectedAnswer(f"{ex.infno} {ex.msgid}: the answer has no {exc}") from None

    def call(self, tx: Transaction[In, R], value: In) -> R:
        """Send ``value`` as the transaction ``tx``; its typed result."""
        if tx.many:
            raise TypeError(f"{tx.infno} answers with rows: use call_rows")
        ex, node = self._send(tx, value)
        return self._typed(tx.result, node, ex.infno, ex.msgid)

    def call_rows(self, tx: Transaction[In, R], value: In) -> list[R]:
        """Send ``value`` as the transaction ``tx`` whose answer is rows."""
        if not tx.many:
            raise TypeError(f"{tx.infno} answers with one result: use call")
        ex, rows = self._send(tx, value)
        return [self._typed(tx.result, row, ex.infno, ex.msgid) for row in rows]

    @staticmethod
    def _typed(model: type[R], node: Any, infno: str, msgid: str) -> R:
        try:
            result = model.model_validate(node)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise UnexpectedAnswer(
                f"{infno} {msgid}: the answer lacks or garbles {where or 'its output'} "
                f"({first['msg']})"
            ) from None
        result._msgid = msgid
        return result

    # -- 9001 / 9002 --------------------------------------------------------------------------
    def current_sign_no(self) -> str:
        """Today's sign_no: from the journal, else a 9001 now."""
        cached = self.journal.sign_no(
            self.institution.fixmedins_code, self.operator.opter, self.today()
        )
        if cached:
            return cached
        with self._lock:
            cached = self.journal.sign_no(
                self.institution.fixmedins_code, self.operator.opter, self.today()
            )
            return cached or self.sign_in().sign_no

    def sign_in(self) -> SignIn:
        """9001 sign-in; the sign_no is kept in the journal for today."""
        result = self.call(SIGN_IN, SignInRequest())
        self.journal.store_sign_no(
            self.institution.fixmedins_code,
            self.operator.opter,
            self.today(),
            result.sign_no,
            result.msgid,
        )
        return result

    def sign_out(self) -> SignOut:
        """9002 sign-out of today's sign_no (if any); forgets it."""
        sign_no = self.journal.sign_no(
            self.institution.fixmedins_code, self.operator.opter, self.today()
        )
        if sign_no is None:
            return SignOut()
        ex, node = self._send(SIGN_OUT, SignOutRequest(sign_no))
        self.journal.forget_sign_no(self.institution.fixmedins_code, self.operator.opter)
        return self._typed(SignOut, node, ex.infno, ex.msgid)


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
