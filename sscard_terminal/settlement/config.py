"""A terminal's configuration: ``terminal.yaml``.

Everything a terminal needs to speak the interface (settlement-interface.md,
"Request envelope": fixmedins_code/name, mdtrtarea_admvs, opter_type, opter,
opter_name, recer_sys_code, dev_no), where its center is, and where its
journal lives. The institution's secret is never in the file: it names a file
that holds it (readable by its owner only), so that the configuration can be
shown and copied without the secret. Relative paths are relative to the
configuration file. For example::

    center: http://127.0.0.1:8080
    journal: journal-H33020300001-0001.db
    timeout: 15
    msgid_slot: 0              # 0-99: each terminal of the institution its own
    institution:
      fixmedins_code: H33020300001
      fixmedins_name: 宁波市第一医院
      mdtrtarea_admvs: "330203"
      secret_file: H33020300001.secret
      # sm2_private_key_file: H33020300001.sm2   # sign with SM2 instead of HMAC-SM3
    # gateway:                   # behind an x-tif gateway: send its headers
    #   paasid: H33020300001
    operator:
      opter_type: 1            # 1 operator, 2 self-service kiosk
      opter: "0001"
      opter_name: 收费员01
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.engine import InstitutionConfig, Operator
from sscard_terminal.settlement.envelope import DEFAULT_RECER_SYS_CODE, OpterType
from sscard_terminal.settlement.errors import ConfigError
from sscard_terminal.settlement.sm2 import read_private_key
from sscard_terminal.yaml_syntax import describe_yaml_error

__all__ = [
    "EXAMPLE",
    "GatewaySection",
    "InstitutionSection",
    "OperatorSection",
    "TerminalConfig",
    "read_secret",
]

EXAMPLE = __doc__.split("For example::\n\n", 1)[1] if __doc__ else ""


class InstitutionSection(BaseModel):
    """``institution:`` of terminal.yaml."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    fixmedins_code: str = Field(pattern=r"^[A-Z0-9]{12}$")
    fixmedins_name: str = Field(min_length=1, max_length=200)
    mdtrtarea_admvs: str = Field(pattern=r"^\d{6}$")
    secret_file: Path
    recer_sys_code: str = Field(default=DEFAULT_RECER_SYS_CODE, min_length=1, max_length=10)
    #: sign with SM2 (signtype "SM2"): a file holding the private key (64 hex digits)
    sm2_private_key_file: Path | None = None


class GatewaySection(BaseModel):
    """``gateway:`` of terminal.yaml: send the x-tif headers (docs/center.md)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    paasid: str = Field(pattern=r"^[A-Za-z0-9_\-.]{1,64}$")


class OperatorSection(BaseModel):
    """``operator:`` of terminal.yaml."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    opter_type: str = Field(default="1", pattern=r"^[123]$")
    opter: str = Field(min_length=1, max_length=30)
    opter_name: str = Field(min_length=1, max_length=50)
    dev_no: str = Field(default="", max_length=100)
    mac: str = Field(default="", max_length=64)
    ip: str = Field(default="", max_length=64)


class TerminalConfig(BaseModel):
    """terminal.yaml."""

    model_config = ConfigDict(extra="forbid")

    center: str | None = None
    journal: Path | None = None
    timeout: float = Field(default=15.0, gt=0, le=600)
    msgid_slot: int = Field(default=0, ge=0, le=99)
    institution: InstitutionSection
    operator: OperatorSection
    gateway: GatewaySection | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TerminalConfig:
        """Read and check a terminal.yaml; relative paths become relative to it."""
        where = Path(path)
        try:
            raw = yaml.safe_load(where.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"cannot read {where}: {exc.strerror or exc}",
                hint="give --config, or set SSCARD_TERMINAL_CONFIG",
            ) from None
        except yaml.YAMLError as exc:
            raise ConfigError(describe_yaml_error(where, exc)) from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: a terminal configuration is a YAML mapping")
        config = cls.from_mapping(raw, source=str(where))
        return config.relative_to(where.parent)

    @classmethod
    def from_mapping(
        cls,
        raw: dict[str, Any],
        *,
        source: str = "terminal.yaml",
        flags: Mapping[str, str] | None = None,
    ) -> TerminalConfig:
        """Check a configuration given as a mapping. ``flags`` maps a field
        (``institution.secret_file``) to the command-line option that sets it,
        so that a missing setting names both ways to give it."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            parts = []
            missing = False
            for error in exc.errors(include_url=False, include_input=False)[:6]:
                where = ".".join(str(p) for p in error["loc"])
                if error["type"] == "missing":
                    missing = True
                    flag = (flags or {}).get(where)
                    also = f"{flag} or " if flag else ""
                    parts.append(f"{where} is not set (give {also}`{where}` in terminal.yaml)")
                else:
                    parts.append(f"{where}: {error['msg']}")
            hint = "`sscard terminal init` writes a terminal.yaml for a seeded center"
            raise ConfigError(
                f"{source}: " + "; ".join(parts), hint=hint if missing else None
            ) from None

    def relative_to(self, base: Path) -> TerminalConfig:
        """Relative paths made relative to ``base``."""
        secret = self.institution.secret_file
        sm2_key = self.institution.sm2_private_key_file
        journal = self.journal
        return self.model_copy(
            update={
                "institution": self.institution.model_copy(
                    update={
                        "secret_file": secret if secret.is_absolute() else base / secret,
                        "sm2_private_key_file": None
                        if sm2_key is None
                        else sm2_key
                        if sm2_key.is_absolute()
                        else base / sm2_key,
                    }
                ),
                "journal": base / self.journal_path
                if journal is None or not journal.is_absolute()
                else journal,
            }
        )

    @property
    def journal_path(self) -> Path:
        """The journal file: as configured, else journal-<code>-<opter>.db here."""
        if self.journal is not None:
            return self.journal
        return Path(f"journal-{self.institution.fixmedins_code}-{self.operator.opter}.db")

    def institution_config(self) -> InstitutionConfig:
        """The institution with its secret read from ``secret_file``."""
        section = self.institution
        return InstitutionConfig(
            fixmedins_code=section.fixmedins_code,
            fixmedins_name=section.fixmedins_name,
            mdtrtarea_admvs=section.mdtrtarea_admvs,
            secret=read_secret(section.secret_file),
            recer_sys_code=section.recer_sys_code,
            sm2=None
            if section.sm2_private_key_file is None
            else read_private_key(section.sm2_private_key_file),
            gateway_paasid=self.gateway.paasid if self.gateway else None,
        )

    def operator_config(self) -> Operator:
        section = self.operator
        return Operator(
            opter_type=OpterType(section.opter_type),
            opter=section.opter,
            opter_name=section.opter_name,
            dev_no=section.dev_no,
            mac=section.mac,
            ip=section.ip,
        )

    def client(self, center: str | None = None) -> SettlementClient:
        """A :class:`SettlementClient` for this terminal (``center`` overrides the file)."""
        url = center or self.center
        if not url:
            raise ConfigError(
                "no center URL", hint="give --center URL, or `center:` in terminal.yaml"
            )
        return SettlementClient(
            url,
            self.institution_config(),
            self.operator_config(),
            self.journal_path,
            self.timeout,
            msgid_slot=self.msgid_slot,
        )


def read_secret(path: str | os.PathLike[str]) -> str:
    """The institution's secret from its file (first line, stripped). Refuses a
    file that others than its owner's group can read."""
    where = Path(path)
    try:
        mode = where.stat().st_mode
        text = where.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the secret file {where}: {exc.strerror or exc}") from None
    if os.name == "posix" and mode & stat.S_IROTH:
        raise ConfigError(
            f"the secret file {where} is readable by everyone",
            hint=f"chmod 600 {where}",
        )
    secret = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise ConfigError(f"the secret file {where} is empty")
    return secret
