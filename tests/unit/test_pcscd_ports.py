"""pcscd is started only once vpcd's TCP ports are free, and vpcd is seen to
listen on them (system/pcscd.py): vpcd gives up for good when a port is taken
at pcscd's start, which left whole test runs without a virtual reader."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from sscard_terminal.system import pcscd


def _conf(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "vpcd"
    conf.write_text(text)
    monkeypatch.setattr(pcscd, "VPCD_READER_CONF", conf)


def test_vpcd_ports_are_read_from_its_reader_conf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _conf(
        tmp_path,
        'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x8C7B\n'
        "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x8C7B\n",
        monkeypatch,
    )
    assert pcscd.vpcd_ports() == (35963, 35964)
    _conf(tmp_path, "CHANNELID 40000\n", monkeypatch)
    assert pcscd.vpcd_ports() == (40000, 40001)
    _conf(tmp_path, "# CHANNELID 0x8C7B\n", monkeypatch)
    assert pcscd.vpcd_ports() == ()
    monkeypatch.setattr(pcscd, "VPCD_READER_CONF", tmp_path / "missing")
    assert pcscd.vpcd_ports() == ()


def test_a_listening_socket_is_seen_on_its_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        server.listen()
        assert pcscd._port_states((port,))[port] == {"0A"}
        assert pcscd._vpcd_listens((port,))
    assert not pcscd._vpcd_listens((port,))


def test_the_start_waits_until_a_port_is_given_up() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    threading.Timer(0.5, server.close).start()
    began = time.monotonic()
    pcscd._wait_for_free_ports((port,))
    assert time.monotonic() - began >= 0.4
    assert not any(pcscd._port_states((port,)).values())
