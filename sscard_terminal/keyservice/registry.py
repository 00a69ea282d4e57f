"""The registry of terminals the key service answers.

A YAML file (schema ``sscard-terminals/1``) lists the terminal numbers (12
digits, the cn6 of a PSAM's EF 0016, card-spec.md "PSAM") the service accepts.
Every terminal names the SHA-256 of the bearer token it must present
(``Authorization: Bearer <token>``), and no two terminals share one: each
authenticates with a credential of its own. The file holds only the digests,
never a token. The test registry shipped beside this module
(:data:`DEFAULT_TERMINALS_FILE`) lists ``330200000001`` and ``330200000002``
with the published test tokens ``test-token-330200000001`` and
``test-token-330200000002`` (test data: make your own registry for anything else,
``sscard keyservice token`` prints a new token and its digest).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sscard_terminal.errors import UsageError
from sscard_terminal.yaml_syntax import describe_yaml_error

#: the test registry shipped with the package
DEFAULT_TERMINALS_FILE = Path(__file__).with_name("terminals.yaml")

TERMINAL_NUMBER_PATTERN = r"^[0-9]{12}$"


def token_digest(token: str) -> str:
    """The SHA-256 (lower-case hex) of a bearer token, as the registry stores it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TerminalEntry(BaseModel):
    """One registered terminal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(pattern=TERMINAL_NUMBER_PATTERN)
    description: str = ""
    #: SHA-256 (hex) of the bearer token the terminal must present
    token_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


class TerminalsFile(BaseModel):
    """The registry file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["sscard-terminals/1"] = Field(alias="schema")
    terminals: list[TerminalEntry]

    @field_validator("terminals")
    @classmethod
    def _unique(cls, value: list[TerminalEntry]) -> list[TerminalEntry]:
        seen: set[str] = set()
        tokens: dict[str, str] = {}
        for entry in value:
            if entry.number in seen:
                raise ValueError(f"terminal {entry.number} is listed twice")
            seen.add(entry.number)
            digest = entry.token_sha256.lower()
            if digest in tokens:
                raise ValueError(
                    f"terminals {tokens[digest]} and {entry.number} have the same token: "
                    "each terminal needs a token of its own"
                )
            tokens[digest] = entry.number
        return value


@dataclass(frozen=True)
class TerminalRegistry:
    """The terminals the service answers, by number."""

    entries: dict[str, TerminalEntry]

    @classmethod
    def of(cls, entries: list[TerminalEntry]) -> TerminalRegistry:
        """A registry of these entries (numbers must be unique)."""
        checked = TerminalsFile.model_validate(
            {"schema": "sscard-terminals/1", "terminals": entries}
        )
        return cls({e.number: e for e in checked.terminals})

    def __contains__(self, number: object) -> bool:
        return number in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def token_ok(self, number: str, token: str | None) -> bool:
        """Whether ``token`` is the registered terminal's own token (constant time)."""
        if token is None:
            return False
        expected = self.entries[number].token_sha256
        return hmac.compare_digest(token_digest(token), expected.lower())


def load_terminals(path: Path = DEFAULT_TERMINALS_FILE) -> TerminalRegistry:
    """Load and validate a registry file; errors name the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the terminal registry: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(describe_yaml_error(path, exc)) from None
    try:
        parsed = TerminalsFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise UsageError(f"{path}: {problems}") from None
    return TerminalRegistry({e.number: e for e in parsed.terminals})
