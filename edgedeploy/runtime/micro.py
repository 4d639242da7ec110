"""The TensorFlow Lite Micro interpreter on the host: the ground truth for a microcontroller.

The ``tflite-micro`` Python package runs the real TFLite Micro reference kernels.
What it computes is what a microcontroller running TFLite Micro computes, so the
exporters and the plain-C runtime are checked against it. It prints its errors
from C to the process's stdout; `MicroModel` captures them so that a failure
becomes one `EdgeDeployError` line, and `measure_arena` runs in a child process
so that a model that crashes the interpreter cannot take the caller down.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy.errors import ArenaTooSmallError, DependencyError, InputDataError, ModelFormatError
from edgedeploy.modelfile import load_model
from edgedeploy.sandbox import probe, require_safe

__all__ = ["ArenaReport", "MicroModel", "measure_arena", "micro_runtime"]

#: Largest arena tried when searching for the smallest one that works.
MAX_ARENA_BYTES = 64 << 20


def micro_runtime() -> Any:
    """Import tflite-micro's Python runtime or say how to install it."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise DependencyError(
            "tflite-micro is not installed: pip install 'edgedeploy[micro]'"
        ) from exc
    return runtime


@contextlib.contextmanager
def _captured_c_output() -> Iterator[list[str]]:
    """Send fd 1 and 2 to a temporary file while C code runs; yield its lines afterwards."""
    sys.stdout.flush()
    sys.stderr.flush()
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield lines
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            lines.extend(
                line
                for line in sink.read().decode("utf-8", "replace").splitlines()
                if line.strip() and not line.startswith(("W0000", "I0000", "WARNING: All log"))
            )


class MicroModel:
    """A model loaded into the TFLite Micro interpreter with a given arena.

    TFLite Micro trusts its model: with ``sandbox`` (the default) the model is
    first loaded and run once in a child process (`edgedeploy.sandbox`), so a
    model that crashes the interpreter becomes a `ModelFormatError`.
    """

    def __init__(
        self, model: Path | str | bytes, arena_size: int | None = None, sandbox: bool = True
    ) -> None:
        self.file = load_model(model)
        runtime = micro_runtime()
        if arena_size is None:
            arena_size = max(len(self.file.data) * 4, 1 << 20)
        if not 0 < arena_size <= MAX_ARENA_BYTES:
            raise InputDataError(f"arena size {arena_size} is not in 1..{MAX_ARENA_BYTES} bytes")
        self.arena_size = arena_size
        if sandbox:
            self._probe(arena_size)
        with _captured_c_output() as log:
            try:
                self._interp = runtime.Interpreter.from_bytes(self.file.data, arena_size=arena_size)
            except (RuntimeError, ValueError) as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is not None:
            detail = "; ".join(log[:3]) or str(failure)
            if "allocate" in detail.lower() or "arena" in detail.lower():
                raise ArenaTooSmallError(
                    f"{self.file.name}: TFLite Micro cannot allocate it in {arena_size} bytes: {detail}"
                ) from failure
            raise ModelFormatError(
                f"{self.file.name}: TFLite Micro cannot load it: {detail}"
            ) from failure
        self.input_details = [
            self._interp.get_input_details(i) for i in range(len(self.file.inputs))
        ]
        self.output_details = [
            self._interp.get_output_details(i) for i in range(len(self.file.outputs))
        ]

    def _probe(self, arena_size: int) -> None:
        """Load and run the model once in a child; a crash becomes one clear error.

        TFLite Micro can crash, not fail, when an arena is just too small for a
        sound model, so a crash is retried with the largest arena: if the model
        runs there, the arena was the problem.
        """
        inputs = len(self.file.inputs)
        try:
            require_safe(
                "micro",
                self.file.data,
                self.file.name,
                {"arena_size": arena_size, "num_inputs": inputs},
            )
        except ModelFormatError:
            if arena_size >= MAX_ARENA_BYTES:
                raise
            larger = probe(
                "micro", self.file.data, {"arena_size": MAX_ARENA_BYTES, "num_inputs": inputs}
            )
            if larger.status != "ok":
                raise
            raise ArenaTooSmallError(
                f"{self.file.name}: TFLite Micro cannot allocate it in {arena_size} bytes "
                "(it crashed with this arena and runs with a larger one)"
            ) from None

    def run_raw(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run on tensors in the model's own dtypes; return the raw output tensors."""
        if len(inputs) != len(self.input_details):
            raise InputDataError(
                f"the model takes {len(self.input_details)} input(s), got {len(inputs)}"
            )
        for i, (x, detail) in enumerate(zip(inputs, self.input_details, strict=True)):
            x = np.asarray(x)
            shape = tuple(int(v) for v in detail["shape"])
            if x.shape != shape or x.dtype != np.dtype(detail["dtype"]):
                raise InputDataError(
                    f"input {i} is {x.dtype.name}{list(x.shape)}, the model expects "
                    f"{np.dtype(detail['dtype']).name}{list(shape)}"
                )
            self._interp.set_input(x, i)
        with _captured_c_output() as log:
            try:
                self._interp.invoke()
            except RuntimeError as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is not None:
            raise ModelFormatError(
                f"TFLite Micro failed to invoke: {'; '.join(log[:3]) or failure}"
            )
        return [np.array(self._interp.get_output(i)) for i in range(len(self.output_details))]

    def tensor(self, index: int) -> np.ndarray:
        """Any tensor after invoke (needs the interpreter built to preserve all tensors)."""
        return np.array(self._interp.GetTensor(index, 0))


@dataclass(frozen=True)
class ArenaReport:
    """TFLite Micro's tensor arena for one model, as measured on this host.

    ``total`` is what the recording allocator reports after allocation (head =
    activations planned by the memory planner, tail = persistent interpreter
    structures). ``minimum`` is the smallest arena with which allocation
    succeeds: larger than ``total`` because planning needs temporary space.
    """

    total: int
    head: int
    tail: int
    minimum: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def measure_arena(model: Path | str | bytes, timeout: float = 120.0) -> ArenaReport:
    """Measure TFLite Micro's arena for ``model`` in a child process."""
    data = load_model(model).data
    micro_runtime()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(data)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "edgedeploy.runtime._arena_probe", str(path)],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ModelFormatError(
                f"TFLite Micro did not finish allocating in {timeout:.0f} s"
            ) from exc
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("ARENA "):
            return ArenaReport(**json.loads(line[len("ARENA ") :]))
    if proc.returncode < 0:
        raise ModelFormatError(f"TFLite Micro crashed (signal {-proc.returncode}) while allocating")
    tail = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
    raise ModelFormatError(
        f"TFLite Micro cannot allocate the model: {tail[-1] if tail else 'no output'}"
    )
