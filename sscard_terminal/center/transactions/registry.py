"""The table of transactions: infno -> input model and handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from sscard_terminal.center.transactions.context import MessageContext

__all__ = ["REGISTRY", "Transaction", "transaction"]

Handler = Callable[[MessageContext, Any], dict[str, Any]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Transaction:
    infno: str
    name: str
    input_model: type[BaseModel]
    handler: Handler
    needs_sign_in: bool = True
    #: the sign-in is read in the handler's first batch of reads, in the same
    #: round trip (see ``MessageContext.sign_in_pending``)
    sign_in_with_reads: bool = False


REGISTRY: dict[str, Transaction] = {}


def transaction(
    infno: str,
    name: str,
    input_model: type[BaseModel],
    *,
    needs_sign_in: bool = True,
    sign_in_with_reads: bool = False,
) -> Callable[[H], H]:
    """Register a handler for ``infno``."""

    def register(handler: H) -> H:
        if infno in REGISTRY:
            raise RuntimeError(f"transaction {infno} registered twice")
        REGISTRY[infno] = Transaction(
            infno, name, input_model, handler, needs_sign_in, sign_in_with_reads
        )
        return handler

    return register
