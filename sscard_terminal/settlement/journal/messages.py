"""The journal's messages and their state machine (settlement-interface.md,
"Journal rule from robust clients"): write the request as PENDING before
sending; classify the outcome as SUCCESS (infcode 0), FAIL (infcode != 0, or
never delivered) or UNKNOWN (timeout, connection lost)::

      PENDING --answer infcode 0--> SUCCESS
         |    --answer infcode != 0, or never delivered--> FAIL
         `----no answer (timeout, connection lost)--> UNKNOWN

An entry is *open* while it is PENDING or UNKNOWN and has no ``resolution``.
Resolution (:mod:`sscard_terminal.settlement.resolution`) closes it with
``resolution`` CONFIRMED (a 5203 lookup found the outcome; ``status`` becomes
what it found), REVERSED (a 2601 - or, for fee details, a 2205 - undid
whatever it did) or DROPPED (a query or pre-settlement: nothing to settle),
and links the resolving message (``resolved_by``; that message has
``resolves`` = the original msgid). A SUCCESS entry is REVERSED too when the
terminal reverses it on purpose.

What is stored for display is masked (:func:`mask_for_journal`); what
resolution needs (psn_no, insuplc_admdvs, mdtrt_id, setl_id, the fee
batches) is kept in columns. ``cainfo`` and the institution's secret are
never stored. The kind of each message, whether it is a settlement paid by
card and whether it holds a visit come from its declaration
(:mod:`sscard_terminal.settlement.transactions`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sscard_terminal.settlement.envelope import Response
from sscard_terminal.settlement.errors import JournalError
from sscard_terminal.settlement.journal.entries import (
    COLUMNS,
    JournalEntry,
    Resolution,
    Status,
    entry_of,
)
from sscard_terminal.settlement.journal.masking import mask_for_journal
from sscard_terminal.settlement.journal.store import (
    JournalStore,
    owner_alive,
    sql_in,
    this_boot,
    timestamp,
    to_json,
)
from sscard_terminal.settlement.transactions import (
    CARD_SETTLEMENTS,
    REFUNDS,
    REGISTRATIONS,
    Unanswered,
    kind_of,
    transaction,
)

__all__ = ["CARD_CERT_TYPE", "Messages", "resolution_keys"]

#: mdtrt_cert_type of the social security card
CARD_CERT_TYPE = "03"


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
    declared = transaction(infno)
    if declared is not None and declared.unanswered is Unanswered.WITHDRAW:
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


class Messages(JournalStore):
    """Adding, marking, closing and reading messages."""

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
        now = timestamp()
        by_card = str(_first(payload, "mdtrt_cert_type") or "") == CARD_CERT_TYPE
        if card_no is None and infno in CARD_SETTLEMENTS and by_card:
            card_no = str(_first(payload, "mdtrt_cert_no") or "") or None
        try:
            with self._transaction() as c:
                if card_no is None and infno in REFUNDS and keys.get("setl_id"):
                    row = c.execute(
                        "SELECT card_no FROM messages WHERE setl_id = ? "  # noqa: S608 - fixed codes
                        f"AND infno IN {sql_in(CARD_SETTLEMENTS)} AND card_no IS NOT NULL",
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
                        kind_of(infno).value,
                        envelope["fixmedins_code"],
                        envelope["opter"],
                        now,
                        now,
                        keys.get("psn_no"),
                        envelope.get("insuplc_admdvs") or None,
                        keys.get("mdtrt_id"),
                        keys.get("setl_id") if infno not in REFUNDS else None,
                        json.dumps(keys, ensure_ascii=False),
                        to_json(mask_for_journal(shown)),
                        resolves,
                        os.getpid(),
                        this_boot(),
                        card_no,
                    ),
                )
                if hold_visit and infno in REGISTRATIONS:
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
                (*sets.values(), timestamp(), msgid, *(s.value for s in allowed)),
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
        columns: dict[str, Any] = {"response": to_json(mask_for_journal(raw))}
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
            sets["response"] = to_json(mask_for_journal(response.raw))
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
            "resolved_at": timestamp(),
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
    def get(self, msgid: str) -> JournalEntry | None:
        """The entry of ``msgid``."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {COLUMNS} FROM messages WHERE msgid = ?",
                (msgid,),  # noqa: S608
            ).fetchone()
        return None if row is None else entry_of(row)

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
        sql = f"SELECT {COLUMNS} FROM messages"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [entry_of(r) for r in reversed(rows)]

    def open_entries(self) -> list[JournalEntry]:
        """Every PENDING or UNKNOWN entry that is not resolved, oldest first."""
        return self.entries(open_only=True)

    def resolvers_of(self, msgid: str) -> list[JournalEntry]:
        """The messages sent to settle ``msgid`` (5203, 2601, 2205), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {COLUMNS} FROM messages WHERE resolves = ? ORDER BY id",  # noqa: S608
                (msgid,),
            ).fetchall()
        return [entry_of(r) for r in rows]

    def in_flight_elsewhere(self, entry: JournalEntry) -> bool:
        """Whether a PENDING entry may still be in flight in another live process
        (same boot, process alive): then resolution leaves it alone."""
        if entry.status is not Status.PENDING or entry.pid is None:
            return False
        if entry.pid == os.getpid():
            return False
        return owner_alive(entry.pid, entry.boot_id)
