"""The national transactions, one module per group (settlement-interface.md,
"Transactions"). Importing this package registers every handler in
:data:`REGISTRY`."""

from sscard_terminal.center.transactions import (  # noqa: F401 - registration
    outpatient,
    person,
    pharmacy,
    query,
    reconcile,
    reversal,
    signin,
)
from sscard_terminal.center.transactions.registry import REGISTRY, Transaction

__all__ = ["REGISTRY", "Transaction"]
