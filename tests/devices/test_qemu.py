"""End to end on the emulated Cortex-M4 (QEMU mps2-an386): export, build, flash, bench, validate.

The reference for every output byte is the TFLite Micro interpreter on the
host; the link is the firmware's real UART, reached as a TCP serial port.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from edgedeploy.devices.bench import bench, format_bench
from edgedeploy.devices.flash import STATE_FILE, flash, stop
from edgedeploy.devices.qemu import find_session
from edgedeploy.devices.session import open_client
from edgedeploy.devices.transport import SerialTransport
from edgedeploy.devices.validate import format_validate, validate
from edgedeploy.errors import DeviceError, OutputExistsError, UnknownNameError
from edgedeploy.firmware_export.cgen import BANNER
from edgedeploy.firmware_export.firmware import export_firmware
from edgedeploy.modelfile import load_model
from edgedeploy.runtime import MicroModel
from tests.paths import AD01_INT8, KWS_INT8, ROOT
from tests.toolhelpers import require_tool

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["kws", "ad01", "small_cnn"])
def test_model_runs_bit_exact_on_the_emulated_board(name, board, request):
    """20 random inputs per model: every output byte equals TFLite Micro's."""
    if name == "small_cnn":
        model, digits = request.getfixturevalue("small_cnn_int8")
    else:
        model, digits = {"kws": KWS_INT8, "ad01": AD01_INT8}[name], None
    b = board(model)
    result = validate(b.model, "qemu-m4", inputs=20, port=b.url, timeout=30)
    assert result.passed, format_validate(result)
    assert result.samples == 20 and result.mismatched_samples == 0
    if digits is not None:
        # Real digits from the test split, float -> quantized with the input's parameters.
        real = validate(b.model, "qemu-m4", inputs=digits, port=b.url, timeout=30)
        assert real.passed and real.samples == 20, format_validate(real)

    timing = bench(b.model, "qemu-m4", port=b.url, runs=3, warmup=1, timeout=30)
    assert timing.unit == "instructions" and timing.icount_shift == 6
    assert 1e4 < timing.per_inference < 1e9
    # The firmware's own report of its footprint is the linker's.
    assert (timing.flash_bytes, timing.ram_bytes) == (b.flash_bytes, b.ram_bytes)
    assert timing.arena_bytes > 0 and 0 < timing.stack_peak_bytes < timing.stack_bytes
    assert "instructions per inference" in format_bench(timing)


def test_instruction_counts_are_deterministic(board):
    b = board(AD01_INT8)
    first = bench(b.model, "qemu-m4", port=b.url, runs=4, warmup=0, seed=1)
    again = bench(b.model, "qemu-m4", port=b.url, runs=4, warmup=2, seed=1)
    one = bench(b.model, "qemu-m4", port=b.url, runs=1, warmup=0, seed=1)
    # One timer tick is 0.625 instructions: the same input gives the same count to
    # within a tick per timed window, whatever ran before.
    assert abs(first.total_ticks - again.total_ticks) <= 1
    # A window also times two counter reads and the loop: tens of instructions.
    assert abs(first.per_inference - one.per_inference) < 50
    # Other data may take other branches (rounding, clamping): close, not equal.
    other = bench(b.model, "qemu-m4", port=b.url, runs=1, warmup=0, seed=2)
    assert abs(other.per_inference - one.per_inference) < 1e-3 * one.per_inference


def test_the_firmware_answers_the_mlperf_runner_exactly_as_it_asks(board):
    """The byte sequence of the MLPerf Tiny runner, and its regular expressions on the answers."""
    b = board(KWS_INT8)
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, (1, 49, 10, 1), dtype=np.int8)

    with SerialTransport(b.url) as link:
        pending = bytearray()

        def send(command: str) -> list[str]:
            link.write(command.encode() + b"%", 5)
            while b"m-ready" not in pending:
                pending.extend(link.read(4096, 30))
            end = pending.index(b"m-ready") + len(b"m-ready\r\n")
            text = pending[:end].decode()
            del pending[:end]
            return [line for line in text.replace("\r", "").split("\n") if line]

        send("")
        time.sleep(0.2)
        link.reset_input()
        pending.clear()
        names = [m for line in send("name") if (m := re.match(r"^m-(name)-dut-\[([^]]+)]$", line))]
        assert names[0].group(2) == "edgedeploy"
        profile = [
            m for line in send("profile") if re.match(r"^m-(model|profile)-\[([^]]+)]$", line)
        ]
        assert len(profile) == 2
        assert any(line == "m-[Expecting 490 bytes]" for line in send("db load 490"))
        data = x.tobytes()
        for i in range(0, len(data), 31):
            result = send(f"db {''.join(f'{d:02x}' for d in data[i : i + 31])}")
        assert "m-load-done" in result
        lines = send("infer 1 0")
    laps = [int(m.group(1)) for line in lines if (m := re.match(r"^m-lap-us-([0-9]+)$", line))]
    results = [m.group(1) for line in lines if (m := re.match(r"^m-results-\[([^]]+)\]$", line))]
    assert len(laps) == 2 and laps[1] >= laps[0] and len(results) == 1
    values = np.array([float(v) for v in results[0].split(",")])
    out = MicroModel(KWS_INT8).run_raw([x])[0].astype(np.float32)
    quant = load_model(KWS_INT8)
    q = quant.tensors[quant.outputs[0]].quant
    expected = (out.ravel() - q.zero_points[0]) * q.scales[0]
    assert values.shape == (12,) and np.allclose(values, expected, atol=0.0006)


def test_the_board_checks_commands_strictly(board):
    b = board(KWS_INT8)
    with open_client(b.url, timeout=5) as client:
        for command, message in [
            ("infer 0", "must be >0"),
            ("infer 1 -1", "Usage: infer"),
            ("db load 491", "the buffer holds 490"),
            ("db load 0", "must be >0"),
            ("db 0g", "Invalid hex digit g"),
            ("db 012", "hex digits"),
            ("name please", "takes no arguments"),
            ("x" * 300, "Command too long"),
        ]:
            with pytest.raises(DeviceError, match=re.escape(message)):
                client.command(command)
        assert client.name() == "edgedeploy"


def test_flash_from_another_process_leaves_the_board_running_until_stopped(tmp_path):
    """What `edgedeploy flash` does: the board outlives the command; `--stop` ends it."""
    for tool in ("arm-none-eabi-gcc", "make", "qemu-system-arm"):
        require_tool(tool)
    fwdir = tmp_path / "fw"
    export_firmware(AD01_INT8, fwdir, device="qemu-m4")
    script = (
        "import json, sys; from edgedeploy.devices.flash import flash; "
        "r = flash(sys.argv[1], 'qemu-m4'); print(json.dumps(r.to_dict()))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(fwdir)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    try:
        assert info["url"].startswith("socket://127.0.0.1:") and (fwdir / STATE_FILE).is_file()
        with open_client(info["url"]) as client:
            assert client.identity().sha256 == load_model(AD01_INT8).sha256
        session = find_session(info["url"])
        assert session is not None and session.pid == info["pid"]
    finally:
        assert stop(fwdir) is True
    assert not os.path.exists(f"/proc/{info['pid']}") or _is_zombie(info["pid"])
    assert not (fwdir / STATE_FILE).exists() and stop(fwdir) is False


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1].startswith("Z")
    except OSError:
        return True


def test_bench_without_a_port_builds_starts_and_stops_its_own_board():
    for tool in ("arm-none-eabi-gcc", "make", "qemu-system-arm"):
        require_tool(tool)
    result = bench(AD01_INT8, "qemu-m4", runs=2, warmup=0)
    assert result.unit == "instructions" and result.per_inference > 1e5
    assert find_session(result.url) is None


def test_reflashing_replaces_the_running_board(tmp_path):
    for tool in ("arm-none-eabi-gcc", "make", "qemu-system-arm"):
        require_tool(tool)
    fwdir = tmp_path / "fw"
    export_firmware(AD01_INT8, fwdir)
    first = flash(fwdir)
    try:
        second = flash(fwdir, "qemu-m4", build=False)
        assert second.pid != first.pid and find_session(first.url) is None
        with open_client(second.url) as client:
            assert client.name() == "edgedeploy"
    finally:
        stop(fwdir)


def test_a_board_running_another_model_is_refused(board):
    b = board(AD01_INT8)
    with pytest.raises(DeviceError, match="runs model ad01_int8"):
        bench(KWS_INT8, "qemu-m4", port=b.url)


def test_export_and_flash_refuse_what_they_cannot_do(tmp_path):
    with pytest.raises(DeviceError, match="no benchmark firmware board support for pico"):
        export_firmware(AD01_INT8, tmp_path / "p", device="pico")
    with pytest.raises(UnknownNameError, match="unknown device"):
        export_firmware(AD01_INT8, tmp_path / "u", device="nope")
    assert not (tmp_path / "p").exists() and not (tmp_path / "u").exists()
    fwdir = tmp_path / "fw"
    export_firmware(AD01_INT8, fwdir)
    with pytest.raises(OutputExistsError):
        export_firmware(AD01_INT8, fwdir)
    with pytest.raises(DeviceError, match="holds firmware for qemu-m4, not pico"):
        flash(fwdir, "pico")
    text = (fwdir / "src" / "protocol.c").read_text()
    assert BANNER in text and "${" not in text
    generated = [*(fwdir / "src").iterdir(), fwdir / "Makefile", fwdir / "firmware.ld"]
    generated += [fwdir / "model" / "model.c", fwdir / "model" / "model.h"]
    for path in generated:
        assert "do not edit" in path.read_text(), path


def test_bench_with_a_real_board_needs_a_port():
    with pytest.raises(DeviceError, match="give its serial port with --port"):
        bench(AD01_INT8, "stm32f746g-disco")


def test_make_prints_flash_and_ram(board):
    """`make` prints the flash and RAM of the ELF it links."""
    b = board(AD01_INT8)
    out = subprocess.run(
        ["make", "-s", "-C", str(b.fwdir), "size"], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"firmware: flash (\d+) bytes, RAM (\d+) bytes", out)
    assert m and (int(m.group(1)), int(m.group(2))) == (b.flash_bytes, b.ram_bytes)
