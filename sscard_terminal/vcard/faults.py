"""Fault injection for simulated cards: a card that leaves, crawls, stays mute or
garbles its answers, to test what the driver and the flows do when a card
misbehaves (docs/faults-and-tearing.md).

:class:`FaultyCard` wraps any :class:`~sscard_terminal.vcard.interface.SimulatedCard`
and is one itself, so the vpcd bridge, the in-process virtual transport and the
tests all reach it the same way. The faults come from a spec string, as the CLI
takes it (``sscard card serve --fault remove-after=5,slow``):

``remove-after=N``
    The card answers N command APDUs, then it is gone: the next APDU (or ATR
    poll, or power event) raises :class:`CardPulled`. The vpcd bridge then
    drops its connection and does not reconnect, so pcscd sees the reader empty
    and an open PC/SC handle fails with "card removed". ``remove-after=0``: the
    card is present but leaves at the first APDU.
``remove-during=N``
    The card executes the N-th APDU (a write is saved) but leaves before it
    answers: the terminal never learns the outcome.
``slow`` or ``slow=BAUD``
    A contact card at BAUD (default 9600) on the wire: 12 etu per character
    (ISO/IEC 7816-3 clause 7.2: 1 start, 8 data, 1 parity, 2 guard time), so
    every APDU costs ``(len(command) + len(response)) * 12 / BAUD`` seconds,
    and every reset ``len(ATR) * 12 / BAUD``.
``mute``
    The card does not answer reset: its ATR is empty. vpcd treats an empty ATR
    as a card that is not there (it drops the connection), so pcscd reports
    the reader empty; in-process, power on raises :class:`CardMute`.
``corrupt=N`` or ``corrupt=every``, optionally ``:byte`` (default), ``:data`` or ``:sw``
    The N-th response APDU (1-based, GET RESPONSE included), or every one, is
    damaged: ``byte`` XORs one byte anywhere in the response (data or status
    word), ``data`` one data byte (the status word when there is no data),
    ``sw`` replaces the status word with one no card can send (SW1 outside
    6x/9x). Which byte and which mask come from ``seed=S`` (default 0) and the
    APDU number, so a spec always damages the same way.

Several faults combine with commas (``slow=9600,remove-after=12``); ``corrupt``
may be given more than once. The clock is injectable (``sleep=``) so tests of
the slow card need not wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from sscard_terminal.errors import CardRemovedError, MuteCardError, UsageError
from sscard_terminal.vcard.interface import SimulatedCard

__all__ = [
    "CardMute",
    "CardPulled",
    "Corruption",
    "FaultSpec",
    "FaultyCard",
    "parse_faults",
    "wire_seconds",
]

#: ISO/IEC 7816-3: the default rate of a contact card (F=372, D=1 at 3.57 MHz)
DEFAULT_BAUD = 9600
#: elementary time units per character on the wire (start, 8 data, parity, 2 guard)
ETU_PER_BYTE = 12

CorruptKind = Literal["byte", "data", "sw"]
_KINDS: tuple[CorruptKind, ...] = ("byte", "data", "sw")


class CardPulled(CardRemovedError):
    """The simulated card has left the reader (fault ``remove-after`` / ``remove-during``).

    The vpcd bridge answers it by dropping its connection to vpcd and not
    reconnecting; in-process (the virtual transport) it reaches the driver as
    the :class:`~sscard_terminal.errors.CardRemovedError` it is.
    """


class CardMute(MuteCardError):
    """The simulated card does not answer reset (fault ``mute``)."""


@dataclass(frozen=True, slots=True)
class Corruption:
    """Damage to the response of APDU ``at`` (1-based), or of every APDU (``at=None``)."""

    at: int | None
    kind: CorruptKind = "byte"

    def applies_to(self, n: int) -> bool:
        return self.at is None or self.at == n


@dataclass(frozen=True)
class FaultSpec:
    """The faults of one card, as parsed from a spec string."""

    remove_after: int | None = None
    remove_during: int | None = None
    baud: int | None = None
    mute: bool = False
    corruptions: tuple[Corruption, ...] = ()
    seed: int = 0
    #: the spec items as given, normalised (for messages)
    items: tuple[str, ...] = field(default=(), compare=False)

    def __bool__(self) -> bool:
        return bool(
            self.remove_after is not None
            or self.remove_during is not None
            or self.baud
            or self.mute
            or self.corruptions
        )

    def __str__(self) -> str:
        return ",".join(self.items) or "none"


def _count(name: str, value: str | None, minimum: int) -> int:
    if value is None or not value.strip().isdigit():
        raise UsageError(
            f"fault {name!r} needs a number: {name}=N",
            hint=f"e.g. --fault {name}={max(minimum, 3)}",
        )
    n = int(value)
    if n < minimum:
        raise UsageError(f"fault {name}={n}: N must be at least {minimum}")
    return n


def parse_faults(specs: str | Iterable[str]) -> FaultSpec:
    """Parse ``remove-after=N``, ``remove-during=N``, ``slow[=BAUD]``, ``mute``,
    ``corrupt=N|every[:byte|data|sw]`` and ``seed=S``, comma-joined or given as
    several strings (the CLI's repeatable ``--fault``).

    Raises :class:`~sscard_terminal.errors.UsageError` for anything else.
    """
    texts = [specs] if isinstance(specs, str) else list(specs)
    remove_after = remove_during = baud = None
    mute = False
    seed = 0
    corruptions: list[Corruption] = []
    items: list[str] = []
    for text in texts:
        for raw in text.split(","):
            item = raw.strip().lower()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name = name.strip()
            arg = value.strip() if sep else None
            if name == "remove-after":
                remove_after = _count(name, arg, 0)
            elif name == "remove-during":
                remove_during = _count(name, arg, 1)
            elif name == "slow":
                baud = DEFAULT_BAUD if arg is None else _count(name, arg, 1)
            elif name == "mute":
                if arg is not None:
                    raise UsageError("fault 'mute' takes no value")
                mute = True
            elif name == "seed":
                seed = _count(name, arg, 0)
            elif name == "corrupt":
                corruptions.append(_corruption(arg))
            else:
                raise UsageError(
                    f"unknown fault {name!r}",
                    hint="faults: remove-after=N, remove-during=N, slow[=BAUD], mute, "
                    "corrupt=N|every[:byte|data|sw], seed=S",
                )
            items.append(item)
    return FaultSpec(
        remove_after, remove_during, baud, mute, tuple(corruptions), seed, tuple(items)
    )


def _corruption(arg: str | None) -> Corruption:
    if arg is None:
        raise UsageError("fault 'corrupt' needs a value: corrupt=N or corrupt=every")
    where, _, kind = arg.partition(":")
    kind = kind.strip() or "byte"
    if kind not in _KINDS:
        raise UsageError(f"corrupt=...:{kind}: the damage is one of byte, data, sw")
    at = None if where.strip() == "every" else _count("corrupt", where, 1)
    return Corruption(at, kind)


def wire_seconds(n_bytes: int, baud: int) -> float:
    """Time ``n_bytes`` characters take on a contact card's wire at ``baud``."""
    return n_bytes * ETU_PER_BYTE / baud


class FaultyCard:
    """A :class:`SimulatedCard` that misbehaves as its :class:`FaultSpec` says.

    ``apdus`` counts the command APDUs the card has received, ``answered`` those
    it answered; ``wire_time`` the seconds the ``slow`` fault has spent.
    ``pulled`` is set once the card is gone.
    """

    def __init__(
        self,
        card: SimulatedCard,
        faults: FaultSpec | str | Iterable[str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.card = card
        self.faults = faults if isinstance(faults, FaultSpec) else parse_faults(faults)
        self._sleep = sleep
        self._lock = threading.Lock()
        self.apdus = 0
        #: command APDUs answered (a pulled card stops counting)
        self.answered = 0
        self.wire_time = 0.0
        self.pulled = False

    def __repr__(self) -> str:
        return f"FaultyCard({type(self.card).__name__}, {str(self.faults)!r})"

    # -- helpers ----------------------------------------------------------------
    def _gone(self) -> CardPulled:
        self.pulled = True
        return CardPulled(
            f"the card left the reader after {self.answered} APDU(s) (fault {self.faults})"
        )

    def _check_present(self) -> None:
        if self.pulled:
            raise self._gone()

    def _on_wire(self, n_bytes: int) -> None:
        baud = self.faults.baud
        if baud:
            seconds = wire_seconds(n_bytes, baud)
            self.wire_time += seconds
            self._sleep(seconds)

    # -- the SimulatedCard protocol ---------------------------------------------
    @property
    def atr(self) -> bytes:
        """The ATR; empty for a mute card (vpcd then sees no card)."""
        self._check_present()
        return b"" if self.faults.mute else self.card.atr

    def power_on(self) -> bytes:
        self._check_present()
        if self.faults.mute:
            raise CardMute(f"the card does not answer reset (fault {self.faults})")
        atr = self.card.power_on()
        self._on_wire(len(atr))
        return atr

    def reset(self) -> bytes:
        self._check_present()
        if self.faults.mute:
            raise CardMute(f"the card does not answer reset (fault {self.faults})")
        atr = self.card.reset()
        self._on_wire(len(atr))
        return atr

    def power_off(self) -> None:
        """Deactivate; a pulled card has nothing left to power off (never raises)."""
        if not self.pulled:
            self.card.power_off()

    def process(self, command: bytes) -> bytes:
        """Answer one APDU, or raise :class:`CardPulled` once the card is gone."""
        with self._lock:
            self._check_present()
            self.apdus += 1
            n = self.apdus
            faults = self.faults
            if faults.remove_after is not None and n > faults.remove_after:
                raise self._gone()
            response = self.card.process(command)
            self._on_wire(len(command) + len(response))
            if faults.remove_during is not None and n >= faults.remove_during:
                raise self._gone()
            for corruption in faults.corruptions:
                if corruption.applies_to(n):
                    response = damage(
                        response, corruption.kind, random.Random(f"{faults.seed}:{n}")
                    )
            self.answered += 1
            return response


def damage(response: bytes, kind: CorruptKind, rng: random.Random) -> bytes:
    """``response`` with one byte damaged (``byte``/``data``) or a garbage status word."""
    if len(response) < 2:
        return response
    data_len = len(response) - 2
    if kind == "sw" or (kind == "data" and data_len == 0):
        # SW1 outside 6x and 9x: no card sends that (ISO/IEC 7816-3 clause 10.3.3)
        sw1 = rng.choice([b for b in range(256) if b >> 4 not in (0x6, 0x9)])
        return response[:-2] + bytes((sw1, rng.randrange(256)))
    span = data_len if kind == "data" else len(response)
    position = rng.randrange(span)
    out = bytearray(response)
    out[position] ^= rng.randrange(1, 256)
    return bytes(out)
