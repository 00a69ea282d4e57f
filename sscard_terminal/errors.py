"""The one exception hierarchy of the terminal side, and the CLI exit codes.

Every error carries the exit code the CLI returns for it, and a message that
says the cause and what to do. Messages never hold a PIN, a key or a session
key; callers pass only masked personal data into them.

    SscardError
    |- UsageError                      (2)
    |- ServiceUnreachableError         (3)  a URL that does not answer
    |- MalformedApduError              (5)  bytes that are no APDU
    |- TransportError
    |  |- ReaderError                  (3)
    |  |  |- PcscdNotRunningError
    |  |  |- ReaderNotFoundError
    |  |  |- VpcdUnreachableError
    |  |  `- VpcdSlotTakenError
    |  `- CardError                    (4)
    |     |- NoCardError
    |     |- CardRemovedError
    |     |- MuteCardError
    |     `- CorruptResponseError
    |- ProfileError                    (2)  a card profile or image that does not validate
    |- PersonDataError                 (2)  personal data that fails its checks
    |- CardExpiredError                (5)  the card's expiry date has passed
    |- IncompleteReadError             (5)  a read that did not give what was asked
    `- StatusWordError                 (5)  the card refused a command
       |- SecurityStatusNotSatisfiedError
       |- CardFileNotFoundError
       |- RecordNotFoundError
       |- WrongLengthError
       |- ApplicationBlockedError
       |- CardBlockedError
       `- PinError                     (6)
          |- WrongPinError (tries_left)
          `- PinBlockedError
"""

from __future__ import annotations

from enum import IntEnum

from sscard_terminal.apdu.status import SW, describe_sw


class ExitCode(IntEnum):
    """Exit codes of every `sscard` command; a code means the same in every command."""

    OK = 0
    USAGE = 2
    NO_READER = 3
    NO_CARD = 4
    CARD_REFUSED = 5
    PIN = 6
    CENTER_REFUSED = 7
    OUTCOME_UNKNOWN = 8
    #: a bug of ours (sysexits.h EX_SOFTWARE): one line, details with -vv
    INTERNAL = 70
    #: Ctrl-C outside a prompt (128 + SIGINT, as shells report it)
    INTERRUPTED = 130


class SscardError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: ExitCode = ExitCode.CARD_REFUSED
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def one_line(self) -> str:
        """The cause and what to do, on one line, for the CLI."""
        text = str(self)
        return f"{text}; {self.hint}" if self.hint else text


class UsageError(SscardError):
    exit_code = ExitCode.USAGE


class PinEntryCancelled(UsageError):
    """The PIN prompt (or PIN pad) was cancelled: end of input or Ctrl-C.
    Nothing was sent to the card or the center, so it ends like "no"."""

    hint = "nothing was sent to the card or the center"


class MalformedApduError(SscardError):
    """Bytes that do not form a command or response APDU (ISO 7816-3 clause 12.1)."""

    exit_code = ExitCode.CARD_REFUSED


class ProfileError(SscardError):
    """A card profile or card image that does not validate. Names file and field."""

    exit_code = ExitCode.USAGE


class PersonDataError(SscardError):
    """Personal data (ID number, name, birth date ...) that fails its checks."""

    exit_code = ExitCode.USAGE


# -- transport ------------------------------------------------------------
class TransportError(SscardError):
    exit_code = ExitCode.NO_CARD


class ReaderError(TransportError):
    exit_code = ExitCode.NO_READER


class PcscdNotRunningError(ReaderError):
    # `sscard demo` stops the pcscd it started when it ends: not a way to start one
    hint = (
        "start it and leave it running (`sudo pcscd`, or `sudo systemctl start pcscd` "
        "where systemd runs), then try again"
    )


class ReaderNotFoundError(ReaderError):
    hint = "check `sscard readers` for the reader names"


class VpcdUnreachableError(ReaderError):
    """A served card cannot reach vpcd: pcscd does not run, or runs without vpcd."""

    hint = (
        "start pcscd (with vsmartcard-vpcd installed: `sudo pcscd`) and check --host, "
        "then serve the card again"
    )


class VpcdSlotTakenError(ReaderError):
    """vpcd's slot holds another card: vpcd serves one card per slot."""

    hint = "stop the card served there (see `sscard readers`), or serve on the other --slot"


class ServiceUnreachableError(SscardError):
    """A service the command needs (a URL to wait for) does not answer."""

    exit_code = ExitCode.NO_READER


class CardError(TransportError):
    exit_code = ExitCode.NO_CARD


class NoCardError(CardError):
    hint = "insert a card (or serve one with `sscard card serve`) and try again"


class CardRemovedError(CardError):
    hint = "the card was removed during the transaction; insert it and start again"


class CardResetError(CardRemovedError):
    """Another program reset the card (PC/SC SCARD_W_RESET_CARD): what was
    selected or authenticated on it is gone, the card itself is still there."""

    hint = "the card was reset by another program; start the transaction again"


class MuteCardError(CardError):
    hint = "the card does not answer reset; check that it is inserted the right way round"


class CorruptResponseError(CardError):
    hint = "the card's answer was damaged on the way; remove and reinsert the card"


class IncompleteReadError(SscardError):
    """A read that did not give every item asked for: a 3.0 card's EF06 without
    authentication (card-spec.md, RKSSSE before EF06), or items the card lacks."""

    exit_code = ExitCode.CARD_REFUSED

    def __init__(self, missing: tuple[str, ...], why: str | None = None) -> None:
        self.missing = missing
        because = f" ({why})" if why else ""
        hint = (
            "read a 3.0 card with --sam software|pcsc|keyservice, or accept the partial "
            "read with --allow-partial"
            if why
            else "the card lacks them: have it checked by the issuer, or accept the partial "
            "read with --allow-partial"
        )
        super().__init__(f"the card did not give {', '.join(missing)}{because}", hint=hint)


class CardExpiredError(SscardError):
    """The card's expiry date (EF05 tag 06) has passed."""

    exit_code = ExitCode.CARD_REFUSED
    hint = "the holder needs a new card from the issuer"


# -- status words -----------------------------------------------------------
class StatusWordError(SscardError):
    """The card answered a status word other than 9000.

    ``command`` is a short description of the command (never its data, which may
    hold a PIN or a cryptogram).
    """

    exit_code = ExitCode.CARD_REFUSED

    def __init__(self, sw: int, command: str = "", data: bytes = b"") -> None:
        self.sw = sw
        self.command = command
        self.data = data
        where = f"{command}: " if command else ""
        super().__init__(f"{where}card answered {sw:04X} ({describe_sw(sw)})")


class SecurityStatusNotSatisfiedError(StatusWordError):
    hint = "the file needs a PIN or an authentication first"


class CardFileNotFoundError(StatusWordError):
    hint = "this card has no such file or application; is it a social security card?"


class RecordNotFoundError(StatusWordError):
    pass


class WrongLengthError(StatusWordError):
    pass


class ApplicationBlockedError(StatusWordError):
    hint = "the social security application on this card is blocked; send the holder to the issuer"


class CardBlockedError(StatusWordError):
    hint = "the card is blocked; send the holder to the issuer"


class PinError(StatusWordError):
    exit_code = ExitCode.PIN


class WrongPinError(PinError):
    def __init__(self, sw: int, command: str = "", data: bytes = b"") -> None:
        super().__init__(sw, command, data)
        self.tries_left = sw & 0x0F
        tries = "1 try" if self.tries_left == 1 else f"{self.tries_left} tries"
        self.args = (f"wrong PIN, {tries} left",)


class PinBlockedError(PinError):
    hint = "the issuer can unblock it (`sscard pin unblock`)"

    def __init__(self, sw: int, command: str = "", data: bytes = b"") -> None:
        super().__init__(sw, command, data)
        self.args = ("PIN blocked",)


class UnblockPinRefusedError(PinError):
    """PIN UNBLOCK (84 24 00 00) whose PIN block does not hold the card's current
    PIN: the card answers 6A80 (card-spec.md, "PIN RELOAD/UNBLOCK")."""

    hint = (
        "unblocking needs the card's current PIN; to set a new PIN instead use "
        "`sscard pin unblock --reload`"
    )

    def __init__(self, sw: int, command: str = "", data: bytes = b"") -> None:
        super().__init__(sw, command, data)
        self.args = (f"the card refused the current PIN given for unblocking ({sw:04X})",)


_BY_SW: dict[int, type[StatusWordError]] = {
    SW.SECURITY_STATUS_NOT_SATISFIED: SecurityStatusNotSatisfiedError,
    SW.FILE_NOT_FOUND: CardFileNotFoundError,
    SW.RECORD_NOT_FOUND: RecordNotFoundError,
    SW.REFERENCED_DATA_NOT_FOUND: RecordNotFoundError,
    SW.WRONG_LENGTH: WrongLengthError,
    SW.APPLICATION_BLOCKED: ApplicationBlockedError,
    SW.FUNCTION_NOT_SUPPORTED: CardBlockedError,
}


def error_for_sw(
    sw: int, command: str = "", data: bytes = b"", *, pin: bool = False
) -> StatusWordError:
    """The exception for a refused command: the one place the terminal maps status
    words to exceptions. ``pin`` marks a PIN command, where 63Cx and 6983 are PIN
    errors; elsewhere 6983 means a blocked key."""
    if sw & 0xFFF0 == 0x63C0 and pin:
        return WrongPinError(sw, command, data)
    if sw == SW.AUTH_METHOD_BLOCKED and pin:
        return PinBlockedError(sw, command, data)
    return _BY_SW.get(sw, StatusWordError)(sw, command, data)
