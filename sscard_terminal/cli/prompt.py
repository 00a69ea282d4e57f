"""The patient's (or operator's) confirmation at a flow's prompt.

A prompt that gets no answer must never leave money half-booked: end of
input (a closed or empty standard input, Ctrl-D), Ctrl-C, or no answer
within the timeout all count as "no", so the flow rolls back exactly as
when the patient declines. Standard input may be a terminal or a pipe (an
integrator's script answering ``y``); it is read byte by byte with a
deadline, never past the end of the answer's line.
"""

from __future__ import annotations

import os
import select
import sys
import time
from dataclasses import dataclass

import click

#: how long a flow waits for the answer by default (seconds)
DEFAULT_TIMEOUT = 120.0
_YES = frozenset({"", "y", "yes", "是"})
_NO = frozenset({"n", "no", "否"})
_MAX_LINE = 64
_TRIES = 3


@dataclass(frozen=True)
class Answer:
    """The answer, and why it is "no" when nobody said so."""

    yes: bool
    unanswered: str | None = None


def _read_line(fd: int, deadline: float) -> str | None:
    """One line from ``fd``, or None at end of input; TimeoutError past the deadline."""
    line = bytearray()
    while len(line) < _MAX_LINE:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            raise TimeoutError
        char = os.read(fd, 1)
        if not char:
            return None if not line else line.decode("utf-8", errors="replace")
        if char == b"\n":
            break
        line += char
    return line.decode("utf-8", errors="replace")


def confirm(question: str, timeout: float = DEFAULT_TIMEOUT) -> Answer:
    """Ask ``question [Y/n]`` on stderr and read the answer from standard input.

    Ctrl-C anywhere in here (while the question is written as well as while
    the answer is awaited) is an answer: "no"."""
    try:
        return _ask(question, timeout)
    except KeyboardInterrupt:
        click.echo("", err=True)
        return Answer(False, "interrupted at the prompt")


def _ask(question: str, timeout: float) -> Answer:
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return Answer(False, "no standard input")
    deadline = time.monotonic() + timeout
    for _ in range(_TRIES):
        click.echo(f"{question} [Y/n]: ", err=True, nl=False)
        try:
            text = _read_line(fd, deadline)
        except TimeoutError:
            click.echo("", err=True)
            return Answer(False, f"no answer within {timeout:g} s")
        except OSError:
            click.echo("", err=True)
            return Answer(False, "standard input is closed")
        if text is None:
            click.echo("", err=True)
            return Answer(False, "end of input")
        answer = text.strip().lower()
        if answer in _YES:
            return Answer(True)
        if answer in _NO:
            return Answer(False)
        click.echo("please answer y or n", err=True)
    return Answer(False, "no clear answer")
