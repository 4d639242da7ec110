"""On-device benchmark: time per inference from the board's own counter, plus flash and RAM.

The board times ``runs`` inferences between two readings of its counter (the
MLPerf Tiny ``infer N W`` command) and reports both readings; the host divides.
What one count means depends on the board:

* on QEMU, run with ``-icount``, virtual time is a fixed function of the
  instructions executed, so the count is converted to *instructions* and is the
  same on every run and every host (``icount_shift`` says how; see
  `edgedeploy.devices.qemu`). QEMU does not model cycles: instructions are
  not cycles, and the virtual microseconds say nothing about a real chip;
* on a real Cortex-M with a DWT cycle counter the count is *cycles*;
* a board whose firmware reports plain ticks gives ticks and microseconds.

Flash and RAM come from the firmware itself (linker symbols it reports), so
they are right for a board flashed long ago from another machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy.devices.protocol import DEFAULT_TIMEOUT
from edgedeploy.devices.session import BoardLink, board_session
from edgedeploy.errors import InputDataError
from edgedeploy.modelfile import ModelFile, load_model

__all__ = ["DEFAULT_RUNS", "DEFAULT_WARMUP", "DeviceBenchResult", "bench", "format_bench"]

DEFAULT_RUNS = 10
DEFAULT_WARMUP = 1
#: Most inferences one ``infer`` command may ask for.
MAX_RUNS = 100_000


@dataclass(frozen=True)
class DeviceBenchResult:
    """One benchmark on a board.

    ``per_inference`` is in ``unit`` ("instructions", "cycles" or "ticks");
    ``board_us_per_inference`` is the board's own clock (virtual time on QEMU).
    """

    model: str
    sha256: str
    device: str
    board: str
    url: str
    runs: int
    warmup: int
    unit: str
    per_inference: float
    total_ticks: int
    counter: str
    counter_hz: int
    board_us_per_inference: float
    icount_shift: int | None
    flash_bytes: int
    ram_bytes: int
    arena_bytes: int
    stack_bytes: int
    stack_peak_bytes: int
    firmware: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _random_input(model: ModelFile, seed: int) -> bytes:
    """Random bytes of the right size for every input: timing does not depend on values here."""
    rng = np.random.default_rng(seed)
    parts = []
    for idx in model.inputs:
        t = model.tensors[idx]
        if t.dtype == "float32":
            parts.append(rng.standard_normal(t.num_elements).astype(np.float32).tobytes())
        else:
            info = np.iinfo(np.dtype(t.dtype))
            parts.append(
                rng.integers(info.min, info.max + 1, t.num_elements).astype(t.dtype).tobytes()
            )
    return b"".join(parts)


def measure(
    link: BoardLink, model: ModelFile, runs: int, warmup: int, seed: int = 0
) -> DeviceBenchResult:
    """Benchmark on an open `BoardLink` (see `bench`)."""
    if not 1 <= runs <= MAX_RUNS or not 0 <= warmup <= MAX_RUNS:
        raise InputDataError(
            f"runs must be in 1..{MAX_RUNS} and warmup in 0..{MAX_RUNS}, got {runs} and {warmup}"
        )
    ident = link.identity
    link.client.load(_random_input(model, seed))
    reply = link.client.infer(runs, warmup)
    ticks = reply.ticks
    if link.qemu is not None:
        unit = "instructions"
        per_inference = link.qemu.instructions(ticks, ident.counter_hz) / runs
        shift: int | None = link.qemu.icount_shift
    else:
        unit = "cycles" if ident.counter_unit == "cycles" else "ticks"
        per_inference = ticks / runs
        shift = None
    return DeviceBenchResult(
        model=model.name,
        sha256=model.sha256,
        device=link.device,
        board=ident.board,
        url=link.url,
        runs=runs,
        warmup=warmup,
        unit=unit,
        per_inference=per_inference,
        total_ticks=ticks,
        counter=ident.counter,
        counter_hz=ident.counter_hz,
        board_us_per_inference=ticks / ident.counter_hz * 1e6 / runs,
        icount_shift=shift,
        flash_bytes=ident.flash_bytes,
        ram_bytes=ident.ram_bytes,
        arena_bytes=ident.arena_bytes,
        stack_bytes=ident.stack_bytes,
        stack_peak_bytes=ident.stack_peak_bytes,
        firmware=ident.firmware,
    )


def bench(
    model: Path | str,
    device: str,
    port: str | None = None,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    timeout: float = DEFAULT_TIMEOUT,
    verbose: bool = False,
    seed: int = 0,
) -> DeviceBenchResult:
    """Benchmark ``model`` on ``device``.

    With ``port`` the board must already run the model's firmware (``edgedeploy
    flash``); without, an emulated board is built and started for the run.
    ``timeout`` bounds every exchange and each inference. Raises
    `DeviceError` (and its `DeviceTimeoutError`, `TransportClosedError`,
    `ProtocolError` kinds) when the board cannot be reached or answers wrongly.
    """
    model_path = Path(model)
    mf = load_model(model_path)
    with board_session(mf, model_path, device, port, timeout, verbose) as link:
        return measure(link, mf, runs, warmup, seed)


def format_bench(result: DeviceBenchResult) -> str:
    """A table of one result for the CLI."""
    if result.unit == "instructions":
        timing = (
            f"{result.per_inference:,.0f} instructions per inference "
            f"(QEMU -icount shift={result.icount_shift}; instructions, not cycles)"
        )
    else:
        timing = (
            f"{result.per_inference:,.0f} {result.unit} per inference "
            f"({result.board_us_per_inference:,.1f} us at {result.counter_hz / 1e6:g} MHz)"
        )
    rows = [
        ("model", f"{result.model} (sha256 {result.sha256[:12]}…)"),
        ("device", f"{result.device} ({result.board}) at {result.url}"),
        ("runs", f"{result.runs} timed after {result.warmup} warm-up"),
        ("time", timing),
        ("flash", f"{result.flash_bytes:,} B"),
        ("RAM", f"{result.ram_bytes:,} B (arena {result.arena_bytes:,} B, stack {result.stack_bytes:,} B, "
                f"{result.stack_peak_bytes:,} B of it used)"),
        ("firmware", result.firmware),
    ]  # fmt: skip
    return "\n".join(f"{k:<9} {v}" for k, v in rows)
