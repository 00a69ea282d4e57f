"""The transport interface: the one seam between the driver and a card.

A transport only moves bytes (style.md: "transports only move bytes"): it
powers a card, tells its ATR, and exchanges one command APDU for one response
APDU. T=0 procedure handling (61xx, 6Cxx) is the driver's job
(:mod:`sscard_terminal.driver.session`), not the transport's.

Transports are chosen by name from one table, :data:`BACKENDS`, as python-can
picks its backends: ``pcsc`` and ``virtual`` are peers, each with its own
``list_readers`` and ``watch_readers``. Only this package names a backend:
callers take :data:`DEFAULT_TRANSPORT` or the name the user gave
(``--transport``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from sscard_terminal.errors import ReaderNotFoundError, UsageError


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


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    """One reader as its backend sees it now; ``atr`` is None without a (responding) card."""

    name: str
    card_present: bool
    atr: bytes | None


@dataclass(frozen=True, slots=True)
class ReaderEvent:
    """A card came into (``present``) or left a reader, as the backend reported it."""

    reader: str
    present: bool
    atr: bytes | None = None


@runtime_checkable
class ReaderWatcher(Protocol):
    """Reports card insertions and removals as the backend's reader state changes.

    ``wait`` blocks up to ``timeout`` seconds for a change and returns what
    changed (empty on a timeout); the first call reports every reader that
    already holds a card. ``cancel`` (from any thread) makes a waiting call
    return early. A watcher survives its service going away: ``wait`` then
    reports the cards as removed and keeps trying to reconnect.
    """

    def wait(self, timeout: float) -> list[ReaderEvent]: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """What a transport class registered as a backend offers besides its instances."""

    def __call__(self, reader: str | None = None, **options: Any) -> Transport: ...

    def list_readers(self) -> list[ReaderInfo]: ...

    def watch_readers(self) -> ReaderWatcher: ...


#: the backends by name: (module, class), imported only when chosen (python-can's
#: BACKENDS table); a backend class has the Transport interface and the
#: classmethods ``list_readers()`` and ``watch_readers()``
BACKENDS: dict[str, tuple[str, str]] = {
    "pcsc": ("sscard_terminal.transport.pcsc", "PcscTransport"),
    "virtual": ("sscard_terminal.transport.virtual", "VirtualTransport"),
}
#: the backend used when none is named: readers through the system's PC/SC service
DEFAULT_TRANSPORT = "pcsc"


def transport_names() -> list[str]:
    """The names ``--transport`` accepts."""
    return sorted(BACKENDS)


def backend(name: str) -> Backend:
    """The transport class registered as ``name``; imports its module on first use."""
    try:
        module_name, class_name = BACKENDS[name]
    except KeyError:
        raise UsageError(
            f"unknown transport {name!r}", hint=f"choose one of: {', '.join(transport_names())}"
        ) from None
    module = importlib.import_module(module_name)
    found: Backend = getattr(module, class_name)
    return found


def open_transport(name: str = DEFAULT_TRANSPORT, **options: Any) -> Transport:
    """Build a transport of backend ``name`` (``reader=...`` and the backend's
    own options). The transport is returned unconnected; use it as a context manager."""
    return backend(name)(**options)


def list_readers(name: str = DEFAULT_TRANSPORT) -> list[ReaderInfo]:
    """Every reader backend ``name`` knows, with card presence and ATR; never blocks."""
    return backend(name).list_readers()


def watch_readers(name: str = DEFAULT_TRANSPORT) -> ReaderWatcher:
    """A :class:`ReaderWatcher` on backend ``name``'s readers."""
    return backend(name).watch_readers()


def match_reader(names: Sequence[str], wanted: str) -> str:
    """The reader ``wanted`` designates: its exact name, else the one reader
    whose name starts with it, else the one whose name contains it (ignoring
    case). Raises :class:`ReaderNotFoundError` for none or several."""
    if wanted in names:
        return wanted
    folded = wanted.casefold()
    for candidates in (
        [n for n in names if n.casefold().startswith(folded)],
        [n for n in names if folded in n.casefold()],
    ):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise ReaderNotFoundError(
                f"reader {wanted!r} is ambiguous: it matches {', '.join(map(repr, candidates))}"
            )
    known = ", ".join(map(repr, names)) if names else "none"
    raise ReaderNotFoundError(f"no reader matches {wanted!r} (readers: {known})")
