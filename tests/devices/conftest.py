"""Fixtures for the on-device tests: firmware built once per model, emulated boards, fake links.

Firmware is exported and built once per model and session; an emulated board
(QEMU mps2-an386) is started once per model and session through `flash` and
always stopped at teardown. The small int8 CNN trained on the digits data
comes from the session fixtures of tests/conftest.py. Missing tools skip locally
and fail in CI.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.toolhelpers import require_module, require_tool


def require_board_tools() -> None:
    """Skip (fail in CI) without the Arm toolchain, make, QEMU or tflite-micro."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-size", "make", "qemu-system-arm"):
        require_tool(tool)
    require_module("tflite_micro")


@dataclass
class Board:
    """A model's firmware project, its build and the emulated board running it."""

    model: Path
    fwdir: Path
    flash_bytes: int
    ram_bytes: int
    url: str
    pid: int


@pytest.fixture(scope="session")
def small_cnn_int8(
    converted_small_cnn: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The project's int8 small_cnn on digits (tests/conftest.py) and a .npy of 20 test images.

    The images are the digits test split prepared as for training (float, [0, 1]);
    `validate` quantizes them with the model's input parameters.
    """
    from edgedeploy.modelfile import load_model
    from edgedeploy.training import load_dataset

    model = Path(converted_small_cnn.out)
    mf = load_model(model)
    height = mf.tensors[mf.inputs[0]].shape[1]
    data = load_dataset("digits", input_size=height, seed=0)
    samples = tmp_path_factory.mktemp("digits") / "digits_test.npy"
    np.save(samples, data.x_test[:20].astype(np.float32))
    return model, samples


@pytest.fixture(scope="session")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], Board]]:
    """Export, build and flash a model's firmware once per session; stop every QEMU at the end."""
    from edgedeploy.devices.flash import flash, stop
    from edgedeploy.firmware_export.firmware import build_firmware, export_firmware

    boards: dict[Path, Board] = {}

    def get(model: Path) -> Board:
        require_board_tools()
        if model not in boards:
            fwdir = tmp_path_factory.mktemp(model.stem) / "fw"
            export_firmware(model, fwdir, device="qemu-m4")
            build = build_firmware(fwdir)
            result = flash(fwdir, "qemu-m4", build=False)
            assert result.url is not None and result.pid is not None
            boards[model] = Board(
                model, fwdir, build.flash_bytes, build.ram_bytes, result.url, result.pid
            )
        return boards[model]

    yield get
    for b in boards.values():
        stop(b.fwdir)


class FakeDevice:
    """A TCP server on 127.0.0.1 that answers every received chunk with ``respond(data)``.

    ``respond`` returning None sends nothing (a port where nothing answers).
    """

    def __init__(self, respond: Callable[[bytes], bytes | None]) -> None:
        self.respond = respond
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.1)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    reply = self.respond(data)
                    if reply:
                        conn.sendall(reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.server.close()


@pytest.fixture
def fake_device() -> Iterator[Callable[[Callable[[bytes], bytes | None]], FakeDevice]]:
    """Start fake devices for a test; all are closed at its end."""
    started: list[FakeDevice] = []

    def make(respond: Callable[[bytes], bytes | None]) -> FakeDevice:
        device = FakeDevice(respond)
        started.append(device)
        return device

    yield make
    for device in started:
        device.close()
