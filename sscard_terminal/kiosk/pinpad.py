"""The kiosk's PIN pad, simulated as a device panel.

On a real kiosk the PIN pad is hardware: the PIN goes from its keys to the
card reader and never reaches the browser. The simulation keeps that
property for what the page sends and holds: each PIN entry gets a fresh
random token per key, the page shows the key labels and sends only a key's
token, and the digits are collected here, in the server's memory, handed to
the card's VERIFY as a :class:`~sscard_terminal.driver.pin.Pin` and dropped.
So no request body, URL, log line or DOM text carries the PIN or its
digits; the page shows how many digits were entered, as a PIN pad's display
does. (Someone who records both the page's key labels and the requests can
still replay the entry: the simulation stands for the hardware, it is not a
substitute for it.)
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from sscard_terminal.driver.pin import Pin
from sscard_terminal.errors import UsageError

__all__ = ["PinCancelled", "PinPadDevice"]

DIGITS = "1234567890"
MAX_DIGITS = 12


class PinCancelled(UsageError):
    """The holder pressed Cancel, the card was pulled, or the kiosk went idle."""


class PinPadDevice:
    """A :class:`~sscard_terminal.driver.pin.PinSource` fed by the page's key tokens."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._on_change = on_change
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._digits: list[str] = []
        self._keys: dict[str, str] = {}
        self._active = False
        self._cancelled = False

    # -- the page's side ------------------------------------------------------------
    @property
    def active(self) -> bool:
        with self._lock:
            return self._active

    @property
    def count(self) -> int:
        """How many digits are entered (what the device's display shows)."""
        with self._lock:
            return len(self._digits)

    def key_labels(self) -> list[tuple[str, str]]:
        """The digit keys of this entry as (label, token)."""
        with self._lock:
            return [(digit, token) for token, digit in self._keys.items()]

    def press(self, token: str) -> None:
        """A key of the panel: a digit's token, or ``ok``, ``clear``, ``cancel``."""
        with self._lock:
            if not self._active:
                return
            if token == "ok":
                if 4 <= len(self._digits) <= MAX_DIGITS:
                    self._done.set()
            elif token == "clear":
                self._digits.clear()
            elif token == "cancel":
                self._cancelled = True
                self._done.set()
            elif token in self._keys and len(self._digits) < MAX_DIGITS:
                self._digits.append(self._keys[token])

    def cancel(self) -> None:
        """End a waiting entry (card pulled, kiosk idle)."""
        with self._lock:
            self._cancelled = True
            self._done.set()

    # -- the flow's side (PinSource) ---------------------------------------------
    def get_pin(self, purpose: str) -> Pin:
        """Wait for the holder's entry on the panel."""
        with self._lock:
            self._digits = []
            self._keys = {secrets.token_hex(8): digit for digit in DIGITS}
            self._cancelled = False
            self._done.clear()
            self._active = True
        if self._on_change is not None:
            self._on_change()
        self._done.wait()
        with self._lock:
            digits, cancelled = "".join(self._digits), self._cancelled
            self._digits = []
            self._keys = {}
            self._active = False
        if self._on_change is not None:
            self._on_change()
        if cancelled:
            raise PinCancelled("the PIN entry was cancelled")
        return Pin(digits)
