"""The station: what a terminal's card work needs, opened and closed as one.

A terminal (a till, a kiosk, the reader agent) works with a card reader
reached through a transport backend, a security module for the card's
authentication (card-spec.md "Security commands": software keys, a PSAM, or
the key service's two-step mode), a PIN source (the PIN pad; never an
argument) and, for settlement, a client of the center. :class:`Station`
opens them from one :class:`StationSpec`, hands out the card one
transaction at a time (:meth:`Station.card`) and closes everything on exit.
The CLI's commands, ``sscard demo`` and ``sscard agent serve`` all use it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

from sscard_terminal.crypto.keyset import key_set_file
from sscard_terminal.driver.discovery import open_reader
from sscard_terminal.driver.pin import PinSource
from sscard_terminal.driver.sam import AuthCard, SecurityModule
from sscard_terminal.driver.security_modules import open_security_module
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import TransportError, UsageError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.transport.base import DEFAULT_TRANSPORT, Transport

SamKind = Literal["none", "software", "pcsc", "keyservice"]
SAM_KINDS: tuple[SamKind, ...] = ("none", "software", "pcsc", "keyservice")
#: the PSAM's reader when none is named (the second vpcd slot)
DEFAULT_PSAM_READER = "Virtual PCD 00 01"
#: the terminal's own bearer token for --sam keyservice (never a command-line argument)
ENV_KEYSERVICE_TOKEN = "SSCARD_KEYSERVICE_TOKEN"


@dataclass(frozen=True)
class StationSpec:
    """Where the station's parts are: validated data, no open resources."""

    #: the transport backend of the card reader and the PSAM (``--transport``)
    transport: str = DEFAULT_TRANSPORT
    #: the card reader (exact name or a unique part); None: the first holding a card
    reader: str | None = None
    sam: SamKind = "none"
    #: the PSAM's reader for ``sam="pcsc"``
    sam_reader: str | None = None
    #: the test key-set file for ``sam="software"`` (None: the shipped test keys)
    key_file: str | None = None
    keyservice_url: str | None = None
    #: the terminal number (12 digits for the key service; the line's field 10)
    terminal: str = ""
    #: this terminal's device number (the line's field 11)
    device_number: str = ""
    trace: bool = False
    reveal: bool = False
    #: hold a PC/SC transaction for each use of the card, so that other programs
    #: sharing the reader cannot interleave their APDUs (the agent)
    transaction: bool = False

    def __post_init__(self) -> None:
        if self.sam not in SAM_KINDS:
            raise UsageError(
                f"unknown security module {self.sam!r}",
                hint=f"choose one of {', '.join(SAM_KINDS)}",
            )
        if self.sam == "keyservice" and (not self.keyservice_url or not self.terminal):
            raise UsageError("--sam keyservice needs --keyservice URL and --terminal NUMBER")
        if "|" in self.terminal or "|" in self.device_number:
            raise UsageError("terminal and device numbers cannot contain '|'")


def open_sam(spec: StationSpec) -> SecurityModule | None:
    """The security module ``spec`` names, opened (None for ``sam="none"``)."""
    if spec.sam == "none":
        return None
    if spec.sam == "keyservice":
        token = os.environ.get(ENV_KEYSERVICE_TOKEN) or None
        if token is None:
            raise UsageError(
                f"--sam keyservice needs this terminal's bearer token in ${ENV_KEYSERVICE_TOKEN}"
            )
        return open_security_module(
            "keyservice", url=spec.keyservice_url, terminal=spec.terminal, token=token
        )
    if spec.sam == "pcsc":
        return open_security_module(
            "pcsc", reader=spec.sam_reader or DEFAULT_PSAM_READER, transport=spec.transport
        )
    options: dict[str, object] = {"terminal_number": spec.terminal}
    if spec.key_file:
        options["key_file"] = key_set_file(spec.key_file)
    return open_security_module("software", **options)


class SharedSam:
    """A security module used by several threads: one authentication at a time
    (a PSAM is a card: two authentications must not interleave its APDUs).

    With ``reopen``, a module whose link failed (the PSAM pulled, pcscd
    restarted) is closed and opened again at its next use, so that a
    long-running terminal recovers without a restart.
    """

    def __init__(
        self, inner: SecurityModule, reopen: Callable[[], SecurityModule | None] | None = None
    ) -> None:
        self.inner: SecurityModule | None = inner
        self.name = inner.name
        self._terminal_number = inner.terminal_number
        self._reopen = reopen
        self._lock = threading.Lock()

    @property
    def terminal_number(self) -> str:
        return self._terminal_number

    def authenticate(self, card: AuthCard, key_id: int) -> None:
        with self._lock:
            if self.inner is None and self._reopen is not None:
                self.inner = self._reopen()
            if self.inner is None:
                raise TransportError(f"the security module ({self.name}) is not available")
            try:
                self.inner.authenticate(card, key_id)
            except TransportError:
                if self._reopen is not None:
                    with contextlib.suppress(Exception):
                        self.inner.close()
                    self.inner = None
                raise

    def close(self) -> None:
        with self._lock:
            if self.inner is not None:
                self.inner.close()
                self.inner = None


class Station:
    """The card reader, the security module, the PIN source and the settlement
    client of one terminal; a context manager.

    ``client`` builds the settlement client when the station opens (None: a
    station without settlement, e.g. the reader agent). ``open_card`` replaces
    how a reader is connected (a seam for tests). With ``shared`` the security
    module serialises its authentications for callers on several threads.
    """

    def __init__(
        self,
        spec: StationSpec,
        *,
        pins: PinSource | None = None,
        client: Callable[[], SettlementClient] | None = None,
        open_card: Callable[[str | None], Transport] | None = None,
        shared: bool = False,
    ) -> None:
        self.spec = spec
        self.pins = pins
        self._client_factory = client
        self._open_card = open_card
        self._shared = shared
        self.sam: SecurityModule | None = None
        self._client: SettlementClient | None = None
        self._open = False

    # -- opening and closing ---------------------------------------------------
    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open the security module, then the settlement client; all or nothing."""
        if self._open:
            return
        sam = open_sam(self.spec)
        try:
            if self._client_factory is not None:
                self._client = self._client_factory()
        except BaseException:
            if sam is not None:
                sam.close()
            raise
        if sam is not None and self._shared:
            self.sam = SharedSam(sam, reopen=lambda: open_sam(self.spec))
        else:
            self.sam = sam
        self._open = True

    def close(self) -> None:
        """Close the client and the security module; idempotent."""
        client, sam = self._client, self.sam
        self._client = self.sam = None
        self._open = False
        try:
            if client is not None:
                client.close()
        finally:
            if sam is not None:
                sam.close()

    # -- what it offers ----------------------------------------------------------
    @property
    def client(self) -> SettlementClient:
        if self._client is None:
            raise UsageError("this station has no settlement client", hint="give --center URL")
        return self._client

    @property
    def terminal_number(self) -> str:
        """The PSAM's terminal number (EF 0016) when it has one, else the configured one."""
        if self.sam is not None and self.sam.terminal_number:
            return self.sam.terminal_number
        return self.spec.terminal

    def pin_source(self) -> PinSource:
        if self.pins is None:
            raise UsageError("no PIN pad", hint="give --pin-pad FILE or --pin-fd N")
        return self.pins

    def connect(self, reader: str | None = None) -> Transport:
        """A connected transport to the card in ``reader`` (default: the spec's)."""
        wanted = reader if reader is not None else self.spec.reader
        if self._open_card is not None:
            return self._open_card(wanted)
        return open_reader(
            wanted,
            transport=self.spec.transport,
            trace=self.spec.trace,
            reveal=self.spec.reveal,
            transaction=self.spec.transaction,
        )

    @contextmanager
    def card(self, reader: str | None = None) -> Iterator[SocialSecurityCard]:
        """The card in ``reader`` for one transaction; released (reset) at the end."""
        transport = self.connect(reader)
        try:
            yield SocialSecurityCard(transport)
        finally:
            transport.close()
