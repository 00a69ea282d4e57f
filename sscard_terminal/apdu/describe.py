"""Readable descriptions of APDUs for traces, with secrets redacted.

``describe_command(bytes)`` gives e.g. ``READ RECORD EF06 tag 09 name`` or
``VERIFY PIN [redacted]``. The data of commands that carry a PIN, a
cryptogram or key material is never shown (style.md point 10), and personal
data items (ID number, name) are masked unless the caller asks to reveal the
card's content.
"""

from __future__ import annotations

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.apdu.status import format_sw
from sscard_terminal.codecs.masking import mask_id_number, mask_name
from sscard_terminal.codecs.records import EF05_ITEMS, EF06_ITEMS, decode_value
from sscard_terminal.errors import MalformedApduError

#: INS codes whose command data is secret: VERIFY, CHANGE PIN, PIN RELOAD/UNBLOCK,
#: EXTERNAL/INTERNAL AUTHENTICATE, DELIVERY SESSION KEY, CIPHER DATA, blocks with MAC
SECRET_COMMAND_DATA = frozenset({0x20, 0x24, 0x5E, 0x82, 0x88, 0xDE, 0xFA, 0x1E, 0x16})
#: INS codes whose response data is secret (cryptograms, session-key output)
SECRET_RESPONSE_DATA = frozenset({0x88, 0xFA, 0xDE})

_NAMES = {
    0xA4: "SELECT",
    0xB0: "READ BINARY",
    0xB2: "READ RECORD",
    0xC0: "GET RESPONSE",
    0xD6: "UPDATE BINARY",
    0xDC: "UPDATE RECORD",
    0xE2: "APPEND RECORD",
    0x84: "GET CHALLENGE",
    0x82: "EXTERNAL AUTHENTICATE",
    0x88: "INTERNAL AUTHENTICATE",
    0x20: "VERIFY PIN",
    0x5E: "CHANGE PIN",
    0x24: "PIN RELOAD/UNBLOCK",
    0x1E: "APPLICATION BLOCK",
    0x16: "CARD BLOCK",
    0xDE: "DELIVERY SESSION KEY",
    0xFA: "CIPHER DATA",
    0xEC: "INIT ENVIRONMENT",
}

_ITEMS = {spec.tag: spec for spec in (*EF05_ITEMS, *EF06_ITEMS)}
_PERSONAL_TAGS = {spec.tag for spec in EF06_ITEMS if spec.key in ("id_number", "name", "name_ext")}
_KNOWN_NAMES = {"sx1.sh.社会保障".encode("gbk"): "SSSE", b"1PAY.SYS.DDF01": "PSE"}


def _df_name(data: bytes) -> str:
    if data in _KNOWN_NAMES:
        return _KNOWN_NAMES[data]
    if data[:5] == bytes.fromhex("D156000005") and len(data) == 6:
        return f"AID {data.hex().upper()} (DF0{data[5] + 1 if data[5] < 4 else 7})"
    return data.hex().upper()


def describe_command(raw: bytes) -> str:
    """A one-line meaning of a command APDU, secrets redacted."""
    try:
        apdu = CommandApdu.from_bytes(raw)
    except MalformedApduError as exc:
        return f"malformed APDU ({exc})"
    name = _NAMES.get(apdu.ins, f"INS {apdu.ins:02X}")
    if apdu.ins in SECRET_COMMAND_DATA and apdu.data:
        return f"{name} [{len(apdu.data)} bytes redacted]"
    if apdu.ins == 0xA4:
        if apdu.p1 == 0x04:
            return f"{name} {_df_name(apdu.data)}"
        return f"{name} {apdu.data.hex().upper() or 'MF'}"
    if apdu.ins in (0xB2, 0xDC):
        sfi = apdu.p2 >> 3
        where = f"EF{sfi:02X}" if sfi else "current EF"
        if apdu.p2 & 0x07 == 0x04:
            return f"{name} {where} record {apdu.p1}"
        spec = _ITEMS.get(apdu.p1)
        label = f" {spec.key.replace('_', ' ')}" if spec else ""
        return f"{name} {where} tag {apdu.p1:02X}{label}"
    if apdu.ins in (0xB0, 0xD6):
        if apdu.p1 & 0x80:
            return f"{name} EF{apdu.p1 & 0x1F:02X} offset {apdu.p2}"
        return f"{name} offset {((apdu.p1 << 8) | apdu.p2) & 0x7FFF}"
    if apdu.ins == 0xE2:
        sfi = apdu.p2 >> 3
        return f"{name} {f'EF{sfi:02X}' if sfi else 'current EF'}"
    if apdu.ins == 0x84:
        return f"{name} {apdu.ne or 0} bytes"
    return name


def describe_response_data(command: bytes, data: bytes, *, reveal: bool = False) -> str:
    """The response body for a trace: hex, personal items masked, secrets redacted."""
    if not data:
        return ""
    ins = command[1] if len(command) > 1 else -1
    if ins in SECRET_RESPONSE_DATA:
        return f"[{len(data)} bytes redacted]"
    if ins == 0xB2 and len(data) >= 2 and data[0] in _ITEMS and data[1] == len(data) - 2:
        spec = _ITEMS[data[0]]
        try:
            text = decode_value(spec, data[2:])
        except ValueError:
            text = None
        if data[0] in _PERSONAL_TAGS and not reveal:
            masked = (
                ""
                if text is None
                else (mask_id_number(text) if spec.key == "id_number" else mask_name(text))
            )
            return f"{data[0]:02X} {data[1]:02X} <{spec.key}: {masked}>"
        if text is not None:
            return f"{data.hex(' ').upper()} ({spec.key}: {text})"
    return data.hex(" ").upper()


def trace_line(
    command: bytes, response: bytes, *, reveal: bool = False, secret_follow_up: bool = False
) -> str:
    """``>> 00 B2 09 30 20  READ RECORD EF06 tag 09 name`` / ``<< ... 9000 success`` as one line.

    ``secret_follow_up`` marks a GET RESPONSE that fetches a secret answer.
    """
    head = command[:4].hex(" ").upper() if len(command) >= 4 else command.hex(" ").upper()
    sw = int.from_bytes(response[-2:], "big") if len(response) >= 2 else -1
    body = response[:-2]
    if secret_follow_up and body:
        shown = f"[{len(body)} bytes redacted]"
    else:
        shown = describe_response_data(command, body, reveal=reveal)
    status = format_sw(sw) if sw >= 0 else "no status word"
    return f"{describe_command(command)} | {head} -> {shown + ' ' if shown else ''}{status}"
