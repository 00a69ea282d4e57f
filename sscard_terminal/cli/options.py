"""Options and helpers shared by the ``sscard`` commands: error handling with
the exit codes of :class:`sscard_terminal.errors.ExitCode`, the security-module
options and the PIN sources (a PIN never comes from an argument)."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from sscard_terminal.errors import ExitCode, SscardError, UsageError
from sscard_terminal.shipped import DEFAULT_KEY_SET

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    click.echo(f"sscard: {message}", err=True)
    sys.exit(code)


def stop_on_broken_pipe() -> NoReturn:
    """The reader of standard output went away (``sscard card log | head``): stop
    quietly, as ``cat`` does, instead of printing "Broken pipe". Standard output
    is pointed at /dev/null first so that the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (a test runner): nothing to redirect
        pass
    sys.exit(0)


def handle_errors(func: F) -> F:
    """Turn our errors into one line and an exit code; never show a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SscardError as exc:
            _fail(exc.one_line(), int(exc.exit_code))
        except KeyboardInterrupt:
            _fail("interrupted", int(ExitCode.INTERRUPTED))
        except BrokenPipeError:
            stop_on_broken_pipe()
        except OSError as exc:
            where = getattr(exc, "filename", "") or "system"
            _fail(
                f"{exc.strerror or exc} ({where}); check the path and its permissions",
                ExitCode.USAGE,
            )
        except Exception as exc:  # a bug: still one line, and say where to look
            logging.getLogger(__name__).debug("internal error", exc_info=True)
            _fail(
                f"internal error ({type(exc).__name__}); run with -vv for details",
                ExitCode.INTERNAL,
            )

    return wrapper  # type: ignore[return-value]


def _sam_options(func: F) -> F:
    for option in reversed(
        [
            click.option(
                "--sam",
                type=click.Choice(["none", "software", "pcsc", "keyservice"]),
                default="none",
                show_default=True,
                help="Security module for authentication (3.0 cards need one to read EF06).",
            ),
            click.option("--sam-reader", help="PSAM reader for --sam pcsc [Virtual PCD 00 01]."),
            click.option(
                "--key-file", help=f"Test key-set file for --sam software [{DEFAULT_KEY_SET}]."
            ),
            click.option(
                "--keyservice", "keyservice_url", help="Key service URL for --sam keyservice."
            ),
            click.option("--terminal", default="", help="Terminal number (key service, the line)."),
        ]
    ):
        func = option(func)
    return func


def _transport_option(func: F) -> F:
    """``--transport``: the reader backend of every card command (python-can style)."""
    from sscard_terminal.transport.base import DEFAULT_TRANSPORT, transport_names

    return click.option(
        "--transport",
        type=click.Choice(transport_names()),
        default=DEFAULT_TRANSPORT,
        show_default=True,
        help="Reader backend: PC/SC readers, or in-process virtual cards "
        "(--reader then names a card image or profile).",
    )(func)


def _station_spec(kw: dict[str, Any], **more: Any) -> Any:
    """A :class:`~sscard_terminal.terminal.station.StationSpec` from the common options,
    popped from ``kw`` (``--transport``, ``--reader`` and the security-module options)."""
    from sscard_terminal.terminal.station import StationSpec

    return StationSpec(
        transport=kw.pop("transport"),
        reader=kw.pop("reader"),
        sam=kw.pop("sam"),
        sam_reader=kw.pop("sam_reader"),
        key_file=kw.pop("key_file"),
        keyservice_url=kw.pop("keyservice_url"),
        terminal=kw.pop("terminal"),
        **more,
    )


def _open_sam(
    sam: str, sam_reader: str | None, key_file: str | None, url: str | None, terminal: str
) -> Any:
    from sscard_terminal.terminal.station import StationSpec, open_sam

    return open_sam(
        StationSpec(
            sam=sam,  # type: ignore[arg-type]  # click.Choice checked it
            sam_reader=sam_reader,
            key_file=key_file,
            keyservice_url=url,
            terminal=terminal,
        )
    )


def _pin_options(func: F) -> F:
    func = click.option(
        "--pin-pad",
        "pin_pad",
        metavar="FILE",
        help="Use the simulated PIN pad, loaded with the entries of FILE (one per line).",
    )(func)
    func = click.option(
        "--pin-fd",
        type=int,
        metavar="N",
        help="Read the PIN(s) from file descriptor N, one per line.",
    )(func)
    return func


def _pin_source(pin_fd: int | None, pin_pad: str | None) -> Any:
    """The PIN never comes from an argument or the environment: prompt, PIN pad or fd."""
    from sscard_terminal.driver.pin import FdPin, PromptPin, SimulatedPinPad

    if pin_fd is not None and pin_pad is not None:
        raise UsageError("choose one of --pin-fd and --pin-pad")
    if pin_fd is not None:
        return FdPin(pin_fd)
    if pin_pad is not None:
        return SimulatedPinPad.from_file(pin_pad)
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the PIN", hint="use --pin-fd N or --pin-pad FILE")
    return PromptPin()
