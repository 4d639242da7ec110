"""Putting a built firmware on a board: QEMU for emulated boards, the vendor's tool otherwise.

`flash` takes a firmware project (written by ``edgedeploy export --runtime c
--device NAME``), builds it if needed, and

* for an emulated board starts QEMU in the background, waits until the
  firmware answers, checks it runs the project's model, records the session
  in ``FWDIR/.edgedeploy-qemu.json`` and returns the serial URL
  (``socket://127.0.0.1:PORT``); `stop` ends it;
* for a real board runs the board's own programming tool (openocd, picotool,
  esptool, arduino-cli) with the exact command line in the result; a missing
  tool or board is one `DependencyError` or `DeviceError` line naming it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedeploy.devices import get_profile
from edgedeploy.devices.qemu import (
    DEFAULT_ICOUNT_SHIFT,
    READY_TIMEOUT,
    read_state,
    start_qemu,
    stop_all_qemu,
    stop_qemu,
)
from edgedeploy.errors import DependencyError, DeviceError, InputFileError

__all__ = [
    "FLASH_TIMEOUT",
    "STATE_FILE",
    "FlashResult",
    "flash",
    "flash_command",
    "format_flash",
    "stop",
]

#: The running QEMU session of a firmware project, inside the project.
STATE_FILE = ".edgedeploy-qemu.json"
#: Seconds a vendor programming tool may take.
FLASH_TIMEOUT = 300.0


@dataclass(frozen=True)
class FlashResult:
    """A firmware put on a board.

    ``url`` is the serial URL to pass as ``--port`` (for QEMU the emulated
    UART; for a real board the port it was flashed through, if known);
    ``commands`` are the command lines that were run.
    """

    device: str
    fwdir: Path
    elf: Path
    commands: tuple[tuple[str, ...], ...]
    url: str | None
    pid: int | None = None
    state_file: Path | None = None
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "fwdir": str(self.fwdir),
            "elf": str(self.elf),
            "commands": [list(c) for c in self.commands],
            "url": self.url,
            "pid": self.pid,
            "state_file": str(self.state_file) if self.state_file else None,
        }


def _objcopy_bin(elf: Path) -> tuple[list[str], Path]:
    binary = elf.with_suffix(".bin")
    return ["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(binary)], binary


def flash_command(device: str, elf: Path | str, port: str | None = None) -> list[list[str]]:
    """The command lines that program ``elf`` into a real ``device`` (run in order).

    `DeviceError` for a board without a programming recipe (a Linux board, an
    emulated one) or one that needs ``port`` when none is given.
    """
    profile = get_profile(device)
    elf = Path(elf)
    if profile.qemu_machine is not None:
        raise DeviceError(f"{device} is emulated: flash starts QEMU, there is nothing to program")
    name = profile.name
    if name == "stm32f746g-disco":
        return [["openocd", "-f", "board/stm32f7discovery.cfg",
                 "-c", f"program {elf} verify reset exit"]]  # fmt: skip
    if name == "pico":
        return [["picotool", "load", "-x", str(elf)]]
    if name in ("nano33-ble-sense", "esp32-s3") and port is None:
        raise DeviceError(
            f"flashing {device} needs the board's serial port: give --port /dev/ttyACM0"
        )
    if name == "nano33-ble-sense":
        to_bin, binary = _objcopy_bin(elf)
        return [to_bin, ["arduino-cli", "upload", "-p", str(port), "--fqbn",
                         "arduino:mbed_nano:nano33ble", "--input-file", str(binary)]]  # fmt: skip
    if name == "esp32-s3":
        image = elf.with_suffix(".bin")
        return [["esptool.py", "--chip", "esp32s3", "elf2image", "--output", str(image), str(elf)],
                ["esptool.py", "--chip", "esp32s3", "--port", str(port), "write_flash", "0x0",
                 str(image)]]  # fmt: skip
    raise DeviceError(
        f"{device} ({profile.description}) is not flashed with a firmware image: "
        f"{profile.flashing_tool}"
    )


def _manifest(fwdir: Path, device: str | None) -> dict[str, Any]:
    from edgedeploy.firmware_export.firmware import read_manifest

    manifest = read_manifest(fwdir)
    if device is not None and manifest["device"] != device:
        raise DeviceError(
            f"{fwdir} holds firmware for {manifest['device']}, not {device}; "
            f"export it again with --device {device}"
        )
    return manifest


def flash(
    fwdir: Path | str,
    device: str | None = None,
    port: str | None = None,
    build: bool = True,
    icount_shift: int = DEFAULT_ICOUNT_SHIFT,
    ready_timeout: float = READY_TIMEOUT,
) -> FlashResult:
    """Build (if needed) and put the firmware of project ``fwdir`` on ``device``.

    ``device`` defaults to the project's own; naming another is an error.
    An emulated board already running this project's firmware is stopped and
    started afresh, as re-flashing resets a real board.
    """
    from edgedeploy.firmware_export.firmware import build_firmware

    fwdir = Path(fwdir)
    manifest = _manifest(fwdir, device)
    device = str(manifest["device"])
    profile = get_profile(device)
    elf = (fwdir / str(manifest["elf"])).resolve()
    if build or not elf.is_file():
        elf = build_firmware(fwdir).elf.resolve()
    if profile.qemu_machine is not None:
        state_file = fwdir / STATE_FILE
        stop(fwdir)
        session = start_qemu(
            elf,
            profile.qemu_machine,
            icount_shift=icount_shift,
            state_file=state_file,
            log_file=fwdir / "build" / "qemu.log",
            ready_timeout=ready_timeout,
        )
        if session.model_sha256 != manifest["sha256"]:
            stop_qemu(session, state_file)
            raise DeviceError(
                f"the emulated board runs model {session.model_sha256[:12]}…, not the project's "
                f"{str(manifest['sha256'])[:12]}…; rebuild {fwdir}"
            )
        return FlashResult(
            device, fwdir, elf, (session.command,), session.url, session.pid, state_file
        )
    return _flash_real(device, fwdir, elf, port)


def _flash_real(device: str, fwdir: Path, elf: Path, port: str | None) -> FlashResult:
    commands = flash_command(device, elf, port)
    shown = " && ".join(subprocess.list2cmdline(c) for c in commands)
    for command in commands:
        if shutil.which(command[0]) is None:
            raise DependencyError(f"{command[0]} is not installed; to flash {device} run: {shown}")
    if port is not None and "://" not in port and not Path(port).exists():
        raise DeviceError(f"no board at {port}: is {device} plugged in?")
    output = []
    for command in commands:
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, timeout=FLASH_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise DeviceError(f"{command[0]} did not finish within {FLASH_TIMEOUT:g} s") from exc
        output.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
            raise DeviceError(
                f"{command[0]} failed (is {device} connected?): "
                f"{lines[-1] if lines else f'exit status {proc.returncode}'}"
            )
    return FlashResult(
        device, fwdir, elf, tuple(tuple(c) for c in commands), port, output="".join(output)
    )


def stop(fwdir: Path | str | None = None) -> bool:
    """Stop the emulated board running project ``fwdir``'s firmware; True if one was running.

    Without ``fwdir`` every emulated board this user started is stopped.
    """
    if fwdir is None:
        return stop_all_qemu() > 0
    fwdir = Path(fwdir)
    if not fwdir.is_dir():
        raise InputFileError(f"firmware project {fwdir} does not exist")
    state_file = fwdir / STATE_FILE
    session = read_state(state_file)
    if session is None:
        state_file.unlink(missing_ok=True)
        return False
    return stop_qemu(session, state_file)


def format_flash(result: FlashResult) -> str:
    """Lines for the CLI to print after flashing."""
    if result.pid is not None:
        return "\n".join(
            [
                f"{result.device}: QEMU (pid {result.pid}) runs {result.elf}",
                f"serial port: {result.url}",
                f"stop it with: edgedeploy flash {result.fwdir} --stop",
            ]
        )
    shown = " && ".join(subprocess.list2cmdline(list(c)) for c in result.commands)
    return f"{result.device}: flashed {result.elf} with: {shown}"
