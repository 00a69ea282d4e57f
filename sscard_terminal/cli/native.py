"""``sscard native``: the drop-in vendor library ``libSSCardDriver.so`` (docs/native.md)."""

from __future__ import annotations

import click

from sscard_terminal.cli.options import handle_errors


@click.group()
def native() -> None:
    """The native drop-in for the vendors' libSSCardDriver.so (iReadCardBas and its family)."""


@native.command("build")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for libSSCardDriver.so and SSCardDriver.h (created if missing).",
)
@click.option("--verbose", is_flag=True, help="Show the compiler's commands.")
@handle_errors
def native_build(out_dir: str, verbose: bool) -> None:
    """Build libSSCardDriver.so and write SSCardDriver.h (needs gcc and the Python headers)."""
    from sscard_terminal.native.build import build

    built = build(out_dir, verbose=verbose)
    click.echo(f"wrote {built.library} and {built.header}")
