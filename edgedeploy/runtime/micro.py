"""The TensorFlow Lite Micro interpreter on the host: the ground truth for a microcontroller.

The ``tflite-micro`` Python package runs the real TFLite Micro reference kernels.
What it computes is what a microcontroller running TFLite Micro computes, so the
exporters and the plain-C runtime are checked against it. It prints its errors
from C to the process's stdout; `MicroModel` captures them so that a failure
becomes one `EdgeDeployError` line, and it loads a model only after the same
steps ran once in the sandbox worker (`edgedeploy.sandbox`), where
`measure_arena` runs too, so that a model that crashes the interpreter cannot
take the caller down.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from edgedeploy.errors import ArenaTooSmallError, DependencyError, InputDataError, ModelFormatError
from edgedeploy.modelfile import load_model
from edgedeploy.sandbox import (
    PROBE_TIMEOUT_SECONDS,
    ProbeResult,
    decode_array,
    encode_array,
    probe,
    require_safe,
)

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


def _detail(described: dict[str, Any]) -> dict[str, Any]:
    """A tensor's details as TFLite Micro's own ``get_input_details`` gives the ones used here."""
    return {
        "shape": np.array(described["shape"], dtype=np.int32),
        "dtype": np.dtype(described["dtype"]).type,
    }


class MicroModel:
    """A model in the TFLite Micro interpreter with a given arena.

    TFLite Micro trusts its model and can crash, not fail, on a malformed one,
    sometimes only depending on what else lies in memory. So with ``sandbox``
    (the default) nothing of TFLite Micro runs in this process: the model is
    loaded in the sandbox worker (`edgedeploy.sandbox`) to read its details,
    and every `run_raw` is one load-and-invoke in a child there; a crash
    becomes a `ModelFormatError`. ``sandbox=False`` keeps a live interpreter
    in this process (for trusted models: benchmarks, `tensor`); it is created
    only after the same model was loaded and run once in the worker.
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
        self.sandbox = sandbox
        self._interp: Any = None
        described = self._probe(arena_size, invoke=not sandbox)
        if sandbox:
            value = described.value
            if described.status != "ok" or value is None:
                self._load_failed(described.message)
            self.input_details = [_detail(d) for d in value["inputs"]]
            self.output_details = [_detail(d) for d in value["outputs"]]
            return
        with _captured_c_output() as log:
            try:
                self._interp = runtime.Interpreter.from_bytes(self.file.data, arena_size=arena_size)
            except (RuntimeError, ValueError) as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is not None:
            self._load_failed("; ".join(log[:3]) or str(failure))
        try:
            self.input_details = [
                self._interp.get_input_details(i) for i in range(len(self.file.inputs))
            ]
            self.output_details = [
                self._interp.get_output_details(i) for i in range(len(self.file.outputs))
            ]
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ModelFormatError(
                f"{self.file.name}: TFLite Micro cannot describe its inputs and outputs: {exc}"
            ) from exc

    def _load_failed(self, detail: str) -> NoReturn:
        detail = " ".join(detail.split("\n"))
        # TFLM's allocator names what it lacked: "Requested: 832, available 480".
        if "Requested:" in detail and "available" in detail:
            raise ArenaTooSmallError(
                f"{self.file.name}: TFLite Micro cannot allocate it in {self.arena_size} bytes: "
                f"{detail}"
            )
        raise ModelFormatError(f"{self.file.name}: TFLite Micro cannot load it: {detail}")

    def _probe(self, arena_size: int, invoke: bool) -> ProbeResult:
        """Load (and with ``invoke`` run once) in the worker; a crash becomes one clear error.

        TFLite Micro can crash, not fail, when an arena is just too small for a
        sound model, so a crash is retried with the largest arena: if the model
        loads there, the arena was the problem.
        """
        options = {
            "arena_size": arena_size,
            "num_inputs": len(self.file.inputs),
            "num_outputs": len(self.file.outputs),
            "invoke": invoke,
        }
        try:
            return require_safe("micro", self.file.data, self.file.name, options)
        except ModelFormatError:
            if arena_size >= MAX_ARENA_BYTES:
                raise
            larger = probe("micro", self.file.data, {**options, "arena_size": MAX_ARENA_BYTES})
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
        arrays = []
        for i, (x, detail) in enumerate(zip(inputs, self.input_details, strict=True)):
            x = np.asarray(x)
            shape = tuple(int(v) for v in detail["shape"])
            if x.shape != shape or x.dtype != np.dtype(detail["dtype"]):
                raise InputDataError(
                    f"input {i} is {x.dtype.name}{list(x.shape)}, the model expects "
                    f"{np.dtype(detail['dtype']).name}{list(shape)}"
                )
            arrays.append(x)
        if self.sandbox:
            return self._run_in_worker(arrays)
        with _captured_c_output() as log:
            try:
                for i, x in enumerate(arrays):
                    self._interp.set_input(x, i)
                self._interp.invoke()
                outputs = [
                    np.array(self._interp.get_output(i)) for i in range(len(self.output_details))
                ]
            except (RuntimeError, ValueError, TypeError) as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is not None:
            detail = "; ".join(log[:3]) or str(failure).strip().replace("\n", "; ")
            raise ModelFormatError(f"{self.file.name}: TFLite Micro failed to invoke it: {detail}")
        return outputs

    def _run_in_worker(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        options = {
            "arena_size": self.arena_size,
            "inputs": [encode_array(x) for x in arrays],
            "num_outputs": len(self.output_details),
        }
        result = require_safe("micro_invoke", self.file.data, self.file.name, options)
        if result.status != "ok" or result.value is None:
            raise ModelFormatError(
                f"{self.file.name}: TFLite Micro failed to invoke it: {result.message}"
            )
        return [decode_array(text) for text in result.value["outputs"]]

    def tensor(self, index: int) -> np.ndarray:
        """Any tensor after invoke (``sandbox=False`` and an interpreter that keeps them all)."""
        if self._interp is None:
            raise InputDataError("reading inner tensors needs MicroModel(..., sandbox=False)")
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


def measure_arena(model: Path | str | bytes, timeout: float = PROBE_TIMEOUT_SECONDS) -> ArenaReport:
    """Measure TFLite Micro's arena for ``model`` in the sandbox worker (`edgedeploy.sandbox`)."""
    mf = load_model(model)
    micro_runtime()
    result = require_safe("arena", mf.data, mf.name, timeout=timeout)
    if result.status != "ok" or result.value is None:
        raise ModelFormatError(f"TFLite Micro cannot allocate the model: {result.message}")
    return ArenaReport(**result.value)
