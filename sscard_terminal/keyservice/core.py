"""The key service, sans IO: step 1 of the two-step (HSM) mode.

card-spec.md "Reading without a PSAM: the key-service (HSM) mode": the terminal
reads EF05, takes two GET CHALLENGE randoms R1 and R2, runs INTERNAL
AUTHENTICATE with a process factor and R1 as the source, and sends

    region|ATR|algorithm|card id code|IA process|IA source|EA process|EA source|terminal no|

with (in this project) the card's INTERNAL AUTHENTICATE answer. card-spec.md
leaves the IA process factor to the terminal; this service requires it to be the
EA process, the card's random R2 (the binding, below). :class:`KeyService` then,
in this order:

1. refuses a terminal that is not in the registry (:class:`UnknownTerminal`), or
   that does not present its own bearer token (:class:`TerminalNotAuthorised`;
   every terminal of the registry has one of its own); before this, only the
   shape of the line and of the terminal number (12 digits) are looked at;
2. validates every field (:class:`MalformedRequest`, the reason names the field):
   hex digits and lengths, the algorithm, an ATR that parses and carries the card
   factor, a card identification code of the right form whose region is the
   line's region, and ATR historical bytes 8-9 that are the region's first four
   digits (card-spec.md "ATR"); and refuses a request whose IA process is not
   its EA process (:class:`MalformedRequest`, "IA process: must be the EA
   process random (binding)");
3. derives the card's IRK (key 00) from the key set's master
   key (card factor = ATR historical bytes 6..13, then the city factor,
   :func:`card_key`) and checks the answer equals ``auth_cryptogram(IRK, IA
   process, IA source)`` in constant time (:class:`CardNotVerified`);
4. only then spends the request's randoms (IA process, IA source, EA process; a
   value given twice counts once, so a bound request spends two): each may be
   used once within the replay window, by any terminal (:class:`ReplayedRequest`).
   The randoms are kept per terminal, and each terminal may have at most
   ``max_per_terminal`` of them remembered at once (:class:`ServiceBusy` for that
   terminal only). Since only an authenticated terminal with a genuine card's
   answer gets this far, nobody can fill the guard with made-up randoms, and a
   terminal that floods it makes only itself busy;
5. returns the EXTERNAL AUTHENTICATE cryptogram for RKSSSE (key 0A):
   ``auth_cryptogram(card RK, EA process, EA source)`` (card-spec.md "Computations").

Refusals carry a short reason that never holds a key, a cryptogram or the IA
answer. The log records who asked for which card and the outcome, and nothing
secret: no key, no cryptogram, no IA answer. Card identification codes are
logged in full: they identify a card, not a person (no ID number or name ever
reaches the service), and an audit needs them.

The binding, and replays: the line's format alone does not bind the IA answer
to the EA randoms. With an IA process of the terminal's choosing, a recorded
(IA process, IA source, IA answer) triple sent again with a fresh EA random
would buy a cryptogram for that card's next challenge without the card being
present; the replay guard refuses that only within its window (default ten
minutes), and past it only the terminal registry (with its bearer tokens)
would stand in the way. This service closes that gap by requiring IA process = EA
process: the card's answer is then computed over the EA random R2 of the same
authentication. A recorded answer then pairs with no other EA random (refused,
:class:`MalformedRequest`), moving its IA process along makes it fail to verify
(:class:`CardNotVerified`), and the whole recorded request, answered again once
the window has passed, yields a cryptogram for the old R2 only, which the card
no longer accepts once it has issued a new challenge. A terminal that sends an
IA process of its own (as the bare card-spec.md flow allows) is refused; the
client, ``KeyServiceSam`` in :mod:`sscard_terminal.driver.keyservice_client`,
sends R2.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from sscard_terminal.codecs.atr import Atr, AtrError
from sscard_terminal.codecs.card_id_code import parse_card_id_code
from sscard_terminal.crypto.ciphers import Algorithm, BlockCipher, cipher_for
from sscard_terminal.crypto.computations import auth_cryptogram
from sscard_terminal.crypto.keyset import IRK, RK, KeySet, card_key
from sscard_terminal.errors import PersonDataError, UsageError
from sscard_terminal.keyservice.registry import TERMINAL_NUMBER_PATTERN, TerminalRegistry

log = logging.getLogger(__name__)

#: the fields of the step-1 line, in order (card-spec.md)
LINE_FIELDS: tuple[str, ...] = (
    "region",
    "ATR",
    "algorithm",
    "card id code",
    "IA process",
    "IA source",
    "EA process",
    "EA source",
    "terminal no",
)
#: longest line accepted (an ATR has at most 33 bytes; every other field is short)
MAX_LINE_LENGTH = 400
#: default replay window in seconds
DEFAULT_REPLAY_WINDOW = 600.0
#: default bound on the randoms remembered at once for one terminal (two per
#: card authentication: 500 authentications within the window)
DEFAULT_MAX_PER_TERMINAL = 1_000

#: names of the algorithm field: the project's names and the codes of FCI tag 9F0C
_ALGORITHMS: dict[str, Algorithm] = {"3des": "3des", "01": "3des", "sm4": "sm4", "03": "sm4"}
_UNSUPPORTED_ALGORITHMS = {"ssf33", "02"}
_HEX = re.compile(r"[0-9A-Fa-f]*")
_TERMINAL = re.compile(TERMINAL_NUMBER_PATTERN)
_REGION = re.compile(r"[0-9]{6}")


# -- refusals -------------------------------------------------------------------
class Refusal(Exception):
    """The service refuses a step-1 request. ``reason`` is safe to show and log."""

    #: a stable machine-readable code (the HTTP layer sends it as ``code``)
    code: ClassVar[str] = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedRequest(Refusal):
    """A field that does not parse, or fields that contradict each other."""

    code = "malformed"


class UnknownTerminal(Refusal):
    """The terminal number is not in the registry."""

    code = "unknown-terminal"


class TerminalNotAuthorised(Refusal):
    """A registered terminal without its own bearer token (or with a wrong one)."""

    code = "not-authorised"


class ReplayedRequest(Refusal):
    """A random of the request was used before, within the replay window."""

    code = "replayed"


class CardNotVerified(Refusal):
    """The card's INTERNAL AUTHENTICATE answer is not what its IRK gives."""

    code = "card-not-verified"


class ServiceBusy(Refusal):
    """This terminal has as many randoms remembered as it may have at once."""

    code = "busy"


# -- the request --------------------------------------------------------------------
def split_line(line: str) -> list[str]:
    """The nine fields of a step-1 line (``a|b|...|i|``, trailing ``|`` required)."""
    if len(line) > MAX_LINE_LENGTH:
        raise MalformedRequest(f"the line is longer than {MAX_LINE_LENGTH} characters")
    if not line.endswith("|"):
        raise MalformedRequest("the line must end with '|'")
    fields = line[:-1].split("|")
    if len(fields) != len(LINE_FIELDS):
        raise MalformedRequest(
            f"the line has {len(fields)} fields, expected {len(LINE_FIELDS)}: "
            + "|".join(LINE_FIELDS)
            + "|"
        )
    return fields


def _hex_field(name: str, text: str, length: int | None = None) -> bytes:
    """A hex field (either case, no blanks); ``length`` in bytes when fixed."""
    if not text:
        raise MalformedRequest(f"{name}: empty")
    if not _HEX.fullmatch(text):
        raise MalformedRequest(f"{name}: not hex digits")
    if len(text) % 2:
        raise MalformedRequest(f"{name}: odd number of hex digits")
    raw = bytes.fromhex(text)
    if length is not None and len(raw) != length:
        raise MalformedRequest(
            f"{name}: must be {length} bytes ({2 * length} hex digits), got {len(raw)}"
        )
    return raw


def _algorithm(text: str) -> Algorithm:
    name = text.strip().lower()
    if name in _ALGORITHMS:
        return _ALGORITHMS[name]
    if name in _UNSUPPORTED_ALGORITHMS:
        raise MalformedRequest("algorithm: SSF33 is not supported (3des and sm4 are)")
    raise MalformedRequest("algorithm: unknown (expected 3des or sm4, or FCI code 01 or 03)")


@dataclass(frozen=True)
class Step1Request:
    """A validated step-1 request: the line's fields as bytes and text, plus the
    card's INTERNAL AUTHENTICATE answer."""

    region: str
    atr: Atr
    algorithm: Algorithm
    card_id_code: str
    ia_process: bytes
    ia_source: bytes
    ea_process: bytes
    ea_source: bytes
    terminal: str
    ia_answer: bytes

    @property
    def card_factor(self) -> bytes:
        """ATR historical bytes 6..13 (card-spec.md "ATR")."""
        return self.atr.diversification_factor

    @property
    def randoms(self) -> tuple[bytes, ...]:
        """The randoms spent by this request (IA process, IA source, EA process)."""
        return (self.ia_process, self.ia_source, self.ea_process)

    @classmethod
    def from_fields(cls, fields: list[str], ia_answer: str) -> Step1Request:
        """Validate the nine fields of :func:`split_line` and the IA answer (hex)."""
        (
            region,
            atr_hex,
            algorithm,
            cic,
            ia_proc,
            ia_src,
            ea_proc,
            ea_src,
            terminal,
        ) = fields
        if not _TERMINAL.fullmatch(terminal):
            raise MalformedRequest("terminal no: must be 12 digits")
        if not _REGION.fullmatch(region):
            raise MalformedRequest("region: must be 6 digits")
        atr_raw = _hex_field("ATR", atr_hex)
        if len(atr_raw) > 33:
            raise MalformedRequest("ATR: longer than 33 bytes")
        try:
            atr = Atr.parse(atr_raw)
            atr.diversification_factor  # noqa: B018 - raises without 13 historical bytes
        except AtrError as exc:
            raise MalformedRequest(f"ATR: {exc}") from None
        alg = _algorithm(algorithm)
        if len(cic) != 32 or not _HEX.fullmatch(cic):
            raise MalformedRequest("card id code: must be 32 hex digits")
        try:
            parsed = parse_card_id_code(cic)
        except (PersonDataError, ValueError) as exc:
            raise MalformedRequest(str(exc)) from None
        if parsed.region != region:
            raise MalformedRequest("region does not match the card identification code")
        if atr.region_prefix != region[:4]:
            raise MalformedRequest("ATR historical bytes 8-9 do not match the region")
        return cls(
            region=region,
            atr=atr,
            algorithm=alg,
            card_id_code=parsed.value,
            ia_process=_hex_field("IA process", ia_proc, 8),
            ia_source=_hex_field("IA source", ia_src, 8),
            ea_process=_hex_field("EA process", ea_proc, 8),
            ea_source=_hex_field("EA source", ea_src, 8),
            terminal=terminal,
            ia_answer=_hex_field("IA answer", ia_answer, 8),
        )

    @classmethod
    def parse(cls, line: str, ia_answer: str) -> Step1Request:
        """Validate a whole line and the IA answer."""
        return cls.from_fields(split_line(line), ia_answer)


# -- replay guard ---------------------------------------------------------------
class ReplayGuard:
    """Remembers spent randoms for ``window`` seconds, per terminal; thread-safe.

    A random may be spent once within the window whichever terminal sends it.
    Each terminal may have at most ``max_per_terminal`` unexpired randoms
    remembered; beyond that its requests are refused (:class:`ServiceBusy`)
    rather than older randoms forgotten early, and other terminals are not
    affected. Memory is bounded by the registry's size times that bound.
    """

    def __init__(
        self,
        window: float = DEFAULT_REPLAY_WINDOW,
        max_per_terminal: int = DEFAULT_MAX_PER_TERMINAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0 or max_per_terminal <= 0:
            raise ValueError("the replay window and the bound must be positive")
        self.window = window
        self.max_per_terminal = max_per_terminal
        self._clock = clock
        #: per terminal, its randoms in spending order (which is expiry order)
        self._spent: dict[str, OrderedDict[bytes, float]] = {}
        #: every remembered random -> the terminal that spent it
        self._owner: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            now = self._clock()
            for terminal in list(self._spent):
                self._purge(terminal, now)
            return len(self._owner)

    def remembered(self, terminal: str) -> int:
        """How many unexpired randoms ``terminal`` has spent."""
        with self._lock:
            self._purge(terminal, self._clock())
            return len(self._spent.get(terminal, ()))

    def _purge(self, terminal: str, now: float) -> None:
        spent = self._spent.get(terminal)
        while spent:
            first, expiry = next(iter(spent.items()))
            if expiry > now:
                break
            del spent[first]
            del self._owner[first]
        if spent is not None and not spent:
            del self._spent[terminal]

    def spend(self, terminal: str, randoms: Iterable[bytes]) -> None:
        """Remember ``randoms`` for ``terminal``; refuse if any was spent within the
        window (by any terminal), or if the terminal has too many remembered."""
        values = list(dict.fromkeys(randoms))
        with self._lock:
            now = self._clock()
            for value in values:
                owner = self._owner.get(value)
                if owner is not None:
                    self._purge(owner, now)
                    if value in self._owner:
                        raise ReplayedRequest("replayed request: a random of it was already used")
            self._purge(terminal, now)
            spent = self._spent.setdefault(terminal, OrderedDict())
            if len(spent) + len(values) > self.max_per_terminal:
                if not spent:
                    del self._spent[terminal]
                raise ServiceBusy(
                    "too many requests from this terminal within the replay window; try again later"
                )
            for value in values:
                spent[value] = now + self.window
                self._owner[value] = terminal


# -- the service ------------------------------------------------------------------
def _loggable_terminal(text: str) -> str:
    return text if _TERMINAL.fullmatch(text) else "(malformed)"


class KeyService:
    """Step 1 of the two-step mode over one key set and one terminal registry."""

    def __init__(
        self,
        key_set: KeySet,
        terminals: TerminalRegistry,
        *,
        replay_window: float = DEFAULT_REPLAY_WINDOW,
        max_per_terminal: int = DEFAULT_MAX_PER_TERMINAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for key_id in (IRK, RK):
            try:
                key_set.master(key_id)
            except KeyError:
                raise UsageError(
                    f"key set {key_set.name} has no key {key_id:02X}",
                    hint="the key service needs the IRK (00) and RKSSSE (0A)",
                ) from None
        self.key_set = key_set
        self.terminals = terminals
        self.replay_guard = ReplayGuard(replay_window, max_per_terminal, clock)

    def step1(self, line: str, ia_answer: str, *, token: str | None = None) -> bytes:
        """Check a step-1 request; return the 8-byte RKSSSE cryptogram or raise a
        :class:`Refusal`. ``token`` is the bearer token the terminal presented."""
        terminal = "(malformed)"
        try:
            fields = split_line(line)
            terminal = _loggable_terminal(fields[-1])
            self._check_terminal(fields[-1], token)
            request = Step1Request.from_fields(fields, ia_answer)
            if not hmac.compare_digest(request.ia_process, request.ea_process):
                # the binding: the IA process factor must be the EA random, so an IA
                # answer recorded once is worth nothing later
                raise MalformedRequest("IA process: must be the EA process random (binding)")
            # the card's answer first: no random is spent for a request no card made
            cipher, rk_factor = self._verify_card(request)
            self.replay_guard.spend(request.terminal, request.randoms)
            cryptogram = auth_cryptogram(cipher, rk_factor, request.ea_process, request.ea_source)
        except Refusal as refusal:
            log.warning("step 1 refused: terminal %s: %s", terminal, refusal.reason)
            raise
        log.info(
            "step 1 answered: terminal %s, card %s (%s)",
            request.terminal,
            request.card_id_code,
            request.algorithm,
        )
        return cryptogram

    def _check_terminal(self, terminal: str, token: str | None) -> None:
        if not _TERMINAL.fullmatch(terminal):
            raise MalformedRequest("terminal no: must be 12 digits")
        if terminal not in self.terminals:
            raise UnknownTerminal("unknown terminal")
        if not self.terminals.token_ok(terminal, token):
            raise TerminalNotAuthorised("terminal not authorised: bearer token missing or wrong")

    def _verify_card(self, request: Step1Request) -> tuple[BlockCipher, bytes]:
        """Check the card's INTERNAL AUTHENTICATE answer with its IRK; return the
        cipher and the card's RKSSSE for the answer."""
        cipher = cipher_for(request.algorithm)
        factor, region = request.card_factor, request.region
        irk = card_key(cipher, self.key_set.master(IRK), factor, region)
        expected = auth_cryptogram(cipher, irk, request.ia_process, request.ia_source)
        if not hmac.compare_digest(expected, request.ia_answer):
            raise CardNotVerified("card answer does not verify")
        return cipher, card_key(cipher, self.key_set.master(RK), factor, region)
