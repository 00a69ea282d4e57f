"""The sans-IO APDU core: command and response APDUs and status words."""

from sscard_terminal.apdu.command import ApduCase, CommandApdu
from sscard_terminal.apdu.response import ResponseApdu
from sscard_terminal.apdu.status import SW, describe_sw, format_sw

__all__ = ["SW", "ApduCase", "CommandApdu", "ResponseApdu", "describe_sw", "format_sw"]
