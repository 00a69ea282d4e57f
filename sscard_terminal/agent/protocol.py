"""The reader agent's wire protocol, sans IO: requests in, answers out.

The field's kiosk pages talk to a local agent (integration.md "The browser
agents") with one JSON object per call, over WebSocket or as an HTTP POST
body: ``{"function": "iReadCardBas", "iType": 3}``, answered
``{"success": 0, "pOutInfo": "330200|...|"}``. ``success`` is 0 on success,
-2 when no card is present, another negative code otherwise, with a readable
``message`` beside it. Our additions keep that shape: ``requestId`` (echoed
back), ``reader`` (one of the agent's readers) and a few structured fields.

This module parses and validates a request (:func:`parse_request`), maps an
error to its code (:func:`error_answer`, the one place), and masks answers for
the log (:func:`masked_for_log`). It does no IO.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sscard_terminal.codecs.masking import mask_id_number, mask_name
from sscard_terminal.errors import (
    CardError,
    NoCardError,
    PinError,
    ReaderError,
    SscardError,
    UsageError,
    WrongPinError,
)

#: a request larger than this (bytes of JSON) is refused unread
MAX_REQUEST_BYTES = 16 * 1024
#: a requestId is echoed back; longer ones are refused
MAX_REQUEST_ID = 128


class Code(IntEnum):
    """``success`` values. 0 and -2 are the field's; the others are this agent's."""

    OK = 0
    #: an unexpected failure inside the agent (a bug); the message says where to look
    INTERNAL = -1
    NO_CARD = -2
    #: no such reader, or pcscd not running
    NO_READER = -3
    #: the card was removed during the call, does not answer, or its answer was damaged
    CARD_IO = -4
    #: the card refused a command (status word), or it has expired
    CARD_REFUSED = -5
    #: PIN wrong (``triesLeft``) or blocked
    PIN = -6
    #: another client holds the reader
    BUSY = -7
    #: the card, the PSAM or the key service did not finish within the call's timeout
    TIMEOUT = -8
    #: the security module (PSAM or key service) failed or refused
    SECURITY_MODULE = -9
    #: the request is not what the agent accepts: not JSON, unknown function, wrong types
    BAD_REQUEST = -10
    #: the request is larger than MAX_REQUEST_BYTES
    TOO_LARGE = -11
    #: too many requests from this client; slow down
    RATE_LIMITED = -12


@dataclass(frozen=True)
class Arg:
    """One argument of a function: its JSON type and allowed values."""

    kind: type
    required: bool = True
    choices: tuple[Any, ...] = ()
    pattern_help: str = ""


ITYPE = Arg(int, required=False, choices=(1, 2, 3, 4))
READER = Arg(str, required=False)

#: the functions and their arguments (besides ``function``, ``requestId`` and ``reader``)
FUNCTIONS: dict[str, dict[str, Arg]] = {
    "iReadCardBas": {"iType": ITYPE},
    "iReadCardBas_HSM_Step1": {"iType": ITYPE},
    "iReadCardBas_HSM_Step2": {
        "pKey": Arg(str, pattern_help="the key service's cryptogram, 16 hex digits"),
        "hsmSession": Arg(str, required=False),
    },
    "iVerifyPIN": {"iType": ITYPE},
    "iChangePIN": {"iType": ITYPE},
    "iReadCardStatus": {},
    "iGetReaders": {},
    "iReadTransRecords": {"iType": ITYPE},
    "subscribe": {},
    "unsubscribe": {},
}
#: functions that only make sense on a WebSocket (events)
WEBSOCKET_ONLY = frozenset({"subscribe", "unsubscribe"})
_COMMON = {"function", "requestId", "reader"}


class BadRequest(Exception):
    """A request the agent does not accept; ``str`` names the field and the form."""

    def __init__(self, message: str, *, request_id: Any = None, code: Code = Code.BAD_REQUEST):
        super().__init__(message)
        self.request_id = request_id
        self.code = code


@dataclass(frozen=True)
class Request:
    function: str
    args: dict[str, Any] = field(default_factory=dict)
    request_id: str | int | None = None
    reader: str | None = None

    @property
    def itype(self) -> int:
        value = self.args.get("iType", 3)
        return int(value)


def parse_request(raw: str | bytes) -> Request:
    """Validate one request; raise :class:`BadRequest` saying what is wrong."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise BadRequest(
            f"the request has {len(raw)} bytes; at most {MAX_REQUEST_BYTES} are accepted",
            code=Code.TOO_LARGE,
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(
            'the request is not JSON; send one object like {"function": "iReadCardBas", "iType": 3}'
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("the request must be a JSON object with a 'function' field")
    request_id = body.get("requestId")
    if request_id is not None and (
        isinstance(request_id, bool)
        or not isinstance(request_id, str | int)
        or len(str(request_id)) > MAX_REQUEST_ID
    ):
        raise BadRequest(
            f"'requestId' must be a string or an integer of at most {MAX_REQUEST_ID} characters"
        )
    function = body.get("function")
    if not isinstance(function, str):
        raise BadRequest("'function' must be a string naming a function", request_id=request_id)
    spec = FUNCTIONS.get(function)
    if spec is None:
        known = ", ".join(FUNCTIONS)
        raise BadRequest(
            f"unknown function {_short(function)!r}; the functions are: {known}",
            request_id=request_id,
        )
    reader = body.get("reader")
    if reader is not None and not isinstance(reader, str):
        raise BadRequest("'reader' must be a string (a reader's name)", request_id=request_id)
    args: dict[str, Any] = {}
    for name, arg in spec.items():
        if name not in body or body[name] is None:
            if arg.required:
                raise BadRequest(
                    f"{function} needs '{name}' ({arg.pattern_help or arg.kind.__name__})",
                    request_id=request_id,
                )
            continue
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, arg.kind):
            raise BadRequest(
                f"'{name}' must be {'an integer' if arg.kind is int else 'a string'}",
                request_id=request_id,
            )
        if arg.choices and value not in arg.choices:
            allowed = ", ".join(map(str, arg.choices))
            raise BadRequest(f"'{name}' must be one of {allowed}", request_id=request_id)
        args[name] = value
    unknown = sorted(set(body) - set(spec) - _COMMON)
    if unknown:
        raise BadRequest(
            f"{function} takes no argument {_short(unknown[0])!r}", request_id=request_id
        )
    return Request(function, args, request_id, reader)


def _short(text: str, limit: int = 40) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean[:limit] + ("..." if len(clean) > limit else "")


def answer(
    code: Code, message: str = "", *, request_id: Any = None, out: str = "", **extra: Any
) -> dict[str, Any]:
    """One answer object, in the field's shape."""
    body: dict[str, Any] = {"success": int(code), "pOutInfo": out}
    if message:
        body["message"] = message
    if request_id is not None:
        body["requestId"] = request_id
    body.update(extra)
    return body


class ReaderBusyError(SscardError):
    """Another client holds the reader (a PC/SC transaction of its own)."""

    def __init__(self, reader: str) -> None:
        super().__init__(
            f"reader {reader!r} is in use by another client",
            hint="try again when its call has finished",
        )


class CallTimeoutError(SscardError):
    """The card, the PSAM or the key service did not finish in time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the card call did not finish within {seconds:g} s",
            hint="check the card and the security module, then try again",
        )


def code_for(exc: SscardError) -> Code:
    """The ``success`` code of an error: the one place errors are mapped."""
    from sscard_terminal.driver.keyservice_client import KeyServiceError

    if isinstance(exc, ReaderBusyError):
        return Code.BUSY
    if isinstance(exc, CallTimeoutError):
        return Code.TIMEOUT
    if isinstance(exc, KeyServiceError):
        return Code.SECURITY_MODULE
    if isinstance(exc, NoCardError):
        return Code.NO_CARD
    if isinstance(exc, ReaderError):
        return Code.NO_READER
    if isinstance(exc, CardError):
        return Code.CARD_IO
    if isinstance(exc, PinError):
        return Code.PIN
    if isinstance(exc, UsageError):
        return Code.BAD_REQUEST
    return Code.CARD_REFUSED


def error_answer(exc: SscardError, request_id: Any = None) -> dict[str, Any]:
    """The answer for an error raised by the card work (no PIN or key is ever in
    an error's message: errors.py)."""
    extra: dict[str, Any] = {}
    if isinstance(exc, WrongPinError):
        extra["triesLeft"] = exc.tries_left
    message = exc.one_line()
    return answer(code_for(exc), message, request_id=request_id, out=message, **extra)


def encode(body: dict[str, Any]) -> str:
    """Compact JSON, Chinese text as it is (the pages read UTF-8)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def masked_line(line: str) -> str:
    """An iReadCardBas line with the ID number (item 2) and the name (item 5) masked."""
    items = line.split("|")
    if len(items) >= 5:
        if items[1]:
            items[1] = mask_id_number(items[1])
        if items[4]:
            items[4] = mask_name(items[4])
    return "|".join(items)


#: functions whose successful pOutInfo is the cardholder line (masked in the log)
_LINE_FUNCTIONS = frozenset({"iReadCardBas", "iReadCardBas_HSM_Step2"})


def masked_for_log(body: dict[str, Any], function: str) -> str:
    """What the log may show of an answer: the code, and of a success the line with
    name and ID number masked; the step-1 values and the records are left out."""
    out = str(body.get("pOutInfo", ""))
    if body.get("success") == 0 and function not in _LINE_FUNCTIONS and "|" in out:
        if function not in ("iGetReaders",):
            out = f"<{len(out)} characters>"
    elif body.get("success") == 0 and function in _LINE_FUNCTIONS:
        out = masked_line(out)
    return f"success={body.get('success')} pOutInfo={out!r}"
