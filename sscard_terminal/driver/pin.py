"""Where a PIN comes from, and how it travels without leaking.

A PIN never comes from a command-line argument or an environment variable
(both end up in shell histories and /proc). It comes from one of:

- :class:`PromptPin`: a hidden prompt (``getpass``) on the terminal;
- :class:`SimulatedPinPad`: the PIN-pad interface, simulated for unattended
  runs, the demo and tests: it is loaded with the key presses to make;
- :class:`FdPin`: a file descriptor (``--pin-fd N``), one PIN per line, for
  scripts (``sscard pin verify --pin-fd 3 3<pinfile``).

A :class:`Pin` never shows its digits in ``repr``/``str``, so it cannot reach
a log, a trace or an exception message by accident.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterable
from typing import Protocol

from sscard_terminal.errors import PinEntryCancelled, UsageError


class Pin:
    """A PIN: 4 to 12 digits (LD/T 32-2015 BCD PIN, Lc 02..08 holds up to 16)."""

    __slots__ = ("_digits",)

    def __init__(self, digits: str) -> None:
        if not digits.isdigit() or not 4 <= len(digits) <= 12:
            raise UsageError("a PIN has 4 to 12 digits")  # never echo what was typed
        self._digits = digits

    def reveal(self) -> str:
        """The digits, for building the APDU only."""
        return self._digits

    def __repr__(self) -> str:
        return "Pin(******)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pin) and other._digits == self._digits

    def __hash__(self) -> int:
        return hash(self._digits)


class PinSource(Protocol):
    def get_pin(self, purpose: str) -> Pin:
        """Ask for a PIN; ``purpose`` is shown to the holder ("PIN", "new PIN")."""
        ...


class PromptPin:
    """A hidden prompt on the controlling terminal."""

    def get_pin(self, purpose: str) -> Pin:
        try:
            return Pin(getpass.getpass(f"{purpose}: ").strip())
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)  # getpass leaves the cursor on the prompt's line
            raise PinEntryCancelled(f"{purpose} entry cancelled") from None


class SimulatedPinPad:
    """A PIN pad that types what it was loaded with, one entry per request."""

    def __init__(self, entries: Iterable[str | Pin]) -> None:
        self._entries = [e if isinstance(e, Pin) else Pin(e) for e in entries]
        self.requests: list[str] = []

    @classmethod
    def from_file(cls, path: str) -> SimulatedPinPad:
        """Entries from a file, one per line (the file, not the command line, holds PINs)."""
        try:
            with open(path, encoding="ascii") as fh:
                return cls([line.strip() for line in fh if line.strip()])
        except OSError as exc:
            raise UsageError(f"cannot read the PIN-pad file: {exc.strerror}") from None

    def get_pin(self, purpose: str) -> Pin:
        self.requests.append(purpose)
        if not self._entries:
            raise UsageError(f"the simulated PIN pad has no entry left for {purpose!r}")
        return self._entries.pop(0)


class FdPin:
    """One PIN per line from an inherited file descriptor.

    Reads byte by byte, never past the end of the line, so that several
    commands can take their PINs one after the other from the same descriptor.
    """

    def __init__(self, fd: int) -> None:
        try:
            os.fstat(fd)
        except OSError as exc:
            raise UsageError(
                f"cannot read a PIN from file descriptor {fd}: {exc.strerror}"
            ) from None
        self._fd = fd

    def get_pin(self, purpose: str) -> Pin:
        line = bytearray()
        while len(line) < 64:
            char = os.read(self._fd, 1)
            if not char or char == b"\n":
                break
            line += char
        text = line.decode("ascii", errors="replace").strip()
        if not text:
            raise UsageError(f"no {purpose} on the PIN file descriptor")
        return Pin(text)
