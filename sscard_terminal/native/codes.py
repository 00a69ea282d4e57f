"""The vendor library's return codes and error texts, and the one place that maps
this package's errors onto them.

The codes are those the card vendors' ``SSCardDriver`` libraries return
(integration.md, "The vendor reader library"; the public return-code tables
of the vendors' wrappers agree): 0 is success, a small negative number names
a condition of the reader, the card or the PIN pad, -22xx a condition of the
security module, and a status word the card refused with is returned as its
negative value (6982 -> -27010, 6A88 -> -27272, 9303 -> -37635). The text for
``pOutInfo`` starts with the vendors' own words for the code and goes on with
this package's one-line cause and what to do; no text ever holds a PIN, a key
or a cryptogram (the errors it is built from never do).
"""

from __future__ import annotations

from enum import IntEnum

from sscard_terminal.driver.keyservice_client import KeyServiceRefused, KeyServiceUnavailable
from sscard_terminal.errors import (
    CorruptResponseError,
    MuteCardError,
    PinBlockedError,
    PinEntryCancelled,
    ReaderError,
    SscardError,
    StatusWordError,
    TransportError,
    UsageError,
    WrongPinError,
)


class ReturnCode(IntEnum):
    """Return codes of the exported functions (the vendors' table)."""

    OK = 0
    #: iType is not 1..4
    CARD_TYPE = -1
    #: no card in the reader, or the card was pulled during the call
    NO_CARD = -2
    #: the card does not answer reset
    CARD_MUTE = -4
    #: the library cannot start: its Python side, or its configuration file
    LOAD = -5
    #: no reader, pcscd not running
    READER = -11
    #: no connection: step 2 without step 1, the key service unreachable
    NOT_CONNECTED = -12
    #: a parameter of the call is not valid (NULL buffer, malformed pKey)
    PARAMETER = -14
    #: the card's answer was damaged (two reads differ, impossible values)
    CHECKSUM = -15
    #: the key service found the card's INTERNAL AUTHENTICATE answer wrong
    HSM_MISMATCH = -25
    #: PIN entry cancelled (or the PIN pad had nothing to give)
    PIN_CANCELLED = -31
    #: the PIN pad gave a PIN that is not 4 to 12 digits
    PIN_LENGTH = -33
    #: the new PIN and its repetition differ
    PIN_MISMATCH = -34
    #: wrong PIN; the text says how many tries are left
    PIN_WRONG = -51
    #: PIN blocked
    PIN_BLOCKED = -52
    #: no PSAM (a 3.0 card needs a security module for its EF06)
    NO_PSAM = -2201
    #: a 2.0 card needs no key service: read it with iReadCardBas
    HSM_NOT_NEEDED = -2204
    UNKNOWN = -999


#: the vendors' words for each code (GBK on the wire by default)
VENDOR_TEXT: dict[int, str] = {
    ReturnCode.CARD_TYPE: "卡类型不对",
    ReturnCode.NO_CARD: "无卡",
    ReturnCode.CARD_MUTE: "卡无应答",
    ReturnCode.LOAD: "加载动态库错",
    ReturnCode.READER: "读卡器连接错",
    ReturnCode.NOT_CONNECTED: "未建立连接",
    ReturnCode.PARAMETER: "命令参数错",
    ReturnCode.CHECKSUM: "信息校验和出错",
    ReturnCode.HSM_MISMATCH: "内部认证与加密机不一致失败",
    ReturnCode.PIN_CANCELLED: "用户取消密码输入",
    ReturnCode.PIN_LENGTH: "输入密码长度错",
    ReturnCode.PIN_MISMATCH: "两次输入密码不一致",
    ReturnCode.PIN_WRONG: "PIN校验失败",
    ReturnCode.PIN_BLOCKED: "PIN锁定",
    ReturnCode.NO_PSAM: "无PSAM卡",
    ReturnCode.HSM_NOT_NEEDED: "不需要加密机认证",
    ReturnCode.UNKNOWN: "未知错误",
}

#: status words with a vendor text of their own (others: "卡片拒绝执行命令")
SW_TEXT: dict[int, str] = {
    0x6700: "Lc/Le不正确",
    0x6982: "不满足安全条件",
    0x6983: "密钥锁定（认证方法锁定）",
    0x6984: "引用数据无效、随机数无效",
    0x6988: "安全报文数据项不正确、MAC不正确",
    0x6A81: "不支持该功能、卡被锁定",
    0x6A82: "未找到文件",
    0x6A83: "未找到记录",
    0x6A88: "未找到引用数据、未找到密钥",
    0x9303: "应用已被永久锁定",
}


class NativeError(SscardError):
    """A condition that only the library's interface knows, with its return code."""

    def __init__(self, code: ReturnCode, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class ConfigError(NativeError):
    """The configuration file does not validate (names the file, the key, the form)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(ReturnCode.LOAD, message, hint=hint)


#: (error class, return code), first match wins: the one mapping of this package's
#: errors onto the vendors' codes (status words and NativeError are handled first)
_BY_CLASS: tuple[tuple[type[SscardError], ReturnCode], ...] = (
    (WrongPinError, ReturnCode.PIN_WRONG),
    (PinBlockedError, ReturnCode.PIN_BLOCKED),
    (PinEntryCancelled, ReturnCode.PIN_CANCELLED),
    (MuteCardError, ReturnCode.CARD_MUTE),
    (CorruptResponseError, ReturnCode.CHECKSUM),
    (KeyServiceUnavailable, ReturnCode.NOT_CONNECTED),
    (ReaderError, ReturnCode.READER),
    (TransportError, ReturnCode.NO_CARD),
    (UsageError, ReturnCode.PARAMETER),
)


def code_for(exc: BaseException) -> tuple[int, str]:
    """The return code and the ``pOutInfo`` text for an error raised by a call."""
    if isinstance(exc, NativeError):
        return int(exc.code), f"{VENDOR_TEXT[exc.code]}: {exc.one_line()}"
    if isinstance(exc, KeyServiceRefused) and exc.code == "card-not-verified":
        code = ReturnCode.HSM_MISMATCH
        return int(code), f"{VENDOR_TEXT[code]}: {exc.one_line()}"
    if isinstance(exc, WrongPinError):
        code = ReturnCode.PIN_WRONG
        return int(code), f"{VENDOR_TEXT[code]}，剩余次数{exc.tries_left}次: {exc.one_line()}"
    if isinstance(exc, StatusWordError) and not isinstance(exc, PinBlockedError):
        text = SW_TEXT.get(exc.sw, "卡片拒绝执行命令")
        return -exc.sw, f"{text}: {exc.one_line()}"
    if isinstance(exc, SscardError):
        for cls, code in _BY_CLASS:
            if isinstance(exc, cls):
                return int(code), f"{VENDOR_TEXT[code]}: {exc.one_line()}"
        return int(ReturnCode.UNKNOWN), f"{VENDOR_TEXT[ReturnCode.UNKNOWN]}: {exc.one_line()}"
    # a bug, or KeyboardInterrupt/SystemExit raised inside a call: never its text,
    # which could hold anything; the class name says where to look
    return (
        int(ReturnCode.UNKNOWN),
        f"{VENDOR_TEXT[ReturnCode.UNKNOWN]}: internal error ({type(exc).__name__})",
    )
