"""Errors of the settlement client, under :class:`sscard_terminal.errors.SscardError`.

settlement-interface.md, "Response envelope" and "Transactions": business
errors come back as HTTP 200 with infcode -1 (:class:`CenterRefused`, exit
code 7); a message whose answer never came is :class:`OutcomeUnknown` (exit
code 8) when it may have booked something, and is then settled by
``sscard journal resolve`` (2601 reversal or 5203 lookup), never by sending it
again.

    SettlementError
    |- CenterRefused         (7)  infcode != 0, with the center's err_msg
    |- CenterUnavailable     (8)  no answer; nothing was booked by this message
    |  `- OutcomeUnknown     (8)  no answer to a message that books: resolve it
    |- UnexpectedAnswer      (8)  an answer that is no response envelope of the interface
    |- JournalError          (2)  the journal cannot be opened or is inconsistent
    `- ConfigError           (2)  terminal.yaml or the secret file is wrong

No message carries an ID number, a name or the institution's secret.
"""

from __future__ import annotations

from sscard_terminal.errors import ExitCode, SscardError

__all__ = [
    "CenterRefused",
    "CenterUnavailable",
    "ConfigError",
    "JournalError",
    "OutcomeUnknown",
    "SettlementError",
    "UnexpectedAnswer",
]


class SettlementError(SscardError):
    """Base of the settlement client's errors."""

    exit_code = ExitCode.CENTER_REFUSED


class CenterRefused(SettlementError):
    """The center answered infcode != 0 (settlement-interface.md: -1 failure).

    ``err_msg`` is the center's business error text; ``err_code`` a stable key
    when the center sends one (an extension some centers add)."""

    exit_code = ExitCode.CENTER_REFUSED

    def __init__(
        self,
        err_msg: str,
        *,
        infno: str = "",
        msgid: str = "",
        infcode: int = -1,
        err_code: str | None = None,
    ) -> None:
        self.err_msg = err_msg
        self.infno = infno
        self.msgid = msgid
        self.infcode = infcode
        self.err_code = err_code
        where = f"{infno} " if infno else ""
        super().__init__(f"the center refused {where}({infcode}): {err_msg}")


class CenterUnavailable(SettlementError):
    """The center gave no answer to a message that books nothing (a query, a
    pre-settlement) or the message was never delivered (connection refused):
    nothing was booked, the step can simply be tried again."""

    exit_code = ExitCode.OUTCOME_UNKNOWN
    hint = "nothing was booked; try again when the center answers"

    def __init__(self, message: str, *, infno: str = "", msgid: str = "") -> None:
        self.infno = infno
        self.msgid = msgid
        super().__init__(message)


class OutcomeUnknown(CenterUnavailable):
    """A message that books something (2201, 2207, 2208, 2102, 2103, 2601 ...)
    got no answer (timeout, connection lost): it may or may not be booked. The
    journal holds it as UNKNOWN; it is settled by 5203 or 2601, never by
    sending it again (settlement-interface.md, "Journal rule")."""

    hint = "the journal holds it as UNKNOWN: run `sscard journal resolve`"


class UnexpectedAnswer(SettlementError):
    """The answer is not a response envelope of the interface (not JSON, no
    infcode, an output without its key fields)."""

    exit_code = ExitCode.OUTCOME_UNKNOWN
    hint = "see `sscard journal list` for what the journal holds"


class JournalError(SettlementError):
    """The journal cannot be opened, or a state change it is asked for is not
    allowed (e.g. SUCCESS -> UNKNOWN)."""

    exit_code = ExitCode.USAGE


class ConfigError(SettlementError):
    """terminal.yaml or the secret file it names is missing or wrong."""

    exit_code = ExitCode.USAGE
