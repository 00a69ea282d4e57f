"""The library's configuration file, an ini file like the vendors' (integration.md,
"The vendor reader library": the calling program is not changed to configure it).

The file is the one named by the environment variable ``SSCARD_DRIVER_INI``, or
else ``/etc/sscard/SSCardDriver.ini``; without either, the defaults hold (the
first reader holding a social security card, no security module, GBK). It is
read at every call, so an edit takes effect at the next call. Every key is
checked: an unknown section or key, or a value of the wrong form, is a
:class:`~sscard_terminal.native.codes.ConfigError` naming the file, the key and
the form it must take. The file holds no PIN and no key: the PIN comes from the
PIN pad, keys stay in the PSAM, the key service or the key-set file.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sscard_terminal.native.codes import ConfigError

ENV_VAR = "SSCARD_DRIVER_INI"
DEFAULT_PATH = Path("/etc/sscard/SSCardDriver.ini")

SAM_KINDS = ("none", "psam", "software", "keyservice")
PINPAD_KINDS = ("simulated", "terminal")
ENCODINGS = {"gbk": "gbk", "utf-8": "utf-8", "utf8": "utf-8"}

#: section -> the keys it may hold
KEYS: dict[str, tuple[str, ...]] = {
    "reader": ("name",),
    "sam": ("kind", "reader", "key_file", "url", "timeout"),
    "terminal": ("number", "device"),
    "pinpad": ("kind", "file"),
    "output": ("encoding",),
}

_TERMINAL_NUMBER = re.compile(r"[0-9]{12}")


@dataclass(frozen=True)
class DriverConfig:
    """What the library needs to know; the defaults are an empty file's."""

    #: PC/SC reader of the card (a unique part of its name); None: the first one
    #: whose card answers SELECT SSSE
    reader: str | None = None
    #: none, psam, software or keyservice
    sam: str = "none"
    #: the PSAM's reader (sam = psam)
    sam_reader: str = "Virtual PCD 00 01"
    #: the test key-set file or bundled name (sam = software)
    key_file: str | None = None
    #: the key service's base URL (sam = keyservice)
    keyservice_url: str | None = None
    keyservice_timeout: float = 5.0
    #: this terminal's number (12 digits) when the security module gives none
    terminal_number: str = ""
    #: this terminal's device number (the line's last item)
    device_number: str = ""
    pinpad: str = "simulated"
    pinpad_file: str | None = None
    #: the encoding of every text written to the caller: "gbk" or "utf-8"
    encoding: str = "gbk"
    #: where the configuration came from ("" for the defaults)
    source: str = ""


def config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The file to read: ``$SSCARD_DRIVER_INI``, else the default path if it exists."""
    env = os.environ if environ is None else environ
    named = env.get(ENV_VAR)
    if named:
        return Path(named)
    return DEFAULT_PATH if DEFAULT_PATH.exists() else None


def load_config(environ: Mapping[str, str] | None = None) -> DriverConfig:
    """Read and check the configuration (see the module's docstring)."""
    path = config_path(environ)
    if path is None:
        return DriverConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the configuration file {path}: {exc.strerror}",
            hint=f"check {ENV_VAR} and the file's permissions",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<text>") -> DriverConfig:
    """Check an ini text and build the configuration from it."""
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=(";", "#"), strict=True
    )
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{source}: not a valid ini file ({first})") from None
    for section in parser.sections():
        if section not in KEYS:
            raise ConfigError(
                f"{source}: unknown section [{section}]",
                hint=f"the sections are {', '.join(f'[{s}]' for s in KEYS)}",
            )
        for key in parser[section]:
            if key not in KEYS[section]:
                raise ConfigError(
                    f"{source}: unknown key {key!r} in [{section}]",
                    hint=f"[{section}] takes {', '.join(KEYS[section])}",
                )

    def get(section: str, key: str) -> str | None:
        value = parser.get(section, key, fallback=None)
        return value.strip() or None if value is not None else None

    def choice(section: str, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = (get(section, key) or default).lower()
        if value not in allowed:
            raise ConfigError(f"{source}: [{section}] {key} must be one of {', '.join(allowed)}")
        return value

    sam = choice("sam", "kind", SAM_KINDS, "none")
    number = get("terminal", "number") or ""
    if number and not _TERMINAL_NUMBER.fullmatch(number):
        raise ConfigError(f"{source}: [terminal] number must be 12 digits")
    device = get("terminal", "device") or ""
    if "|" in device or not device.isprintable():
        raise ConfigError(f"{source}: [terminal] device must be printable text without '|'")
    timeout_text = get("sam", "timeout") or "5"
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= 120:
        raise ConfigError(f"{source}: [sam] timeout must be seconds, more than 0 and at most 120")
    url = get("sam", "url")
    if sam == "keyservice" and (not url or not number):
        raise ConfigError(
            f"{source}: [sam] kind = keyservice needs [sam] url and [terminal] number",
            hint="e.g. url = http://127.0.0.1:8765 and number = 330200000001",
        )
    encoding_name = (get("output", "encoding") or "gbk").lower()
    if encoding_name not in ENCODINGS:
        raise ConfigError(f"{source}: [output] encoding must be gbk or utf-8")
    pinpad = choice("pinpad", "kind", PINPAD_KINDS, "simulated")
    return DriverConfig(
        reader=get("reader", "name"),
        sam=sam,
        sam_reader=get("sam", "reader") or DriverConfig.sam_reader,
        key_file=get("sam", "key_file"),
        keyservice_url=url,
        keyservice_timeout=timeout,
        terminal_number=number,
        device_number=device,
        pinpad=pinpad,
        pinpad_file=get("pinpad", "file"),
        encoding=ENCODINGS[encoding_name],
        source=source,
    )
