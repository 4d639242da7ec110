"""Writing and building the benchmark firmware project for a board.

`export_firmware` writes a self-contained project: the model compiled by the
plain-C runtime (``model/``, from `export_c`), the board's startup code, linker
script and UART driver, and the benchmark protocol (``src/``), with a Makefile
for the GNU Arm toolchain. `build_firmware` runs ``make`` on it and reports the
ELF's flash and RAM. Every file comes from a template under ``templates/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgedeploy import __version__
from edgedeploy.errors import BuildError, DependencyError, InputFileError, UnsupportedModelError
from edgedeploy.firmware_export.cgen import c_string_literal, comment_text, render_template
from edgedeploy.firmware_export.firmware._boards import board_for
from edgedeploy.fsutil import atomic_output_dir
from edgedeploy.modelfile import ModelFile, load_model

__all__ = [
    "DEFAULT_CMD_SIZE",
    "DEFAULT_STACK_BYTES",
    "MANIFEST",
    "FirmwareBuild",
    "FirmwareExport",
    "build_firmware",
    "elf_sizes",
    "export_firmware",
    "format_export",
    "read_manifest",
]

_PACKAGE = "edgedeploy.firmware_export.firmware"
#: Stack reserved for the firmware: the kernels keep their state in the arena,
#: so the protocol and the deepest kernel call use a few hundred bytes (the
#: firmware reports its peak, and refuses to go on after an overflow).
DEFAULT_STACK_BYTES = 4 * 1024
#: Longest command the firmware accepts: 126 input bytes per ``db`` command.
#: The MLPerf Tiny runner's commands (80 characters at most) fit as well.
DEFAULT_CMD_SIZE = 256
#: The project's description of itself, read by `flash` and `bench`.
MANIFEST = "edgedeploy-firmware.json"
#: Where ``make`` puts the firmware.
ELF_PATH = Path("build") / "firmware.elf"
#: Seconds ``make`` may take before the build is declared hung.
BUILD_TIMEOUT = 900

# Template -> path in the project. The board's own files are added per board.
_PROJECT_FILES = {
    "Makefile": "Makefile",
    "firmware.ld": "firmware.ld",
    "README.md": "README.md",
    "board.h": "src/board.h",
    "startup.c": "src/startup.c",
    "crc32.c": "src/crc32.c",
    "crc32.h": "src/crc32.h",
    "fw_io.c": "src/fw_io.c",
    "fw_io.h": "src/fw_io.h",
    "fw_config.h": "src/fw_config.h",
    "fw_model.c": "src/fw_model.c",
    "fw_model.h": "src/fw_model.h",
    "protocol.c": "src/protocol.c",
    "protocol.h": "src/protocol.h",
    "main.c": "src/main.c",
}
_IO_DTYPES = {"int8": 1, "float32": 4}
# Characters a model name may keep inside protocol lines like m-model-[NAME].
_UNSAFE_IN_REPLY = re.compile(r"[^A-Za-z0-9_.+-]")


@dataclass
class FirmwareExport:
    """What `export_firmware` wrote."""

    model: str
    sha256: str
    device: str
    board: str
    out_dir: Path
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    stack_bytes: int
    files: list[str] = field(default_factory=list)

    @property
    def elf(self) -> Path:
        return self.out_dir / ELF_PATH

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["elf"] = str(self.elf)
        return data


@dataclass(frozen=True)
class FirmwareBuild:
    """A built firmware: its ELF and what it takes of the board's memory.

    ``flash_bytes`` is code + constants + initial data; ``ram_bytes`` is data +
    .bss (the tensor arena) + the stack.
    """

    elf: Path
    flash_bytes: int
    ram_bytes: int
    text_bytes: int
    data_bytes: int
    bss_bytes: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["elf"] = str(self.elf)
        return data


def _reply_safe(name: str) -> str:
    return _UNSAFE_IN_REPLY.sub("_", name)[:64] or "model"


def _tensor_infos(mf: ModelFile, indices: list[int], kind: str) -> str:
    """Initializers of fw_tensor_info built from model.h's per-tensor macros."""
    rows = []
    for i in range(len(indices)):
        macro = f"ED_MODEL_{kind}{i}"
        dtype = mf.tensors[indices[i]].dtype
        rows.append(
            f'    {{"{dtype}", {macro}_IS_FLOAT, {macro}_BYTES, {macro}_ELEMENTS, '
            f"{macro}_SCALE, {macro}_ZERO_POINT}},"
        )
    return "\n".join(rows)


def _nbytes(mf: ModelFile, idx: int) -> int:
    t = mf.tensors[idx]
    if t.dtype not in _IO_DTYPES:
        raise UnsupportedModelError(
            f"{mf.name}: {t.dtype} tensor {t.name!r} at the model's edge; the firmware "
            f"takes {' or '.join(_IO_DTYPES)} inputs and outputs"
        )
    return t.num_elements * _IO_DTYPES[t.dtype]


def _hex(value: int) -> str:
    return f"0x{value:08X}"


def export_firmware(
    model: Path | str,
    out: Path | str,
    device: str = "qemu-m4",
    force: bool = False,
    stack_bytes: int = DEFAULT_STACK_BYTES,
    cmd_size: int = DEFAULT_CMD_SIZE,
) -> FirmwareExport:
    """Write a buildable benchmark firmware project for ``model`` on ``device`` to ``out``.

    Raises `UnknownNameError` for an unknown device, `DeviceError` for a board
    without firmware support, `UnsupportedModelError` for a model the C runtime
    cannot compile or that cannot fit the board, `OutputExistsError` when
    ``out`` exists without ``force``. Nothing is written unless all succeeds.
    """
    from edgedeploy.firmware_export.c_runtime import check_c_supported, export_c, plan_model

    profile, board = board_for(device)
    model_path = Path(model)
    out_dir = Path(out)
    mf = load_model(model_path)
    check_c_supported(mf)
    input_bytes = sum(_nbytes(mf, i) for i in mf.inputs)
    output_bytes = sum(_nbytes(mf, i) for i in mf.outputs)
    plan = plan_model(mf)
    ram_needed = plan.arena_bytes + input_bytes + stack_bytes
    if ram_needed > profile.ram_bytes:
        raise UnsupportedModelError(
            f"{mf.name} cannot fit {profile.name}: it needs at least {ram_needed:,} B of RAM "
            f"(arena {plan.arena_bytes:,} + input copy {input_bytes:,} + stack {stack_bytes:,}); "
            f"the board has {profile.ram_bytes:,} B"
        )
    if profile.flash_origin is None or profile.ram_origin is None:
        raise UnsupportedModelError(f"profile {profile.name} lacks a flash or RAM origin")
    if not 32 <= cmd_size <= 4096:
        raise UnsupportedModelError(f"command buffer size {cmd_size} is not in 32..4096")

    values = {
        "device": comment_text(profile.name),
        "device_literal": c_string_literal(profile.name),
        "board": comment_text(board.name),
        "model_file_comment": comment_text(mf.name),
        "version": c_string_literal(f"edgedeploy {__version__}"),
        "model_name": c_string_literal(_reply_safe(Path(mf.name).stem)),
        "sha256": mf.sha256,
        "cmd_size": cmd_size,
        "input_bytes": input_bytes,
        "flash_origin": _hex(profile.flash_origin),
        "flash_bytes": _hex(profile.flash_bytes),
        "ram_origin": _hex(profile.ram_origin),
        "ram_bytes": _hex(profile.ram_bytes),
        "stack_bytes": _hex(stack_bytes),
        "cpu_flags": " ".join(profile.toolchain_flags),
        "input_infos": _tensor_infos(mf, mf.inputs, "INPUT"),
        "output_infos": _tensor_infos(mf, mf.outputs, "OUTPUT"),
    }
    files = {**_PROJECT_FILES, board.source: "src/board.c", board.header: "src/board_config.h"}
    written: list[str] = []
    with atomic_output_dir(out_dir, force=force, protect=(model_path,)) as tmp:
        c_export = export_c(model_path, tmp / "model", measure_tflm=False)
        if c_export.const_bytes > profile.flash_bytes:
            raise UnsupportedModelError(
                f"{mf.name} cannot fit {profile.name}: its constants take "
                f"{c_export.const_bytes:,} B; the board has {profile.flash_bytes:,} B of flash"
            )
        model_sources = sorted(f for f in c_export.files if _is_model_source(f))
        values["model_sources"] = " ".join(f"model/{f}" for f in model_sources)
        (tmp / "src").mkdir()
        for template, dest in files.items():
            text = render_template(template, values, package=_PACKAGE)
            (tmp / dest).write_text(text, encoding="utf-8")
            written.append(dest)
        written.extend(f"model/{f}" for f in c_export.files)
        result = FirmwareExport(
            model=mf.name,
            sha256=mf.sha256,
            device=profile.name,
            board=board.name,
            out_dir=out_dir,
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            arena_bytes=c_export.arena_bytes,
            stack_bytes=stack_bytes,
            files=sorted(written),
        )
        manifest = {
            "generator": f"edgedeploy {__version__}",
            "model": mf.name,
            "sha256": mf.sha256,
            "device": profile.name,
            "board": board.name,
            "qemu_machine": profile.qemu_machine,
            "elf": ELF_PATH.as_posix(),
            "counter_hz": board.counter_hz,
            "input_bytes": input_bytes,
            "output_bytes": output_bytes,
            "arena_bytes": c_export.arena_bytes,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        result.files.append(MANIFEST)
    return result


def _is_model_source(name: str) -> bool:
    """The runtime's sources the firmware links: model.c and the kernels (not its harnesses)."""
    return name == "model.c" or (name.startswith("ed_") and name.endswith(".c"))


def read_manifest(fwdir: Path | str) -> dict[str, Any]:
    """The manifest of a firmware project, or `InputFileError` if ``fwdir`` is not one."""
    path = Path(fwdir) / MANIFEST
    if not path.is_file():
        raise InputFileError(
            f"{fwdir} is not an edgedeploy firmware project (no {MANIFEST}); "
            f"create one with: edgedeploy export MODEL --runtime c --device DEVICE --out {fwdir}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or "device" not in data:
        raise InputFileError(f"{path} is not a firmware manifest")
    return data


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DependencyError(
            f"{name} is not installed (Debian: apt-get install gcc-arm-none-eabi "
            f"libnewlib-arm-none-eabi make; or run ./scripts/setup.sh)"
        )
    return path


def elf_sizes(elf: Path | str, size_tool: str = "arm-none-eabi-size") -> FirmwareBuild:
    """Flash and RAM of a linked ELF, from binutils' ``size`` (Berkeley format)."""
    elf = Path(elf)
    if not elf.is_file():
        raise InputFileError(
            f"firmware {elf} does not exist (build it with make -C {elf.parent.parent})"
        )
    proc = subprocess.run(
        [_tool(size_tool), "-B", str(elf)], capture_output=True, text=True, check=False
    )
    rows = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or len(rows) < 2:
        raise BuildError(f"{size_tool} cannot read {elf}: {proc.stderr.strip() or proc.stdout}")
    text, data, bss = (int(v) for v in rows[1].split()[:3])
    return FirmwareBuild(elf, text + data, data + bss, text, data, bss)


def build_firmware(fwdir: Path | str, jobs: int | None = None) -> FirmwareBuild:
    """Run ``make`` in a firmware project; return the ELF with its flash and RAM.

    `DependencyError` when make or the Arm toolchain is missing; `BuildError`
    with the compiler's or linker's first error otherwise (for instance
    "region `FLASH' overflowed" for a model too big for the board).
    """
    fwdir = Path(fwdir)
    read_manifest(fwdir)
    make = _tool("make")
    _tool("arm-none-eabi-gcc")
    jobs = jobs or min(4, os.cpu_count() or 1)
    try:
        proc = subprocess.run(
            [make, "-C", str(fwdir), f"-j{jobs}"],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"building {fwdir} took longer than {BUILD_TIMEOUT} s") from exc
    if proc.returncode != 0:
        raise BuildError(f"building {fwdir} failed: {_first_error(proc.stderr + proc.stdout)}")
    return elf_sizes(fwdir / ELF_PATH)


def _first_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "overflowed" in line:
            return line
    return lines[-1] if lines else "no output"


def format_export(result: FirmwareExport, build: FirmwareBuild | None = None) -> str:
    """Lines for the CLI to print after an export (and build)."""
    lines = [
        f"wrote benchmark firmware for {result.model} on {result.device} ({result.board}) "
        f"to {result.out_dir} ({len(result.files)} files)",
        f"model arena {result.arena_bytes:,} B, input {result.input_bytes:,} B, "
        f"output {result.output_bytes:,} B, stack {result.stack_bytes:,} B",
    ]
    if build is None:
        lines.append(f"build: make -C {result.out_dir}")
    else:
        lines.append(f"built {build.elf}: flash {build.flash_bytes:,} B, RAM {build.ram_bytes:,} B")
    lines.append(f"run: edgedeploy flash {result.out_dir} --device {result.device}")
    return "\n".join(lines)
