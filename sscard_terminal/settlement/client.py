"""The settlement client: every transaction of the interface as a typed call.

:class:`SettlementClient` is the message engine
(:mod:`sscard_terminal.settlement.engine`: msgids, sign-in, journaling,
classifying answers) with one named method per transaction, each one call of
its declaration (:mod:`sscard_terminal.settlement.transactions`) over its
input (:mod:`sscard_terminal.settlement.inputs`), and the reconciliation of
the journal's books (3201, 3202). Settling what the journal holds open
(5203, 2601) is :mod:`sscard_terminal.settlement.resolution`, which uses the
client.

It imports nothing from any center: it talks to any server that follows the
interface.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from sscard_terminal.settlement import transactions as tx
from sscard_terminal.settlement.engine import MessageEngine
from sscard_terminal.settlement.inputs import (
    DrugSale,
    FeeUpload,
    FeeWithdrawal,
    FilingQuery,
    OutpatientSettlement,
    PersonQuery,
    ReconcileDetailsQuery,
    ReconcileTotalsQuery,
    RegistrationCancel,
    ReversalRequest,
    SettlementCancel,
    SettlementQuery,
    VisitInfo,
    VisitRegistration,
)
from sscard_terminal.settlement.journal import BookTotals, Journal
from sscard_terminal.settlement.models import (
    Ack,
    Diagnosis,
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
    Withdrawal,
)

__all__ = ["SettlementClient"]


class SettlementClient(MessageEngine):
    """A terminal's client of the settlement center (see :class:`MessageEngine`
    for its arguments)."""

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
        """1101 person information (see :class:`PersonQuery`). Returns
        baseinfo and insuinfo (``psn_insu_stas`` 1 normal)."""
        return self.call(
            tx.PERSON_INFO,
            PersonQuery(
                mdtrt_cert_type, mdtrt_cert_no, card_sn, psn_cert_type, certno, psn_name, begntime
            ),
        )

    def person_by_card(self, card_no: str, card_sn: str) -> PersonInfo:
        """1101 by social security card (mdtrt_cert_type 03)."""
        return self.person_info("03", card_no, card_sn=card_sn)

    # -- 2201 - 2205 --------------------------------------------------------------------------
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
        itself; until it does, the journal holds the visit for this process,
        and abandons it when the process is gone (:meth:`Journal.abandoned_visits`),
        so that :func:`~sscard_terminal.settlement.resolution.resolve` reverses it."""
        return self.call(
            tx.REGISTER,
            VisitRegistration(
                person,
                insutype,
                mdtrt_cert_type,
                mdtrt_cert_no,
                ipt_otp_no,
                card_sn,
                begntime,
                med_type,
                atddr_no,
                dr_name,
                dept_code,
                dept_name,
                caty,
                hold_visit,
            ),
        )

    def cancel_registration(
        self, person: PersonRef, mdtrt_id: str, ipt_otp_no: str | None = None
    ) -> Ack:
        """2202 cancel a registration that has no valid settlement."""
        return self.call(tx.CANCEL_REGISTRATION, RegistrationCancel(person, mdtrt_id, ipt_otp_no))

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
        return self.call(
            tx.VISIT_INFO,
            VisitInfo(person, mdtrt_id, med_type, begntime, dise_codg, dise_name, diagnoses),
        )

    def upload_fees(
        self, person: PersonRef, mdtrt_id: str, lines: Sequence[FeeDetail]
    ) -> list[FeeResult]:
        """2204 fee detail upload; returns the split of each line (catalogue class,
        price cap, self-pay shares)."""
        return self.call_rows(tx.UPLOAD_FEES, FeeUpload(person, mdtrt_id, lines))

    def withdraw_fees(
        self,
        person: PersonRef,
        mdtrt_id: str,
        chrg_bchno: str = "0000",
        *,
        resolves: str | None = None,
    ) -> Withdrawal:
        """2205 withdraw the unsettled fee details of a batch ("0000": all)."""
        return self.call(tx.WITHDRAW_FEES, FeeWithdrawal(person, mdtrt_id, chrg_bchno, resolves))

    # -- 2206 - 2208 --------------------------------------------------------------------------
    def pre_settle(self, sale: OutpatientSettlement) -> SettlementResult:
        """2206 outpatient pre-settlement: the split (fund, account, cash); books nothing."""
        return self.call(tx.PRE_SETTLE, sale)

    def settle(self, sale: OutpatientSettlement) -> SettlementResult:
        """2207 outpatient settlement: books; ``setlinfo.setl_id`` and
        ``medins_setl_id`` (= this message's msgid). No answer: OutcomeUnknown."""
        return self.call(tx.SETTLE, sale)

    def cancel_settlement(
        self, person: PersonRef, *, setl_id: str, mdtrt_id: str, card_no: str | None = None
    ) -> SettlementResult:
        """2208 cancel an outpatient settlement (refund: a setlinfo with negative amounts)."""
        return self.call(tx.CANCEL_SETTLEMENT, SettlementCancel(person, setl_id, mdtrt_id, card_no))

    # -- 2101 - 2103 --------------------------------------------------------------------------
    def pharmacy_pre_settle(self, sale: DrugSale) -> PharmacySettlement:
        """2101 pharmacy pre-settlement (med_type 41); books nothing."""
        return self.call(tx.PHARMACY_PRE_SETTLE, sale)

    def pharmacy_settle(self, sale: DrugSale) -> PharmacySettlement:
        """2102 pharmacy settlement: books the purchase (the center makes its
        mdtrt_id). No answer: OutcomeUnknown."""
        return self.call(tx.PHARMACY_SETTLE, sale)

    def pharmacy_cancel(
        self, person: PersonRef, *, setl_id: str, mdtrt_id: str, card_no: str | None = None
    ) -> SettlementResult:
        """2103 cancel a pharmacy settlement."""
        return self.call(tx.PHARMACY_CANCEL, SettlementCancel(person, setl_id, mdtrt_id, card_no))

    # -- 2601 ---------------------------------------------------------------------------------
    def reversal(
        self, person: PersonRef, *, omsgid: str, oinfno: str, resolves: str | None = None
    ) -> Reversal:
        """2601 reversal (冲正) of the message ``omsgid`` (an ``oinfno``). The
        journal links it to the original (``resolves``, by default ``omsgid``).
        :func:`sscard_terminal.settlement.resolution.reverse` also records the
        outcome on the original's entry."""
        return self.call(tx.REVERSE, ReversalRequest(person, omsgid, oinfno, resolves))

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
        return self.call(
            tx.RECONCILE_TOTALS,
            ReconcileTotalsQuery(
                insutype,
                begin,
                end,
                medfee_sumamt,
                fund_pay_sumamt,
                acct_pay,
                count,
                clr_type,
                setl_optins,
            ),
        )

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
        return self.call(
            tx.RECONCILE_DETAILS,
            ReconcileDetailsQuery(begin, end, rows, insutype, clr_type, setl_optins),
        )

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
        return self.call(
            tx.SETTLEMENT_QUERY,
            SettlementQuery(person, setl_id, mdtrt_id, medins_setl_id, resolves),
        )

    def filings(self, person: PersonRef) -> list[Filing]:
        """5301 chronic / special disease filings of a person."""
        return self.call_rows(tx.FILINGS, FilingQuery(person))
