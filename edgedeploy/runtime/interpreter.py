"""Running a .tflite model on a host or Raspberry Pi, without TensorFlow.

`Model` wraps the LiteRT interpreter (ai-edge-litert), falling back to the older
``tflite_runtime`` wheel and then to ``tensorflow.lite`` when LiteRT is absent,
so the same code runs on a workstation and on a Pi. It checks inputs against the
model's own shapes and dtypes, quantizes float inputs and dequantizes outputs
with the model's scale and zero point, and benchmarks invoke latency.
"""

from __future__ import annotations

import importlib
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy.errors import DependencyError, InputDataError, ModelFormatError
from edgedeploy.modelfile import load_model
from edgedeploy.sandbox import require_safe

__all__ = [
    "BenchmarkResult",
    "Model",
    "TensorSpec",
    "dequantize",
    "interpreter_module",
    "quantize",
]

# Where an Interpreter class can come from, in order of preference.
_INTERPRETER_MODULES = (
    "ai_edge_litert.interpreter",
    "tflite_runtime.interpreter",
    "tensorflow.lite",
)


def interpreter_module() -> Any:
    """Return the first importable module that provides a TFLite ``Interpreter``."""
    for name in _INTERPRETER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return module
    raise DependencyError(
        "no TFLite interpreter installed: pip install ai-edge-litert "
        "(or tflite-runtime with numpy<2, or tensorflow)"
    )


@dataclass(frozen=True)
class TensorSpec:
    """An input or output of a model as the interpreter sees it."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype in ("int8", "uint8", "int16")


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float -> the tensor's integer type, rounding half away from zero as TFLite does."""
    info = np.iinfo(spec.dtype)
    scaled = np.asarray(x, dtype=np.float64) / spec.scale
    # np.round rounds half to even; TFLite's QUANTIZE uses std::round (half away from zero).
    q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(q: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """The tensor's integers -> float32 real values."""
    return ((q.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


@dataclass(frozen=True)
class BenchmarkResult:
    """Latency of ``invoke`` alone, in milliseconds."""

    runs: int
    warmup: int
    threads: int | None
    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    backend: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _first_line(exc: BaseException) -> str:
    """The first line of a runtime's exception message (some span a whole log)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Model:
    """A .tflite model ready to run.

    ``reference_kernels`` selects TFLite's reference op resolver (``BUILTIN_REF``),
    the unoptimized kernels the optimized ones are tested against. With
    ``sandbox`` (the default) the model is first loaded and run once in a child
    process (`edgedeploy.sandbox`), so a model that crashes LiteRT becomes a
    `ModelFormatError` instead of taking this process down.
    """

    def __init__(
        self,
        model: Path | str | bytes,
        num_threads: int | None = None,
        reference_kernels: bool = False,
        sandbox: bool = True,
    ) -> None:
        self.file = load_model(model)
        module = interpreter_module()
        self.backend = module.__name__.split(".")[0]
        if sandbox:
            options = {
                "module": module.__name__,
                "num_threads": num_threads,
                "reference_kernels": reference_kernels,
            }
            require_safe("litert", self.file.data, self.file.name, options)
        kwargs: dict[str, Any] = {"model_content": self.file.data}
        if num_threads is not None:
            kwargs["num_threads"] = num_threads
        if reference_kernels:
            resolver = getattr(module, "OpResolverType", None)
            if resolver is None:
                raise DependencyError(f"{self.backend} has no reference-kernel op resolver")
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_REF
        interpreter_class = module.Interpreter
        try:
            self._interp = interpreter_class(**kwargs)
            self._interp.allocate_tensors()
            # Details decode tensor names: a name that is not UTF-8 fails here.
            self.inputs = [self._spec(d) for d in self._interp.get_input_details()]
            self.outputs = [self._spec(d) for d in self._interp.get_output_details()]
        except (ValueError, RuntimeError) as exc:
            raise ModelFormatError(
                f"{self.file.name}: the interpreter cannot load it: {_first_line(exc)}"
            ) from exc
        self.num_threads = num_threads

    @staticmethod
    def _spec(detail: dict[str, Any]) -> TensorSpec:
        scale, zero_point = detail.get("quantization", (0.0, 0))
        return TensorSpec(
            name=str(detail["name"]),
            index=int(detail["index"]),
            shape=tuple(int(v) for v in detail["shape"]),
            dtype=np.dtype(detail["dtype"]).name,
            scale=float(scale),
            zero_point=int(zero_point),
        )

    def _check(self, x: np.ndarray, spec: TensorSpec, i: int) -> np.ndarray:
        if x.shape != spec.shape:
            if x.size == int(np.prod(spec.shape)) and x.shape == spec.shape[1:]:
                x = x.reshape(spec.shape)
            else:
                raise InputDataError(
                    f"input {i} ({spec.name!r}) has shape {list(x.shape)}, "
                    f"the model expects {list(spec.shape)}"
                )
        return x

    def run_raw(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run on tensors already in the model's own dtypes; return outputs as stored."""
        if len(inputs) != len(self.inputs):
            raise InputDataError(f"the model takes {len(self.inputs)} input(s), got {len(inputs)}")
        checked = []
        for i, (x, spec) in enumerate(zip(inputs, self.inputs, strict=True)):
            x = self._check(np.asarray(x), spec, i)
            if x.dtype.name != spec.dtype:
                raise InputDataError(
                    f"input {i} ({spec.name!r}) has dtype {x.dtype.name}, the model expects {spec.dtype}"
                )
            checked.append(x)
        try:
            for x, spec in zip(checked, self.inputs, strict=True):
                self._interp.set_tensor(spec.index, x)
            self._interp.invoke()
            return [self._interp.get_tensor(o.index).copy() for o in self.outputs]
        except (ValueError, RuntimeError) as exc:
            # The inputs matched the model's own details, so the model is at fault.
            raise ModelFormatError(
                f"{self.file.name}: the interpreter cannot run it: {_first_line(exc)}"
            ) from exc

    def predict(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run one sample given as real values; returns dequantized float outputs.

        A float input to a quantized tensor is quantized with the tensor's own
        scale and zero point; an input already in the tensor's integer dtype is
        passed through unchanged.
        """
        prepared = []
        for i, (x, spec) in enumerate(zip(inputs, self.inputs, strict=False)):
            x = self._check(np.asarray(x), spec, i)
            if spec.quantized and np.issubdtype(x.dtype, np.floating):
                x = quantize(x, spec)
            elif np.issubdtype(x.dtype, np.floating) and spec.dtype.startswith("float"):
                x = x.astype(spec.dtype)
            prepared.append(x)
        raw = self.run_raw(prepared)
        return [
            dequantize(r, s) if s.quantized else r.astype(np.float32, copy=False)
            for r, s in zip(raw, self.outputs, strict=True)
        ]

    def predict_batch(self, x: np.ndarray) -> np.ndarray:
        """Run a batch of single-input samples one by one; returns the stacked first output."""
        x = np.asarray(x)
        spec = self.inputs[0]
        if x.shape[1:] != spec.shape[1:]:
            raise InputDataError(
                f"batch samples have shape {list(x.shape[1:])}, the model expects {list(spec.shape[1:])}"
            )
        return np.concatenate([self.predict(x[i : i + 1])[0] for i in range(len(x))], axis=0)

    def benchmark(self, runs: int = 100, warmup: int = 10, seed: int = 0) -> BenchmarkResult:
        """Time ``invoke`` on random inputs: warm-up runs first, then median and p90."""
        if runs < 1:
            raise InputDataError(f"--runs must be at least 1, got {runs}")
        rng = np.random.default_rng(seed)
        times = []
        try:
            for spec in self.inputs:
                self._interp.set_tensor(spec.index, _random_tensor(rng, spec))
            for _ in range(warmup):
                self._interp.invoke()
            for _ in range(runs):
                start = time.perf_counter()
                self._interp.invoke()
                times.append((time.perf_counter() - start) * 1e3)
        except (ValueError, RuntimeError) as exc:
            # The inputs are drawn from the model's own details, so the model is at fault.
            raise ModelFormatError(
                f"{self.file.name}: the interpreter cannot run it: {_first_line(exc)}"
            ) from exc
        times.sort()
        return BenchmarkResult(
            runs=runs,
            warmup=warmup,
            threads=self.num_threads,
            median_ms=statistics.median(times),
            p90_ms=times[min(len(times) - 1, int(0.9 * len(times)))],
            mean_ms=statistics.fmean(times),
            min_ms=times[0],
            backend=self.backend,
        )


def _random_tensor(rng: np.random.Generator, spec: TensorSpec) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=spec.shape, dtype=dtype)
    return rng.standard_normal(spec.shape).astype(dtype)
