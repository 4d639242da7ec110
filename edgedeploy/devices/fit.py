"""Does a model fit a board? Flash and RAM needed, against the board's budget.

`fit` answers before anything is flashed. What a model needs depends on the
runtime that will run it, so the report says which figures it used:

``c-runtime``
    The model compiles with edgedeploy's plain-C runtime. The arena comes from
    its offline memory plan (inputs and outputs live inside it). When
    ``arm-none-eabi-gcc`` is installed the exported C is built (``make
    cortex-m4``, with the board's own ``-mcpu`` flags for Arm boards) and the
    linker's figures are used: flash = text + rodata + data, RAM = data + bss
    (which holds the arena) plus a stated stack allowance. For a board whose
    compiler is not here (Xtensa) the Cortex-M4 build stands in, unscaled: code
    is a small part of the total, Xtensa LX7 code density (16/24-bit
    instructions) is close to Thumb-2, and the RAM figures (arena, static data)
    do not depend on the instruction set. (Measured here on three models, the
    Cortex-M0+ code is 5-16 % larger than the Cortex-M4 code, at most 2.2 % of
    the total flash; the M7 build is the M4's size.) Without the compiler,
    stated allowances replace the build.

``tflite-micro``
    The C runtime refuses the model (an op or dtype it lacks), so the figures
    are TensorFlow Lite Micro's: flash = the .tflite flatbuffer (stored as is)
    + a stated interpreter code size; RAM = the arena measured by the
    tflite-micro interpreter (`edgedeploy.runtime.measure_arena`, the smallest
    arena with which allocation succeeds; inputs and outputs live inside it)
    + a stated allowance for the interpreter's own objects + stack.

``linux``
    A Linux board (Raspberry Pi) has no flash budget: the model is a file. RAM
    = model size (the file is read into memory) + every activation tensor
    (an upper bound: LiteRT reuses activation memory) + a stated allowance for
    the Python process with numpy and LiteRT.

A model that does not fit is not an error of `fit`: the report's ``fits`` is
False and its margins negative. The CLI prints the report and exits with
`DOES_NOT_FIT_EXIT` (8); library callers who prefer an exception call
`FitReport.raise_if_not_fit`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedeploy.devices.profiles import LINUX, DeviceProfile, get_profile
from edgedeploy.errors import BuildError, DependencyError, EdgeDeployError, UnsupportedModelError
from edgedeploy.modelfile import ModelFile, load_model

__all__ = [
    "C_CODE_ALLOWANCE_BYTES",
    "C_STACK_BYTES",
    "C_STATIC_RAM_ALLOWANCE_BYTES",
    "DOES_NOT_FIT_EXIT",
    "LINUX_RUNTIME_RAM_BYTES",
    "TFLM_CORE_CODE_BYTES",
    "TFLM_KERNEL_CODE_BYTES",
    "TFLM_STACK_BYTES",
    "TFLM_STATIC_RAM_BYTES",
    "DoesNotFitError",
    "FitReport",
    "MemoryItem",
    "fit",
    "format_fit",
]

#: Exit status of ``edgedeploy fit`` when the model does not fit (errors.py uses 1-7).
DOES_NOT_FIT_EXIT = 8

#: Stack for the C runtime: its largest kernel frame is 232 B on Cortex-M4
#: (``-fstack-usage``: conv2d) and calls nest about four deep (main, invoke,
#: kernel, helper); 2 KiB leaves room for an interrupt frame and the caller.
C_STACK_BYTES = 2 * 1024
#: Code of the C runtime when no cross-compiler is here to measure it: all its
#: kernels are 8.2 KB and a bare newlib-nano program 1.1 KB on Cortex-M4 at -Os
#: (arm-none-eabi-gcc, measured), rounded up for the model's call sequence.
C_CODE_ALLOWANCE_BYTES = 12 * 1024
#: Static data besides the arena without a build (newlib-nano's is 288 B).
C_STATIC_RAM_ALLOWANCE_BYTES = 512

#: TensorFlow Lite Micro's core runtime: "fits in 16 KB on an Arm Cortex M3"
#: (TFLM documentation); a lower bound for current releases.
TFLM_CORE_CODE_BYTES = 16 * 1024
#: Code per distinct op: the documentation's keyword-spotting example grows the
#: core from 16 KB to 22 KB with its three ops; stated as 2 KiB per op.
TFLM_KERNEL_CODE_BYTES = 2 * 1024
#: The MicroInterpreter, op resolver and error reporter objects outside the arena.
TFLM_STATIC_RAM_BYTES = 1024
#: Stack for TFLM: interpreter, graph, kernel Eval and reference-kernel calls nest deeper.
TFLM_STACK_BYTES = 4 * 1024

#: A Python process with numpy and LiteRT that loaded and ran kws_ref_int8 peaked
#: at 40 MB resident (x86-64, measured); 64 MiB allows for a larger interpreter arena.
LINUX_RUNTIME_RAM_BYTES = 64 * 1024 * 1024

_ARM_TOOLCHAIN = "arm-none-eabi-gcc"
_ARM_SIZE = "arm-none-eabi-size"
# Flags of the reference Cortex-M4 build that stands in for cores without a compiler here.
_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb")
_BUILD_FLAGS = ("-Os", "-ffunction-sections", "-fdata-sections")
_SIZE_LINE = re.compile(r"text\+rodata (\d+) B, data (\d+) B, bss (\d+) B")


class DoesNotFitError(EdgeDeployError):
    """The model needs more flash or RAM than the board has."""

    exit_code = DOES_NOT_FIT_EXIT


@dataclass(frozen=True)
class MemoryItem:
    """One part of what the model needs, with where the figure comes from."""

    what: str
    bytes: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "bytes": self.bytes, "source": self.source}


@dataclass(frozen=True)
class FitReport:
    """What ``model`` needs on ``device`` and whether it fits.

    ``flash_budget`` 0 means the board has no flash budget (Linux): flash is
    then reported but not compared. Margins are budget minus need (negative
    when it does not fit).
    """

    model: str
    model_sha256: str
    device: str
    basis: str
    basis_note: str
    flash: tuple[MemoryItem, ...]
    ram: tuple[MemoryItem, ...]
    flash_budget: int
    ram_budget: int
    fallback_reason: str = ""

    @property
    def flash_bytes(self) -> int:
        return sum(i.bytes for i in self.flash)

    @property
    def ram_bytes(self) -> int:
        return sum(i.bytes for i in self.ram)

    @property
    def flash_margin(self) -> int | None:
        return None if self.flash_budget == 0 else self.flash_budget - self.flash_bytes

    @property
    def ram_margin(self) -> int:
        return self.ram_budget - self.ram_bytes

    @property
    def fits_flash(self) -> bool:
        return self.flash_margin is None or self.flash_margin >= 0

    @property
    def fits_ram(self) -> bool:
        return self.ram_margin >= 0

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram

    def raise_if_not_fit(self) -> None:
        """Raise `DoesNotFitError` naming what is short, by how much."""
        if self.fits:
            return
        short = []
        if not self.fits_flash:
            short.append(f"flash {self.flash_bytes:,} B > {self.flash_budget:,} B")
        if not self.fits_ram:
            short.append(f"RAM {self.ram_bytes:,} B > {self.ram_budget:,} B")
        raise DoesNotFitError(
            f"{self.model} does not fit {self.device}: {'; '.join(short)} ({self.basis} figures)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_sha256": self.model_sha256,
            "device": self.device,
            "basis": self.basis,
            "basis_note": self.basis_note,
            "fallback_reason": self.fallback_reason,
            "flash": [i.to_dict() for i in self.flash],
            "ram": [i.to_dict() for i in self.ram],
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "flash_budget": self.flash_budget,
            "ram_budget": self.ram_budget,
            "flash_margin": self.flash_margin,
            "ram_margin": self.ram_margin,
            "fits_flash": self.fits_flash,
            "fits_ram": self.fits_ram,
            "fits": self.fits,
        }


def _size(n: int) -> str:
    """A byte count in KiB or MiB, for the margin a person reads first."""
    if abs(n) >= 1024 * 1024:
        return f"{n / (1024 * 1024):,.1f} MiB"
    return f"{n / 1024:,.1f} KiB"


def format_fit(report: FitReport) -> str:
    """The report as lines for a terminal: each item, the totals, margins and the verdict."""
    lines = [f"{report.model} on {report.device}: {report.basis} figures ({report.basis_note})"]
    if report.fallback_reason:
        lines.append(f"  C runtime not used: {report.fallback_reason}")
    for title, items, total, budget, margin in (
        ("flash", report.flash, report.flash_bytes, report.flash_budget, report.flash_margin),
        ("RAM", report.ram, report.ram_bytes, report.ram_budget, report.ram_margin),
    ):
        lines.append(f"  {title}:")
        lines += [f"    {i.what:<44} {i.bytes:>12,} B  ({i.source})" for i in items]
        if budget == 0:
            lines.append(f"    {'total (no budget on this board)':<44} {total:>12,} B")
        else:
            assert margin is not None
            pct = 100.0 * total / budget
            lines.append(
                f"    {'total':<44} {total:>12,} B  of {budget:,} B ({pct:.1f} %), "
                f"margin {margin:+,} B ({_size(margin)})"
            )
    lines.append("  verdict: fits" if report.fits else "  verdict: DOES NOT FIT")
    return "\n".join(lines)


# --- C runtime --------------------------------------------------------------


def _arm_build_available() -> bool:
    return all(shutil.which(tool) for tool in (_ARM_TOOLCHAIN, _ARM_SIZE, "make"))


def _build_sizes(out_dir: Path, flags: tuple[str, ...]) -> tuple[int, int, int]:
    """``make cortex-m4`` with ``flags`` as the target flags; returns (text+rodata, data, bss)."""
    cmd = ["make", "-s", "-C", str(out_dir), "cortex-m4"]
    makefile = (out_dir / "Makefile").read_text(encoding="utf-8")
    if "ARM_FLAGS" not in makefile:
        raise BuildError("the exported Makefile has no ARM_FLAGS to select the core")
    cmd.append("ARM_FLAGS=" + " ".join((*flags, *_BUILD_FLAGS)))
    shutil.rmtree(out_dir / "build", ignore_errors=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"make cortex-m4 did not finish in {exc.timeout:.0f} s") from exc
    match = _SIZE_LINE.search(proc.stdout)
    if proc.returncode != 0 or match is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BuildError(
            f"make cortex-m4 ({' '.join(flags)}) failed: {tail[-1] if tail else 'no output'}"
        )
    text, data, bss = (int(v) for v in match.groups())
    return text, data, bss


def _c_runtime(mf: ModelFile, profile: DeviceProfile, work: Path) -> FitReport:
    """Figures from the plain-C runtime's export (raises UnsupportedModelError if it refuses)."""
    from edgedeploy.firmware_export.c_runtime import check_c_supported, export_c

    check_c_supported(mf)
    model_path = work / "model.tflite"
    model_path.write_bytes(mf.data)
    result = export_c(model_path, work / "c", measure_tflm=False)
    arena = int(result.arena_bytes)
    consts = int(result.const_bytes)
    arena_item = MemoryItem(
        "arena: activations, inputs and outputs", arena, "C runtime memory plan"
    )
    stack = MemoryItem("stack allowance", C_STACK_BYTES, "stated allowance")
    if _arm_build_available():
        own_core = profile.toolchain == _ARM_TOOLCHAIN
        attempts = [(tuple(profile.toolchain_flags), True)] if own_core else []
        attempts.append((_M4_FLAGS, False))
        failure = ""
        for flags, is_own in attempts:
            try:
                text, data, bss = _build_sizes(work / "c", flags)
            except BuildError as exc:
                failure = str(exc)
                continue
            if is_own:
                note = f"C runtime built with arm-none-eabi-gcc {' '.join(flags)} -Os"
            else:
                note = (
                    f"C runtime built for Cortex-M4 (no {profile.toolchain} here), "
                    f"standing in unscaled for {profile.core}"
                )
            if failure:
                note += f"; the build for the board's own flags failed: {failure}"
            source = "arm-none-eabi-size of the build"
            flash = (
                MemoryItem("weights and constants", consts, "C export"),
                MemoryItem("code and other read-only data", text - consts, source),
                MemoryItem("initialized data (copied to RAM at start)", data, source),
            )
            ram = (
                arena_item,
                MemoryItem("other static data (data + bss - arena)", data + bss - arena, source),
                stack,
            )
            return _report(mf, profile, "c-runtime", note, flash, ram)
        note = f"C runtime, allowances instead of a build ({failure})"
    else:
        note = f"C runtime, allowances instead of a build ({_ARM_TOOLCHAIN} is not installed)"
    flash = (
        MemoryItem("weights and constants", consts, "C export"),
        MemoryItem("kernel and startup code", C_CODE_ALLOWANCE_BYTES, "stated allowance"),
    )
    ram = (
        arena_item,
        MemoryItem("other static data", C_STATIC_RAM_ALLOWANCE_BYTES, "stated allowance"),
        stack,
    )
    return _report(mf, profile, "c-runtime", note, flash, ram)


# --- TensorFlow Lite Micro --------------------------------------------------


def _tflite_micro(mf: ModelFile, profile: DeviceProfile, reason: str) -> FitReport:
    from edgedeploy.runtime import measure_arena

    missing = mf.tflm_unsupported_ops()
    if missing:
        raise UnsupportedModelError(
            f"{mf.name} runs in neither runtime: the C runtime refuses it ({reason}) and "
            f"TensorFlow Lite Micro has no kernel for {', '.join(missing)}"
        )
    try:
        arena = measure_arena(mf.data)
    except DependencyError as exc:
        raise DependencyError(
            f"the C runtime refuses {mf.name} ({reason}) and tflite-micro, needed to measure "
            f"TensorFlow Lite Micro's arena instead, is not installed: pip install "
            f"'edgedeploy[micro]'"
        ) from exc
    ops = len(mf.op_counts)
    flash = (
        MemoryItem("model flatbuffer (.tflite as is)", len(mf.data), "model file"),
        MemoryItem("TFLM core runtime", TFLM_CORE_CODE_BYTES, "stated: TFLM documentation"),
        MemoryItem(
            f"TFLM kernels ({ops} op type{'s' if ops != 1 else ''})",
            ops * TFLM_KERNEL_CODE_BYTES,
            f"stated: {TFLM_KERNEL_CODE_BYTES} B per op type",
        ),
    )
    ram = (
        MemoryItem(
            "arena: activations, I/O, interpreter state",
            arena.minimum,
            f"tflite-micro: smallest arena that allocates; {arena.head:,} B activations",
        ),
        MemoryItem(
            "interpreter objects outside the arena", TFLM_STATIC_RAM_BYTES, "stated allowance"
        ),
        MemoryItem("stack allowance", TFLM_STACK_BYTES, "stated allowance"),
    )
    note = (
        "TensorFlow Lite Micro: measured arena, stated code size; the same figures "
        f"for every core ({profile.core} here)"
    )
    return _report(mf, profile, "tflite-micro", note, flash, ram, fallback_reason=reason)


# --- Linux ------------------------------------------------------------------


def _linux(mf: ModelFile, profile: DeviceProfile) -> FitReport:
    activations = sum(t.nbytes for t in mf.tensors if not t.is_constant)
    flash = (MemoryItem("model file (on the file system)", len(mf.data), "model file"),)
    ram = (
        MemoryItem("model, read into memory", len(mf.data), "model file"),
        MemoryItem(
            "activation tensors (upper bound)", activations, "sum of every non-constant tensor"
        ),
        MemoryItem("Python, numpy and LiteRT process", LINUX_RUNTIME_RAM_BYTES, "stated allowance"),
    )
    note = (
        "LiteRT under Linux: model size and activations against RAM (the OS's share not deducted)"
    )
    return _report(mf, profile, "linux", note, flash, ram)


def _report(
    mf: ModelFile,
    profile: DeviceProfile,
    basis: str,
    note: str,
    flash: tuple[MemoryItem, ...],
    ram: tuple[MemoryItem, ...],
    fallback_reason: str = "",
) -> FitReport:
    return FitReport(
        model=mf.name,
        model_sha256=mf.sha256,
        device=profile.name,
        basis=basis,
        basis_note=note,
        flash=flash,
        ram=ram,
        flash_budget=profile.flash_bytes,
        ram_budget=profile.ram_bytes,
        fallback_reason=fallback_reason,
    )


def fit(model: Path | str | bytes | ModelFile, device: str | DeviceProfile) -> FitReport:
    """Flash and RAM ``model`` needs on ``device``, against the board's budget.

    Returns a `FitReport` whether or not the model fits (see ``fits``).
    Raises `UnknownNameError` for an unknown device, `ModelFormatError` for a
    file that is not a model, `UnsupportedModelError` when neither the C
    runtime nor TensorFlow Lite Micro can run it on a bare-metal board, and
    `DependencyError` when the C runtime refuses it and tflite-micro is missing.
    """
    profile = device if isinstance(device, DeviceProfile) else get_profile(device)
    mf = model if isinstance(model, ModelFile) else load_model(model)
    if profile.os == LINUX:
        return _linux(mf, profile)
    with tempfile.TemporaryDirectory(prefix="edgedeploy-fit-") as tmp:
        try:
            return _c_runtime(mf, profile, Path(tmp))
        except UnsupportedModelError as exc:
            reason = str(exc).split(": ", 1)[-1]
    return _tflite_micro(mf, profile, reason)
