"""The outpatient settlement of an open visit, shared by the hospital swipe,
the kiosk's registration and the fees of a visit registered at the desk
(settlement-interface.md, "Flows seen in real integrations"): 2203 (the
visit's information, when the flow gives it), 2204 (the fee details), 2206
(the pre-settlement; ``confirm`` sees the split), the cash part through the
payment provider, 2207 (the settlement).

What a failure undoes depends on who registered the visit:

- :class:`OwnVisit`, the flow's own 2201: a refusal, a decline or a failed
  payment rolls the visit back (2205, 2202); no answer from the center
  leaves the registration to the journal's resolution as abandoned; any
  other stop (Ctrl-C, a fault of the caller) rolls back as a refusal would.
- :class:`DeskFees`, a visit the desk registered: the fee details are
  withdrawn (2205) and the visit stays open for the desk to settle or cancel.

A payment taken before a 2207 the center refuses is refunded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sscard_terminal.errors import SscardError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.errors import CenterRefused, CenterUnavailable
from sscard_terminal.settlement.inputs import OutpatientSettlement
from sscard_terminal.settlement.models import Diagnosis, FeeDetail, PersonRef, SettlementResult
from sscard_terminal.terminal.flows.common import Confirm, Declined, Progress, now, say
from sscard_terminal.terminal.flows.identification import Holder
from sscard_terminal.terminal.flows.items import Item, details, sum_amount
from sscard_terminal.terminal.flows.rollback import abandon, interrupted, rollback
from sscard_terminal.terminal.payment import Payment, PaymentFailed, PaymentProvider

__all__ = ["DeskFees", "OwnVisit", "VisitInfo", "settle_visit"]


class Undo(Protocol):
    """What a failed outpatient settlement undoes (see the module's docstring)."""

    def before_settlement(self, exc: BaseException) -> None:
        """The flow failed between its 2203 and its payment (before the 2207)."""
        ...

    def refused(self) -> None:
        """The center refused the 2207."""
        ...

    def stopped(self, exc: BaseException) -> None:
        """The 2207 got no answer, or the flow was stopped during it."""
        ...


@dataclass(frozen=True)
class OwnVisit:
    """The visit the flow registered itself: ``registration`` is its 2201's msgid."""

    client: SettlementClient
    ref: PersonRef
    mdtrt_id: str
    ipt_otp_no: str | None
    registration: str | None
    progress: Progress | None

    def before_settlement(self, exc: BaseException) -> None:
        client, ref, mdtrt_id, ipt_otp_no = self.client, self.ref, self.mdtrt_id, self.ipt_otp_no
        if isinstance(exc, PaymentFailed | Declined | CenterRefused):
            say(self.progress, "rolling back: 2205, 2202")
            problems = rollback(client, ref, mdtrt_id, ipt_otp_no, self.registration)
            if problems and isinstance(exc, PaymentFailed):
                exc.hint = "the visit is closed by `sscard journal resolve`: " + "; ".join(problems)
        elif isinstance(exc, CenterUnavailable):
            abandon(client, self.registration, exc)
        else:
            interrupted(client, ref, mdtrt_id, ipt_otp_no, self.registration, self.progress)

    def refused(self) -> None:
        rollback(self.client, self.ref, self.mdtrt_id, self.ipt_otp_no, self.registration)

    def stopped(self, exc: BaseException) -> None:
        # no answer, or stopped: kept if the 2207 turns out booked
        abandon(self.client, self.registration, exc)


@dataclass(frozen=True)
class DeskFees:
    """The fees of a visit the desk registered (its 2201 is not the flow's)."""

    client: SettlementClient
    ref: PersonRef
    mdtrt_id: str
    progress: Progress | None

    def _withdraw(self) -> None:
        client, ref, mdtrt_id = self.client, self.ref, self.mdtrt_id
        try:
            client.withdraw_fees(ref, mdtrt_id)
        except SscardError as exc:  # the desk sees the fees still open
            say(self.progress, f"2205 failed: {exc}")

    def before_settlement(self, exc: BaseException) -> None:
        if isinstance(exc, PaymentFailed | Declined | CenterRefused | CenterUnavailable):
            say(self.progress, "withdrawing the fees: 2205")
            self._withdraw()

    def refused(self) -> None:
        self._withdraw()

    def stopped(self, exc: BaseException) -> None:
        """Nothing: the desk's visit stays as the journal leaves it."""


@dataclass(frozen=True)
class VisitInfo:
    """What 2203 tells of the visit besides its medical type: its diagnosis
    (none when ``dise_codg`` is None)."""

    dise_codg: str | None = None
    dise_name: str | None = None


def settle_visit(
    client: SettlementClient,
    holder: Holder,
    mdtrt_id: str,
    items: Sequence[Item],
    undo: Undo,
    *,
    med_type: str,
    acct_used: bool = True,
    info: VisitInfo | None,
    fees_step: str,
    confirm: Confirm,
    declined: str,
    payments: PaymentProvider | None = None,
    pay_key: str = "",
    progress: Progress | None = None,
) -> tuple[SettlementResult, Payment | None]:
    """2203 (when ``info``), 2204 of ``items``, 2206 and 2207 of their total
    as ``med_type`` under the holder's credential and enrolment; ``confirm``
    False raises :class:`Declined` with ``declined``; the cash part through
    ``payments`` under ``pay_key``. Returns the 2207's answer and the payment
    (None when nothing was paid)."""
    ref = holder.ref
    args: dict[str, Any] = {
        "mdtrt_id": mdtrt_id,
        **holder.cert,
        "medfee_sumamt": sum_amount(items),
        "insutype": holder.insutype,
        "med_type": med_type,
        "acct_used": acct_used,
    }
    payment = None
    try:
        sale = OutpatientSettlement(ref, **args)
        if info is not None:
            _visit_info(client, ref, mdtrt_id, med_type, info, progress)
        say(progress, fees_step)
        client.upload_fees(ref, mdtrt_id, details(FeeDetail, items, now(client)))
        say(progress, "2206 pre-settlement")
        pre = client.pre_settle(sale)
        if not confirm(pre.setlinfo):
            raise Declined(declined)
        cash = pre.setlinfo.psn_cash_pay
        if payments is not None and cash > 0:
            say(progress, f"payment of {cash} yuan")
            payment = payments.pay(pay_key, cash)
    except BaseException as exc:
        undo.before_settlement(exc)
        raise
    say(progress, "2207 settlement")
    try:
        settled = client.settle(sale)  # OutcomeUnknown: the journal resolves it
    except CenterRefused as exc:
        undo.refused()
        if payments is not None and payment is not None:
            payments.refund(payment.reference)
            exc.hint = f"payment {payment.reference} ({payment.amount} yuan) was refunded"
        raise
    except BaseException as exc:
        undo.stopped(exc)
        raise
    return settled, payment


def _visit_info(
    client: SettlementClient,
    ref: PersonRef,
    mdtrt_id: str,
    med_type: str,
    info: VisitInfo,
    progress: Progress | None,
) -> None:
    say(progress, "2203 visit information")
    dise_codg, dise_name = info.dise_codg, info.dise_name
    diagnoses = [Diagnosis(dise_codg, dise_name or dise_codg)] if dise_codg else []
    client.visit_info(
        ref,
        mdtrt_id,
        med_type=med_type,
        dise_codg=dise_codg,
        dise_name=dise_name,
        diagnoses=diagnoses,
    )
