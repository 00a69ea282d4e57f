"""The message pipeline: bytes in, response envelope out.

For each message, in this order:

1. parse JSON within bounds (:func:`sscard_terminal.center.boundedjson.parse`:
   size, nesting, numbers, surrogates; amounts as Decimal) - refused, or not an
   object: HTTP 400 (413 when too large), not journaled; a Content-Type other
   than JSON or plain text in UTF-8: HTTP 415;
2. bring the envelope to one form (:mod:`.envelope_forms`: the code in the
   URL, "null" and "" as absent, input as a JSON text) and validate it -
   refused (infcode -1), not journaled;
3. find the institution (a transaction that only reads, or the cache) and
   authenticate the message (:mod:`.authentication`: gateway headers where its
   option asks for them, the signature in cainfo, HMAC-SM3 or SM2) - refused,
   not journaled (so nobody can use up another institution's msgids); steps 1-3
   take no write lock (no work before authentication), and only then is ONE
   database transaction opened for the rest;
4. check the sign_no (except for 9001) - refused, not journaled. Settlement
   transactions read it in the same round trip as their first reads (their
   transaction rolls back when it fails, and a refusal of theirs waits for
   this check: a message without sign-in is told so first);
5. validate the input node and run the transaction; a refusal rolls the whole
   transaction back, so a refused message books nothing, and its answer is
   journaled in a transaction of its own;
6. journal the message and its answer (ID numbers and names masked) together
   with the writes the transaction deferred (one round trip on PostgreSQL) and
   commit: the booking and its journal entry are one transaction.

The journal's unique key (institution, msgid) makes repeats idempotent: a
repeated msgid fails at step 6, its whole transaction rolls back, and the
original answer is read from the journal and sent instead (a different body
under the same msgid is refused). An unexpected error rolls everything back
and answers infcode -1 ``internal`` with HTTP 200: never a 500, never a
half-booked message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from sscard_terminal.center import boundedjson, fastsql, gateway, store, wire
from sscard_terminal.center import envelope as env_mod
from sscard_terminal.center.authentication import authenticate
from sscard_terminal.center.clock import Clock, system_clock
from sscard_terminal.center.db import Database
from sscard_terminal.center.envelope_forms import Delivery, check_content_type, normalise
from sscard_terminal.center.masking import ID_KEYS, NAME_KEYS, mask_json
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.transactions import REGISTRY
from sscard_terminal.center.transactions.context import MessageContext
from sscard_terminal.center.transactions.reversal import ANY_DIGEST
from sscard_terminal.center.transactions.signin import SignInRefusal, require_signed_in

__all__ = ["MAX_BODY", "Admitted", "CenterService", "request_digest", "too_large"]

log = logging.getLogger("sscard_terminal.center")

MAX_BODY = boundedjson.MAX_BODY
#: how long an institution (and its secret) is cached; admin changes in this
#: process take effect at once, changes made elsewhere within this time
INSTITUTION_TTL = 5.0


def request_digest(infno: str, canonical_input: str) -> str:
    """What makes two messages with one msgid the same message: infno and input."""
    return hashlib.sha256(f"{infno}\n{canonical_input}".encode()).hexdigest()


_PLAIN = Delivery()


class _NotJournaled(Exception):
    """A refusal answered without a journal entry (authentication, session)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.err_msg)
        self.refusal = refusal


class _Repeated(Exception):
    """The msgid is in the journal already."""


class _Refused(Exception):
    """The transaction refused the message: roll back, then journal ``answer``."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer.get("err_code"))
        self.answer = answer


_INTERNAL = Refusal(
    "internal",
    "中心内部错误，未记账，请稍后重试或用5203查询",
    "internal error in the center; nothing was booked: retry, or query with 5203",
)


def _parse_input_text(text: str) -> Any:
    """``input`` sent as a JSON text: parsed within the same bounds as a body."""
    return boundedjson.parse(text.encode("utf-8"))


@dataclass(frozen=True)
class Admitted:
    """A message that passed :meth:`CenterService.admit`: parsed, valid, and
    authenticated as ``institution``."""

    raw: dict[str, Any]
    record: dict[str, Any]
    envelope: env_mod.RequestEnvelope
    canonical_input: str
    institution: Any
    received: dt.datetime


class CenterService:
    """Handles messages; thread-safe (one connection per message)."""

    def __init__(self, db: Database, policy: Policy, clock: Clock = system_clock) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock
        self._institutions: dict[str, tuple[float, Any]] = {}
        self._nonces = gateway.NonceGuard()
        self._cache_lock = threading.Lock()

    def forget_institution(self, code: str | None = None) -> None:
        """Drop cached institutions (after the admin API changed one)."""
        with self._cache_lock:
            if code is None:
                self._institutions.clear()
            else:
                self._institutions.pop(code, None)

    # -- entry point ---------------------------------------------------------------
    def handle(self, body: bytes, delivery: Delivery | None = None) -> tuple[int, bytes]:
        """HTTP status and response body for one request body; ``delivery``
        tells how it came (URL transaction code, Content-Type, gateway headers)."""
        admitted = self.admit(body, delivery)
        if isinstance(admitted, Admitted):
            return self.process(admitted)
        return admitted

    def admit(self, body: bytes, delivery: Delivery | None = None) -> Admitted | tuple[int, bytes]:
        """Parse, validate and authenticate a message: what may be done before
        the sender is known, at a bounded cost per byte and without the write
        lock. Returns the admitted message, or the HTTP status and body of its
        refusal (never journaled)."""
        received = self.clock()
        delivery = delivery or _PLAIN
        if len(body) > MAX_BODY:
            return too_large()
        wrong_type = check_content_type(delivery.content_type)
        if wrong_type is not None:
            return 415, self._http_error(wrong_type.code, wrong_type.zh, wrong_type.en)
        try:
            raw = boundedjson.parse(body)
        except boundedjson.BodyRefused as refused:
            return refused.status, _http_error(refused.code, refused.zh, refused.en)
        if not isinstance(raw, dict):
            return 400, self._http_error(
                "http.not_object", "报文必须是JSON对象", "the body must be a JSON object"
            )
        try:
            record = normalise(raw, delivery, parse_text=_parse_input_text)
            envelope = env_mod.parse_envelope(record)
            canonical_input = wire.canonical(envelope.input)
        except Refusal as refusal:
            return 200, self._refused(refusal, received)
        except wire.WireError:
            return 400, self._http_error("http.not_json", "报文不是JSON", "the body is not JSON")
        try:
            institution = self._cached_institution(envelope.fixmedins_code)
            if institution is None:
                with self.db.read() as conn:
                    institution = self._institution(conn, envelope.fixmedins_code)
            institution = self._authenticate(
                institution, raw, envelope, canonical_input, delivery, received
            )
        except _NotJournaled as exc:
            return 200, self._refused(exc.refusal, received)
        except Exception:
            log.exception("internal error authenticating %s (nothing was booked)", envelope.infno)
            return 200, self._refused(_INTERNAL, received)
        return Admitted(raw, record, envelope, canonical_input, institution, received)

    def process(self, admitted: Admitted) -> tuple[int, bytes]:
        """Run an admitted message's transaction: HTTP status and response body."""
        raw, record, envelope = admitted.raw, admitted.record, admitted.envelope
        canonical_input, received = admitted.canonical_input, admitted.received
        digest = request_digest(envelope.infno, canonical_input)
        for attempt in range(3):
            try:
                return 200, self._handle(
                    raw, record, envelope, canonical_input, digest, received, admitted.institution
                )
            except _NotJournaled as exc:
                return 200, self._refused(exc.refusal, received)
            except (_Repeated, IntegrityError) as exc:
                # the msgid is journaled (maybe by a concurrent copy): answer from there
                answer = self._replay(envelope, digest)
                if answer is not None:
                    return 200, answer
                log.warning("retrying %s after %s", envelope.infno, type(exc).__name__)
            except OperationalError as exc:
                # a deadlock or serialisation failure: the transaction rolled back
                log.warning(
                    "retrying %s after %s: %s",
                    envelope.infno,
                    type(exc).__name__,
                    str(exc.orig).splitlines()[0] if exc.orig else "",
                )
                if attempt == 2:
                    break
            except Exception:
                log.exception("internal error in %s (nothing was booked)", envelope.infno)
                break
        return 200, self._refused(_INTERNAL, received)

    # -- the transaction ---------------------------------------------------------------
    def _cached_institution(self, code: str) -> Any:
        """The institution's row when it is cached and fresh, else None."""
        cached = self._institutions.get(code)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def _institution(self, conn: Connection, code: str) -> Any:
        cached = self._cached_institution(code)
        if cached is not None:
            return cached
        now = time.monotonic()
        row = conn.execute(store.INSTITUTION, {"code": code}).first()
        if row is not None:
            with self._cache_lock:
                self._institutions[code] = (now + INSTITUTION_TTL, row)
        return row

    def _handle(
        self,
        raw: dict[str, Any],
        record: dict[str, Any],
        envelope: env_mod.RequestEnvelope,
        canonical_input: str,
        digest: str,
        received: dt.datetime,
        institution: Any,
    ) -> bytes:
        """``raw`` is the envelope as sent (signatures are checked over it),
        ``record`` as normalised (journaled)."""
        ctx: MessageContext | None = None
        try:
            with self.db.begin() as conn:
                ctx = MessageContext(
                    conn=conn,
                    envelope=envelope,
                    institution=institution,
                    policy=self.policy,
                    now=received,
                )
                tx = REGISTRY.get(envelope.infno)
                try:
                    if tx is not None and tx.needs_sign_in:
                        if tx.sign_in_with_reads:
                            ctx.sign_in_pending = True
                        else:
                            require_signed_in(ctx)
                    answer = self._run(ctx, tx)
                except SignInRefusal as refusal:
                    if fastsql.run(
                        conn,
                        store.Fast.JOURNAL,
                        {"code": envelope.fixmedins_code, "msgid": envelope.msgid},
                    ):
                        raise _Repeated() from None
                    raise _NotJournaled(refusal) from None
                body = self._journal(ctx.deferred(), ctx, record, answer, digest)
                ctx.deferred().run(commit=True)
        except _Refused as refused:
            # the message's transaction rolled back (it books nothing); its refusal
            # is journaled in a transaction of its own
            assert ctx is not None
            answer = refused.answer
            with self.db.begin() as conn:
                ctx.conn = conn
                batch = fastsql.Batch(conn)
                body = self._journal(batch, ctx, record, answer, digest)
                batch.run()
        log.info(
            "%s %s %s infcode=%s",
            envelope.fixmedins_code,
            envelope.infno,
            envelope.msgid,
            answer["infcode"],
        )
        return body

    def _journal(
        self,
        batch: fastsql.Batch,
        ctx: MessageContext,
        raw: dict[str, Any],
        answer: dict[str, Any],
        digest: str,
    ) -> bytes:
        """Queue the journal entry of the message (ID numbers and names masked);
        returns the answer's body."""
        envelope = ctx.envelope
        body = wire.dumps(answer)
        masked_answer = mask_json(answer)
        stored_answer = body if masked_answer is answer else wire.dumps(masked_answer)
        masked_request = {k: v for k, v in raw.items() if k != "cainfo"}
        batch.add(
            store.Fast.NEW_JOURNAL,
            {
                "fixmedins_code": envelope.fixmedins_code,
                "msgid": envelope.msgid,
                "infno": envelope.infno,
                "received_at": ctx.now.replace(tzinfo=None),
                "request_digest": digest,
                "psn_no": ctx.psn_no,
                "infcode": answer["infcode"],
                "request": wire.dumps(mask_json(masked_request)).decode("utf-8"),
                "response": stored_answer.decode("utf-8"),
                "setl_id": ctx.setl_id,
                "mdtrt_id": ctx.mdtrt_id,
                "reversed_by": None,
            },
        )
        return body

    def _authenticate(
        self,
        institution: Any,
        raw: dict[str, Any],
        envelope: env_mod.RequestEnvelope,
        canonical_input: str,
        delivery: Delivery,
        received: dt.datetime,
    ) -> Any:
        """The institution, once the message proves it comes from it
        (:func:`~sscard_terminal.center.authentication.authenticate`); raises
        :class:`_NotJournaled` otherwise."""
        if institution is None:
            raise _NotJournaled(
                Refusal(
                    "auth.institution",
                    f"定点机构 {envelope.fixmedins_code} 未登记",
                    f"institution {envelope.fixmedins_code} is not registered",
                )
            )
        try:
            authenticate(
                institution,
                raw,
                envelope,
                canonical_input,
                headers=delivery.gateway,
                now=received.timestamp(),
                nonces=self._nonces,
            )
        except Refusal as refusal:
            raise _NotJournaled(refusal) from None
        return institution

    def _run(self, ctx: MessageContext, tx: Any) -> dict[str, Any]:
        """The answer of a transaction; raises :class:`_Refused` when it refuses
        (the caller then rolls its database transaction back)."""
        if tx is None:
            refusal = Refusal(
                "infno.unsupported",
                f"不支持的交易 infno={ctx.envelope.infno}",
                f"transaction {ctx.envelope.infno} is not supported",
            )
            return self._failure(refusal, ctx.now)
        try:
            try:
                data = tx.input_model.model_validate(ctx.envelope.input)
            except ValidationError as exc:
                raise env_mod.pydantic_refusal(exc, "input") from None
            output = tx.handler(ctx, data)
        except SignInRefusal:
            raise
        except Refusal as refusal:
            if ctx.sign_in_pending:  # a message without sign-in learns that first
                require_signed_in(ctx)
            ctx.setl_id = ctx.mdtrt_id = None
            ctx.writes = None
            raise _Refused(self._failure(refusal, ctx.now)) from None
        if ctx.sign_in_pending:
            require_signed_in(ctx)
        return env_mod.success(
            output,
            admdvs=self.policy.admdvs,
            received=ctx.now,
            answered=self.clock(),
            warn_msg="; ".join(ctx.warnings) or None,
        )

    def _replay(self, envelope: env_mod.RequestEnvelope, digest: str) -> bytes | None:
        """The original answer of a journaled msgid, with the masked ID number and
        name of the person filled in again from the persons table (they never
        change, rule g); None when the msgid is not journaled."""
        with self.db.begin() as conn:
            entry = conn.execute(
                store.JOURNAL, {"code": envelope.fixmedins_code, "msgid": envelope.msgid}
            ).first()
            if entry is None:
                return None
            if entry.request_digest not in (digest, ANY_DIGEST) or entry.infno != envelope.infno:
                refusal = Refusal(
                    "msgid.reused",
                    f"报文ID {envelope.msgid} 已用于另一笔交易，请使用新的 msgid",
                    f"msgid {envelope.msgid} was already used for a different message; "
                    "use a new msgid",
                )
                return self._refused(refusal, self.clock())
            text = entry.response
            if entry.psn_no and any(f'"{k}"' in text for k in ID_KEYS | NAME_KEYS):
                person = conn.execute(store.PERSON, {"psn_no": entry.psn_no}).first()  # full
                if person is not None:
                    return wire.dumps(_fill(wire.loads(text), person))
            return str(text).encode("utf-8")

    # -- answers -------------------------------------------------------------------
    def _failure(self, refusal: Refusal, received: dt.datetime) -> dict[str, Any]:
        return env_mod.failure(
            refusal, admdvs=self.policy.admdvs, received=received, answered=self.clock()
        )

    def _refused(self, refusal: Refusal, received: dt.datetime) -> bytes:
        return wire.dumps(self._failure(refusal, received))

    def _http_error(self, code: str, zh: str, en: str) -> bytes:
        return _http_error(code, zh, en)


def too_large() -> tuple[int, bytes]:
    """The answer to a body over :data:`MAX_BODY`: HTTP 413."""
    refused = boundedjson.BodyRefused(
        "http.too_large",
        f"报文过大（上限 {MAX_BODY} 字节）",
        f"the message is too large (at most {MAX_BODY} bytes)",
        413,
    )
    return refused.status, _http_error(refused.code, refused.zh, refused.en)


def _http_error(code: str, zh: str, en: str) -> bytes:
    return wire.dumps({"infcode": -1, "err_code": code, "err_msg": f"{zh} / {en}"})


def _fill(value: Any, person: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, person, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, person, key) for v in value]
    if key == "certno" and isinstance(value, str):
        return person.id_number
    if key == "psn_name" and isinstance(value, str):
        return person.name
    return value
