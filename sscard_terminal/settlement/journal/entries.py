"""What the journal holds of one message: its :class:`Status`, how it was
closed (:class:`Resolution`), what became of the card record it owes
(:class:`CardRecordState`), and the :class:`JournalEntry` read from its row.

An entry is *open* while it is PENDING or UNKNOWN and has no resolution; its
net effect is booked exactly when it is SUCCESS and not REVERSED.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sscard_terminal.settlement import wire
from sscard_terminal.settlement.transactions import SETTLEMENTS

__all__ = ["COLUMNS", "CardRecordState", "JournalEntry", "Resolution", "Status", "entry_of"]


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


COLUMNS = (
    "id, msgid, infno, kind, status, fixmedins_code, opter, created_at, updated_at, psn_no, "
    "insuplc_admdvs, mdtrt_id, setl_id, keys, request, response, infcode, err_msg, error, "
    "resolves, resolution, resolved_by, resolved_at, resolution_note, pid, boot_id, card_no, "
    "(SELECT state FROM card_records c WHERE c.msgid = messages.msgid) AS card_state"
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


def entry_of(row: sqlite3.Row) -> JournalEntry:
    """The entry of a row read with :data:`COLUMNS`."""
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
