"""The institution's books per the journal, for reconciliation
(settlement-interface.md, "reconciliation totals" 3201 and "reconciliation
details" 3202): the settlements and refunds whose effect stands, by their
settlement time; refunds with negative amounts.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sscard_terminal.settlement.journal.store import JournalStore, sql_in
from sscard_terminal.settlement.transactions import REFUNDS, SETTLEMENTS

__all__ = ["BookTotals", "Books"]


@dataclass(frozen=True)
class BookTotals:
    """The institution's books per the journal (for 3201): settlements and
    refunds whose effect stands, refunds with negative amounts."""

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


class Books(JournalStore):
    """Totals and rows of the settlements that stand."""

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
            f"WHERE infno IN {sql_in(SETTLEMENTS)} AND status = 'SUCCESS' "
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
                "refd_setl_flag": "1" if row["infno"] in REFUNDS else "0",
            }
            for row in rows
        ]
