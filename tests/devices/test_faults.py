"""Faults on the link and the board: each ends in one clear error, in bounded time, with no result.

The board is the real firmware on QEMU; faults are injected by killing QEMU, by
a TCP proxy that flips one byte of the traffic, and by fake devices that stay
silent or answer garbage.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
import zlib

import numpy as np
import pytest

from edgedeploy.devices.bench import bench
from edgedeploy.devices.flash import STATE_FILE, flash, stop
from edgedeploy.devices.protocol import BenchmarkClient, DeviceCommandError, ProtocolError
from edgedeploy.devices.qemu import start_qemu, stop_qemu
from edgedeploy.devices.session import open_client
from edgedeploy.devices.transport import SerialTransport
from edgedeploy.devices.validate import validate
from edgedeploy.errors import (
    DependencyError,
    DeviceError,
    DeviceTimeoutError,
    EdgeDeployError,
    InputDataError,
    TransportClosedError,
)
from edgedeploy.runtime import MicroModel
from tests.paths import AD01_INT8, KWS_INT8
from tests.toolhelpers import require_tool

#: The timeout the fault tests give the host; no test may wait much longer.
TIMEOUT = 2.0
#: Slack on top of a timeout for process and thread scheduling on a busy machine.
SLACK = 3.0


class FlipProxy:
    """A TCP proxy to a board that flips one byte of one direction once armed.

    ``arm(direction, offset, mask)`` XORs ``mask`` into the byte ``offset``
    bytes after arming in ``"to_board"`` or ``"to_host"`` traffic; `counts`
    gives the bytes forwarded each way since arming.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.counts = {"to_board": 0, "to_host": 0}
        self.flip: tuple[str, int, int] | None = None
        self.flipped = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, direction: str | None = None, offset: int = 0, mask: int = 0) -> None:
        with self._lock:
            self.counts = {"to_board": 0, "to_host": 0}
            self.flip = (direction, offset, mask) if direction else None
            self.flipped = False

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            board = socket.create_connection(("127.0.0.1", self.target_port))
            for src, dst, direction in ((client, board, "to_board"), (board, client, "to_host")):
                threading.Thread(target=self._pump, args=(src, dst, direction), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while data := src.recv(4096):
                data = bytearray(data)
                with self._lock:
                    start = self.counts[direction]
                    self.counts[direction] += len(data)
                    if self.flip and self.flip[0] == direction and not self.flipped:
                        at = self.flip[1] - start
                        if 0 <= at < len(data):
                            data[at] ^= self.flip[2]
                            self.flipped = True
                dst.sendall(bytes(data))
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def ad01_board(board):
    return board(AD01_INT8)


@pytest.fixture(scope="module")
def ad01_case():
    x = np.random.default_rng(5).integers(-128, 128, (1, 640), dtype=np.int8)
    return x, MicroModel(AD01_INT8).run_raw([x])[0].tobytes()


def _exchange(proxy: FlipProxy, direction: str | None, offset: int, mask: int, x: np.ndarray):
    """Sync over the proxy, then arm it and run one sample: identity, upload, infer, output."""
    with SerialTransport(proxy.url) as link:
        client = BenchmarkClient(link, timeout=TIMEOUT)
        client.sync()
        proxy.arm(direction, offset, mask)
        client.identity()
        return client.run(x.tobytes())


@pytest.mark.slow
def test_a_flipped_byte_anywhere_is_an_error_never_a_result(ad01_board, ad01_case):
    x, expected = ad01_case
    port = int(ad01_board.url.rsplit(":", 1)[1])
    proxy = FlipProxy(port)
    try:
        assert _exchange(proxy, None, 0, 0, x) == [expected]
        totals = dict(proxy.counts)
        assert totals["to_board"] > 1000 and totals["to_host"] > 1000
        cases = []
        for direction in ("to_board", "to_host"):
            n = totals[direction]
            offsets = sorted(
                {0, 1, n - 1, n - 3, *(int(n * f) for f in np.linspace(0.02, 0.98, 9))}
            )
            cases += [(direction, off, mask) for off in offsets for mask in (0x01, 0x20)]
        for direction, offset, mask in cases:
            start = time.monotonic()
            try:
                result = _exchange(proxy, direction, offset, mask, x)
            except EdgeDeployError as exc:
                assert isinstance(exc, DeviceError), (direction, offset, exc)
            else:
                pytest.fail(f"flip of {mask:#x} at {direction}[{offset}] gave a result: {result}")
            assert proxy.flipped, (direction, offset)
            assert time.monotonic() - start < 4 * TIMEOUT + SLACK, (direction, offset)
        # The board is unharmed: a clean exchange still gives TFLite Micro's bytes.
        assert _exchange(proxy, None, 0, 0, x) == [expected]
    finally:
        proxy.close()


@pytest.mark.slow
def test_qemu_killed_mid_inference_is_a_closed_link(board):
    elf = board(KWS_INT8).fwdir / "build" / "firmware.elf"
    session = start_qemu(elf, "mps2-an386")
    try:
        with open_client(session.url, timeout=60) as client:
            client.load(bytes(490))
            threading.Timer(1.0, os.kill, (session.pid, signal.SIGKILL)).start()
            start = time.monotonic()
            with pytest.raises(TransportClosedError, match="closed"):
                client.infer(500, 0, timeout=60)
            assert time.monotonic() - start < 1.0 + SLACK
    finally:
        stop_qemu(session)


def test_a_port_where_nothing_answers_times_out(fake_device):
    silent = fake_device(lambda data: None)
    start = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match="did not finish answering"):
        bench(AD01_INT8, "qemu-m4", port=silent.url, timeout=TIMEOUT)
    assert time.monotonic() - start < TIMEOUT + SLACK


def test_a_port_where_nothing_listens_is_a_device_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeviceError, match="cannot open"):
        bench(AD01_INT8, "qemu-m4", port=f"socket://127.0.0.1:{port}")


@pytest.mark.parametrize(
    "answer",
    [
        lambda data: bytes(np.random.default_rng(len(data)).integers(0, 256, 64, dtype=np.uint8)),
        lambda data: b"Hello from a bootloader\r\n",
        lambda data: b"m-ready\r\n",
    ],
    ids=["random-bytes", "other-text", "bare-ready"],
)
def test_a_board_that_answers_garbage_is_a_protocol_error(fake_device, answer):
    noisy = fake_device(answer)
    start = time.monotonic()
    with pytest.raises(ProtocolError, match="not in the benchmark protocol"):
        bench(AD01_INT8, "qemu-m4", port=noisy.url, timeout=TIMEOUT)
    assert time.monotonic() - start < TIMEOUT + SLACK


def test_garbage_after_a_good_sync_is_a_protocol_error(fake_device):
    def answer(data: bytes) -> bytes:
        text = data.decode("ascii", "replace")
        if "sync-" in text:
            nonce = text.split("%")[1]
            body = f"e-[Unknown command: {nonce}]\r\n".encode()
            return body + f"m-crc32-[{zlib.crc32(body):08x}]\r\nm-ready\r\n".encode()
        return b"m-identity-model-[\x00\xff\xfe]\r\n"

    board = fake_device(answer)
    with pytest.raises(ProtocolError, match="garbage"):
        bench(AD01_INT8, "qemu-m4", port=board.url, timeout=TIMEOUT)


def test_an_input_of_the_wrong_size_is_refused_before_the_board(tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 639), np.int8))
    with pytest.raises(InputDataError, match=r"shape \[3, 639\]"):
        validate(AD01_INT8, "qemu-m4", inputs=bad, port="socket://127.0.0.1:9")
    np.save(bad, np.zeros((2, 640), np.int16))
    with pytest.raises(InputDataError, match="int16"):
        validate(AD01_INT8, "qemu-m4", inputs=bad, port="socket://127.0.0.1:9")


@pytest.mark.slow
def test_an_input_of_the_wrong_size_is_refused_by_the_board(ad01_board):
    with open_client(ad01_board.url, timeout=TIMEOUT) as client:
        client.identity()
        with pytest.raises(InputDataError, match="10 bytes; the model on the board takes 640"):
            client.run(bytes(10))
        client.load(bytes(10))
        with pytest.raises(DeviceCommandError, match="Input has 10 bytes; the model takes 640"):
            client.infer(1, 0)
        with pytest.raises(DeviceCommandError, match="asks for 641 bytes; the buffer holds 640"):
            client.load(bytes(641))
        with pytest.raises(DeviceCommandError, match="No inference has completed"):
            # The refused inference left no outputs to read back.
            client.outputs()


def _real_board_project(tmp_path, device: str):
    """A firmware project as it would be for a real board: manifest and ELF."""
    fwdir = tmp_path / device
    (fwdir / "build").mkdir(parents=True)
    (fwdir / "build" / "firmware.elf").write_bytes(b"\x7fELF")
    manifest = {"device": device, "elf": "build/firmware.elf", "sha256": "0" * 64}
    (fwdir / "edgedeploy-firmware.json").write_text(json.dumps(manifest))
    return fwdir


@pytest.mark.parametrize(
    ("device", "tool"), [("pico", "picotool"), ("stm32f746g-disco", "openocd")]
)
def test_flashing_a_real_board_without_its_tool_names_the_tool_and_the_command(
    tmp_path, monkeypatch, device, tool
):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the tool is absent whether installed or not
    fwdir = _real_board_project(tmp_path, device)
    with pytest.raises(
        DependencyError, match=f"{tool} is not installed; to flash {device} run: {tool} "
    ):
        flash(fwdir, device, build=False)


def test_flashing_a_board_that_needs_a_port_without_one_says_so(tmp_path):
    fwdir = _real_board_project(tmp_path, "esp32-s3")
    with pytest.raises(DeviceError, match="needs the board's serial port"):
        flash(fwdir, "esp32-s3", build=False)
    with pytest.raises(DeviceError, match="not flashed with a firmware image"):
        flash(_real_board_project(tmp_path, "rpi4"), "rpi4", build=False)


def _patched_firmware(tmp_path, old: str, new: str):
    """kws firmware whose glue to the model (src/fw_model.c) stands for a broken runtime."""
    from edgedeploy.firmware_export.firmware import export_firmware

    for tool in ("arm-none-eabi-gcc", "make", "qemu-system-arm"):
        require_tool(tool)
    fwdir = tmp_path / "fw"
    export_firmware(KWS_INT8, fwdir)
    glue = fwdir / "src" / "fw_model.c"
    text = glue.read_text()
    assert old in text
    glue.write_text(text.replace(old, new, 1))
    return fwdir


@pytest.mark.slow
def test_a_firmware_that_crashes_reports_the_fault_instead_of_hanging(tmp_path):
    fwdir = _patched_firmware(
        tmp_path,
        "    return (int)ed_model_invoke();",
        "    __builtin_trap();\n    return (int)ed_model_invoke();",
    )
    result = flash(fwdir, "qemu-m4")
    try:
        with open_client(result.url, timeout=TIMEOUT) as client:
            client.load(bytes(490))
            start = time.monotonic()
            with pytest.raises(DeviceCommandError, match=r"Fault: exception 3"):
                client.infer(1, 0)
            assert time.monotonic() - start < TIMEOUT + SLACK
    finally:
        stop(fwdir)


@pytest.mark.slow
def test_a_model_that_fails_to_initialise_fails_the_flash(tmp_path):
    fwdir = _patched_firmware(
        tmp_path, "    return (int)ed_model_init();", "    return (int)ED_ERROR_BAD_PARAMS;"
    )
    with pytest.raises(DeviceCommandError, match="failed to initialise with status 3"):
        flash(fwdir, "qemu-m4")
    assert not (fwdir / STATE_FILE).exists()
