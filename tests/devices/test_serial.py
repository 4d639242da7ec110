"""Transports: every read has a deadline, and a closed link is one clear error."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from edgedeploy.devices.transport import (
    LoggingTransport,
    LoopbackTransport,
    SerialTransport,
    hexdump,
)
from edgedeploy.errors import DeviceError, DeviceTimeoutError, TransportClosedError


def test_loopback_carries_bytes_both_ways():
    host, dev = LoopbackTransport.pair()
    with host, dev:
        host.write(b"name%", 1)
        assert dev.read(100, 1) == b"name%"
        dev.write(b"m-ready\r\n", 1)
        assert host.read(3, 1) == b"m-r"
        assert host.read(100, 1) == b"eady\r\n"


def test_loopback_read_times_out_within_its_deadline():
    host, dev = LoopbackTransport.pair()
    with host, dev:
        start = time.monotonic()
        with pytest.raises(DeviceTimeoutError, match=r"within 0\.2 s"):
            host.read(10, 0.2)
        assert 0.15 < time.monotonic() - start < 1.0


def test_loopback_closing_one_end_closes_the_link():
    host, dev = LoopbackTransport.pair()
    host.open()
    dev.open()
    threading.Timer(0.1, dev.close).start()
    start = time.monotonic()
    with pytest.raises(TransportClosedError):
        host.read(10, 5)
    assert time.monotonic() - start < 2
    with pytest.raises(TransportClosedError):
        host.write(b"x", 1)


def test_loopback_reset_input_drops_stale_bytes():
    host, dev = LoopbackTransport.pair()
    with host, dev:
        dev.write(b"stale output", 1)
        time.sleep(0.01)
        host.reset_input()
        dev.write(b"fresh", 1)
        assert host.read(100, 1) == b"fresh"


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            data = conn.recv(100)
            conn.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def test_serial_transport_speaks_to_a_socket_url():
    server, thread = _echo_server()
    port = server.getsockname()[1]
    with SerialTransport(f"socket://127.0.0.1:{port}") as link:
        link.write(b"hello", 1)
        assert link.read(100, 2) == b"HELLO"
        with pytest.raises(TransportClosedError, match="closed"):
            # The server has closed its end after echoing.
            thread.join(2)
            link.read(100, 2)
    server.close()


def test_serial_transport_to_nothing_is_one_device_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(DeviceError, match=f"cannot open socket://127.0.0.1:{port}"):
        SerialTransport(f"socket://127.0.0.1:{port}").open()
    assert time.monotonic() - start < 5


def test_serial_transport_to_a_missing_port_names_it():
    with pytest.raises(DeviceError, match="/dev/ttyEDGEDEPLOY404"):
        SerialTransport("/dev/ttyEDGEDEPLOY404").open()


def test_serial_transport_read_times_out_on_a_silent_port():
    server = socket.create_server(("127.0.0.1", 0))
    try:
        with SerialTransport(f"socket://127.0.0.1:{server.getsockname()[1]}") as link:
            start = time.monotonic()
            with pytest.raises(DeviceTimeoutError, match=r"sent nothing within 0\.3 s"):
                link.read(10, 0.3)
            assert time.monotonic() - start < 1.5
    finally:
        server.close()


def test_hexdump_shows_offset_hex_and_text():
    text = hexdump(b"m-ready\r\n\x00\xff" + bytes(range(0x41, 0x51)))
    lines = text.splitlines()
    assert lines[0].startswith("0000  6d 2d 72 65 61 64 79 0d 0a 00 ff 41")
    assert lines[0].endswith("m-ready....ABCDE")
    assert lines[1].startswith("0010  46")


def test_logging_transport_hex_dumps_the_traffic(caplog):
    host, dev = LoopbackTransport.pair()
    logged = LoggingTransport(host, logging.getLogger("edgedeploy.test.wire"))
    with caplog.at_level(logging.DEBUG, logger="edgedeploy.test.wire"), logged, dev:
        logged.write(b"name%", 1)
        dev.write(b"m-ready\r\n", 1)
        assert logged.read(100, 1) == b"m-ready\r\n"
        with pytest.raises(DeviceTimeoutError):
            logged.read(100, 0.05)
    text = caplog.text
    assert "write 5 bytes" in text and "6e 61 6d 65 25" in text and "name%" in text
    assert "read 9 bytes" in text and "m-ready.." in text
    assert "sent nothing" in text
