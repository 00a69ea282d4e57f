"""Building ``libSSCardDriver.so`` and ``SSCardDriver.h`` with cffi's embedding mode.

The library exports the vendors' C functions (integration.md, "The vendor
reader library"; the prototypes of the vendors' public Linux headers, plain C
calling convention). Each exported function is a few lines of C that first
makes sure the Python side has started (else -5, "加载动态库错") and then
calls an ``extern "Python"`` function, attached by
:func:`sscard_terminal.native.exports.install`. The embedded interpreter is the
one that builds the library (its ``libpython`` is linked with an rpath), and it
finds this package and its dependencies through the site directories recorded
at build time, so the library belongs to the installation that built it.

Return type ``long``: the vendors' headers say ``long`` or ``int``. On x86-64
Linux a ``long`` return is correct for callers of either declaration (a caller
reading ``int`` takes the low half of the sign-extended value), an ``int``
return would not be for callers that read ``long``.
"""

from __future__ import annotations

import shutil
import site
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sscard_terminal.errors import SscardError, UsageError
from sscard_terminal.native.codes import ReturnCode
from sscard_terminal.native.outinfo import OUT_INFO_SIZE, READER_INFO_SIZE

LIBRARY_NAME = "libSSCardDriver.so"
HEADER_NAME = "SSCardDriver.h"
MODULE_NAME = "_sscard_driver"


@dataclass(frozen=True)
class Export:
    """One exported function: its C prototype and what it does."""

    name: str
    params: tuple[tuple[str, str], ...]
    doc: str

    @property
    def c_params(self) -> str:
        return ", ".join(f"{ctype} {name}" for ctype, name in self.params)

    @property
    def arg_names(self) -> str:
        return ", ".join(name for _, name in self.params)

    @property
    def out_param(self) -> str:
        return self.params[-1][1]


EXPORTS: tuple[Export, ...] = (
    Export(
        "iReadCardBas",
        (("int", "iType"), ("char *", "pOutInfo")),
        "Read the card's basic data: the national line (11 items, each followed by '|').",
    ),
    Export(
        "iReadCardBas_HSM_Step1",
        (("int", "iType"), ("char *", "pOutInfo")),
        "Key-service step 1 (3.0 cards): the line for the key service; the card stays open.",
    ),
    Export(
        "iReadCardBas_HSM_Step2",
        (("char *", "pKey"), ("char *", "pOutInfo")),
        "Key-service step 2: pKey = the service's cryptogram (16 hex digits); the national line.",
    ),
    Export(
        "iVerifyPIN",
        (("int", "iType"), ("char *", "pOutInfo")),
        "Verify the PIN entered on the PIN pad.",
    ),
    Export(
        "iChangePIN",
        (("int", "iType"), ("char *", "pOutInfo")),
        "Change the PIN: current PIN, new PIN, new PIN again, all on the PIN pad.",
    ),
    Export(
        "iGetReaderInfo",
        (("char *", "pReaderSN"), ("char *", "pPsamTermNo")),
        "The card reader's name and the terminal number (PSAM EF 0016 or the configured one).",
    ),
)


def _c_string(data: bytes) -> str:
    return '"' + "".join(f"\\x{b:02x}" for b in data) + '"'


_NOT_STARTED = (
    "加载动态库错: the Python side of libSSCardDriver did not start; "
    "run the calling program with stderr visible to see why"
)


def cdef() -> str:
    """The ``extern "Python"`` declarations the C wrappers call."""
    lines = ['extern "Python" int sscard_py_ready(void);']
    lines += [f'extern "Python" long sscard_py_{e.name}({e.c_params});' for e in EXPORTS]
    return "\n".join(lines)


def c_source() -> str:
    """The exported functions: start the Python side, then call it."""
    not_started = _NOT_STARTED.encode("gbk")
    parts = [
        "#include <string.h>",
        '#define SSCARD_EXPORT __attribute__((visibility("default")))',
        "static int sscard_py_ready(void);",
        *(f"static long sscard_py_{e.name}({e.c_params});" for e in EXPORTS),
        f"static const char sscard_not_started[] = {_c_string(not_started)};",
        "static long sscard_fail_to_start(char *out, size_t size) {",
        "    if (out != NULL && size > 0) {",
        "        size_t n = sizeof(sscard_not_started) - 1;",
        "        if (n > size - 1) n = size - 1;",
        "        memcpy(out, sscard_not_started, n);",
        "        out[n] = 0;",
        "    }",
        f"    return {int(ReturnCode.LOAD)};",
        "}",
    ]
    for e in EXPORTS:
        size = READER_INFO_SIZE if e.name == "iGetReaderInfo" else OUT_INFO_SIZE
        first_out = "pReaderSN" if e.name == "iGetReaderInfo" else e.out_param
        parts += [
            f"SSCARD_EXPORT long {e.name}({e.c_params}) {{",
            "    if (!sscard_py_ready())",
            f"        return sscard_fail_to_start({first_out}, {size});",
            f"    return sscard_py_{e.name}({e.arg_names});",
            "}",
        ]
    return "\n".join(parts) + "\n"


def header() -> str:
    """``SSCardDriver.h``: the prototypes, the buffer sizes and the return codes."""
    codes = "\n".join(f"#define SSCARD_{code.name:<16} ({int(code)})" for code in ReturnCode)
    prototypes = "\n\n".join(f"/* {e.doc} */\nlong {e.name}({e.c_params});" for e in EXPORTS)
    return f"""\
/* SSCardDriver.h: the national reader interface of libSSCardDriver.so
 * (sscard-terminal; see docs/native.md). Plain C calling convention.
 *
 * Every function returns 0 on success and a negative code on an error; then
 * pOutInfo holds the error text. Texts are GBK, or UTF-8 with
 * [output] encoding = utf-8 in the configuration file ($SSCARD_DRIVER_INI,
 * else /etc/sscard/SSCardDriver.ini). pOutInfo is the caller's: the library
 * writes at most SSCARD_OUTINFO_SIZE bytes into it, the terminating NUL
 * included; iGetReaderInfo at most SSCARD_READERINFO_SIZE bytes into each
 * buffer. A card status word the card refused with is returned as its
 * negative value (6982 -> -27010). Calls from several threads are serialised.
 */
#ifndef SSCARD_DRIVER_H
#define SSCARD_DRIVER_H

#ifdef __cplusplus
extern "C" {{
#endif

#define SSCARD_OUTINFO_SIZE {OUT_INFO_SIZE}
#define SSCARD_READERINFO_SIZE {READER_INFO_SIZE}

{codes}

{prototypes}

#ifdef __cplusplus
}}
#endif

#endif /* SSCARD_DRIVER_H */
"""


def init_code() -> str:
    """The embedding's init code: this installation's paths, then the entry points."""
    paths = site.getsitepackages()
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        paths.append(site.getusersitepackages())
    package_root = str(Path(__file__).resolve().parents[2])
    return f"""\
import site, sys
for _dir in {paths!r}:
    site.addsitedir(_dir)
if {package_root!r} not in sys.path:
    sys.path.append({package_root!r})
from {MODULE_NAME} import ffi
from sscard_terminal.native.exports import install
install(ffi)
"""


@dataclass(frozen=True)
class Built:
    library: Path
    header: Path


class BuildError(SscardError):
    """The C compiler or linker failed (exit 2: the machine lacks a build tool)."""

    exit_code = UsageError.exit_code


def build(out_dir: str | Path, *, verbose: bool = False) -> Built:
    """Compile ``libSSCardDriver.so`` and write ``SSCardDriver.h`` into ``out_dir``."""
    import cffi

    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise BuildError(
            f"this Python ({sys.executable}) has no shared libpython to embed",
            hint="build with a Python configured with --enable-shared (Debian's python3 is)",
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    libdir = str(sysconfig.get_config_var("LIBDIR"))
    ffi = cffi.FFI()
    ffi.cdef(cdef())
    ffi.embedding_api("")
    ffi.set_source(
        MODULE_NAME,
        c_source(),
        library_dirs=[libdir],
        extra_link_args=[f"-Wl,-rpath,{libdir}"],
    )
    ffi.embedding_init_code(init_code())
    with tempfile.TemporaryDirectory(prefix="sscard-native-") as tmp:
        try:
            built = ffi.compile(tmpdir=tmp, target=LIBRARY_NAME, verbose=verbose)
        except Exception as exc:  # distutils/setuptools errors: CompileError, LinkError
            raise BuildError(
                f"building {LIBRARY_NAME} failed: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}",
                hint="install gcc and the Python headers (./run setup does), "
                "and run with --verbose to see the compiler",
            ) from None
        library = out / LIBRARY_NAME
        partial = out / (LIBRARY_NAME + ".partial")
        shutil.copyfile(built, partial)
        partial.replace(library)
    target = out / HEADER_NAME
    target.write_text(header(), encoding="utf-8")
    return Built(library, target)
