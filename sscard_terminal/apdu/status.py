"""Status words: the one table of what every SW1-SW2 means.

ISO/IEC 7816-4:2020 clause 5.6 (status bytes), with the card-specific words of
LD/T 32-2015 (9302 MAC invalid, 9303 application blocked) and the EMV
convention 6A81 for a blocked card. Both the card side (the virtual card OS)
and the terminal side (the driver) take their status words from here.
"""

from __future__ import annotations

from enum import IntEnum


class SW(IntEnum):
    """Status words with a fixed value. Families with a variable low byte
    (61xx, 6Cxx, 63Cx) are built with :func:`bytes_available`,
    :func:`wrong_le` and :func:`pin_tries_left`."""

    OK = 0x9000
    # 62xx / 63xx warnings
    WARNING_NO_INFORMATION = 0x6200
    END_OF_FILE_REACHED = 0x6282
    SELECTED_FILE_DEACTIVATED = 0x6283
    VERIFICATION_FAILED = 0x6300
    # 64xx / 65xx execution errors
    EXECUTION_ERROR = 0x6400
    MEMORY_FAILURE = 0x6581
    # 67xx
    WRONG_LENGTH = 0x6700
    # 68xx
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
    # 69xx command not allowed
    COMMAND_NOT_ALLOWED = 0x6900
    CANNOT_SELECT = 0x6901  # LD/T 32: command not accepted (invalid state)
    COMMAND_INCOMPATIBLE_WITH_FILE = 0x6981
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_NOT_USABLE = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED_NO_EF = 0x6986
    SM_DATA_OBJECTS_MISSING = 0x6987
    SM_DATA_OBJECTS_INCORRECT = 0x6988
    # 6Axx wrong parameters
    INCORRECT_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81  # also: card blocked (EMV)
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    NOT_ENOUGH_MEMORY = 0x6A84
    LC_INCONSISTENT_WITH_TLV = 0x6A85
    INCORRECT_P1_P2 = 0x6A86
    LC_INCONSISTENT_WITH_P1_P2 = 0x6A87
    REFERENCED_DATA_NOT_FOUND = 0x6A88
    FILE_ALREADY_EXISTS = 0x6A89
    DF_NAME_ALREADY_EXISTS = 0x6A8A
    # 6Bxx .. 6Fxx
    WRONG_P1_P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00
    # 93xx (LD/T 32-2015)
    MAC_INVALID = 0x9302
    APPLICATION_BLOCKED = 0x9303

    @property
    def sw1(self) -> int:
        return self.value >> 8

    @property
    def sw2(self) -> int:
        return self.value & 0xFF

    @property
    def raw(self) -> bytes:
        """SW1 SW2 as two bytes."""
        return int(self).to_bytes(2, "big")


_MEANINGS: dict[int, str] = {
    SW.OK: "success",
    SW.WARNING_NO_INFORMATION: "warning: state of non-volatile memory unchanged",
    SW.END_OF_FILE_REACHED: "warning: end of file or record reached before Le bytes",
    SW.SELECTED_FILE_DEACTIVATED: "warning: selected file deactivated",
    SW.VERIFICATION_FAILED: "verification failed",
    SW.EXECUTION_ERROR: "execution error: state of non-volatile memory unchanged",
    SW.MEMORY_FAILURE: "memory failure",
    SW.WRONG_LENGTH: "wrong length (Lc or Le)",
    SW.LOGICAL_CHANNEL_NOT_SUPPORTED: "logical channel not supported",
    SW.SECURE_MESSAGING_NOT_SUPPORTED: "secure messaging not supported",
    SW.COMMAND_NOT_ALLOWED: "command not allowed",
    SW.CANNOT_SELECT: "command not accepted in the current state",
    SW.COMMAND_INCOMPATIBLE_WITH_FILE: "command incompatible with file structure",
    SW.SECURITY_STATUS_NOT_SATISFIED: "security status not satisfied",
    SW.AUTH_METHOD_BLOCKED: "authentication method blocked",
    SW.REFERENCE_DATA_NOT_USABLE: "reference data not usable (random number invalid)",
    SW.CONDITIONS_NOT_SATISFIED: "conditions of use not satisfied",
    SW.COMMAND_NOT_ALLOWED_NO_EF: "command not allowed (no current EF)",
    SW.SM_DATA_OBJECTS_MISSING: "expected secure messaging data objects missing",
    SW.SM_DATA_OBJECTS_INCORRECT: "secure messaging data objects incorrect",
    SW.INCORRECT_DATA: "incorrect parameters in the data field",
    SW.FUNCTION_NOT_SUPPORTED: "function not supported, or card blocked",
    SW.FILE_NOT_FOUND: "file or application not found",
    SW.RECORD_NOT_FOUND: "record not found",
    SW.NOT_ENOUGH_MEMORY: "not enough memory space in the file",
    SW.LC_INCONSISTENT_WITH_TLV: "Lc inconsistent with TLV structure",
    SW.INCORRECT_P1_P2: "incorrect parameters P1-P2",
    SW.LC_INCONSISTENT_WITH_P1_P2: "Lc inconsistent with P1-P2",
    SW.REFERENCED_DATA_NOT_FOUND: "referenced data or key not found",
    SW.FILE_ALREADY_EXISTS: "file already exists",
    SW.DF_NAME_ALREADY_EXISTS: "DF name already exists",
    SW.WRONG_P1_P2: "wrong parameters P1-P2 (offset outside the EF)",
    SW.INS_NOT_SUPPORTED: "instruction code not supported or invalid",
    SW.CLA_NOT_SUPPORTED: "class not supported",
    SW.NO_PRECISE_DIAGNOSIS: "no precise diagnosis",
    SW.MAC_INVALID: "MAC invalid",
    SW.APPLICATION_BLOCKED: "application blocked",
}

_SW1_FAMILIES: dict[int, str] = {
    0x62: "warning: state of non-volatile memory unchanged",
    0x63: "warning: state of non-volatile memory changed",
    0x64: "execution error: state of non-volatile memory unchanged",
    0x65: "execution error: state of non-volatile memory changed",
    0x66: "security-related issue",
    0x67: "wrong length",
    0x68: "functions in CLA not supported",
    0x69: "command not allowed",
    0x6A: "wrong parameters P1-P2",
    0x6B: "wrong parameters P1-P2",
    0x6D: "instruction code not supported or invalid",
    0x6E: "class not supported",
    0x6F: "no precise diagnosis",
    0x93: "card-specific error",
}


def bytes_available(n: int) -> int:
    """61xx: xx response bytes wait for GET RESPONSE (ISO 7816-3 T=0)."""
    return 0x6100 | (n & 0xFF)


def wrong_le(n: int) -> int:
    """6Cxx: wrong Le, xx is the exact length available."""
    return 0x6C00 | (n & 0xFF)


def pin_tries_left(n: int) -> int:
    """63Cx: verification failed, x tries left (ISO 7816-4 clause 5.6)."""
    return 0x63C0 | (n & 0x0F)


def is_valid_sw(sw: int) -> bool:
    """A status word is well formed when SW1 is 6x (x != 0) or 9x
    (ISO 7816-3 clause 10.3.3). 60xx is a procedure byte, never a status."""
    sw1 = sw >> 8
    return 0 <= sw <= 0xFFFF and ((sw1 & 0xF0) in (0x60, 0x90)) and sw1 != 0x60


def describe_sw(sw: int) -> str:
    """A readable meaning for any status word."""
    if sw in _MEANINGS:
        return _MEANINGS[sw]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return f"{sw2} response bytes available (GET RESPONSE)"
    if sw1 == 0x6C:
        return f"wrong Le: {sw2} bytes available"
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        tries = sw2 & 0x0F
        return f"verification failed, {tries} {'try' if tries == 1 else 'tries'} left"
    if sw1 == 0x90 or sw1 == 0x91:
        return "success"
    if sw1 in _SW1_FAMILIES:
        return f"{_SW1_FAMILIES[sw1]} ({sw:04X})"
    return f"unknown status word {sw:04X}"


def format_sw(sw: int) -> str:
    """`6A82 file or application not found`: hex and meaning, for logs and the CLI."""
    return f"{sw:04X} {describe_sw(sw)}"
