"""The settlement client: the terminal's side of the national interface.

settlement-interface.md describes the interface this package speaks; it talks
to any server that follows it and imports nothing from the center's code (nor
from the card side):

- :mod:`.wire`: Decimal-safe JSON and the HMAC-SM3 signature in ``cainfo``;
- :mod:`.envelope`: request envelopes (msgid, inf_time, opter_type) and
  response envelopes (infcode as number or string);
- :mod:`.journal`: the crash-safe journal of every message, per terminal
  (a package: msgids, sign-ins, messages, card records, visits, books);
- :mod:`.inputs` and :mod:`.models`: the typed inputs and results;
- :mod:`.transactions`: one declaration per transaction code (input,
  result, kind, how a lost answer is settled, the card record it owes);
- :mod:`.engine`: sending one message (msgid, sign-in, journal, classifying
  the answer);
- :mod:`.client`: :class:`SettlementClient`, one typed method per transaction;
- :mod:`.resolution`: settling what the journal holds open (5203, 2601),
  above the client;
- :mod:`.config`: the terminal's ``terminal.yaml``.
"""

from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.engine import InstitutionConfig, Operator
from sscard_terminal.settlement.errors import (
    CenterRefused,
    CenterUnavailable,
    JournalError,
    OutcomeUnknown,
    SettlementError,
    UnexpectedAnswer,
)
from sscard_terminal.settlement.journal import Journal, JournalEntry, Resolution, Status

__all__ = [
    "CenterRefused",
    "CenterUnavailable",
    "InstitutionConfig",
    "Journal",
    "JournalEntry",
    "JournalError",
    "Operator",
    "OutcomeUnknown",
    "Resolution",
    "SettlementClient",
    "SettlementError",
    "Status",
    "UnexpectedAnswer",
]
