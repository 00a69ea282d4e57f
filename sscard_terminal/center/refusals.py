"""Refusals: every business error of the center, in Chinese and English.

A :class:`Refusal` is raised by a rule or a transaction and becomes a response
envelope with ``infcode`` -1 and ``err_msg`` = ``"<中文> / <English>"``;
``err_code`` is a stable key for programs and tests. A refusal carries no
unmasked personal data: callers mask ID numbers and names before they put them
into the text.
"""

from __future__ import annotations

__all__ = ["Refusal"]


class Refusal(Exception):
    """A business error: infcode -1 with a clear Chinese and English message."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.code = code
        self.zh = zh
        self.en = en

    @property
    def err_msg(self) -> str:
        """The text for the response's ``err_msg``: Chinese, then English."""
        return f"{self.zh} / {self.en}"

    def __repr__(self) -> str:
        return f"Refusal({self.code!r}, {self.err_msg!r})"
