"""The ``x-tif-*`` gateway headers a client sends when its center sits behind
a gateway that authenticates by headers (integration.md, "What
national-interface clients send"):

- ``x-tif-paasid``: the caller's id at the gateway;
- ``x-tif-timestamp``: Unix time in seconds;
- ``x-tif-nonce``: a new random text for every request;
- ``x-tif-signature``: hex SHA-256 of the UTF-8 of
  timestamp + secret + nonce + timestamp.

Written from that description alone: it shares no code with the center.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

__all__ = ["gateway_headers"]


def gateway_headers(
    paasid: str, secret: str, *, now: Callable[[], float] = time.time
) -> dict[str, str]:
    """The four headers of one request (a fresh nonce each call)."""
    timestamp = str(int(now()))
    nonce = secrets.token_hex(16)
    digest = hashlib.sha256(f"{timestamp}{secret}{nonce}{timestamp}".encode()).hexdigest()
    return {
        "x-tif-paasid": paasid,
        "x-tif-timestamp": timestamp,
        "x-tif-nonce": nonce,
        "x-tif-signature": digest,
    }
