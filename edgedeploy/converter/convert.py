"""Converting a trained model to .tflite and reporting what quantization cost.

`convert` always converts the float32 model as well as the requested variant,
scores both on the held-out test split through LiteRT, times both, and lists the
variant's ops, so the report puts accuracy, size and latency side by side. The
.tflite and the JSON report are written atomically, and existing outputs are
refused without ``force`` before any conversion work starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgedeploy import __version__
from edgedeploy.converter.calibration import calibration_subset, representative_dataset
from edgedeploy.converter.evaluation import Evaluation, agreement, evaluate_tflite, output_mse
from edgedeploy.converter.source import ConversionSource, load_source
from edgedeploy.converter.tflite import check_mode, float_compute_ops, to_tflite
from edgedeploy.errors import InputDataError, OutputPathError
from edgedeploy.fsutil import check_output_path, write_bytes, write_text
from edgedeploy.modelfile import ModelFile
from edgedeploy.runtime import Model
from edgedeploy.training._tf import tf

__all__ = ["ConversionReport", "ConvertConfig", "convert", "format_report"]


@dataclass
class ConvertConfig:
    """What to convert, how to quantize it and where to write the result."""

    source: Path
    out: Path
    quantize: str = "int8"
    report: Path | None = None
    dataset: str | None = None
    input_size: int | None = None
    channels: int | None = None
    io_dtype: str = "int8"
    per_channel: bool = True
    calibration_samples: int = 200
    force: bool = False
    bench_runs: int = 50

    def check(self) -> None:
        """Raise for an unknown mode or a count no conversion can use."""
        check_mode(self.quantize, self.io_dtype)
        if self.calibration_samples < 1:
            raise InputDataError(
                f"calibration samples must be at least 1, got {self.calibration_samples}"
            )
        if self.bench_runs < 0:
            raise InputDataError(f"benchmark runs must be 0 or more, got {self.bench_runs}")
        if self.report is not None and Path(self.report).resolve() == Path(self.out).resolve():
            raise OutputPathError(f"the report and the model would both be written to {self.out}")


@dataclass
class ConversionReport:
    """Float32 beside the converted variant: accuracy, size, latency and ops.

    ``float_ops`` lists ops of the converted model that compute in float (see
    `float_compute_ops`); ``full_integer`` is true when there are none.

    For reconstruction models (the autoencoder) the accuracy fields are None and
    ``float_mse``/``quantized_mse`` hold the mean squared reconstruction error on
    the test split. ``output_mse`` is the mean squared difference between the
    float and the converted model's (dequantized) outputs on the test split.
    """

    source: str
    out: str
    report_path: str | None
    model: str | None
    dataset: str
    task: str
    mode: str
    per_channel: bool
    input_dtype: str
    output_dtype: str
    calibration_samples: int
    test_samples: int
    float_accuracy: float | None
    quantized_accuracy: float | None
    accuracy_drop_points: float | None
    agreement: float | None
    float_mse: float | None
    quantized_mse: float | None
    output_mse: float
    float_size_bytes: int
    quantized_size_bytes: int
    size_ratio: float
    float_latency_ms: float | None
    quantized_latency_ms: float | None
    ops: list[str]
    op_counts: dict[str, int]
    float_ops: list[str]
    full_integer: bool
    tflm_unsupported_ops: list[str]
    sha256: str
    seconds: float
    versions: dict[str, str] = field(default_factory=dict)
    benchmarks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _inputs_of(source: Path) -> tuple[Path, ...]:
    """The source and, for a directory, every file in it: outputs must not replace any.

    Writing the .tflite beside the model in its training directory is fine;
    writing it over ``model.keras`` is not, even with ``force``.
    """
    if source.is_dir():
        return (source, *sorted(p for p in source.rglob("*") if p.is_file()))
    return (source,)


def _io_dtypes(model: ModelFile) -> tuple[str, str]:
    return model.input_tensors[0].dtype, model.output_tensors[0].dtype


def _bench(model: Model, runs: int) -> dict[str, Any] | None:
    return model.benchmark(runs=runs, warmup=min(10, runs)).to_dict() if runs > 0 else None


def _points(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    return round((before - after) * 100.0, 4)


def _convert_variants(
    config: ConvertConfig, source: ConversionSource, log: Callable[[str], None]
) -> tuple[bytes, bytes, int]:
    log(f"converting {source.model.name} to float32")
    float_bytes = to_tflite(source.model, "float32")
    if config.quantize == "float32":
        return float_bytes, float_bytes, 0
    representative = None
    used = 0
    if config.quantize == "int8":
        samples = calibration_subset(
            source.dataset.x_train, config.calibration_samples, source.seed
        )
        used = len(samples)
        representative = representative_dataset(samples)
        log(f"quantizing to int8 with {used} calibration samples from the training split")
    else:
        log(f"converting to {config.quantize}")
    quantized = to_tflite(
        source.model,
        config.quantize,
        representative=representative,
        io_dtype=config.io_dtype,
        per_channel=config.per_channel,
    )
    return float_bytes, quantized, used


def convert(config: ConvertConfig, log: Callable[[str], None] | None = None) -> ConversionReport:
    """Convert ``config.source``, score float32 and the variant on the test split, write outputs.

    ``log`` receives a progress line per stage.
    """
    say = log or (lambda _line: None)
    config.check()
    started = time.perf_counter()
    source_path = Path(config.source)
    protect = _inputs_of(source_path)
    check_output_path(Path(config.out), config.force, protect)
    if config.report is not None:
        check_output_path(Path(config.report), config.force, protect)
    source = load_source(source_path, config.dataset, config.input_size, config.channels, seed=0)
    float_bytes, quantized_bytes, used = _convert_variants(config, source, say)

    data = source.dataset
    say(f"evaluating on {len(data.x_test)} held-out test samples")
    float_model = Model(float_bytes)
    quantized_model = Model(quantized_bytes) if quantized_bytes is not float_bytes else float_model
    y_test = data.y_test if source.task == "classification" else None
    float_eval: Evaluation = evaluate_tflite(float_model, data.x_test, y_test, source.task)
    quantized_eval: Evaluation = (
        evaluate_tflite(quantized_model, data.x_test, y_test, source.task)
        if quantized_model is not float_model
        else float_eval
    )
    benchmarks: dict[str, Any] = {}
    if config.bench_runs > 0:
        say(f"benchmarking both models ({config.bench_runs} runs each)")
        benchmarks["float32"] = _bench(float_model, config.bench_runs)
        benchmarks[config.quantize] = (
            _bench(quantized_model, config.bench_runs)
            if quantized_model is not float_model
            else benchmarks["float32"]
        )
    parsed = quantized_model.file
    input_dtype, output_dtype = _io_dtypes(parsed)
    report = ConversionReport(
        source=str(source_path),
        out=str(config.out),
        report_path=str(config.report) if config.report is not None else None,
        model=source.model_name,
        dataset=source.dataset_name,
        task=source.task,
        mode=config.quantize,
        per_channel=config.per_channel,
        input_dtype=input_dtype,
        output_dtype=output_dtype,
        calibration_samples=used,
        test_samples=len(data.x_test),
        float_accuracy=float_eval.accuracy,
        quantized_accuracy=quantized_eval.accuracy,
        accuracy_drop_points=_points(float_eval.accuracy, quantized_eval.accuracy),
        agreement=agreement(float_eval, quantized_eval),
        float_mse=float_eval.mse,
        quantized_mse=quantized_eval.mse,
        output_mse=output_mse(float_eval, quantized_eval),
        float_size_bytes=len(float_bytes),
        quantized_size_bytes=len(quantized_bytes),
        size_ratio=round(len(quantized_bytes) / len(float_bytes), 4),
        float_latency_ms=benchmarks["float32"]["median_ms"] if benchmarks else None,
        quantized_latency_ms=benchmarks[config.quantize]["median_ms"] if benchmarks else None,
        ops=parsed.ops_used,
        op_counts=parsed.op_counts,
        float_ops=float_compute_ops(parsed),
        full_integer=not float_compute_ops(parsed),
        tflm_unsupported_ops=parsed.tflm_unsupported_ops(),
        sha256=parsed.sha256,
        seconds=0.0,
        versions={"edgedeploy": __version__, "tensorflow": tf.__version__},
        benchmarks=benchmarks,
    )
    write_bytes(Path(config.out), quantized_bytes, force=config.force, protect=protect)
    report.seconds = round(time.perf_counter() - started, 3)
    if config.report is not None:
        text = json.dumps(report.to_dict(), indent=2) + "\n"
        write_text(Path(config.report), text, force=config.force, protect=protect)
    say(f"wrote {config.out}")
    return report


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value * 100:.2f} %"
    if kind == "bytes":
        return f"{value:,} B"
    if kind == "ms":
        return f"{value:.3f} ms"
    if kind == "mse":
        return f"{value:.6g}"
    return str(value)


def format_report(report: ConversionReport) -> str:
    """A readable table: the float32 model beside the converted one, then the ops."""
    variant = report.mode
    rows: list[tuple[str, str, str]] = [("", "float32", variant)]
    if report.task == "classification":
        rows.append(
            (
                "test accuracy",
                _fmt(report.float_accuracy, "pct"),
                _fmt(report.quantized_accuracy, "pct"),
            )
        )
    else:
        rows.append(
            (
                "test reconstruction MSE",
                _fmt(report.float_mse, "mse"),
                _fmt(report.quantized_mse, "mse"),
            )
        )
    rows.append(
        ("size", _fmt(report.float_size_bytes, "bytes"), _fmt(report.quantized_size_bytes, "bytes"))
    )
    rows.append(
        (
            "host latency (median)",
            _fmt(report.float_latency_ms, "ms"),
            _fmt(report.quantized_latency_ms, "ms"),
        )
    )
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        f"{report.model or 'model'} on {report.dataset or '?'}: {report.source} → {report.out}"
    ]
    lines += [f"  {a:<{width[0]}}  {b:>{width[1]}}  {c:>{width[2]}}" for a, b, c in rows]
    lines.append(
        f"  size ratio {report.size_ratio:.3f}; {report.test_samples} test samples; "
        f"output MSE float vs {variant} {report.output_mse:.3g}"
    )
    if report.accuracy_drop_points is not None:
        lines.append(
            f"  accuracy change {0.0 - report.accuracy_drop_points:+.2f} points; "
            f"float and {variant} agree on {report.agreement * 100:.2f} % of samples"
            if report.agreement is not None
            else f"  accuracy change {0.0 - report.accuracy_drop_points:+.2f} points"
        )
    lines.append(
        f"  I/O {report.input_dtype} → {report.output_dtype}; "
        f"{'per-channel' if report.per_channel else 'per-tensor'} weights"
        + (
            f"; {report.calibration_samples} calibration samples"
            if report.calibration_samples
            else ""
        )
    )
    ops = ", ".join(f"{op} ×{n}" for op, n in report.op_counts.items())
    lines.append(f"  ops: {ops}")
    if report.mode == "int8" and report.float_ops:
        lines.append(f"  not fully integer: computed in float: {', '.join(report.float_ops)}")
    if report.tflm_unsupported_ops:
        lines.append(f"  not supported by TFLite Micro: {', '.join(report.tflm_unsupported_ops)}")
    else:
        lines.append("  TFLite Micro supports every op")
    return "\n".join(lines)
