"""``sscard hospital swipe|refund``, ``sscard pharmacy buy|cancel``,
``sscard kiosk register``: the terminal flows at the hospital's desk, the
pharmacy's counter and the self-service kiosk.

Thin calls into the package :mod:`sscard_terminal.terminal.flows`. Each
command takes the card reader (``--reader``) or the electronic voucher's
code (``--voucher CODE``: no card is read, no PIN asked, no card record
written), the security module (``--sam``), the PIN as ``sscard pin`` does
(hidden prompt, ``--pin-pad FILE`` or ``--pin-fd N``), the terminal's
configuration (``--config terminal.yaml`` and the same overrides as
``sscard journal resolve``) and ``--center URL``; it shows its progress on
stderr and prints the receipt (text, or ``--json``) on stdout. The exit
codes are those of every command (:class:`sscard_terminal.errors.ExitCode`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click

from sscard_terminal.cli.journal import _config_option, _journal_option, _terminal_config
from sscard_terminal.cli.options import (
    _pin_options,
    _pin_source,
    _sam_options,
    _station_spec,
    _transport_option,
    handle_errors,
)
from sscard_terminal.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

_TERMINAL_KEYS = (
    "fixmedins_code",
    "fixmedins_name",
    "mdtrtarea_admvs",
    "secret_file",
    "opter",
    "opter_name",
    "opter_type",
    "timeout",
)


def _flow_options(func: F) -> F:
    """--reader, the SAM, the PIN, the terminal and the output options."""
    options = [
        click.option("--reader", help="Reader name (or a unique part of it)."),
        click.option(
            "--voucher",
            "voucher_code",
            default=None,
            metavar="CODE",
            help="The electronic voucher's QR code instead of a card (no card, no PIN, "
            "no card record).",
        ),
        click.option("--center", "center_url", default=None, help="The center's base URL."),
        _config_option,
        _journal_option,
        click.option("--fixmedins-code", default=None, help="Institution code (12 characters)."),
        click.option("--fixmedins-name", default=None, help="Institution name."),
        click.option(
            "--admvs", "mdtrtarea_admvs", default=None, help="Division of care (6 digits)."
        ),
        click.option(
            "--secret-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="File holding the institution's secret (owner-readable).",
        ),
        click.option("--opter", default=None, help="Operator or terminal number."),
        click.option("--opter-name", default=None, help="Operator or terminal name."),
        click.option(
            "--opter-type",
            type=click.Choice(["1", "2", "3"]),
            default=None,
            help="1 operator, 2 self-service kiosk, 3 mobile.",
        ),
        click.option(
            "--timeout", type=click.FloatRange(0.1, 600), default=None, help="HTTP timeout (s)."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON."),
        click.option("--quiet", "-q", is_flag=True, help="No progress on stderr."),
    ]
    for option in reversed(options):
        func = option(func)
    return _transport_option(_pin_options(_sam_options(func)))


#: how the card's reader is connected (None: the station's way); a seam for tests
_open_card: Callable[[str | None], Any] | None = None


@contextmanager
def _session(kw: dict[str, Any], *, kiosk: bool = False) -> Iterator[dict[str, Any]]:
    """Open the station (security module, client, PIN source) and the card
    from the common options; close them all at the end."""
    from sscard_terminal.terminal.station import Station

    overrides = {key: kw.pop(key, None) for key in _TERMINAL_KEYS}
    if kiosk and overrides["opter_type"] is None:
        overrides["opter_type"] = "2"
    config = _terminal_config(kw.pop("config_path"), kw.pop("journal_path"), overrides)
    pin_fd, pin_pad = kw.pop("pin_fd"), kw.pop("pin_pad")
    quiet = kw.pop("quiet")
    center_url = kw.pop("center_url")
    voucher_code = kw.pop("voucher_code")
    # the voucher needs no card PIN (the phone app verified the person)
    pins = _pin_source(pin_fd, pin_pad) if voucher_code is None else None
    presented: Any = None
    if voucher_code is not None:
        from sscard_terminal.terminal.flows import Voucher

        presented = Voucher(voucher_code)  # a UsageError before anything opens
    station = Station(
        _station_spec(kw), pins=pins, client=lambda: config.client(center_url),
        open_card=_open_card,
    )  # fmt: skip
    with station, ExitStack() as stack:
        if presented is None:
            presented = stack.enter_context(station.card())
        yield {
            "card": presented,
            "sam": station.sam,
            "pins": pins,
            "client": station.client,
            "progress": None if quiet else _progress,
            "quiet": quiet,
            "journal": config.journal_path,
        }


def _progress(step: str) -> None:
    click.echo(f"… {step}", err=True)


def _show(receipt: Any, as_json: bool) -> None:
    click.echo(receipt.to_json_text() if as_json else receipt.to_text())


def _confirm(yes: bool, timeout: float) -> Callable[[Any], bool]:
    """Show the split (fund, account, cash) and ask, unless --yes. End of
    input, Ctrl-C or no answer within ``timeout`` is "no": the flow rolls
    back as when the patient declines (cli/prompt.py)."""
    from sscard_terminal.cli.prompt import confirm

    def ask(split: Any) -> bool:
        click.echo(
            f"total {split.medfee_sumamt}  fund {split.fund_pay_sumamt}  "
            f"account {split.acct_pay}  cash {split.psn_cash_pay}",
            err=True,
        )
        if yes:
            return True
        answer = confirm("settle?", timeout)
        if answer.unanswered:
            click.echo(f"sscard: {answer.unanswered}: taken as no", err=True)
        return answer.yes

    return ask


def _asker(yes: bool, timeout: float, quiet: bool) -> Callable[[Any], bool]:
    """With --yes and --quiet, settle without a word (a script's receipt alone on
    stdout, nothing on stderr); otherwise :func:`_confirm` shows the split."""
    if yes and quiet:
        return lambda split: True
    return _confirm(yes, timeout)


def _items(items_file: Path | None, item: tuple[str, ...]) -> list[Any]:
    from sscard_terminal.terminal.flows import load_items, parse_item

    found = (load_items(items_file) if items_file else []) + [parse_item(t) for t in item]
    if not found:
        raise UsageError("no items", hint="give --items FILE or --item CODE:COUNT:PRICE[:NAME]")
    return found


def _payments(payment_fails: bool) -> Any:
    from sscard_terminal.terminal.payment import SimulatedPayments

    return SimulatedPayments(fail_next=1 if payment_fails else 0)


_items_options = [
    click.option(
        "--items",
        "items_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help='JSON file of items: [{"code", "count", "price", "name"}].',
    ),
    click.option("--item", multiple=True, metavar="CODE:COUNT:PRICE[:NAME]", help="One item."),
]


def _yes_option(func: F) -> F:
    """--yes, and how long the prompt waits for an answer without it."""
    func = click.option(
        "--confirm-timeout",
        type=click.FloatRange(1, 3600),
        default=120.0,
        show_default=True,
        metavar="SECONDS",
        help="Without --yes: no answer within SECONDS is taken as no (the flow rolls back).",
    )(func)
    return click.option("--yes", "-y", is_flag=True, help="Settle without asking.")(func)


_payment_option = click.option(
    "--payment-fails", is_flag=True, help="The simulated payment provider declines the payment."
)


def _with(options: list[Any]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


# -- hospital --------------------------------------------------------------------------------
@click.group()
def hospital() -> None:
    """Hospital outpatient settlement by card: swipe and refund."""


@hospital.command("swipe")
@_flow_options
@_with(_items_options)
@click.option("--dise-codg", default=None, help="Diagnosis code (ICD-10), for 2203.")
@click.option("--dise-name", default=None, help="Diagnosis name.")
@_yes_option
@handle_errors
def hospital_swipe(
    items_file: Path | None,
    item: tuple[str, ...],
    dise_codg: str | None,
    dise_name: str | None,
    yes: bool,
    confirm_timeout: float,
    as_json: bool,
    **kw: Any,
) -> None:
    """Card, PIN, 1101, 2201, 2203, 2204, 2206 (the split), 2207, card record, receipt."""
    from sscard_terminal.terminal import flows

    lines = _items(items_file, item)
    with _session(kw) as s:
        receipt = flows.hospital_swipe(
            s["card"], s["sam"], s["pins"], s["client"], lines,
            confirm=_asker(yes, confirm_timeout, s["quiet"]),
            dise_codg=dise_codg, dise_name=dise_name, progress=s["progress"],
        )  # fmt: skip
    _show(receipt, as_json)


@hospital.command("refund")
@_flow_options
@click.option("--setl-id", required=True, help="The settlement to refund.")
@click.option("--mdtrt-id", required=True, help="Its visit.")
@handle_errors
def hospital_refund(setl_id: str, mdtrt_id: str, as_json: bool, **kw: Any) -> None:
    """Card, PIN, 1101, 2208 (then 2205 and 2202), card record, receipt."""
    from sscard_terminal.terminal import flows

    with _session(kw) as s:
        receipt = flows.hospital_refund(
            s["card"], s["sam"], s["pins"], s["client"],
            setl_id=setl_id, mdtrt_id=mdtrt_id, progress=s["progress"],
        )  # fmt: skip
    _show(receipt, as_json)


# -- pharmacy --------------------------------------------------------------------------------
@click.group()
def pharmacy() -> None:
    """Pharmacy purchase by card: buy and cancel."""


@pharmacy.command("buy")
@_flow_options
@_with(_items_options)
@_yes_option
@_payment_option
@handle_errors
def pharmacy_buy(
    items_file: Path | None,
    item: tuple[str, ...],
    yes: bool,
    confirm_timeout: float,
    payment_fails: bool,
    as_json: bool,
    **kw: Any,
) -> None:
    """Card, PIN, 1101, 2101, the cash part, 2102, card record, receipt."""
    from sscard_terminal.terminal import flows

    lines = _items(items_file, item)
    with _session(kw) as s:
        receipt = flows.pharmacy_purchase(
            s["card"], s["sam"], s["pins"], s["client"], lines, _payments(payment_fails),
            confirm=_asker(yes, confirm_timeout, s["quiet"]), progress=s["progress"],
        )  # fmt: skip
    _show(receipt, as_json)


@pharmacy.command("cancel")
@_flow_options
@click.option("--setl-id", required=True, help="The settlement to cancel.")
@click.option("--mdtrt-id", required=True, help="Its mdtrt_id (from the receipt).")
@handle_errors
def pharmacy_cancel(setl_id: str, mdtrt_id: str, as_json: bool, **kw: Any) -> None:
    """Card, PIN, 1101, 2103, card record, receipt."""
    from sscard_terminal.terminal import flows

    with _session(kw) as s:
        receipt = flows.pharmacy_cancel(
            s["card"], s["sam"], s["pins"], s["client"],
            setl_id=setl_id, mdtrt_id=mdtrt_id, progress=s["progress"],
        )  # fmt: skip
    _show(receipt, as_json)


# -- kiosk -----------------------------------------------------------------------------------
@click.group()
def kiosk() -> None:
    """Self-service kiosk: the touch page (serve) and a registration from the command line."""


@kiosk.command("register")
@_flow_options
@click.option(
    "--schedule",
    "schedule_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The hospital's schedule (default: the demo schedule).",
)
@click.option("--department", default=None, help="Department code or name.")
@click.option("--doctor", default=None, help="Doctor code or name.")
@click.option(
    "--queue",
    "queue_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Queue-number file (default: next to the journal).",
)
@_yes_option
@_payment_option
@handle_errors
def kiosk_register(
    schedule_file: Path | None,
    department: str | None,
    doctor: str | None,
    queue_file: Path | None,
    yes: bool,
    confirm_timeout: float,
    payment_fails: bool,
    as_json: bool,
    **kw: Any,
) -> None:
    """Card, PIN, 1101, department and doctor, 2201, 2204, 2206, payment, 2207, receipt.

    Without --department/--doctor, shows the schedule.
    """
    from sscard_terminal.terminal import flows
    from sscard_terminal.terminal.schedule import load_schedule

    schedule = load_schedule(schedule_file)
    if not department or not doctor:
        for dept in schedule.departments:
            for doc in dept.doctors:
                click.echo(
                    f"{dept.code} {dept.name}  {doc.code} {doc.name} {doc.title}  "
                    f"{Decimal(doc.fee):>6} yuan  {doc.places} places"
                )
        raise UsageError("choose a --department and a --doctor from the schedule")
    with _session(kw, kiosk=True) as s:
        journal: Path = s["journal"]
        queue = flows.QueueBook(queue_file or journal.with_name(journal.stem + "-queue.db"))
        try:
            receipt = flows.kiosk_register(
                s["card"], s["sam"], s["pins"], s["client"], schedule, department, doctor,
                _payments(payment_fails), queue=queue,
                confirm=_asker(yes, confirm_timeout, s["quiet"]), progress=s["progress"],
            )  # fmt: skip
        finally:
            queue.close()
    _show(receipt, as_json)


#: the groups to add to ``sscard`` (cli/main.py: ``cli.add_command(...)``)
COMMANDS = (hospital, pharmacy, kiosk)
