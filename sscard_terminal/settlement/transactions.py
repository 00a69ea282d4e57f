"""One declaration per transaction the client speaks (settlement-interface.md,
"Transactions").

Each :class:`Transaction` says, for its infno:

- its input (an :class:`~sscard_terminal.settlement.inputs.Input` type) and
  its result model, and where in the answer the result is;
- its :class:`Kind`: a *booking* changes money or opens a visit and is
  reversible by 2601; a *change* alters a visit but moves no money; the
  *reversal* is 2601 itself; a *query* books nothing;
- how an outcome that never came back is settled (:class:`Unanswered`, read
  by :mod:`sscard_terminal.settlement.resolution`);
- whether it settles money and owes the card a transaction record when made
  with a card (:class:`CardRecord`, read by the journal and by
  :mod:`sscard_terminal.terminal.card_records`), and its part in a visit.

The client, the journal, the resolution and the card records read this table;
the sets :data:`BOOKING`, :data:`CHANGE`, :data:`REVERSAL`, :data:`QUERY` and
:data:`SETTLEMENTS` are derived from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sscard_terminal.settlement.envelope import Response
from sscard_terminal.settlement.inputs import (
    DrugSale,
    FeeUpload,
    FeeWithdrawal,
    FilingQuery,
    Input,
    OutpatientSettlement,
    PersonQuery,
    ReconcileDetailsQuery,
    ReconcileTotalsQuery,
    RegistrationCancel,
    ReversalRequest,
    SettlementCancel,
    SettlementQuery,
    SignInRequest,
    SignOutRequest,
    VisitInfo,
    VisitRegistration,
)
from sscard_terminal.settlement.models import (
    Ack,
    FeeResult,
    Filing,
    PersonInfo,
    PharmacySettlement,
    ReconcileDetails,
    ReconcileTotals,
    Registration,
    Reversal,
    SettlementLookup,
    SettlementResult,
    SignIn,
    SignOut,
    Withdrawal,
    _Result,
)

__all__ = [
    "BOOKING",
    "CHANGE",
    "QUERY",
    "REVERSAL",
    "SETTLEMENTS",
    "TRANSACTIONS",
    "CardRecord",
    "Kind",
    "MissingNode",
    "Transaction",
    "Unanswered",
    "kind_of",
    "transaction",
]

In = TypeVar("In", bound=Input)
R = TypeVar("R", bound=_Result)


class Kind(StrEnum):
    """What a message does (the journal's ``kind`` column holds the value)."""

    BOOKING = "booking"
    CHANGE = "change"
    REVERSAL = "reversal"
    QUERY = "query"


class Unanswered(StrEnum):
    """How an entry whose outcome never came back is settled
    (settlement-interface.md, "Journal rule from robust clients")."""

    #: 5203 by the visit and the msgid; confirmed when found, else 2601
    LOOKUP_BY_VISIT = "lookup_by_visit"
    #: 5203 by the msgid; confirmed when found, else 2601
    LOOKUP = "lookup"
    #: 2601 (5203 cannot find it by its msgid)
    REVERSE = "reverse"
    #: 2205 withdraws its fee batches
    WITHDRAW = "withdraw"
    #: the reversal it asked for is sent again
    REPEAT = "repeat"
    #: nothing to settle: it moves no money
    DROP = "drop"


class CardRecord(StrEnum):
    """The transaction record a settlement made with a card owes that card
    (card-spec.md, DF04 EF08)."""

    #: an outpatient settlement (a registration fee when its med_type is 12)
    OUTPATIENT = "outpatient"
    PHARMACY = "pharmacy"
    REFUND = "refund"
    CANCELLATION = "cancellation"


def _output(response: Response) -> Any:
    return response.output


class MissingNode(LookupError):
    """The answer lacks the node its result is in (the engine names the message)."""


def _node(name: str, *, required: bool = True) -> Callable[[Response], Any]:
    """The answer's ``output.<name>`` (required: an answer without it is wrong)."""

    def pick(response: Response) -> Any:
        node = response.output.get(name)
        if node is None and required:
            raise MissingNode(name)
        return {} if node is None else node

    return pick


def _with_warning(response: Response) -> Any:
    return {**response.output, "warn_msg": response.warn_msg}


def _warning(response: Response) -> Any:
    return {"warn_msg": response.warn_msg}


def _withdrawn(response: Response) -> Any:
    data = response.output.get("data") or {}
    return {"withdrawn": data.get("withdrawn"), "warn_msg": response.warn_msg}


def _rows(*names: str) -> Callable[[Response], Any]:
    """The first of ``output.<names>`` that is there, as a list of rows."""

    def pick(response: Response) -> Any:
        for name in names:
            rows = response.output.get(name)
            if rows is not None:
                return rows
        return []

    return pick


@dataclass(frozen=True)
class Transaction(Generic[In, R]):
    """One transaction code and everything the client knows of it."""

    infno: str
    title: str
    input: type[In]
    result: type[R]
    kind: Kind
    #: where the result is in the answer (its node, or a list of rows when ``many``)
    answer: Callable[[Response], Any] = _output
    many: bool = False
    unanswered: Unanswered = Unanswered.DROP
    #: a settlement or refund: its setlinfo is the institution's books, and
    #: made with a card it owes the card this record
    card_record: CardRecord | None = None
    #: a refund: cancels a settlement, inherits its card, a 3202 refund row
    refund: bool = False
    #: opens a visit (a registration its flow may abandon)
    opens_visit: bool = False
    #: ends a registered visit (settles it or cancels it)
    ends_visit: bool = False

    @property
    def settles(self) -> bool:
        """A settlement or refund (its setlinfo is the institution's books)."""
        return self.card_record is not None

    @property
    def books(self) -> bool:
        """Whether a lost answer may have booked something (not a query)."""
        return self.kind is not Kind.QUERY


SIGN_IN = Transaction(
    "9001", "sign-in", SignInRequest, SignIn, Kind.QUERY, answer=_node("signinoutb")
)
SIGN_OUT = Transaction(
    "9002",
    "sign-out",
    SignOutRequest,
    SignOut,
    Kind.QUERY,
    answer=_node("signoutoutb", required=False),
)
PERSON_INFO = Transaction(
    "1101", "person information", PersonQuery, PersonInfo, Kind.QUERY, answer=_with_warning
)
REGISTER = Transaction(
    "2201",
    "outpatient registration",
    VisitRegistration,
    Registration,
    Kind.BOOKING,
    answer=_node("data"),
    unanswered=Unanswered.REVERSE,
    opens_visit=True,
)
CANCEL_REGISTRATION = Transaction(
    "2202",
    "registration cancellation",
    RegistrationCancel,
    Ack,
    Kind.CHANGE,
    answer=_warning,
    ends_visit=True,
)
VISIT_INFO = Transaction("2203", "visit information", VisitInfo, Ack, Kind.CHANGE, answer=_warning)
UPLOAD_FEES = Transaction(
    "2204",
    "fee detail upload",
    FeeUpload,
    FeeResult,
    Kind.CHANGE,
    answer=_rows("result"),
    many=True,
    unanswered=Unanswered.WITHDRAW,
)
WITHDRAW_FEES = Transaction(
    "2205", "fee detail withdrawal", FeeWithdrawal, Withdrawal, Kind.CHANGE, answer=_withdrawn
)
PRE_SETTLE = Transaction(
    "2206", "outpatient pre-settlement", OutpatientSettlement, SettlementResult, Kind.QUERY
)
SETTLE = Transaction(
    "2207",
    "outpatient settlement",
    OutpatientSettlement,
    SettlementResult,
    Kind.BOOKING,
    unanswered=Unanswered.LOOKUP_BY_VISIT,
    card_record=CardRecord.OUTPATIENT,
    ends_visit=True,
)
CANCEL_SETTLEMENT = Transaction(
    "2208",
    "outpatient settlement cancellation",
    SettlementCancel,
    SettlementResult,
    Kind.BOOKING,
    unanswered=Unanswered.LOOKUP,
    card_record=CardRecord.REFUND,
    refund=True,
)
PHARMACY_PRE_SETTLE = Transaction(
    "2101", "pharmacy pre-settlement", DrugSale, PharmacySettlement, Kind.QUERY
)
PHARMACY_SETTLE = Transaction(
    "2102",
    "pharmacy settlement",
    DrugSale,
    PharmacySettlement,
    Kind.BOOKING,
    unanswered=Unanswered.LOOKUP,
    card_record=CardRecord.PHARMACY,
)
PHARMACY_CANCEL = Transaction(
    "2103",
    "pharmacy settlement cancellation",
    SettlementCancel,
    SettlementResult,
    Kind.BOOKING,
    unanswered=Unanswered.LOOKUP,
    card_record=CardRecord.CANCELLATION,
    refund=True,
)
REVERSE = Transaction(
    "2601",
    "reversal",
    ReversalRequest,
    Reversal,
    Kind.REVERSAL,
    answer=_node("data", required=False),
    unanswered=Unanswered.REPEAT,
)
RECONCILE_TOTALS = Transaction(
    "3201", "reconciliation totals", ReconcileTotalsQuery, ReconcileTotals, Kind.QUERY
)
RECONCILE_DETAILS = Transaction(
    "3202", "reconciliation details", ReconcileDetailsQuery, ReconcileDetails, Kind.QUERY
)
SETTLEMENT_QUERY = Transaction(
    "5203", "settlement query", SettlementQuery, SettlementLookup, Kind.QUERY
)
FILINGS = Transaction(
    "5301",
    "disease filings",
    FilingQuery,
    Filing,
    Kind.QUERY,
    answer=_rows("feedetail", "data"),
    many=True,
)

#: Every transaction the client sends, by infno.
TRANSACTIONS: dict[str, Transaction[Any, Any]] = {
    t.infno: t
    for t in (
        SIGN_IN,
        SIGN_OUT,
        PERSON_INFO,
        REGISTER,
        CANCEL_REGISTRATION,
        VISIT_INFO,
        UPLOAD_FEES,
        WITHDRAW_FEES,
        PRE_SETTLE,
        SETTLE,
        CANCEL_SETTLEMENT,
        PHARMACY_PRE_SETTLE,
        PHARMACY_SETTLE,
        PHARMACY_CANCEL,
        REVERSE,
        RECONCILE_TOTALS,
        RECONCILE_DETAILS,
        SETTLEMENT_QUERY,
        FILINGS,
    )
}


def transaction(infno: str) -> Transaction[Any, Any] | None:
    """The declaration of ``infno`` (None for a code the client does not speak)."""
    return TRANSACTIONS.get(infno)


def kind_of(infno: str) -> Kind:
    """The kind of ``infno``; a code the client does not speak books nothing."""
    found = TRANSACTIONS.get(infno)
    return Kind.QUERY if found is None else found.kind


def infnos(rows: Iterable[Transaction[Any, Any]]) -> frozenset[str]:
    return frozenset(t.infno for t in rows)


#: A booking changes money or opens a visit and is reversible by 2601.
BOOKING = infnos(t for t in TRANSACTIONS.values() if t.kind is Kind.BOOKING)
#: Changes to a visit that move no money (2204 is undone by 2205).
CHANGE = infnos(t for t in TRANSACTIONS.values() if t.kind is Kind.CHANGE)
#: The reversal itself.
REVERSAL = infnos(t for t in TRANSACTIONS.values() if t.kind is Kind.REVERSAL)
#: Everything else books nothing.
QUERY = infnos(t for t in TRANSACTIONS.values() if t.kind is Kind.QUERY)
#: Settlements and refunds: their setlinfo is the institution's books.
SETTLEMENTS = infnos(t for t in TRANSACTIONS.values() if t.settles)
#: Refunds of a settlement (they inherit its card).
REFUNDS = infnos(t for t in TRANSACTIONS.values() if t.refund)
#: Settlements paid by card, whose card a refund inherits.
CARD_SETTLEMENTS = SETTLEMENTS - REFUNDS
#: Registrations: they open a visit.
REGISTRATIONS = infnos(t for t in TRANSACTIONS.values() if t.opens_visit)
#: What ends a registered visit: its settlement or its cancellation.
VISIT_ENDS = infnos(t for t in TRANSACTIONS.values() if t.ends_visit)
