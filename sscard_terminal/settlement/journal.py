"""The terminal's crash-safe journal of messages, in SQLite.

settlement-interface.md, "Journal rule from robust clients": write the request
as PENDING before sending; classify the outcome as SUCCESS (infcode 0), FAIL
(infcode != 0) or UNKNOWN (timeout, connection lost); settle every UNKNOWN by
reversal 2601 or by a lookup, never by blindly sending the same settlement
again. "Every input and output is kept per transaction."

One journal per terminal (a SQLite file, WAL, ``synchronous=FULL``: a commit
is on disk before :meth:`Journal.add_pending` returns, so a message is never
sent without its entry). It holds:

- ``journal_meta``: the schema version and the msgid counter (with the last
  msgid time), so that msgids stay unique across restarts;
- ``sign_ins``: the sign_no of 9001 per institution and operator, with its
  date (Asia/Shanghai);
- ``messages``: one row per message. ``status`` is what the terminal knows of
  the message's outcome::

      PENDING --answer infcode 0--> SUCCESS
         |    --answer infcode != 0, or never delivered--> FAIL
         `----no answer (timeout, connection lost)--> UNKNOWN

  An entry is *open* while it is PENDING or UNKNOWN and has no
  ``resolution``. Resolution (:mod:`sscard_terminal.settlement.resolution`)
  closes it with ``resolution`` CONFIRMED (a 5203 lookup found the outcome;
  ``status`` becomes what it found), REVERSED (a 2601 - or, for fee details,
  a 2205 - undid whatever it did) or DROPPED (a query or pre-settlement:
  nothing to settle), and links the resolving message (``resolved_by``; that
  message has ``resolves`` = the original msgid). A SUCCESS entry is REVERSED
  too when the terminal reverses it on purpose. The net effect of a message
  is booked exactly when ``status`` is SUCCESS and ``resolution`` is not
  REVERSED.

Card records (``card_records``): a settlement or refund booked with a card
(2207 / 2102 with ``mdtrt_cert_type`` 03, and their refunds 2208 / 2103,
which inherit the card of the settlement they refund) owes a transaction
record on that card (DF04 EF08). The obligation needs no row of its own: it
is every booked settlement with a ``card_no`` and no ``card_records`` row, so
it exists from the moment the center's answer is journaled (or a 5203
confirms it), and a terminal that dies before the card write finds it at its
next start. Writing the record (or giving it up) adds the row.

Abandoned visits (``abandoned_visits``): a flow that stops after its 2201
because the center did not answer marks the registration abandoned.
Resolution reverses it (2601 of the 2201: the center withdraws its fee
details and closes the visit) once nothing of the visit is open any more,
unless a settlement of the visit stands or a 2202 closed it.

What is stored for display has ID numbers and names masked
(:func:`mask_for_journal`); what resolution needs (psn_no, insuplc_admdvs,
mdtrt_id, setl_id, the fee batches) is kept in columns. ``cainfo`` and the
institution's secret are never stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from sscard_terminal.codecs.masking import mask_id_number, mask_name
from sscard_terminal.settlement import wire
from sscard_terminal.settlement.envelope import SHANGHAI, Response
from sscard_terminal.settlement.errors import JournalError

__all__ = [
    "BOOKING",
    "CHANGE",
    "QUERY",
    "REVERSAL",
    "SCHEMA_VERSION",
    "BookTotals",
    "CardRecordState",
    "Journal",
    "JournalEntry",
    "Resolution",
    "Status",
    "kind_of",
    "mask_for_journal",
]

SCHEMA_VERSION = 1

#: What a message does, by infno (settlement-interface.md, "Transactions").
#: A booking changes money or opens a visit and is reversible by 2601.
BOOKING = frozenset({"2201", "2207", "2208", "2102", "2103"})
#: Changes to a visit that move no money (2204 is undone by 2205).
CHANGE = frozenset({"2202", "2203", "2204", "2205"})
#: The reversal itself.
REVERSAL = frozenset({"2601"})
#: Everything else books nothing: 9001, 9002, 1101, 2206, 2101, 3201, 3202, 5203, 5301.
QUERY = frozenset({"9001", "9002", "1101", "2206", "2101", "3201", "3202", "5203", "5301"})
#: mdtrt_cert_type of the social security card
CARD_CERT_TYPE = "03"
#: Settlements and refunds: their setlinfo is the institution's books.
SETTLEMENTS = frozenset({"2207", "2102", "2208", "2103"})


def kind_of(infno: str) -> str:
    """``booking``, ``change``, ``reversal`` or ``query``."""
    if infno in BOOKING:
        return "booking"
    if infno in CHANGE:
        return "change"
    if infno in REVERSAL:
        return "reversal"
    return "query"


class Status(StrEnum):
    """What the terminal knows of a message's outcome."""

    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


class Resolution(StrEnum):
    """How an open entry was closed."""

    CONFIRMED = "CONFIRMED"
    REVERSED = "REVERSED"
    DROPPED = "DROPPED"


class CardRecordState(StrEnum):
    """What became of the card record a settlement owes."""

    OWED = "OWED"
    WRITTEN = "WRITTEN"
    SKIPPED = "SKIPPED"


# -- masking ------------------------------------------------------------------------------
_ID_KEYS = frozenset({"certno", "psn_cert_no", "id_number", "gurn_certno", "idcard"})
_NAME_KEYS = frozenset(
    {"psn_name", "name", "dr_name", "opter_name", "gurn_name", "guardian_name", "dise_dor_name"}
)
_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def mask_for_journal(value: Any, key: str | None = None) -> Any:
    """A copy of a JSON value with ID numbers (by key, and any 18-character
    ID-shaped text anywhere) and names of people masked."""
    if isinstance(value, Mapping):
        return {k: mask_for_journal(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_for_journal(v, key) for v in value]
    if isinstance(value, str) and value:
        if key in _ID_KEYS:
            return mask_id_number(value)
        if key in _NAME_KEYS:
            return mask_name(value)
        return _ID_RE.sub(lambda m: mask_id_number(m.group(0)), value)
    return value


# -- entries ------------------------------------------------------------------------------
@dataclass(frozen=True)
class JournalEntry:
    """One message as the journal holds it (masked)."""

    id: int
    msgid: str
    infno: str
    kind: str
    status: Status
    fixmedins_code: str
    opter: str
    created_at: str
    updated_at: str
    psn_no: str | None
    insuplc_admdvs: str | None
    mdtrt_id: str | None
    setl_id: str | None
    keys: dict[str, Any]
    request: dict[str, Any]
    response: dict[str, Any] | None
    infcode: int | None
    err_msg: str | None
    error: str | None
    resolves: str | None
    resolution: Resolution | None
    resolved_by: str | None
    resolved_at: str | None
    resolution_note: str | None
    pid: int | None
    boot_id: str | None
    card_no: str | None = None
    card_record: CardRecordState | None = None

    @property
    def is_open(self) -> bool:
        """PENDING or UNKNOWN, not resolved."""
        return self.resolution is None and self.status in (Status.PENDING, Status.UNKNOWN)

    @property
    def booked(self) -> bool:
        """Whether the message's effect stands at the center (as far as known)."""
        return self.status is Status.SUCCESS and self.resolution is not Resolution.REVERSED

    @property
    def setlinfo(self) -> dict[str, Any] | None:
        """The setlinfo of the answer (or of the 5203 that confirmed it)."""
        output = (self.response or {}).get("output")
        if isinstance(output, dict) and isinstance(output.get("setlinfo"), dict):
            return output["setlinfo"]  # type: ignore[no-any-return]
        return None

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly view (for ``sscard journal list --json``)."""
        return {
            "id": self.id,
            "msgid": self.msgid,
            "infno": self.infno,
            "kind": self.kind,
            "status": self.status.value,
            "open": self.is_open,
            "booked": self.booked,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "fixmedins_code": self.fixmedins_code,
            "opter": self.opter,
            "psn_no": self.psn_no,
            "mdtrt_id": self.mdtrt_id,
            "setl_id": self.setl_id,
            "infcode": self.infcode,
            "err_msg": self.err_msg,
            "error": self.error,
            "resolves": self.resolves,
            "resolution": self.resolution.value if self.resolution else None,
            "resolved_by": self.resolved_by,
            "resolved_at": self.resolved_at,
            "resolution_note": self.resolution_note,
            "card_no": self.card_no,
            "card_record": self.card_record.value if self.card_record else None,
            "request": self.request,
            "response": self.response,
        }


@dataclass(frozen=True)
class BookTotals:
    """The institution's books per the journal (for 3201): settlements and
    refunds (2207, 2102, 2208, 2103) whose effect stands, refunds with
    negative amounts."""

    count: int
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal

    def __add__(self, other: BookTotals) -> BookTotals:
        """The books of two terminals of one institution together."""
        return BookTotals(
            self.count + other.count,
            self.medfee_sumamt + other.medfee_sumamt,
            self.fund_pay_sumamt + other.fund_pay_sumamt,
            self.acct_pay + other.acct_pay,
            self.psn_cash_pay + other.psn_cash_pay,
        )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sign_ins (
    fixmedins_code TEXT NOT NULL,
    opter TEXT NOT NULL,
    sign_date TEXT NOT NULL,
    sign_no TEXT NOT NULL,
    signed_in_at TEXT NOT NULL,
    msgid TEXT,
    PRIMARY KEY (fixmedins_code, opter)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    msgid TEXT NOT NULL UNIQUE,
    infno TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAIL', 'UNKNOWN')),
    fixmedins_code TEXT NOT NULL,
    opter TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    psn_no TEXT,
    insuplc_admdvs TEXT,
    mdtrt_id TEXT,
    setl_id TEXT,
    keys TEXT NOT NULL DEFAULT '{}',
    request TEXT NOT NULL,
    response TEXT,
    infcode INTEGER,
    err_msg TEXT,
    error TEXT,
    setl_time TEXT,
    medfee_sumamt TEXT,
    fund_pay_sumamt TEXT,
    acct_pay TEXT,
    psn_cash_pay TEXT,
    insutype TEXT,
    clr_type TEXT,
    resolves TEXT,
    resolution TEXT CHECK (resolution IN ('CONFIRMED', 'REVERSED', 'DROPPED')),
    resolved_by TEXT,
    resolved_at TEXT,
    resolution_note TEXT,
    pid INTEGER,
    boot_id TEXT
);
CREATE TABLE IF NOT EXISTS card_records (
    msgid TEXT PRIMARY KEY REFERENCES messages (msgid),
    state TEXT NOT NULL CHECK (state IN ('WRITTEN', 'SKIPPED')),
    at TEXT NOT NULL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS abandoned_visits (
    msgid TEXT PRIMARY KEY REFERENCES messages (msgid),
    at TEXT NOT NULL,
    why TEXT,
    held INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_open ON messages (status) WHERE resolution IS NULL;
CREATE INDEX IF NOT EXISTS messages_resolves ON messages (resolves);
CREATE INDEX IF NOT EXISTS messages_setl_time ON messages (setl_time);
"""

_COLUMNS = (
    "id, msgid, infno, kind, status, fixmedins_code, opter, created_at, updated_at, psn_no, "
    "insuplc_admdvs, mdtrt_id, setl_id, keys, request, response, infcode, err_msg, error, "
    "resolves, resolution, resolved_by, resolved_at, resolution_note, pid, boot_id, card_no, "
    "(SELECT state FROM card_records c WHERE c.msgid = messages.msgid) AS card_state"
)
#: a booked settlement whose card record is still owed (see the module's docstring)
_OWED = (
    "infno IN ('2207', '2102', '2208', '2103') AND status = 'SUCCESS' "
    "AND (resolution IS NULL OR resolution != 'REVERSED') AND card_no IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM card_records c WHERE c.msgid = messages.msgid)"
)


def _card_record_state(row: sqlite3.Row) -> CardRecordState | None:
    """WRITTEN / SKIPPED from its row, OWED for a booked settlement with a
    card and no row, None when no card record is due."""
    if row["card_state"] is not None:
        return CardRecordState(row["card_state"])
    owed = (
        row["card_no"] is not None
        and row["infno"] in SETTLEMENTS
        and row["status"] == Status.SUCCESS.value
        and row["resolution"] != Resolution.REVERSED.value
    )
    return CardRecordState.OWED if owed else None


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


_BOOT_ID = _boot_id()


def _now() -> str:
    return dt.datetime.now(SHANGHAI).isoformat(timespec="milliseconds")


def _json(value: Any) -> str:
    return wire.dumps(value).decode("utf-8")


def _first(node: Any, name: str) -> Any:
    """``name`` in the input's first node that has it (data, druginfo,
    mdtrtinfo, signIn ..., or the first row of a list node)."""
    if not isinstance(node, Mapping):
        return None
    if name in node:
        return node[name]
    for value in node.values():
        if isinstance(value, Mapping) and name in value:
            return value[name]
        if isinstance(value, list) and value and isinstance(value[0], Mapping) and name in value[0]:
            return value[0][name]
    return None


def resolution_keys(infno: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """What resolving a message needs from its input, unmasked: psn_no, mdtrt_id,
    setl_id (of the settlement a refund cancels) and, for 2204, the batches."""
    keys: dict[str, Any] = {}
    for name in ("psn_no", "mdtrt_id", "setl_id", "omsgid", "oinfno"):
        value = _first(payload, name)
        if isinstance(value, str) and value:
            keys[name] = value
    if infno == "2204":
        lines = payload.get("feedetail")
        if isinstance(lines, list):
            keys["chrg_bchno"] = sorted(
                {str(line.get("chrg_bchno")) for line in lines if isinstance(line, Mapping)}
            )
    return keys


def _decimal_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return str(Decimal(str(value)))
    except ArithmeticError:
        return None


def _owner_alive(pid: int | None, boot_id: str | None) -> bool:
    """Whether the process that wrote a journal row may still be running: this
    process, or a live process of the same boot (a PID of an earlier boot is
    somebody else's)."""
    if pid is None:
        return False
    if boot_id and _BOOT_ID and boot_id != _BOOT_ID:
        return False
    return pid == os.getpid() or _process_alive(pid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class Journal:
    """A terminal's journal in one SQLite file; safe to share between threads
    of a process, and between processes (SQLite locking)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from None
        self._lock = threading.RLock()
        try:
            with self._lock:
                self._conn.row_factory = sqlite3.Row
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.execute("PRAGMA busy_timeout=30000")
                with self._transaction() as c:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            c.execute(statement)
                    columns = {r[1] for r in c.execute("PRAGMA table_info(messages)")}
                    if "card_no" not in columns:  # a journal from before card records
                        c.execute("ALTER TABLE messages ADD COLUMN card_no TEXT")
                    held = {r[1] for r in c.execute("PRAGMA table_info(abandoned_visits)")}
                    if "held" not in held:  # a journal from before held visits
                        c.execute(
                            "ALTER TABLE abandoned_visits "
                            "ADD COLUMN held INTEGER NOT NULL DEFAULT 0"
                        )
                    row = c.execute(
                        "SELECT value FROM journal_meta WHERE key = 'schema_version'"
                    ).fetchone()
                    if row is None:
                        c.execute(
                            "INSERT INTO journal_meta (key, value) VALUES "
                            "('schema_version', ?), ('seq', '0'), ('last_stamp', ''), "
                            "('stamp_count', '0')",
                            (str(SCHEMA_VERSION),),
                        )
                    elif int(row[0]) > SCHEMA_VERSION:
                        raise JournalError(
                            f"the journal {self.path} has schema {row[0]}, newer than this "
                            f"program's {SCHEMA_VERSION}",
                            hint="upgrade sscard-terminal",
                        )
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise JournalError(f"the journal {self.path} is not usable: {exc}") from None
        if os.name == "posix":
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)

    # -- plumbing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """BEGIN IMMEDIATE ... COMMIT (durable: synchronous=FULL)."""
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the msgid counter --------------------------------------------------------------------
    def allocate(self, now: dt.datetime, modulus: int = 10000) -> tuple[int, dt.datetime]:
        """The next value of the counter and the time for the msgid.

        The time never goes back (a clock set back reuses the last time), and at
        most ``modulus`` msgids share one second (then the time moves on by a
        second): with the sequence = counter mod ``modulus``, msgids of one
        journal are unique across restarts (settlement-interface.md: "unique
        per message")."""
        moment = now.astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0)
        with self._transaction() as c:
            meta = dict(c.execute("SELECT key, value FROM journal_meta").fetchall())
            seq = int(meta["seq"]) + 1
            last = dt.datetime.fromisoformat(meta["last_stamp"]) if meta["last_stamp"] else None
            count = int(meta["stamp_count"])
            if last is not None and moment <= last:
                moment = last
                if count >= modulus:
                    moment = last + dt.timedelta(seconds=1)
                    count = 0
            else:
                count = 0
            count += 1
            c.executemany(
                "UPDATE journal_meta SET value = ? WHERE key = ?",
                [
                    (str(seq), "seq"),
                    (moment.isoformat(), "last_stamp"),
                    (str(count), "stamp_count"),
                ],
            )
        return seq, moment

    # -- sign-in ------------------------------------------------------------------------------
    def sign_no(self, fixmedins_code: str, opter: str, day: dt.date) -> str | None:
        """The cached sign_no of this institution and operator for ``day``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT sign_no FROM sign_ins WHERE fixmedins_code = ? AND opter = ? "
                "AND sign_date = ?",
                (fixmedins_code, opter, day.isoformat()),
            ).fetchone()
        return None if row is None else str(row[0])

    def store_sign_no(
        self, fixmedins_code: str, opter: str, day: dt.date, sign_no: str, msgid: str | None
    ) -> None:
        """Cache the sign_no of a 9001 for ``day``."""
        with self._transaction() as c:
            c.execute(
                "INSERT INTO sign_ins (fixmedins_code, opter, sign_date, sign_no, signed_in_at, "
                "msgid) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fixmedins_code, opter) DO UPDATE "
                "SET sign_date = excluded.sign_date, sign_no = excluded.sign_no, "
                "signed_in_at = excluded.signed_in_at, msgid = excluded.msgid",
                (fixmedins_code, opter, day.isoformat(), sign_no, _now(), msgid),
            )

    def forget_sign_no(self, fixmedins_code: str, opter: str, sign_no: str | None = None) -> None:
        """Drop the cached sign_no (only if it is ``sign_no``, when given)."""
        with self._transaction() as c:
            if sign_no is None:
                c.execute(
                    "DELETE FROM sign_ins WHERE fixmedins_code = ? AND opter = ?",
                    (fixmedins_code, opter),
                )
            else:
                c.execute(
                    "DELETE FROM sign_ins WHERE fixmedins_code = ? AND opter = ? AND sign_no = ?",
                    (fixmedins_code, opter, sign_no),
                )

    # -- the state machine --------------------------------------------------------------------
    def add_pending(
        self,
        envelope: Mapping[str, Any],
        *,
        resolves: str | None = None,
        card_no: str | None = None,
        hold_visit: bool = False,
    ) -> None:
        """Write a message as PENDING, durably, before it is sent.

        The stored request is the envelope without ``cainfo``, masked; the
        resolution keys are kept unmasked in their own columns. ``card_no`` is
        the card a settlement or refund is made with (its card record is owed
        once it is booked); for 2207 / 2102 paid by card (``mdtrt_cert_type``
        03) it is the ``mdtrt_cert_no``, and a refund without one inherits
        the card of the settlement it refunds, when this journal has it.

        ``hold_visit`` (a 2201 sent by a flow that will settle or cancel the
        visit itself): the registration is marked held by this process in the
        same transaction, so that the visit is abandoned the moment the
        process is gone, whatever stopped it (:meth:`abandoned_visits`)."""
        infno = str(envelope["infno"])
        payload = envelope.get("input") or {}
        keys = resolution_keys(infno, payload)
        shown = {k: v for k, v in envelope.items() if k != "cainfo"}
        now = _now()
        by_card = str(_first(payload, "mdtrt_cert_type") or "") == CARD_CERT_TYPE
        if card_no is None and infno in ("2207", "2102") and by_card:
            card_no = str(_first(payload, "mdtrt_cert_no") or "") or None
        try:
            with self._transaction() as c:
                if card_no is None and infno in ("2208", "2103") and keys.get("setl_id"):
                    row = c.execute(
                        "SELECT card_no FROM messages WHERE setl_id = ? "
                        "AND infno IN ('2207', '2102') AND card_no IS NOT NULL",
                        (keys["setl_id"],),
                    ).fetchone()
                    card_no = row[0] if row else None
                c.execute(
                    "INSERT INTO messages (msgid, infno, kind, status, fixmedins_code, opter, "
                    "created_at, updated_at, psn_no, insuplc_admdvs, mdtrt_id, setl_id, keys, "
                    "request, resolves, pid, boot_id, card_no) VALUES "
                    "(?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        envelope["msgid"],
                        envelope["infno"],
                        kind_of(str(envelope["infno"])),
                        envelope["fixmedins_code"],
                        envelope["opter"],
                        now,
                        now,
                        keys.get("psn_no"),
                        envelope.get("insuplc_admdvs") or None,
                        keys.get("mdtrt_id"),
                        keys.get("setl_id") if envelope["infno"] not in ("2208", "2103") else None,
                        json.dumps(keys, ensure_ascii=False),
                        _json(mask_for_journal(shown)),
                        resolves,
                        os.getpid(),
                        _BOOT_ID,
                        card_no,
                    ),
                )
                if hold_visit and infno == "2201":
                    c.execute(
                        "INSERT INTO abandoned_visits (msgid, at, why, held) VALUES (?, ?, ?, 1)",
                        (envelope["msgid"], now, "its flow stopped before it settled or cancelled"),
                    )
        except sqlite3.IntegrityError:
            raise JournalError(f"msgid {envelope['msgid']} is in the journal already") from None

    def _update(
        self,
        msgid: str,
        allowed: Sequence[Status],
        sets: Mapping[str, Any],
        what: str,
        condition: str = "resolution IS NULL",
    ) -> None:
        """Compare and set: change the entry only while its status is one of
        ``allowed`` and ``condition`` holds."""
        assignments = ", ".join(f"{name} = ?" for name in sets)
        marks = ", ".join("?" for _ in allowed)
        with self._transaction() as c:
            c.execute(
                f"UPDATE messages SET {assignments}, updated_at = ? "  # noqa: S608 - fixed names
                f"WHERE msgid = ? AND status IN ({marks}) AND {condition}",
                (*sets.values(), _now(), msgid, *(s.value for s in allowed)),
            )
            if c.rowcount != 1:
                row = c.execute("SELECT status FROM messages WHERE msgid = ?", (msgid,)).fetchone()
                state = "not in the journal" if row is None else f"is {row[0]}"
                raise JournalError(f"cannot mark {msgid} {what}: it {state}")

    @staticmethod
    def _answer_columns(response: Response | Mapping[str, Any]) -> dict[str, Any]:
        raw = response.raw if isinstance(response, Response) else dict(response)
        output = raw.get("output") if isinstance(raw.get("output"), dict) else {}
        info = output.get("setlinfo") if isinstance(output, dict) else None
        data = output.get("data") if isinstance(output, dict) else None
        columns: dict[str, Any] = {"response": _json(mask_for_journal(raw))}
        if isinstance(info, dict):
            for name in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay"):
                columns[name] = _decimal_text(info.get(name))
            for name in ("setl_time", "insutype", "clr_type"):
                columns[name] = None if info.get(name) is None else str(info[name])
            if info.get("setl_id"):
                columns["setl_id"] = str(info["setl_id"])
            if info.get("mdtrt_id"):
                columns["mdtrt_id"] = str(info["mdtrt_id"])
        elif isinstance(data, dict) and data.get("mdtrt_id"):
            columns["mdtrt_id"] = str(data["mdtrt_id"])
        return columns

    def mark_answered(self, msgid: str, response: Response) -> Status:
        """PENDING -> SUCCESS (infcode 0) or FAIL (infcode != 0), with the answer."""
        status = Status.SUCCESS if response.infcode == 0 else Status.FAIL
        sets: dict[str, Any] = {
            "status": status.value,
            "infcode": response.infcode,
            "err_msg": response.err_msg,
            **(self._answer_columns(response) if status is Status.SUCCESS else {}),
        }
        if status is Status.FAIL:
            sets["response"] = _json(mask_for_journal(response.raw))
        self._update(msgid, (Status.PENDING,), sets, status.value)
        return status

    def mark_not_sent(self, msgid: str, error: str) -> None:
        """PENDING -> FAIL: the message was never delivered (no connection)."""
        self._update(
            msgid, (Status.PENDING,), {"status": Status.FAIL.value, "error": error}, "FAIL"
        )

    def mark_unknown(self, msgid: str, error: str) -> None:
        """PENDING -> UNKNOWN: sent, but no answer came (timeout, connection lost,
        an answer that is no response envelope)."""
        self._update(
            msgid, (Status.PENDING,), {"status": Status.UNKNOWN.value, "error": error}, "UNKNOWN"
        )

    def close_entry(
        self,
        msgid: str,
        resolution: Resolution,
        *,
        status: Status | None = None,
        resolved_by: str | None = None,
        note: str | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        """Record how an entry was settled.

        Open entries (PENDING, UNKNOWN) take any resolution and, with
        ``status``, the outcome the resolution found (``response`` is then the
        answer that showed it, e.g. the 5203 that confirmed a 2207). A SUCCESS
        entry (or a CONFIRMED one) can only become REVERSED."""
        sets: dict[str, Any] = {
            "resolution": resolution.value,
            "resolved_by": resolved_by,
            "resolved_at": _now(),
            "resolution_note": note,
        }
        if status is not None:
            sets["status"] = status.value
        if response is not None:
            sets.update(self._answer_columns(response))
            if isinstance(response.get("infcode"), int):
                sets["infcode"] = response["infcode"]
        with self._lock:
            entry = self.get(msgid)
            if entry is None:
                raise JournalError(f"cannot resolve {msgid}: it is not in the journal")
            if entry.is_open:
                allowed: tuple[Status, ...] = (Status.PENDING, Status.UNKNOWN)
                condition = "resolution IS NULL"
            elif resolution is Resolution.REVERSED and entry.status is Status.SUCCESS:
                allowed = (Status.SUCCESS,)
                condition = "(resolution IS NULL OR resolution = 'CONFIRMED')"
            else:
                raise JournalError(
                    f"cannot mark {msgid} {resolution.value}: it is {entry.status.value}"
                    + (f", {entry.resolution.value}" if entry.resolution else "")
                )
            self._update(msgid, allowed, sets, resolution.value, condition)

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    def _entry(row: sqlite3.Row) -> JournalEntry:
        return JournalEntry(
            id=row["id"],
            msgid=row["msgid"],
            infno=row["infno"],
            kind=row["kind"],
            status=Status(row["status"]),
            fixmedins_code=row["fixmedins_code"],
            opter=row["opter"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            psn_no=row["psn_no"],
            insuplc_admdvs=row["insuplc_admdvs"],
            mdtrt_id=row["mdtrt_id"],
            setl_id=row["setl_id"],
            keys=json.loads(row["keys"] or "{}"),
            request=wire.loads(row["request"]),
            response=None if row["response"] is None else wire.loads(row["response"]),
            infcode=row["infcode"],
            err_msg=row["err_msg"],
            error=row["error"],
            resolves=row["resolves"],
            resolution=None if row["resolution"] is None else Resolution(row["resolution"]),
            resolved_by=row["resolved_by"],
            resolved_at=row["resolved_at"],
            resolution_note=row["resolution_note"],
            pid=row["pid"],
            boot_id=row["boot_id"],
            card_no=row["card_no"],
            card_record=_card_record_state(row),
        )

    def get(self, msgid: str) -> JournalEntry | None:
        """The entry of ``msgid``."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE msgid = ?",
                (msgid,),  # noqa: S608
            ).fetchone()
        return None if row is None else self._entry(row)

    def entries(
        self, *, open_only: bool = False, infno: str | None = None, limit: int | None = None
    ) -> list[JournalEntry]:
        """Entries, oldest first (the last ``limit`` of them)."""
        where = []
        args: list[Any] = []
        if open_only:
            where.append("status IN ('PENDING', 'UNKNOWN') AND resolution IS NULL")
        if infno:
            where.append("infno = ?")
            args.append(infno)
        sql = f"SELECT {_COLUMNS} FROM messages"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [self._entry(r) for r in reversed(rows)]

    def open_entries(self) -> list[JournalEntry]:
        """Every PENDING or UNKNOWN entry that is not resolved, oldest first."""
        return self.entries(open_only=True)

    def resolvers_of(self, msgid: str) -> list[JournalEntry]:
        """The messages sent to settle ``msgid`` (5203, 2601, 2205), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE resolves = ? ORDER BY id",  # noqa: S608
                (msgid,),
            ).fetchall()
        return [self._entry(r) for r in rows]

    def in_flight_elsewhere(self, entry: JournalEntry) -> bool:
        """Whether a PENDING entry may still be in flight in another live process
        (same boot, process alive): then resolution leaves it alone."""
        if entry.status is not Status.PENDING or entry.pid is None:
            return False
        if entry.pid == os.getpid():
            return False
        return _owner_alive(entry.pid, entry.boot_id)

    # -- card records -------------------------------------------------------------------------
    def card_records_owed(self, card_no: str | None = None) -> list[JournalEntry]:
        """Booked settlements and refunds whose card record is still owed (of
        ``card_no``, or of any card), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM messages WHERE {_OWED}"  # noqa: S608 - fixed text
        args: list[Any] = []
        if card_no is not None:
            sql += " AND card_no = ?"
            args.append(card_no)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [self._entry(r) for r in rows]

    def card_record_done(self, msgid: str, state: CardRecordState, note: str | None = None) -> None:
        """The card record of ``msgid`` was written (or is given up: SKIPPED,
        with the reason). Only an owed record can be done."""
        if state is CardRecordState.OWED:
            raise ValueError("a card record is owed until it is written or skipped")
        with self._transaction() as c:
            owed = c.execute(
                f"SELECT 1 FROM messages WHERE msgid = ? AND {_OWED}",  # noqa: S608
                (msgid,),
            ).fetchone()
            if owed is None:
                raise JournalError(f"{msgid} owes no card record")
            c.execute(
                "INSERT INTO card_records (msgid, state, at, note) VALUES (?, ?, ?, ?)",
                (msgid, state.value, _now(), note),
            )

    def _booked(
        self,
        columns: str,
        begin: dt.date,
        end: dt.date,
        insutype: str | None,
        clr_type: str | None,
        fixmedins_code: str | None,
    ) -> list[sqlite3.Row]:
        """The settlements and refunds of [begin, end] whose effect stands."""
        sql = (
            f"SELECT {columns} FROM messages "  # noqa: S608 - fixed column lists
            "WHERE infno IN ('2207', '2102', '2208', '2103') AND status = 'SUCCESS' "
            "AND (resolution IS NULL OR resolution != 'REVERSED') AND setl_time IS NOT NULL "
            "AND substr(setl_time, 1, 10) BETWEEN ? AND ?"
        )
        args: list[Any] = [begin.isoformat(), end.isoformat()]
        for column, value in (
            ("insutype", insutype),
            ("clr_type", clr_type),
            ("fixmedins_code", fixmedins_code),
        ):
            if value:
                sql += f" AND {column} = ?"
                args.append(value)
        with self._lock:
            return list(self._conn.execute(sql + " ORDER BY id", args).fetchall())

    # -- abandoned visits ---------------------------------------------------------------------
    def abandon_visit(self, msgid: str, why: str) -> None:
        """Mark the registration (2201) ``msgid`` abandoned by its flow (and no
        longer held by it: resolution may reverse it now)."""
        with self._transaction() as c:
            c.execute(
                "INSERT INTO abandoned_visits (msgid, at, why, held) VALUES (?, ?, ?, 0) "
                "ON CONFLICT (msgid) DO UPDATE SET at = excluded.at, why = excluded.why, held = 0",
                (msgid, _now(), why),
            )

    def abandoned_visits(self) -> list[JournalEntry]:
        """Registrations abandoned by their flow that are still booked and
        ready to be reversed: no message of the visit is open, no settlement
        of it stands and no 2202 closed it. Oldest first.

        A registration still *held* by its flow (``add_pending(hold_visit=True)``)
        counts only once the process that sent it is gone (ended, killed, or
        the machine restarted): a flow waiting at its confirmation prompt in a
        live process is not abandoned."""
        sql = (
            f"SELECT {_COLUMNS}, "  # noqa: S608 - fixed text
            "(SELECT held FROM abandoned_visits a WHERE a.msgid = messages.msgid) AS held "
            "FROM messages "
            "WHERE msgid IN (SELECT msgid FROM abandoned_visits) AND infno = '2201' "
            "AND status = 'SUCCESS' AND (resolution IS NULL OR resolution != 'REVERSED') "
            "AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.mdtrt_id = messages.mdtrt_id "
            "  AND o.id > messages.id AND ("
            "    (o.status IN ('PENDING', 'UNKNOWN') AND o.resolution IS NULL) "
            "    OR (o.infno IN ('2207', '2202') AND o.status = 'SUCCESS' "
            "        AND (o.resolution IS NULL OR o.resolution != 'REVERSED')))) "
            "ORDER BY id"
        )
        with self._lock:
            rows = self._conn.execute(sql).fetchall()
        return [
            self._entry(r)
            for r in rows
            if not r["held"] or not _owner_alive(r["pid"], r["boot_id"])
        ]

    def books(
        self,
        begin: dt.date,
        end: dt.date,
        *,
        insutype: str | None = None,
        clr_type: str | None = None,
        fixmedins_code: str | None = None,
    ) -> BookTotals:
        """The settlements and refunds of [begin, end] (by their setl_time) whose
        effect stands, for 3201 (settlement-interface.md, "reconciliation
        totals")."""
        rows = self._booked(
            "medfee_sumamt, fund_pay_sumamt, acct_pay, psn_cash_pay",
            begin,
            end,
            insutype,
            clr_type,
            fixmedins_code,
        )
        total = [Decimal("0.00")] * 4
        for row in rows:
            for i in range(4):
                total[i] += Decimal(row[i] or "0")
        return BookTotals(len(rows), *total)

    def book_rows(
        self,
        begin: dt.date,
        end: dt.date,
        *,
        insutype: str | None = None,
        clr_type: str | None = None,
        fixmedins_code: str | None = None,
    ) -> list[dict[str, Any]]:
        """The same settlements one by one, for 3202 (settlement-interface.md,
        "reconciliation details"): setl_id, the amounts, mdtrt_id, psn_no,
        msgid and ``refd_setl_flag`` 1 for a refund row."""
        rows = self._booked(
            "setl_id, medfee_sumamt, fund_pay_sumamt, acct_pay, mdtrt_id, psn_no, msgid, infno",
            begin,
            end,
            insutype,
            clr_type,
            fixmedins_code,
        )
        return [
            {
                "setl_id": row["setl_id"],
                "medfee_sumamt": Decimal(row["medfee_sumamt"] or "0"),
                "fund_pay_sumamt": Decimal(row["fund_pay_sumamt"] or "0"),
                "acct_pay": Decimal(row["acct_pay"] or "0"),
                "mdtrt_id": row["mdtrt_id"],
                "psn_no": row["psn_no"],
                "msgid": row["msgid"],
                "refd_setl_flag": "1" if row["infno"] in ("2208", "2103") else "0",
            }
            for row in rows
        ]
