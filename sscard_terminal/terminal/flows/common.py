"""What every terminal flow shares before it books anything: the progress
callback, the patient's answer to the split a pre-settlement shows
(:data:`Confirm`, :class:`Declined`), the terminal's clock in Beijing time
(the settlement interface's times are local) and the outpatient numbers the
terminal makes up (``ipt_otp_no``)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from sscard_terminal.errors import ExitCode, SscardError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.envelope import SHANGHAI
from sscard_terminal.settlement.models import SetlInfo

__all__ = ["Confirm", "Declined", "Progress", "always", "now", "otp_no", "say"]

#: told each step of a flow as it starts ("2207 settlement")
Progress = Callable[[str], None]
#: shown the split of the pre-settlement (2206 / 2101); False declines it
Confirm = Callable[[SetlInfo], bool]


class Declined(SscardError):
    """The patient (or operator) declined the split shown by the pre-settlement;
    the visit was rolled back and nothing was booked."""

    exit_code = ExitCode.USAGE


def say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def always(_: SetlInfo) -> bool:
    return True


def now(client: SettlementClient) -> dt.datetime:
    """The client's clock in Beijing time, to the second, without a zone."""
    return client.clock().astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0)


def otp_no(prefix: str, client: SettlementClient) -> str:
    """An outpatient number: the prefix, the time, three random digits."""
    return f"{prefix}{now(client):%y%m%d%H%M%S}{secrets.randbelow(1000):03d}"
