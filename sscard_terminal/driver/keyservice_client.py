"""The key-service security module: the two-step (HSM) mode over HTTP.

card-spec.md "Reading without a PSAM: the key-service (HSM) mode". For RKSSSE
(key 0A) the terminal, with SSSE selected and EF05 read:

1. takes two GET CHALLENGE randoms ``R1`` and ``R2`` (``R2`` is the card's last
   challenge, which EXTERNAL AUTHENTICATE uses);
2. runs INTERNAL AUTHENTICATE with ``R2`` as the process factor and ``R1`` as the
   source, and keeps the card's answer ``A``: computed over ``R2``, ``A`` is bound
   to this authentication, and a recorded IA exchange cannot be replayed with a
   later EA random (the key service requires IA process = EA process);
3. sends the line ``region|ATR|algorithm|card id code|IA process|IA source|``
   ``EA process|EA source|terminal no|`` (IA process = EA process = EA source =
   ``R2``, IA source = ``R1``) and ``A`` to the key service
   (``POST /keyservice/v1/step1``, :mod:`sscard_terminal.keyservice.server`),
   which checks the binding and ``A`` with the card's IRK and answers the
   cryptogram ``C``;
4. sends EXTERNAL AUTHENTICATE ``00 82 00 0A`` + ``C`` + ``R2``.

The client shares only the wire format with the service, nothing of its code.
Failures are one clear error each: a service that cannot be reached or does not
answer in time is :class:`KeyServiceUnavailable` (a transport error), a refusal
is :class:`KeyServiceRefused` with the service's reason. No cryptogram, IA
answer or token is ever logged or put in a message.
"""

from __future__ import annotations

import logging
import re
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from sscard_terminal.crypto.keyset import RK
from sscard_terminal.driver.sam import AuthCard, CardContext
from sscard_terminal.errors import (
    CorruptResponseError,
    ExitCode,
    SscardError,
    TransportError,
    UsageError,
)

log = logging.getLogger(__name__)

#: the step-1 endpoint, relative to the service's base URL
STEP1_PATH = "/keyservice/v1/step1"

_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")
_TERMINAL = re.compile(r"[0-9]{12}")
_LOOPBACK = ("localhost", "::1")

_HINTS = {
    "unknown-terminal": "register this terminal number in the key service's terminal registry",
    "not-authorised": "configure this terminal's bearer token for the key service",
    "card-not-verified": "the card is not one of the key set's cards, or its answer was damaged",
    "replayed": "start the authentication again (fresh randoms)",
    "malformed": "the terminal sent a request the service does not accept; report it",
}


class KeyServiceError(SscardError):
    """Base of the key-service client's errors."""

    exit_code = ExitCode.CARD_REFUSED


class KeyServiceUnavailable(KeyServiceError, TransportError):
    """The key service cannot be reached, does not answer in time, or does not
    answer like a key service."""

    exit_code = ExitCode.NO_READER
    hint = "check that the key service runs (`sscard keyservice serve`) at that URL"


class KeyServiceRefused(KeyServiceError):
    """The key service refused the request; ``reason`` is the service's own."""

    exit_code = ExitCode.CARD_REFUSED

    def __init__(self, reason: str, *, code: str = "", status: int = 0) -> None:
        super().__init__(f"the key service refused: {reason}", hint=_HINTS.get(code, ""))
        self.reason = reason
        self.code = code
        self.status = status


def step1_line(
    context: CardContext,
    ia_process: bytes,
    ia_source: bytes,
    ea_process: bytes,
    ea_source: bytes,
    terminal: str,
) -> str:
    """The step-1 line of card-spec.md, hex in upper case, with its trailing ``|``."""
    fields = [
        context.region,
        context.atr.hex().upper(),
        context.algorithm,
        context.card_id_code,
        ia_process.hex().upper(),
        ia_source.hex().upper(),
        ea_process.hex().upper(),
        ea_source.hex().upper(),
        terminal,
    ]
    return "|".join(fields) + "|"


def _printable(text: str, limit: int = 200) -> str:
    """Remote text made safe for one line of a message."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean[:limit] + ("..." if len(clean) > limit else "")


def _is_loopback(host: str) -> bool:
    return host in _LOOPBACK or host.startswith("127.")


class KeyServiceSam:
    """A :class:`~sscard_terminal.driver.sam.SecurityModule` backed by the key service.

    ``url`` is the service's base URL (``http://127.0.0.1:8765``; a URL that
    already ends in ``/keyservice/v1/step1`` is used as it is), ``terminal`` this
    terminal's 12-digit number, ``token`` its bearer token when the service's
    registry asks for one. A token is only sent over HTTPS or to this machine.
    Proxy settings from the environment are not used.
    """

    name = "keyservice"

    def __init__(
        self,
        url: str,
        terminal: str,
        *,
        timeout: float = 5.0,
        token: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"not a key-service URL: {_printable(url)!r}",
                hint="give its base URL, e.g. http://127.0.0.1:8765",
            )
        if not _TERMINAL.fullmatch(terminal):
            raise UsageError("a terminal number has 12 digits", hint="check the terminal number")
        if timeout <= 0:
            raise UsageError("the key-service timeout must be positive")
        if token is not None and parts.scheme != "https" and not _is_loopback(parts.hostname):
            raise UsageError(
                "a bearer token is sent over HTTPS only (or to this machine)",
                hint="use an https:// URL for a remote key service",
            )
        base = url.rstrip("/")
        self.url = base
        self.endpoint = base if base.endswith(STEP1_PATH) else base + STEP1_PATH
        self.timeout = timeout
        self._terminal = terminal
        self._token = token
        self._client = httpx.Client(timeout=timeout, trust_env=False)

    @property
    def terminal_number(self) -> str:
        """This terminal's number, as the key service knows it."""
        return self._terminal

    def authenticate(self, card: AuthCard, key_id: int) -> None:
        """EXTERNAL AUTHENTICATE with RKSSSE (key 0A) through the key service.

        Only RKSSSE: the key service answers for no other key (UsageError).
        """
        if key_id != RK:
            raise UsageError(
                f"the key service authenticates for RKSSSE (key 0A) only, not key {key_id:02X}",
                hint="use the PSAM or the software SAM for other keys",
            )
        ctx = card.context
        r1 = card.get_challenge(8)
        r2 = card.get_challenge(8)  # the card's last challenge: EXTERNAL AUTHENTICATE uses it
        if len(r1) != 8 or len(r2) != 8:
            raise CorruptResponseError("GET CHALLENGE answered a random of the wrong length")
        # the IA process factor is the EA random R2: it binds the card's answer to
        # this authentication, so a recorded IA exchange cannot be replayed later
        ia_process = r2
        answer = card.internal_authenticate(ia_process, r1)
        if len(answer) != 8:
            raise CorruptResponseError(
                f"INTERNAL AUTHENTICATE answered {len(answer)} bytes, expected 8"
            )
        line = step1_line(ctx, ia_process, r1, r2, r2, self._terminal)
        cryptogram = self._step1(line, answer)
        card.external_authenticate(RK, cryptogram, r2)
        log.info("key service: terminal %s authenticated for RKSSSE", self._terminal)

    def _step1(self, line: str, ia_answer: bytes) -> bytes:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            response = self._client.post(
                self.endpoint,
                json={"line": line, "ia_answer": ia_answer.hex().upper()},
                headers=headers,
            )
        except httpx.TimeoutException:
            raise KeyServiceUnavailable(
                f"the key service at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            cause = _printable(str(exc)) or type(exc).__name__
            raise KeyServiceUnavailable(
                f"cannot reach the key service at {self.url}: {cause}"
            ) from None
        return self._cryptogram(response)

    def _cryptogram(self, response: httpx.Response) -> bytes:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        error = body.get("error")
        if status == 200:
            value = body.get("cryptogram")
            if isinstance(value, str) and _HEX16.fullmatch(value):
                return bytes.fromhex(value)
            raise KeyServiceUnavailable(
                f"{self.url} answered without a cryptogram: is it the key service?"
            )
        if 400 <= status < 500 and isinstance(error, str):
            code = body.get("code")
            raise KeyServiceRefused(
                _printable(error), code=code if isinstance(code, str) else "", status=status
            )
        reason = f": {_printable(error)}" if isinstance(error, str) else ""
        raise KeyServiceUnavailable(f"the key service at {self.url} answered HTTP {status}{reason}")

    def close(self) -> None:
        """Close the HTTP connection pool; idempotent."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
