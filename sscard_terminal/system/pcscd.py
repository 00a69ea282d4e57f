"""Finding, starting and stopping pcscd, for the tests and the demo.

Containers and CI machines run no systemd, so nothing starts pcscd on demand:
:func:`ensure_pcscd` starts ``pcscd --foreground`` when none is running and
returns a :class:`PcscdHandle` that stops only a pcscd it started itself.

Only one pcscd can run on a machine at a time. A pcscd started while another
one is still running (or still shutting down) exits at once with "Another
pcscd seems to be running": stop one with SIGTERM and *wait for its PID* to
go away before starting the next, which :meth:`PcscdHandle.stop` does.

vpcd's driver listens on TCP ports (its ``CHANNELID`` and the next one, for
its two slots) when pcscd starts, and gives up for good if a port is taken:
pcscd then runs with no virtual reader ("Address already in use" in its log).
The ports lie in Linux's ephemeral range, so the local end of any outgoing
connection, or one lingering in TIME_WAIT for 60 s after a busy test run, can
hold one. :func:`ensure_pcscd` therefore waits for the ports to be free
before it starts pcscd, and checks that vpcd listens once pcscd is up,
starting it again if not.

Nothing here uses pyscard: pcscd is seen through its socket and ``/proc``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sscard_terminal.errors import PcscdNotRunningError

#: pcsc-lite's default socket (PCSCLITE_CSOCK_NAME overrides it, as in libpcsclite)
DEFAULT_SOCKET = Path("/run/pcscd/pcscd.comm")
#: how vpcd is configured for pcscd, and its driver
VPCD_READER_CONF = Path("/etc/reader.conf.d/vpcd")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")

_START_TIMEOUT = 5.0
_STOP_TIMEOUT = 5.0
_POLL = 0.01
#: how long to wait for vpcd's ports to be free (TIME_WAIT lasts 60 s on Linux)
_PORTS_FREE_TIMEOUT = 75.0
#: how many times pcscd is started when vpcd could not listen
_VPCD_ATTEMPTS = 3
#: TCP state LISTEN in /proc/net/tcp
_TCP_LISTEN = "0A"


def socket_path() -> Path:
    """The socket pcscd listens on (honours ``PCSCLITE_CSOCK_NAME``)."""
    return Path(os.environ.get("PCSCLITE_CSOCK_NAME") or DEFAULT_SOCKET)


def pcscd_executable() -> str | None:
    """The path of the pcscd program, or None when it is not installed."""
    found = shutil.which("pcscd")
    if found is None and Path("/usr/sbin/pcscd").exists():
        found = "/usr/sbin/pcscd"
    return found


def pcscd_installed() -> bool:
    return pcscd_executable() is not None


def vpcd_installed() -> bool:
    """Whether vsmartcard's vpcd driver is set up for pcscd (Debian: vsmartcard-vpcd)."""
    return VPCD_READER_CONF.exists() or VPCD_DRIVER.exists()


def socket_accepts() -> bool:
    """Whether pcscd's socket accepts a connection (pcscd is up and serving)."""
    path = socket_path()
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def pcscd_pids() -> list[int]:
    """The PIDs of every pcscd process on this machine (a scan of /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            state = _proc_state(entry)
        except OSError:
            continue
        if comm == "pcscd" and state != "Z":
            pids.append(int(entry.name))
    return sorted(pids)


def _proc_state(entry: Path) -> str:
    stat = (entry / "stat").read_text()
    # "pid (comm) S ...": the state follows the last ')'
    return stat[stat.rindex(")") + 2 :][:1]


def pcscd_running() -> bool:
    """Whether a pcscd runs: its socket accepts a connection, or a pcscd
    process exists (one still starting up or shutting down counts too, since a
    new one could not start beside it)."""
    return socket_accepts() or bool(pcscd_pids())


def vpcd_ports() -> tuple[int, ...]:
    """The TCP ports vpcd listens on: the ``CHANNELID`` of its reader.conf entry
    and the next one (vpcd's two slots); none when vpcd is not configured."""
    try:
        text = VPCD_READER_CONF.read_text()
    except OSError:
        return ()
    found = re.search(r"^\s*CHANNELID\s+(0[xX][0-9a-fA-F]+|\d+)\s*$", text, re.MULTILINE)
    if found is None:
        return ()
    base = int(found.group(1), 0)
    return (base, base + 1)


def _port_states(ports: tuple[int, ...]) -> dict[int, set[str]]:
    """For each port, the TCP states of the sockets whose local end is on it
    (from /proc/net/tcp and tcp6; hex states, ``0A`` = LISTEN)."""
    states: dict[int, set[str]] = {port: set() for port in ports}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if port in states:
                states[port].add(fields[3])
    return states


def _wait_for_free_ports(ports: tuple[int, ...]) -> None:
    """Wait until no socket holds one of ``ports``, at most
    :data:`_PORTS_FREE_TIMEOUT` (pcscd is started anyway after that, and the
    check after the start names the port)."""
    deadline = time.monotonic() + _PORTS_FREE_TIMEOUT
    while any(_port_states(ports).values()) and time.monotonic() < deadline:
        time.sleep(0.2)


def _vpcd_listens(ports: tuple[int, ...]) -> bool:
    return all(_TCP_LISTEN in states for states in _port_states(ports).values())


@dataclass
class PcscdHandle:
    """A running pcscd. ``started_by_us`` says whether :meth:`stop` may stop it."""

    started_by_us: bool
    debug: bool = False
    process: subprocess.Popen[bytes] | None = None
    #: where the pcscd we started writes its log (its stderr)
    log_path: Path | None = None
    _own_log: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        """Stop pcscd if we started it (SIGTERM, then wait for the PID to exit,
        so that the next pcscd does not find "Another pcscd seems to be
        running"); otherwise do nothing. Idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def restart(self) -> None:
        """Stop the pcscd we started and start a new one (as pcscd restarting
        under a running card does). Refused for a pcscd we did not start."""
        if not self.started_by_us:
            raise PcscdNotRunningError("cannot restart a pcscd this process did not start")
        self.stop()
        fresh = _start_pcscd(debug=self.debug, log_path=None)
        self.process, self.log_path, self._own_log = fresh.process, fresh.log_path, fresh._own_log


def ensure_pcscd(*, debug: bool = False, log_path: Path | None = None) -> PcscdHandle:
    """A running pcscd: the one already running (shared, never stopped by us),
    or a ``pcscd --foreground`` started now (``--debug --apdu`` with ``debug``).

    Waits up to 5 s for the socket and raises :class:`PcscdNotRunningError`
    with pcscd's own last words if it does not come up, e.g. "Another pcscd
    seems to be running" when an older pcscd is still shutting down.
    ``log_path`` receives pcscd's log (stderr); by default it goes to a
    temporary file that :meth:`PcscdHandle.stop` removes.
    """
    if pcscd_running():
        _wait_for_socket(None, None)  # one may still be starting up
        return PcscdHandle(started_by_us=False, debug=debug)
    return _start_pcscd(debug=debug, log_path=log_path)


def _start_pcscd(*, debug: bool, log_path: Path | None) -> PcscdHandle:
    """Start pcscd; where vpcd is set up, only once its ports are free, and
    again (up to :data:`_VPCD_ATTEMPTS` times) when vpcd did not come to listen."""
    ports = vpcd_ports() if vpcd_installed() else ()
    for attempt in range(1, _VPCD_ATTEMPTS + 1):
        _wait_for_free_ports(ports)
        handle = _start_pcscd_once(debug=debug, log_path=log_path)
        deadline = time.monotonic() + _START_TIMEOUT
        while ports and not _vpcd_listens(ports) and time.monotonic() < deadline:
            time.sleep(_POLL)
        if not ports or _vpcd_listens(ports):
            return handle
        words = _last_words(handle.log_path)
        handle.stop()
        if attempt == _VPCD_ATTEMPTS:
            raise PcscdNotRunningError(
                f"pcscd started, but its vpcd reader could not listen on TCP ports "
                f"{', '.join(map(str, ports))}: {words}",
                hint="another program holds one of these ports; `ss -tanp` shows which",
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _start_pcscd_once(*, debug: bool, log_path: Path | None) -> PcscdHandle:
    executable = pcscd_executable()
    if executable is None:
        raise PcscdNotRunningError(
            "pcscd is not installed", hint="install the Debian package pcscd (`./run setup`)"
        )
    own_log = log_path is None
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="pcscd-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    args = [executable, "--foreground"] + (["--debug", "--apdu"] if debug else [])
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
        )
    handle = PcscdHandle(True, debug, process, log_path, own_log)
    try:
        _wait_for_socket(process, log_path)
    except BaseException:
        handle.stop()
        raise
    return handle


def _pid_file_pid() -> int | None:
    try:
        return int((socket_path().parent / "pcscd.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _ready(process: subprocess.Popen[bytes] | None) -> bool:
    """pcscd serves; when we started one, it is ours that serves (its PID is in
    pcscd.pid), not another one that won a race with it."""
    if not socket_accepts():
        return False
    if process is None:
        return True
    owner = _pid_file_pid()
    return owner is None or owner == process.pid


def _wait_for_socket(process: subprocess.Popen[bytes] | None, log_path: Path | None) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while not _ready(process):
        if process is not None and process.poll() is not None:
            raise PcscdNotRunningError(
                f"pcscd exited with status {process.returncode} at start: {_last_words(log_path)}",
                hint="if another pcscd is still running or shutting down, stop it and wait",
            )
        if process is None and not pcscd_pids():
            raise PcscdNotRunningError("pcscd went away while starting up")
        if time.monotonic() > deadline:
            raise PcscdNotRunningError(
                f"pcscd did not open {socket_path()} within {_START_TIMEOUT:g} s: "
                f"{_last_words(log_path)}"
            )
        time.sleep(_POLL)


def _last_words(log_path: Path | None) -> str:
    if log_path is None:
        return "no log"
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no output"
