"""Undoing a visit the flow registered itself (its 2201) when the flow fails
before the visit is settled: 2205 (withdraw the fee details) then 2202
(cancel the visit), and what cannot be undone left to the journal's
resolution as an abandoned visit (``sscard journal resolve`` reverses the
2201 once the visit's messages are settled)."""

from __future__ import annotations

from sscard_terminal.errors import SscardError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.models import PersonRef
from sscard_terminal.terminal.flows.common import Progress, say

__all__ = ["abandon", "interrupted", "rollback"]


def rollback(
    client: SettlementClient,
    ref: PersonRef,
    mdtrt_id: str,
    ipt_otp_no: str | None,
    registration: str | None = None,
) -> list[str]:
    """2205 (withdraw the details) then 2202 (cancel the visit); problems are
    returned, not raised (the caller is already failing for its own reason).
    When they fail, the ``registration`` (the 2201's msgid) is left to the
    journal's resolution as abandoned."""
    problems = []
    for step, call in (
        ("2205", lambda: client.withdraw_fees(ref, mdtrt_id)),
        ("2202", lambda: client.cancel_registration(ref, mdtrt_id, ipt_otp_no)),
    ):
        try:
            call()
        except SscardError as exc:
            problems.append(f"{step}: {exc}")
    if problems and registration:
        client.journal.abandon_visit(registration, "; ".join(problems))
    return problems


def abandon(client: SettlementClient, registration: str | None, exc: BaseException) -> None:
    """The center did not answer after the 2201 (or the flow was stopped):
    the journal's resolution reverses the registration once the visit's
    messages are settled (and leaves it when a settlement of the visit
    stands)."""
    if registration:
        client.journal.abandon_visit(registration, _why(exc))


def _why(exc: BaseException) -> str:
    """What stopped a flow, for the journal (our errors carry no PIN or key)."""
    if isinstance(exc, SscardError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"stopped by {type(exc).__name__}"


def interrupted(
    client: SettlementClient,
    ref: PersonRef,
    mdtrt_id: str,
    ipt_otp_no: str | None,
    registration: str | None,
    progress: Progress | None,
) -> None:
    """The flow was stopped after its 2201 by something other than the center
    or the patient (Ctrl-C outside a prompt, a fault of the program): roll
    the visit back as a refusal would; whatever cannot be rolled back stays
    with the journal (the registration is held for this process, so it is
    abandoned the moment the process ends, even if a second interrupt stops
    the rollback itself)."""
    say(progress, "stopped: rolling back with 2205, 2202")
    rollback(client, ref, mdtrt_id, ipt_otp_no, registration)
