"""The transport interface: the one seam between the driver and a card.

A transport only moves bytes (style.md: "transports only move bytes"): it
powers a card, tells its ATR, and exchanges one command APDU for one response
APDU. T=0 procedure handling (61xx, 6Cxx) is the driver's job
(:mod:`sscard_terminal.driver.session`), not the transport's.

Transports are chosen by name from a registry, as python-can picks its
backends: ``pcsc`` and ``virtual`` are peers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from sscard_terminal.errors import UsageError


@runtime_checkable
class Transport(Protocol):
    """Connect, ATR, transmit, close; usable as a context manager."""

    #: a short human-readable name of the reader or card behind the transport
    description: str

    def connect(self) -> None:
        """Power the card and open the connection; idempotent."""

    @property
    def atr(self) -> bytes:
        """The answer to reset of the connected card."""
        ...

    def transmit(self, command: bytes) -> bytes:
        """Send one command APDU, return the response APDU (data + SW1 SW2)."""
        ...

    def reset(self) -> None:
        """Warm reset: the card loses its volatile state (selected file, security status)."""

    def close(self) -> None:
        """Release the card; idempotent."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class TransportBase:
    """Context-manager plumbing shared by the concrete transports."""

    description: str = ""

    def connect(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


TransportFactory = Callable[..., Transport]
_REGISTRY: dict[str, TransportFactory] = {}


def register(name: str) -> Callable[[TransportFactory], TransportFactory]:
    """Class decorator: make a transport available by ``name``."""

    def deco(factory: TransportFactory) -> TransportFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def open_transport(name: str, **options: Any) -> Transport:
    """Build the transport registered as ``name`` (``pcsc`` or ``virtual``).

    The transport is returned unconnected; use it as a context manager.
    """
    # importing the modules registers them; pcsc is imported lazily so that the
    # virtual transport works on a machine without pyscard's shared library
    if name == "pcsc":
        import sscard_terminal.transport.pcsc  # noqa: F401
    elif name == "virtual":
        import sscard_terminal.transport.virtual  # noqa: F401
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UsageError(
            f"unknown transport {name!r}",
            hint=f"choose one of: {', '.join(sorted(['pcsc', 'virtual']))}",
        ) from None
    return factory(**options)
