"""A transport wrapper that logs every APDU with its decoded meaning.

Like pyscard's observer on transmit: tracing without touching the callers.
Each exchange becomes one log record on the ``sscard_terminal.trace`` logger,
for example::

    READ RECORD EF06 tag 09 name | 00 B2 09 30 -> 09 1E <name: 张*> 9000 success

PIN and key material are never logged: the data of VERIFY, CHANGE PIN, the
authentication and PSAM commands is redacted, and so is the answer of a
GET RESPONSE that fetches a cryptogram. Personal data items are masked unless
``reveal`` is set (the user asked to see the card's content).
"""

from __future__ import annotations

import logging

from sscard_terminal.apdu.describe import SECRET_RESPONSE_DATA, trace_line
from sscard_terminal.transport.base import Transport, TransportBase

trace_log = logging.getLogger("sscard_terminal.trace")


class TracingTransport(TransportBase):
    def __init__(
        self, inner: Transport, *, logger: logging.Logger = trace_log, reveal: bool = False
    ) -> None:
        self.inner = inner
        self.logger = logger
        self.reveal = reveal
        self.description = inner.description
        self._last_ins: int | None = None

    def connect(self) -> None:
        self.inner.connect()
        self.logger.info("connect %s, ATR %s", self.description, self.inner.atr.hex(" ").upper())

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def transmit(self, command: bytes) -> bytes:
        response = self.inner.transmit(command)
        ins = command[1] if len(command) > 1 else None
        follow_up = ins == 0xC0 and self._last_ins in SECRET_RESPONSE_DATA
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(
                "%s", trace_line(command, response, reveal=self.reveal, secret_follow_up=follow_up)
            )
        if ins != 0xC0:
            self._last_ins = ins
        return response

    def reset(self) -> None:
        self.inner.reset()
        self.logger.info("reset %s", self.description)

    def close(self) -> None:
        self.inner.close()
        self.logger.info("disconnect %s", self.description)
