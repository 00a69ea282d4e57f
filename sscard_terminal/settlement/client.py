"""The settlement client: every transaction of the interface as a typed call.

settlement-interface.md, "Transport": ``POST {base}/fsi/api/rsfComIfsService/callService``
with the request envelope as JSON; the answer is a response envelope. The
client:

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
  :meth:`SettlementClient.resolve` (5203 or 2601), never sent again - and
  :class:`CenterUnavailable` (8) when nothing can have been booked.

It imports nothing from any center: it talks to any server that follows the
interface.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import ValidationError

from sscard_terminal.settlement import envelope as env
from sscard_terminal.settlement import wire
from sscard_terminal.settlement.envelope import SHANGHAI, OpterType, RequestParty, Response
from sscard_terminal.settlement.errors import (
    CenterRefused,
    CenterUnavailable,
    JournalError,
    OutcomeUnknown,
    UnexpectedAnswer,
)
from sscard_terminal.settlement.gateway import gateway_headers
from sscard_terminal.settlement.journal import BookTotals, Journal, kind_of
from sscard_terminal.settlement.models import (
    Ack,
    Diagnosis,
    DrugDetail,
    FeeDetail,
    FeeResult,
    Filing,
    PersonInfo,
    PersonRef,
    PharmacySettlement,
    ReconcileDetails,
    ReconcileRow,
    ReconcileTotals,
    Registration,
    Reversal,
    SettlementLookup,
    SettlementResult,
    SignIn,
    SignOut,
    Withdrawal,
    _Result,
    as_time,
)
from sscard_terminal.settlement.sm2 import SM2Signer

if TYPE_CHECKING:
    from sscard_terminal.settlement.resolution import ResolveReport

__all__ = [
    "CALL_SERVICE",
    "Exchange",
    "InstitutionConfig",
    "Operator",
    "SettlementClient",
]

#: settlement-interface.md, "Transport".
CALL_SERVICE = "/fsi/api/rsfComIfsService/callService"

M = TypeVar("M", bound=_Result)
CENT = Decimal("0.01")
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


def _money(value: Decimal | int | str) -> Decimal:
    """An amount with two places (settlement-interface.md, "Money")."""
    if isinstance(value, float | bool):
        raise TypeError("amounts are Decimal, never float")
    return Decimal(value).quantize(CENT)


def _quantity(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float | bool):
        raise TypeError("counts and prices are Decimal, never float")
    return Decimal(value)


def _is_sign_no_refusal(response: Response) -> bool:
    """The center refused the message for its sign_no (unknown, expired, signed
    out): ``err_code`` signin.* where the center sends one, else the text."""
    code = response.err_code or ""
    if code.startswith("signin.") and code != "signin.opter":
        return True
    text = (response.err_msg or "").lower()
    return "sign_no" in text or "签到编号" in text or "请先签到" in text or "重新签到" in text


class SettlementClient:
    """A terminal's client of the settlement center.

    ``journal`` is a :class:`Journal` or the path of its file (then the client
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

    def __enter__(self) -> SettlementClient:
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
        books = kind_of(infno) != "query"
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
        sign_no = None if infno == "9001" else self.current_sign_no()
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
            and infno != "9002"
            and _is_sign_no_refusal(response)
        ):
            self.journal.forget_sign_no(
                self.institution.fixmedins_code, self.operator.opter, sign_no
            )
            sign_no = self.sign_in().sign_no
            msgid, response = sent(sign_no=sign_no)
        response.raise_for_refusal(infno, msgid)
        return Exchange(msgid, infno, response)

    @staticmethod
    def _typed(model: type[M], node: Any, infno: str, msgid: str) -> M:
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

    def _output(self, exchange: Exchange, name: str) -> Any:
        node = exchange.output.get(name)
        if node is None:
            raise UnexpectedAnswer(f"{exchange.infno} {exchange.msgid}: the answer has no {name}")
        return node

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
        ex = self.exchange(
            "9001",
            {
                "signIn": {
                    "opter_no": self.operator.opter,
                    "mac": self.operator.mac,
                    "ip": self.operator.ip,
                }
            },
        )
        result = self._typed(SignIn, self._output(ex, "signinoutb"), "9001", ex.msgid)
        self.journal.store_sign_no(
            self.institution.fixmedins_code,
            self.operator.opter,
            self.today(),
            result.sign_no,
            ex.msgid,
        )
        return result

    def sign_out(self) -> SignOut:
        """9002 sign-out of today's sign_no (if any); forgets it."""
        sign_no = self.journal.sign_no(
            self.institution.fixmedins_code, self.operator.opter, self.today()
        )
        if sign_no is None:
            return SignOut()
        ex = self.exchange(
            "9002", {"signOut": {"sign_no": sign_no, "opter_no": self.operator.opter}}
        )
        self.journal.forget_sign_no(self.institution.fixmedins_code, self.operator.opter)
        return self._typed(SignOut, ex.output.get("signoutoutb") or {}, "9002", ex.msgid)

    # -- 1101 ---------------------------------------------------------------------------------
    def person_info(
        self,
        mdtrt_cert_type: str,
        mdtrt_cert_no: str,
        *,
        card_sn: str | None = None,
        psn_cert_type: str | None = None,
        certno: str | None = None,
        psn_name: str | None = None,
        begntime: dt.datetime | None = None,
    ) -> PersonInfo:
        """1101 person information: mdtrt_cert_type 01 e-voucher, 02 ID card, 03
        social security card (then ``card_sn``, the card identification code, is
        required). Returns baseinfo and insuinfo (``psn_insu_stas`` 1 normal)."""
        data: dict[str, Any] = {"mdtrt_cert_type": mdtrt_cert_type, "mdtrt_cert_no": mdtrt_cert_no}
        for name, value in (
            ("card_sn", card_sn),
            ("psn_cert_type", psn_cert_type),
            ("certno", certno),
            ("psn_name", psn_name),
        ):
            if value:
                data[name] = value
        if begntime is not None:
            data["begntime"] = as_time(begntime)
        ex = self.exchange("1101", {"data": data})
        output = {**ex.output, "warn_msg": ex.response.warn_msg}
        return self._typed(PersonInfo, output, "1101", ex.msgid)

    def person_by_card(self, card_no: str, card_sn: str) -> PersonInfo:
        """1101 by social security card (mdtrt_cert_type 03)."""
        return self.person_info("03", card_no, card_sn=card_sn)

    # -- 2201 - 2208 --------------------------------------------------------------------------
    def register(
        self,
        person: PersonRef,
        *,
        insutype: str,
        mdtrt_cert_type: str,
        mdtrt_cert_no: str,
        ipt_otp_no: str,
        card_sn: str | None = None,
        begntime: dt.datetime | None = None,
        med_type: str | None = None,
        atddr_no: str | None = None,
        dr_name: str | None = None,
        dept_code: str | None = None,
        dept_name: str | None = None,
        caty: str | None = None,
        hold_visit: bool = False,
    ) -> Registration:
        """2201 outpatient registration; returns mdtrt_id. Reversible by 2601.

        ``hold_visit``: the caller settles (2207) or cancels (2202) the visit
        itself; should its process end first, :func:`resolve` reverses the
        registration (see :meth:`exchange`)."""
        data: dict[str, Any] = {
            "psn_no": person.psn_no,
            "insutype": insutype,
            "begntime": as_time(begntime or self.clock().astimezone(SHANGHAI)),
            "mdtrt_cert_type": mdtrt_cert_type,
            "mdtrt_cert_no": mdtrt_cert_no,
            "ipt_otp_no": ipt_otp_no,
        }
        for name, value in (
            ("card_sn", card_sn),
            ("med_type", med_type),
            ("atddr_no", atddr_no),
            ("dr_name", dr_name),
            ("dept_code", dept_code),
            ("dept_name", dept_name),
            ("caty", caty),
        ):
            if value:
                data[name] = value
        ex = self.exchange("2201", {"data": data}, person=person, hold_visit=hold_visit)
        return self._typed(Registration, self._output(ex, "data"), "2201", ex.msgid)

    def cancel_registration(
        self, person: PersonRef, mdtrt_id: str, ipt_otp_no: str | None = None
    ) -> Ack:
        """2202 cancel a registration that has no valid settlement."""
        data: dict[str, Any] = {"psn_no": person.psn_no, "mdtrt_id": mdtrt_id}
        if ipt_otp_no:
            data["ipt_otp_no"] = ipt_otp_no
        ex = self.exchange("2202", {"data": data}, person=person)
        return Ack(warn_msg=ex.response.warn_msg)

    def visit_info(
        self,
        person: PersonRef,
        mdtrt_id: str,
        *,
        med_type: str,
        begntime: dt.datetime | None = None,
        dise_codg: str | None = None,
        dise_name: str | None = None,
        diagnoses: Sequence[Diagnosis] = (),
    ) -> Ack:
        """2203 visit information (mdtrtinfo and diseinfo)."""
        info: dict[str, Any] = {"mdtrt_id": mdtrt_id, "psn_no": person.psn_no, "med_type": med_type}
        if begntime is not None:
            info["begntime"] = as_time(begntime)
        if dise_codg:
            info["dise_codg"] = dise_codg
        if dise_name:
            info["dise_name"] = dise_name
        ex = self.exchange(
            "2203",
            {"mdtrtinfo": info, "diseinfo": [d.node() for d in diagnoses]},
            person=person,
        )
        return Ack(warn_msg=ex.response.warn_msg)

    def upload_fees(
        self, person: PersonRef, mdtrt_id: str, lines: Sequence[FeeDetail]
    ) -> list[FeeResult]:
        """2204 fee detail upload; returns the split of each line (catalogue class,
        price cap, self-pay shares)."""
        if not lines:
            raise ValueError("2204 needs at least one fee line")
        ex = self.exchange(
            "2204",
            {"feedetail": [line.node(mdtrt_id, person.psn_no) for line in lines]},
            person=person,
        )
        rows = ex.output.get("result") or []
        return [self._typed(FeeResult, row, "2204", ex.msgid) for row in rows]

    def withdraw_fees(
        self,
        person: PersonRef,
        mdtrt_id: str,
        chrg_bchno: str = "0000",
        *,
        resolves: str | None = None,
    ) -> Withdrawal:
        """2205 withdraw the unsettled fee details of a batch ("0000": all)."""
        ex = self.exchange(
            "2205",
            {"data": {"mdtrt_id": mdtrt_id, "chrg_bchno": chrg_bchno, "psn_no": person.psn_no}},
            person=person,
            resolves=resolves,
        )
        data = ex.output.get("data") or {}
        return Withdrawal(withdrawn=data.get("withdrawn"), warn_msg=ex.response.warn_msg)

    def _settle_data(
        self,
        person: PersonRef,
        mdtrt_id: str,
        mdtrt_cert_type: str,
        mdtrt_cert_no: str,
        medfee_sumamt: Decimal | int | str,
        insutype: str,
        med_type: str,
        acct_used: bool,
        psn_setlway: str,
        chrg_bchno: str | None,
        card_sn: str | None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "psn_no": person.psn_no,
            "mdtrt_cert_type": mdtrt_cert_type,
            "mdtrt_cert_no": mdtrt_cert_no,
            "med_type": med_type,
            "medfee_sumamt": _money(medfee_sumamt),
            "psn_setlway": psn_setlway,
            "mdtrt_id": mdtrt_id,
            "chrg_bchno": chrg_bchno or "0000",
            "acct_used_flag": "1" if acct_used else "0",
            "insutype": insutype,
        }
        if card_sn:
            data["card_sn"] = card_sn
        return {"data": data}

    def pre_settle(
        self,
        person: PersonRef,
        *,
        mdtrt_id: str,
        mdtrt_cert_type: str,
        mdtrt_cert_no: str,
        medfee_sumamt: Decimal | int | str,
        insutype: str,
        med_type: str = "11",
        acct_used: bool = True,
        psn_setlway: str = "01",
        chrg_bchno: str | None = None,
        card_sn: str | None = None,
    ) -> SettlementResult:
        """2206 outpatient pre-settlement: the split (fund, account, cash); books nothing."""
        ex = self.exchange(
            "2206",
            self._settle_data(
                person,
                mdtrt_id,
                mdtrt_cert_type,
                mdtrt_cert_no,
                medfee_sumamt,
                insutype,
                med_type,
                acct_used,
                psn_setlway,
                chrg_bchno,
                card_sn,
            ),
            person=person,
        )
        return self._typed(SettlementResult, ex.output, "2206", ex.msgid)

    def settle(
        self,
        person: PersonRef,
        *,
        mdtrt_id: str,
        mdtrt_cert_type: str,
        mdtrt_cert_no: str,
        medfee_sumamt: Decimal | int | str,
        insutype: str,
        med_type: str = "11",
        acct_used: bool = True,
        psn_setlway: str = "01",
        chrg_bchno: str | None = None,
        card_sn: str | None = None,
    ) -> SettlementResult:
        """2207 outpatient settlement: books; ``setlinfo.setl_id`` and
        ``medins_setl_id`` (= this message's msgid). No answer: OutcomeUnknown."""
        ex = self.exchange(
            "2207",
            self._settle_data(
                person,
                mdtrt_id,
                mdtrt_cert_type,
                mdtrt_cert_no,
                medfee_sumamt,
                insutype,
                med_type,
                acct_used,
                psn_setlway,
                chrg_bchno,
                card_sn,
            ),
            person=person,
        )
        return self._typed(SettlementResult, ex.output, "2207", ex.msgid)

    def cancel_settlement(
        self, person: PersonRef, *, setl_id: str, mdtrt_id: str, card_no: str | None = None
    ) -> SettlementResult:
        """2208 cancel an outpatient settlement (refund: a setlinfo with negative amounts)."""
        ex = self.exchange(
            "2208",
            {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": person.psn_no}},
            person=person,
            card_no=card_no,
        )
        return self._typed(SettlementResult, ex.output, "2208", ex.msgid)

    # -- 2101 - 2103 --------------------------------------------------------------------------
    def _pharmacy_input(
        self,
        person: PersonRef,
        mdtrt_cert_type: str,
        mdtrt_cert_no: str,
        insutype: str,
        lines: Sequence[DrugDetail],
        medfee_sumamt: Decimal | int | str | None,
        acct_used: bool,
        card_sn: str | None,
        ipt_otp_no: str | None,
        psn_setlway: str,
    ) -> dict[str, Any]:
        if not lines:
            raise ValueError("a pharmacy sale needs at least one drug line")
        total = (
            sum((_money(line.det_item_fee_sumamt) for line in lines), Decimal("0.00"))
            if medfee_sumamt is None
            else _money(medfee_sumamt)
        )
        info: dict[str, Any] = {
            "psn_no": person.psn_no,
            "mdtrt_cert_type": mdtrt_cert_type,
            "mdtrt_cert_no": mdtrt_cert_no,
            "med_type": "41",
            "medfee_sumamt": total,
            "psn_setlway": psn_setlway,
            "insutype": insutype,
            "acct_used_flag": "1" if acct_used else "0",
        }
        if card_sn:
            info["card_sn"] = card_sn
        if ipt_otp_no:
            info["ipt_otp_no"] = ipt_otp_no
        return {"druginfo": info, "drugdetail": [line.node() for line in lines]}

    def pharmacy_pre_settle(
        self,
        person: PersonRef,
        *,
        mdtrt_cert_type: str,
        mdtrt_cert_no: str,
        insutype: str,
        lines: Sequence[DrugDetail],
        medfee_sumamt: Decimal | int | str | None = None,
        acct_used: bool = True,
        card_sn: str | None = None,
        ipt_otp_no: str | None = None,
        psn_setlway: str = "01",
    ) -> PharmacySettlement:
        """2101 pharmacy pre-settlement (med_type 41); books nothing.
        ``medfee_sumamt`` defaults to the sum of the lines."""
        ex = self.exchange(
            "2101",
            self._pharmacy_input(
                person,
                mdtrt_cert_type,
                mdtrt_cert_no,
                insutype,
                lines,
                medfee_sumamt,
                acct_used,
                card_sn,
                ipt_otp_no,
                psn_setlway,
            ),
            person=person,
        )
        return self._typed(PharmacySettlement, ex.output, "2101", ex.msgid)

    def pharmacy_settle(
        self,
        person: PersonRef,
        *,
        mdtrt_cert_type: str,
        mdtrt_cert_no: str,
        insutype: str,
        lines: Sequence[DrugDetail],
        medfee_sumamt: Decimal | int | str | None = None,
        acct_used: bool = True,
        card_sn: str | None = None,
        ipt_otp_no: str | None = None,
        psn_setlway: str = "01",
    ) -> PharmacySettlement:
        """2102 pharmacy settlement: books the purchase (the center makes its
        mdtrt_id). No answer: OutcomeUnknown."""
        ex = self.exchange(
            "2102",
            self._pharmacy_input(
                person,
                mdtrt_cert_type,
                mdtrt_cert_no,
                insutype,
                lines,
                medfee_sumamt,
                acct_used,
                card_sn,
                ipt_otp_no,
                psn_setlway,
            ),
            person=person,
        )
        return self._typed(PharmacySettlement, ex.output, "2102", ex.msgid)

    def pharmacy_cancel(
        self, person: PersonRef, *, setl_id: str, mdtrt_id: str, card_no: str | None = None
    ) -> SettlementResult:
        """2103 cancel a pharmacy settlement."""
        ex = self.exchange(
            "2103",
            {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": person.psn_no}},
            person=person,
            card_no=card_no,
        )
        return self._typed(SettlementResult, ex.output, "2103", ex.msgid)

    # -- 2601 ---------------------------------------------------------------------------------
    def reversal(
        self, person: PersonRef, *, omsgid: str, oinfno: str, resolves: str | None = None
    ) -> Reversal:
        """2601 reversal (冲正) of the message ``omsgid`` (an ``oinfno``). The
        journal links it to the original (``resolves``, by default ``omsgid``).
        Use :meth:`reverse` to also record the outcome on the original's entry."""
        ex = self.exchange(
            "2601",
            {"data": {"psn_no": person.psn_no, "omsgid": omsgid, "oinfno": oinfno}},
            person=person,
            resolves=resolves or omsgid,
        )
        data = ex.output.get("data") or {}
        return self._typed(Reversal, data, "2601", ex.msgid)

    def reverse(self, msgid: str) -> Reversal:
        """Reverse a journaled message by 2601 (e.g. a 2207 whose card record
        could not be written) and record it: the entry becomes REVERSED."""
        from sscard_terminal.settlement.resolution import reverse_entry

        entry = self.journal.get(msgid)
        if entry is None:
            raise JournalError(f"{msgid} is not in this terminal's journal")
        return reverse_entry(self, entry)

    # -- 3201 / 3202 --------------------------------------------------------------------------
    def reconcile_totals(
        self,
        *,
        insutype: str,
        begin: dt.date,
        end: dt.date,
        medfee_sumamt: Decimal,
        fund_pay_sumamt: Decimal,
        acct_pay: Decimal,
        count: int,
        clr_type: str | None = None,
        setl_optins: str | None = None,
    ) -> ReconcileTotals:
        """3201 reconciliation totals: the institution's totals of the period;
        ``stmtinfo.stmt_rslt`` 0 when the center's books agree."""
        data: dict[str, Any] = {
            "insutype": insutype,
            "setl_optins": setl_optins or self.institution.mdtrtarea_admvs,
            "stmt_begndate": begin.isoformat(),
            "stmt_enddate": end.isoformat(),
            "medfee_sumamt": _money(medfee_sumamt),
            "fund_pay_sumamt": _money(fund_pay_sumamt),
            "acct_pay": _money(acct_pay),
            "fixmedins_setl_cnt": count,
        }
        if clr_type:
            data["clr_type"] = clr_type
        ex = self.exchange("3201", {"data": data})
        return self._typed(ReconcileTotals, ex.output, "3201", ex.msgid)

    def journal_books(
        self,
        begin: dt.date,
        end: dt.date,
        *,
        insutype: str | None = None,
        clr_type: str | None = None,
        others: Sequence[Journal] = (),
    ) -> BookTotals:
        """The institution's books per this terminal's journal (and the journals
        of its other terminals, ``others``), for 3201."""
        total = BookTotals(0, *(Decimal("0.00"),) * 4)
        for journal in (self.journal, *others):
            total += journal.books(
                begin,
                end,
                insutype=insutype,
                clr_type=clr_type,
                fixmedins_code=self.institution.fixmedins_code,
            )
        return total

    def reconcile_journal(
        self,
        *,
        insutype: str,
        begin: dt.date,
        end: dt.date,
        clr_type: str | None = None,
        others: Sequence[Journal] = (),
    ) -> ReconcileTotals:
        """3201 with the totals of the journals: this terminal's and ``others``
        (every other terminal of the institution), so that the center's books
        are compared with all of the institution's."""
        books = self.journal_books(begin, end, insutype=insutype, clr_type=clr_type, others=others)
        return self.reconcile_totals(
            insutype=insutype,
            begin=begin,
            end=end,
            medfee_sumamt=books.medfee_sumamt,
            fund_pay_sumamt=books.fund_pay_sumamt,
            acct_pay=books.acct_pay,
            count=books.count,
            clr_type=clr_type,
        )

    def reconcile_journal_details(
        self,
        *,
        insutype: str,
        begin: dt.date,
        end: dt.date,
        clr_type: str | None = None,
        others: Sequence[Journal] = (),
    ) -> ReconcileDetails:
        """3202 with the settlements of the journals (this terminal's and
        ``others``) one by one: every row should come back stmt_rslt 0, and
        the center adds the rows it has that the journals do not (3)."""
        rows = [
            ReconcileRow(**row)
            for journal in (self.journal, *others)
            for row in journal.book_rows(
                begin,
                end,
                insutype=insutype,
                clr_type=clr_type,
                fixmedins_code=self.institution.fixmedins_code,
            )
        ]
        return self.reconcile_details(
            begin=begin, end=end, rows=rows, insutype=insutype, clr_type=clr_type
        )

    def reconcile_details(
        self,
        *,
        begin: dt.date,
        end: dt.date,
        rows: Sequence[ReconcileRow],
        insutype: str | None = None,
        clr_type: str | None = None,
        setl_optins: str | None = None,
    ) -> ReconcileDetails:
        """3202 reconciliation details, the rows sent inline (``input.detail``)."""
        head: dict[str, Any] = {
            "setl_optins": setl_optins or self.institution.mdtrtarea_admvs,
            "stmt_begndate": begin.isoformat(),
            "stmt_enddate": end.isoformat(),
        }
        if insutype:
            head["insutype"] = insutype
        if clr_type:
            head["clr_type"] = clr_type
        ex = self.exchange("3202", {"data": head, "detail": [r.node() for r in rows]})
        return self._typed(ReconcileDetails, ex.output, "3202", ex.msgid)

    # -- 5203 / 5301 --------------------------------------------------------------------------
    def settlement_query(
        self,
        person: PersonRef,
        *,
        setl_id: str | None = None,
        mdtrt_id: str | None = None,
        medins_setl_id: str | None = None,
        resolves: str | None = None,
    ) -> SettlementLookup:
        """5203 settlement information query, by setl_id, by the visit, or by the
        msgid of the settling message (``medins_setl_id``)."""
        data: dict[str, Any] = {"psn_no": person.psn_no}
        for name, value in (
            ("setl_id", setl_id),
            ("mdtrt_id", mdtrt_id),
            ("medins_setl_id", medins_setl_id),
        ):
            if value:
                data[name] = value
        ex = self.exchange("5203", {"data": data}, person=person, resolves=resolves)
        return self._typed(SettlementLookup, ex.output, "5203", ex.msgid)

    def filings(self, person: PersonRef) -> list[Filing]:
        """5301 chronic / special disease filings of a person."""
        ex = self.exchange("5301", {"data": {"psn_no": person.psn_no}}, person=person)
        rows = ex.output.get("feedetail")
        if rows is None:
            rows = ex.output.get("data") or []
        return [self._typed(Filing, row, "5301", ex.msgid) for row in rows]

    # -- resolution ---------------------------------------------------------------------------
    def resolve(self, *, confirm_booked: bool = True) -> ResolveReport:
        """Settle every open journal entry (UNKNOWN, and PENDING left by a process
        that is gone): see :mod:`sscard_terminal.settlement.resolution`.
        Returns a :class:`~sscard_terminal.settlement.resolution.ResolveReport`."""
        from sscard_terminal.settlement.resolution import resolve

        return resolve(self, confirm_booked=confirm_booked)


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
