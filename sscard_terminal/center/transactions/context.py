"""What a transaction handler gets: the connection (inside the message's one
database transaction), the envelope, the institution, the policy and the time;
and what it leaves for the journal and for the end of the transaction.

Writes queued with :meth:`MessageContext.defer` are sent together with the
journal entry, after the handler returned (on PostgreSQL in one round trip):
a handler defers only its last writes, the ones no later read of its own
depends on. A refused message sends none of them."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from sscard_terminal.center.envelope import RequestEnvelope
from sscard_terminal.center.fastsql import Batch, Params, Prepared
from sscard_terminal.center.policy import Policy

__all__ = ["MessageContext"]


@dataclass
class MessageContext:
    """One message being handled, inside its database transaction."""

    conn: Connection
    envelope: RequestEnvelope
    institution: Any  # a row of the institutions table
    policy: Policy
    now: dt.datetime  # aware, Asia/Shanghai
    psn_no: str | None = None
    setl_id: str | None = None
    mdtrt_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    writes: Batch | None = None  # the deferred writes (made on first use)
    #: the sign-in is still to be checked: by the first batch of reads
    #: (``common.settlement_reads``), else by the service after the handler
    sign_in_pending: bool = False

    def deferred(self) -> Batch:
        """The batch of deferred writes (the journal entry joins it at the end)."""
        if self.writes is None:
            self.writes = Batch(self.conn)
        return self.writes

    def defer(self, prepared: Prepared, params: Params) -> None:
        """Write at the end of the message, with its journal entry."""
        self.deferred().add(prepared, params)

    def defer_many(self, prepared: Prepared, params: list[dict[str, Any]]) -> None:
        """Write several rows at the end of the message."""
        self.deferred().add_many(prepared, params)

    @property
    def local_now(self) -> dt.datetime:
        """Now as naive Asia/Shanghai time (how the database stores times)."""
        return self.now.replace(tzinfo=None, microsecond=0)

    @property
    def today(self) -> dt.date:
        return self.now.date()

    @property
    def code(self) -> str:
        return str(self.institution.fixmedins_code)

    def new_id(self) -> str:
        """A new 30-character identifier (mdtrt_id, setl_id): the institution's
        division, the date and 16 random hex digits."""
        return f"{self.institution.admdvs}{self.now:%Y%m%d}{secrets.token_hex(8).upper()}"

    def warn(self, zh: str, en: str) -> None:
        self.warnings.append(f"{zh} / {en}")
