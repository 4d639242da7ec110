"""On-device validation: every output byte of the board against the TFLite Micro interpreter.

What a microcontroller should compute is what TFLite Micro's reference kernels
compute (`edgedeploy.runtime.MicroModel`). `validate` sends inputs to the board
(random ones over each input's full range, or real samples from a ``.npy``),
reads back the raw output tensors (``output%``, every reply CRC-checked) and
compares them byte for byte with the interpreter run on the host.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy.devices.protocol import DEFAULT_TIMEOUT
from edgedeploy.devices.session import board_session
from edgedeploy.errors import InputDataError, InputFileError
from edgedeploy.fsutil import read_input_file
from edgedeploy.modelfile import ModelFile, load_model

__all__ = [
    "DEFAULT_SAMPLES",
    "MAX_REPORTED_MISMATCHES",
    "SampleMismatch",
    "ValidateResult",
    "format_validate",
    "make_inputs",
    "validate",
]

DEFAULT_SAMPLES = 20
#: Mismatching samples described one by one in a result.
MAX_REPORTED_MISMATCHES = 5


@dataclass(frozen=True)
class SampleMismatch:
    """Where the board disagreed with TFLite Micro on one sample."""

    sample: int
    output: int
    differing_elements: int
    max_abs_diff: float


@dataclass(frozen=True)
class ValidateResult:
    """The board's outputs compared with TFLite Micro's on ``samples`` inputs."""

    model: str
    sha256: str
    device: str
    url: str
    source: str
    samples: int
    output_bytes: int
    mismatched_samples: int
    mismatched_elements: int
    max_abs_diff: float
    mismatches: tuple[SampleMismatch, ...]

    @property
    def passed(self) -> bool:
        """True when every output byte of every sample matched."""
        return self.mismatched_samples == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data


def _quantize(x: np.ndarray, model: ModelFile, idx: int) -> np.ndarray:
    t = model.tensors[idx]
    if t.quant is None or not t.quant.scales or t.quant.scales[0] == 0:
        raise InputDataError(
            f"input {t.name!r} is {t.dtype} and not quantized; give {t.dtype} data"
        )
    info = np.iinfo(np.dtype(t.dtype))
    q = np.round(x.astype(np.float64) / t.quant.scales[0]) + t.quant.zero_points[0]
    return np.clip(q, info.min, info.max).astype(t.dtype)


def _samples_from_array(data: np.ndarray, model: ModelFile, what: str) -> list[list[np.ndarray]]:
    if len(model.inputs) != 1:
        raise InputDataError(
            f"{what} gives one input per sample; {model.name} takes {len(model.inputs)} inputs"
        )
    idx = model.inputs[0]
    t = model.tensors[idx]
    shape = tuple(t.shape)
    data = np.asarray(data)
    if data.shape == shape:
        batch = data[None, ...]
    elif data.shape[1:] == shape:
        batch = data
    elif len(shape) >= 1 and shape[0] == 1 and data.shape[1:] == shape[1:]:
        batch = data[:, None, ...]
    else:
        raise InputDataError(
            f"{what} has shape {list(data.shape)}; the model's input is {t.dtype}{list(shape)} "
            f"(give one sample of that shape or a batch of them)"
        )
    if len(batch) == 0:
        raise InputDataError(f"{what} holds no samples")
    if batch.dtype == np.dtype(t.dtype):
        pass
    elif np.issubdtype(batch.dtype, np.floating) and t.dtype != "float32":
        if not np.all(np.isfinite(batch)):
            raise InputDataError(f"{what} holds NaN or infinite values")
        batch = _quantize(batch, model, idx)
    else:
        raise InputDataError(f"{what} is {batch.dtype.name}; the model's input is {t.dtype}")
    return [[np.ascontiguousarray(sample.reshape(shape))] for sample in batch]


def make_inputs(
    model: ModelFile, inputs: int | str | Path | np.ndarray, seed: int = 0
) -> tuple[list[list[np.ndarray]], str]:
    """Samples to validate with (each a list of input tensors) and a description of them.

    An int asks for that many random samples over each input's whole range; a
    path names a ``.npy`` of real samples (float data is quantized with the
    input's scale and zero point); an array is used as such.
    """
    if isinstance(inputs, (bool, np.bool_)):
        raise InputDataError(f"inputs must be a sample count or a .npy path, got {inputs!r}")
    if isinstance(inputs, (int, np.integer)):
        count = int(inputs)
        if count < 1:
            raise InputDataError(f"the number of inputs must be at least 1, got {count}")
        rng = np.random.default_rng(seed)
        samples = []
        for _ in range(count):
            sample = []
            for idx in model.inputs:
                t = model.tensors[idx]
                if t.dtype == "float32":
                    sample.append(rng.standard_normal(t.shape).astype(np.float32))
                else:
                    info = np.iinfo(np.dtype(t.dtype))
                    sample.append(rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype))
            samples.append(sample)
        return samples, f"{count} random inputs (seed {seed})"
    if isinstance(inputs, np.ndarray):
        return _samples_from_array(inputs, model, "the input array"), "an input array"
    path = Path(inputs)
    read_input_file(path, "inputs file")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(f"inputs file {path} is not a readable .npy array ({exc})") from exc
    return _samples_from_array(data, model, f"inputs file {path}"), str(path)


def validate(
    model: Path | str,
    device: str,
    inputs: int | str | Path | np.ndarray = DEFAULT_SAMPLES,
    port: str | None = None,
    seed: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    verbose: bool = False,
) -> ValidateResult:
    """Run ``inputs`` on ``device`` and compare every output byte with TFLite Micro.

    A mismatch is a result (``passed`` is False), not an error; errors are
    for inputs that cannot be used (`InputDataError`, `InputFileError`), a
    missing tflite-micro (`DependencyError`) and a board that cannot be driven
    (`DeviceError` and its kinds).
    """
    from edgedeploy.runtime import MicroModel

    model_path = Path(model)
    mf = load_model(model_path)
    samples, source = make_inputs(mf, inputs, seed)
    reference = MicroModel(mf.data)
    expected = [reference.run_raw(sample) for sample in samples]
    mismatches: list[SampleMismatch] = []
    bad_samples = bad_elements = 0
    worst = 0.0
    with board_session(mf, model_path, device, port, timeout, verbose) as link:
        url = link.url
        for n, (sample, want) in enumerate(zip(samples, expected, strict=True)):
            got = link.client.run(b"".join(x.tobytes() for x in sample))
            sample_bad = False
            for k, (raw, ref) in enumerate(zip(got, want, strict=True)):
                ref = np.asarray(ref)
                if raw == ref.tobytes():
                    continue
                board = np.frombuffer(raw, dtype=ref.dtype).reshape(ref.shape)
                diff = np.abs(board.astype(np.float64) - ref.astype(np.float64))
                differing = int(np.count_nonzero(diff))
                bad_elements += differing
                worst = max(worst, float(diff.max()))
                sample_bad = True
                if len(mismatches) < MAX_REPORTED_MISMATCHES:
                    mismatches.append(SampleMismatch(n, k, differing, float(diff.max())))
            bad_samples += sample_bad
    return ValidateResult(
        model=mf.name,
        sha256=mf.sha256,
        device=device,
        url=url,
        source=source,
        samples=len(samples),
        output_bytes=sum(np.asarray(w).nbytes for w in expected[0]),
        mismatched_samples=bad_samples,
        mismatched_elements=bad_elements,
        max_abs_diff=worst,
        mismatches=tuple(mismatches),
    )


def format_validate(result: ValidateResult) -> str:
    """Lines for the CLI: the verdict first, then where it went wrong."""
    if result.passed:
        head = (
            f"PASS: {result.device} matched TFLite Micro on every output byte of "
            f"{result.samples} samples ({result.source})"
        )
    else:
        head = (
            f"FAIL: {result.device} differed from TFLite Micro on {result.mismatched_samples} of "
            f"{result.samples} samples ({result.mismatched_elements} elements, largest difference "
            f"{result.max_abs_diff:g})"
        )
    lines = [head, f"model {result.model} (sha256 {result.sha256[:12]}…) at {result.url}"]
    for m in result.mismatches:
        lines.append(
            f"  sample {m.sample} output {m.output}: {m.differing_elements} elements differ, "
            f"by up to {m.max_abs_diff:g}"
        )
    return "\n".join(lines)
