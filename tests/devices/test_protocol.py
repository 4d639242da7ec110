"""The host side of the benchmark protocol against scripted boards on a loopback link.

A scripted board answers each command with lines framed as the firmware frames
them (CRC32 line, then m-ready), or with deliberately broken answers. The
firmware's own CRC and number formatting are compiled for the host and checked
against zlib and Python's formatting.
"""

from __future__ import annotations

import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgedeploy.devices.protocol import (
    BenchmarkClient,
    DeviceCommandError,
    ProtocolError,
)
from edgedeploy.devices.transport import LoopbackTransport
from edgedeploy.errors import DeviceTimeoutError, InputDataError
from edgedeploy.firmware_export.cgen import render_template
from tests.toolhelpers import require_tool


def frame(lines: list[str]) -> bytes:
    """An answer as the firmware sends it: the lines, their CRC32, m-ready."""
    body = "".join(f"{line}\r\n" for line in lines).encode("ascii")
    return body + f"m-crc32-[{zlib.crc32(body):08x}]\r\nm-ready\r\n".encode("ascii")


IDENTITY = [
    "m-identity-firmware-[edgedeploy 0.1.0]",
    "m-identity-board-[mps2-an386]",
    "m-identity-device-[qemu-m4]",
    "m-identity-model-[tiny]",
    "m-identity-sha256-[" + "ab" * 32 + "]",
    "m-identity-arena-[768]",
    "m-identity-inputs-[1]",
    "m-identity-input-0-[int8]-[40]",
    "m-identity-outputs-[1]",
    "m-identity-output-0-[int8]-[4]",
    "m-identity-counter-[cmsdk-timer0]-[25000000]-[ticks]",
    "m-identity-cmd-size-[23]",
    "m-identity-flash-[1000]",
    "m-identity-ram-[2000]",
    "m-identity-stack-[4096]-[224]",
]


class ScriptedBoard:
    """Reads commands ended by '%' and writes ``answer(command)`` back (bytes, or None for silence)."""

    def __init__(self, answer: Callable[[str], bytes | None]) -> None:
        self.host, self._dev = LoopbackTransport.pair("scripted board")
        self.answer = answer
        self.commands: list[str] = []
        self.host.open()
        self._dev.open()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buffer = b""
        try:
            while True:
                buffer += self._dev.read(4096, 30)
                while b"%" in buffer:
                    raw, buffer = buffer.split(b"%", 1)
                    command = raw.decode("ascii", "replace")
                    self.commands.append(command)
                    reply = self.answer(command)
                    if reply is not None:
                        self._dev.write(reply, 1)
        except Exception:  # the host closed the link: the board goes quiet
            return

    def close(self) -> None:
        self.host.close()


def infer_lines(runs: int) -> list[str]:
    return [
        "m-warmup-start-0",
        "m-warmup-done",
        f"m-infer-start-{runs}",
        "m-lap-us-100",
        "m-lap-ticks-2500",
        "m-lap-us-140",
        "m-lap-ticks-3500",
        "m-infer-done",
        "m-results-[0.500,-1.250,0.000,2.000]",
    ]


def good_board(command: str) -> bytes | None:
    """A correct board for a 40-byte input, 4-byte output model."""
    if command.startswith("sync-"):
        return frame([f"e-[Unknown command: {command}]"])
    if command == "":
        return frame([])
    if command == "identity":
        return frame(IDENTITY)
    if command == "name":
        return frame(["m-name-dut-[edgedeploy]"])
    if command == "db load 40":
        return frame(["m-[Expecting 40 bytes]"])
    if command.startswith("db ") and command != "db crc":
        data = bytes.fromhex(command[3:])
        good_board.loaded += data  # type: ignore[attr-defined]
        return frame(["m-load-done"] if len(good_board.loaded) == 40 else [])  # type: ignore[attr-defined]
    if command == "db crc":
        data = good_board.loaded  # type: ignore[attr-defined]
        return frame([f"m-db-crc32-[{zlib.crc32(data):08x}]-[{len(data)}]"])
    if command == "infer 1 0":
        return frame(infer_lines(runs=1))
    if command == "output":
        return frame(["m-output-0-[0a0bf0ff]"])
    return frame([f"e-[Unknown command: {command}]"])


@pytest.fixture
def scripted():
    boards: list[ScriptedBoard] = []

    def make(answer: Callable[[str], bytes | None]) -> tuple[BenchmarkClient, ScriptedBoard]:
        good_board.loaded = b""  # type: ignore[attr-defined]
        board = ScriptedBoard(answer)
        boards.append(board)
        return BenchmarkClient(board.host, timeout=1.0), board

    yield make
    for board in boards:
        board.close()


def test_a_full_run_against_a_correct_board(scripted):
    client, board = scripted(good_board)
    client.sync()
    ident = client.identity()
    assert ident.input_bytes == 40 and ident.outputs[0].nbytes == 4
    assert ident.counter_hz == 25_000_000 and ident.stack_peak_bytes == 224
    data = bytes(range(40))
    assert client.run(data) == [bytes([0x0A, 0x0B, 0xF0, 0xFF])]
    # cmd-size 23 leaves room for (23 - 3) // 2 = 10 bytes per db command.
    chunks = [
        c for c in board.commands if c.startswith("db ") and c[3:].isalnum() and c != "db crc"
    ]
    assert chunks[0] == "db " + data[:10].hex() and len(chunks) == 4


def test_infer_reports_both_laps_and_results(scripted):
    client, _ = scripted(good_board)
    reply = client.infer(1, 0)
    assert (reply.start_us, reply.end_us, reply.ticks) == (100, 140, 1000)
    assert reply.results == (0.5, -1.25, 0.0, 2.0)


def test_sync_drops_stale_output_whatever_its_timing(scripted):
    stale = b"m-init-done\r\nm-crc32-[00000000]\r\nm-ready\r\nhalf a li"

    def board(command: str) -> bytes | None:
        if command == "":
            return stale + frame([])
        return good_board(command)

    client, _ = scripted(board)
    client.sync()
    assert client.name() == "edgedeploy"


def _one_reply_board(reply: bytes) -> Callable[[str], bytes | None]:
    def board(command: str) -> bytes | None:
        return reply if command == "name" else good_board(command)

    return board


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (frame(["m-name-dut-[edgedeploy]"]).replace(b"edge", b"edgf"), "fails its CRC32"),
        (b"m-name-dut-[edgedeploy]\r\nm-ready\r\n", "no m-crc32 line"),
        (b"m-name-dut-[x]\r\nm-crc32-[6a1c7d2f]\r\nm-name\r\nm-ready\r\n", "fails its CRC32"),
        (frame(["m-name-dut-[x]"]).replace(b"\r\nm-ready", b"\r\nm-reaDy"), "continues after"),
        (b"\x8f\x00garbage\r\n", "garbage bytes"),
        (b"hello there\r\n", "garbage"),
        (b"m-" + b"x" * (1 << 20), "without a line end"),
    ],
)
def test_a_corrupt_answer_is_a_protocol_error(scripted, reply, message):
    client, _ = scripted(_one_reply_board(reply))
    with pytest.raises(ProtocolError, match=message):
        client.name()


def test_an_error_line_is_a_command_error_naming_the_board_message(scripted):
    client, _ = scripted(good_board)
    with pytest.raises(DeviceCommandError, match="refused 'bogus': Unknown command: bogus"):
        client.command("bogus")


def test_a_silent_board_times_out_within_the_timeout(scripted):
    client, _ = scripted(lambda command: None)
    start = time.monotonic()
    with pytest.raises(DeviceTimeoutError):
        client.command("name", timeout=0.3)
    assert time.monotonic() - start < 1.0


def test_a_board_that_never_stops_talking_is_cut_off_at_the_deadline(scripted):
    def chatter(command: str) -> bytes | None:
        return b"m-busy\r\n" * 20000

    client, _ = scripted(chatter)
    start = time.monotonic()
    with pytest.raises(DeviceTimeoutError):
        client.command("name", timeout=0.3)
    assert time.monotonic() - start < 2.0


def test_an_upload_the_board_counted_differently_is_refused(scripted):
    def board(command: str) -> bytes | None:
        if command == "db load 40":
            return frame(["m-[Expecting 41 bytes]"])
        return good_board(command)

    client, _ = scripted(board)
    with pytest.raises(ProtocolError, match="expects 41"):
        client.load(bytes(40))


def test_an_upload_corrupted_on_the_way_is_caught_by_its_crc(scripted):
    def board(command: str) -> bytes | None:
        if command.startswith("db 00"):
            command = "db 01" + command[5:]
        return good_board(command)

    client, _ = scripted(board)
    with pytest.raises(ProtocolError, match="upload was corrupted"):
        client.load(bytes(40))


def test_an_infer_echo_that_differs_from_the_request_is_refused(scripted):
    def board(command: str) -> bytes | None:
        return frame(infer_lines(runs=2)) if command == "infer 1 0" else good_board(command)

    client, _ = scripted(board)
    with pytest.raises(ProtocolError, match="ran 2 runs"):
        client.infer(1, 0)


def test_an_output_of_the_wrong_length_is_refused(scripted):
    def board(command: str) -> bytes | None:
        return frame(["m-output-0-[0a0b]"]) if command == "output" else good_board(command)

    client, _ = scripted(board)
    client.identity()
    with pytest.raises(ProtocolError, match="2 bytes, the model's is 4"):
        client.outputs()


def test_a_malformed_identity_is_refused(scripted):
    def board(command: str) -> bytes | None:
        if command == "identity":
            return frame([line for line in IDENTITY if "counter" not in line])
        return good_board(command)

    client, _ = scripted(board)
    with pytest.raises(ProtocolError, match="incomplete"):
        client.identity()


def test_inputs_of_the_wrong_size_never_reach_the_board(scripted):
    client, board = scripted(good_board)
    client.identity()
    with pytest.raises(InputDataError, match="39 bytes; the model on the board takes 40"):
        client.run(bytes(39))
    assert not any(c.startswith("db") for c in board.commands)


def test_commands_with_the_terminator_are_refused(scripted):
    client, _ = scripted(good_board)
    with pytest.raises(InputDataError):
        client.command("name%")


# --- the firmware's own output code, compiled for the host -----------------------

_HOST_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "fw_io.h"
#include "crc32.h"
void board_uart_putc(char c) { putchar(c); }
int main(int argc, char **argv) {
    fw_reply_begin();
    for (int i = 1; i < argc; ++i) {
        fw_put_fixed3(strtof(argv[i], NULL));
        fw_eol();
    }
    fw_put_i64(-9223372036854775807LL - 1);
    fw_eol();
    fw_put_u64(18446744073709551615ULL);
    fw_eol();
    fw_put_hex32(crc32_bytes((const uint8_t *)"123456789", 9));
    fw_eol();
    fw_reply_end();
    return 0;
}
"""


@pytest.fixture(scope="module")
def firmware_io(tmp_path_factory) -> Path:
    gcc = require_tool("gcc")
    src = tmp_path_factory.mktemp("fw_io")
    package = "edgedeploy.firmware_export.firmware"
    for name in ("fw_io.c", "fw_io.h", "crc32.c", "crc32.h"):
        (src / name).write_text(render_template(name, {}, package=package))
    # fw_io.c includes board.h for board_uart_putc; a one-line stand-in declares it.
    (src / "board.h").write_text("void board_uart_putc(char c);\n")
    (src / "main.c").write_text(_HOST_MAIN)
    exe = src / "fw_io_host"
    cmd = [gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(src), "-o", str(exe)]
    cmd += [str(src / f) for f in ("main.c", "fw_io.c", "crc32.c")]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return exe


def test_firmware_crc32_and_reply_framing_match_zlib(firmware_io):
    out = subprocess.run([str(firmware_io)], capture_output=True, check=True).stdout
    lines = out.split(b"\r\n")
    assert lines[2] == b"cbf43926"  # the CRC-32/IEEE check value
    body, crc_line = out.split(b"m-crc32-[")
    assert crc_line.startswith(f"{zlib.crc32(body):08x}]\r\nm-ready".encode())
    assert lines[0] == b"-9223372036854775808" and lines[1] == b"18446744073709551615"


def test_firmware_formats_results_as_printf_does(firmware_io):
    rng = np.random.default_rng(3)
    values = [0.0, -0.0004, 0.0005, 1.0, -1.2345, 127.5, -128.0, 0.03125, 1e-3, -2.5e4]
    values += [float(np.float32(v)) for v in rng.normal(0, 50, 30)]
    args = [repr(v) for v in values]
    out = subprocess.run([str(firmware_io), *args], capture_output=True, check=True).stdout
    got = out.decode().split("\r\n")[: len(values)]
    for value, text in zip(values, got, strict=True):
        # printf rounds the exact binary value; the firmware rounds value*1000 in
        # float, so they may differ by one in the last digit, never more.
        assert abs(float(text) - value) <= 0.0005 + 1e-6 * abs(value), (value, text)
