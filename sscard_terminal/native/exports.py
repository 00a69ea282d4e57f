"""The C boundary of ``libSSCardDriver.so``: the functions cffi calls from C.

:func:`install` is called once by the library's embedding init code (see
:mod:`sscard_terminal.native.build`) with the library's ``ffi``; it attaches a
Python function to each ``extern "Python"`` entry point. Every entry point:

- takes the one lock of the library, so that calls from several threads run
  one after the other and their APDUs never interleave;
- reads the configuration file (:mod:`sscard_terminal.native.config`);
- runs the call (:mod:`sscard_terminal.native.calls`);
- catches everything, ``BaseException`` included: no Python exception ever
  crosses into C; an error becomes its return code
  (:func:`~sscard_terminal.native.codes.code_for`) and its text;
- writes the text into the caller's buffer, at most its documented size with
  the terminating NUL (:mod:`sscard_terminal.native.outinfo`), nothing when
  the pointer is NULL.

Nothing here logs or prints: a library must not write on its caller's
terminal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sscard_terminal.native.calls import PKEY_MAX, NativeDriver
from sscard_terminal.native.codes import NativeError, ReturnCode, code_for
from sscard_terminal.native.config import DriverConfig, load_config
from sscard_terminal.native.outinfo import OUT_INFO_SIZE, READER_INFO_SIZE, fit

_LOCK = threading.Lock()
_DRIVER = NativeDriver()


class _Buffer:
    """A caller's ``char *`` of a documented size."""

    def __init__(self, ffi: Any, pointer: Any, size: int) -> None:
        self._ffi = ffi
        self._pointer = pointer
        self._size = size

    @property
    def is_null(self) -> bool:
        return bool(self._pointer == self._ffi.NULL)

    def write(self, text: str, encoding: str) -> None:
        if self.is_null:
            return
        data = fit(text, encoding, self._size)
        self._ffi.memmove(self._pointer, data, len(data))


def _run(out: _Buffer, call: Callable[[DriverConfig], str]) -> int:
    """One call under the lock: its text on success, an error's code and text."""
    encoding = "gbk"
    try:
        with _LOCK:
            config = load_config()
            encoding = config.encoding
            if out.is_null:
                raise NativeError(ReturnCode.PARAMETER, "pOutInfo is NULL")
            text = call(config)
    except BaseException as exc:  # noqa: B036 - nothing may cross into C
        code, text = code_for(exc)
        try:
            out.write(text, encoding)
        except BaseException:  # noqa: B036
            return int(ReturnCode.UNKNOWN)
        return code
    try:
        out.write(text, encoding)
    except BaseException:  # noqa: B036
        return int(ReturnCode.UNKNOWN)
    return int(ReturnCode.OK)


def _string(ffi: Any, pointer: Any, limit: int) -> bytes | None:
    """A C string read up to its NUL or ``limit`` bytes, None for NULL."""
    if pointer == ffi.NULL:
        return None
    return bytes(ffi.string(pointer, limit))


def _silent(exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """cffi's last resort (an error outside :func:`_run`): no traceback on the
    caller's stderr; the entry point returns its ``error`` value (-999)."""
    return None


def install(ffi: Any) -> None:
    """Attach the entry points to the library's ``extern "Python"`` declarations."""
    error = int(ReturnCode.UNKNOWN)
    extern = ffi.def_extern

    @extern(name="sscard_py_ready", error=0, onerror=_silent)  # type: ignore[untyped-decorator]
    def ready() -> int:
        return 1

    @extern(name="sscard_py_iReadCardBas", error=error, onerror=_silent)  # type: ignore[untyped-decorator]
    def read_card_bas(itype: int, out_info: Any) -> int:
        return _run(
            _Buffer(ffi, out_info, OUT_INFO_SIZE),
            lambda config: _DRIVER.read_card_bas(config, itype),
        )

    @extern(name="sscard_py_iReadCardBas_HSM_Step1", error=error, onerror=_silent)  # type: ignore[untyped-decorator]
    def hsm_step1(itype: int, out_info: Any) -> int:
        return _run(
            _Buffer(ffi, out_info, OUT_INFO_SIZE),
            lambda config: _DRIVER.hsm_step1(config, itype),
        )

    @extern(name="sscard_py_iReadCardBas_HSM_Step2", error=error, onerror=_silent)  # type: ignore[untyped-decorator]
    def hsm_step2(key: Any, out_info: Any) -> int:
        return _run(
            _Buffer(ffi, out_info, OUT_INFO_SIZE),
            lambda config: _DRIVER.hsm_step2(config, _string(ffi, key, PKEY_MAX)),
        )

    @extern(name="sscard_py_iVerifyPIN", error=error, onerror=_silent)  # type: ignore[untyped-decorator]
    def verify_pin(itype: int, out_info: Any) -> int:
        return _run(
            _Buffer(ffi, out_info, OUT_INFO_SIZE),
            lambda config: _DRIVER.verify_pin(config, itype),
        )

    @extern(name="sscard_py_iChangePIN", error=error, onerror=_silent)  # type: ignore[untyped-decorator]
    def change_pin(itype: int, out_info: Any) -> int:
        return _run(
            _Buffer(ffi, out_info, OUT_INFO_SIZE),
            lambda config: _DRIVER.change_pin(config, itype),
        )

    @extern(name="sscard_py_iGetReaderInfo", error=error, onerror=_silent)  # type: ignore[untyped-decorator]
    def reader_info(reader_sn: Any, term_no: Any) -> int:
        sn = _Buffer(ffi, reader_sn, READER_INFO_SIZE)
        terminal = _Buffer(ffi, term_no, READER_INFO_SIZE)

        def call(config: DriverConfig) -> str:
            if terminal.is_null:
                raise NativeError(ReturnCode.PARAMETER, "pPsamTermNo is NULL")
            name, number = _DRIVER.reader_info(config)
            terminal.write(number, config.encoding)
            return name

        code = _run(sn, call)
        if code != ReturnCode.OK and not terminal.is_null:
            terminal.write("", "ascii")
        return code
