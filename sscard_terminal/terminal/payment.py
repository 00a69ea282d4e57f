"""A simulated payment provider for the cash part of a settlement.

Kiosks take the cash part by card, QR code or cash acceptor; what matters to
the flow is that a payment can succeed or fail, and that a retried request
does not charge twice. :class:`SimulatedPayments` keeps its payments in memory,
keyed by the terminal's idempotency key, and fails on request
(``fail_next`` or a ``fail_every`` rhythm) so that tests and the demo can drive
both outcomes. A payment whose settlement the center refuses afterwards is
refunded by the flow (:meth:`SimulatedPayments.refund`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from sscard_terminal.errors import ExitCode, SscardError


class PaymentFailed(SscardError):
    """The payment provider declined or failed; nothing was charged."""

    exit_code = ExitCode.CENTER_REFUSED
    hint = "the settlement is rolled back; the patient pays nothing"


@dataclass(frozen=True)
class Payment:
    reference: str
    key: str
    amount: Decimal


class PaymentProvider(Protocol):
    def pay(self, key: str, amount: Decimal) -> Payment:
        """Charge ``amount`` once for ``key``; raise PaymentFailed when declined."""
        ...

    def refund(self, reference: str) -> Payment:
        """Give a payment back in full (once; a repeat returns the same refund)."""
        ...


@dataclass
class SimulatedPayments:
    fail_next: int = 0
    fail_every: int = 0
    payments: dict[str, Payment] = field(default_factory=dict)
    refunds: dict[str, Payment] = field(default_factory=dict)
    attempts: int = 0
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def pay(self, key: str, amount: Decimal) -> Payment:
        if amount < 0:
            raise ValueError("a payment is not negative")
        if key in self.payments:  # a retry: the same payment, charged once
            return self.payments[key]
        self.attempts += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise PaymentFailed(f"the payment of {amount} yuan was declined")
        if self.fail_every and self.attempts % self.fail_every == 0:
            raise PaymentFailed(f"the payment of {amount} yuan was declined")
        payment = Payment(f"PAY{next(self._serial):08d}", key, amount)
        self.payments[key] = payment
        return payment

    def refund(self, reference: str) -> Payment:
        if reference in self.refunds:
            return self.refunds[reference]
        paid = next((p for p in self.payments.values() if p.reference == reference), None)
        if paid is None:
            raise ValueError(f"no payment {reference}")
        self.refunds[reference] = paid
        return paid

    @property
    def net(self) -> Decimal:
        """What the provider holds: payments minus refunds."""
        return sum((p.amount for p in self.payments.values()), Decimal("0.00")) - sum(
            (p.amount for p in self.refunds.values()), Decimal("0.00")
        )
