"""Connections that must deliver a whole request in time (against slowloris).

uvicorn closes a connection that stays idle *after* a response
(``timeout_keep_alive``), but not one that sends nothing after connecting, nor
one that sends half a request line, half its headers or half its body. Each of
those holds a socket and a file descriptor for as long as the client likes, and
enough of them starve everyone else. :class:`GuardedProtocol` is uvicorn's
HTTP protocol (httptools) with one deadline more: from the moment a
connection opens, a request begins, or a response is finished, the client has
:attr:`GuardedProtocol.request_timeout` seconds to deliver a complete request
(request line, headers and body). A connection that does not is closed. Once a
request is complete the deadline is off: a message may then wait on the
database for as long as it needs.

``sscard center serve --request-timeout`` sets it (default
:data:`DEFAULT_REQUEST_TIMEOUT`); worker processes read
:data:`ENV_REQUEST_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "ENV_REQUEST_TIMEOUT",
    "GuardedProtocol",
    "guarded_protocol",
]

#: seconds a client has to deliver a whole request (4 MiB at 500 KiB/s)
DEFAULT_REQUEST_TIMEOUT = 10.0
ENV_REQUEST_TIMEOUT = "SSCARD_CENTER_REQUEST_TIMEOUT"


def _from_env() -> float:
    text = os.environ.get(ENV_REQUEST_TIMEOUT, "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_REQUEST_TIMEOUT
    return value if value > 0 else DEFAULT_REQUEST_TIMEOUT


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each whole request."""

    request_timeout: float = _from_env()
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()  # the next request, if any, must come whole in time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(request_timeout: float) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` with this deadline, for ``uvicorn.Config(http=...)``."""
    if request_timeout <= 0:
        raise ValueError("the request timeout must be positive")
    return type("GuardedProtocol", (GuardedProtocol,), {"request_timeout": request_timeout})
