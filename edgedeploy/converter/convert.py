"""Converting a trained model to .tflite and reporting what quantization cost.

`convert` always converts the float32 model as well as the requested variant,
scores both on the held-out test split through LiteRT, times both, and lists the
variant's ops, so the report puts accuracy, size and latency side by side. The
.tflite and the JSON report are written atomically, and existing outputs are
refused without ``force`` before any conversion work starts.

For int8, the post-training variant is calibrated with the configured strategy
(`edgedeploy.converter.ptq`) and may keep named layers in float; with ``qat`` the
model is also fine-tuned with fake quantization (`edgedeploy.converter.qat`)
and the QAT int8 model is the one written, reported beside float and PTQ. Every
quantized model gets a per-layer error ranking against float
(`edgedeploy.converter.analysis`) on validation data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgedeploy import __version__
from edgedeploy.converter.analysis import DEFAULT_ANALYSIS_SAMPLES, DEFAULT_TOP, compare_layers
from edgedeploy.converter.analysis import format_analysis as _format_analysis
from edgedeploy.converter.calibration import (
    Calibration,
    calibration_subset,
    representative_dataset,
)
from edgedeploy.converter.evaluation import Evaluation, agreement, evaluate_tflite, output_mse
from edgedeploy.converter.ptq import quantize_int8, resolve_layers
from edgedeploy.converter.qat import (
    DEFAULT_QAT_EPOCHS,
    DEFAULT_QAT_LEARNING_RATE,
    DEFAULT_QAT_PATIENCE,
    QatResult,
    annotate,
    finetune,
)
from edgedeploy.converter.source import ConversionSource, load_source
from edgedeploy.converter.tflite import (
    CALIBRATED_MODES,
    check_mode,
    float_compute_ops,
    to_tflite,
)
from edgedeploy.errors import ConversionError, InputDataError, OutputPathError, TrainingError
from edgedeploy.fsutil import check_output_path, write_bytes, write_text
from edgedeploy.modelfile import ModelFile, load_model
from edgedeploy.runtime import Model
from edgedeploy.training._tf import tf

__all__ = ["ConversionReport", "ConvertConfig", "convert", "format_report"]


@dataclass
class ConvertConfig:
    """What to convert, how to quantize it and where to write the result.

    ``calibration`` is ``minmax``, ``percentile[:P]`` or ``mse`` (int8 only).
    ``qat`` fine-tunes with fake quantization (int8 only) and writes the QAT
    model. ``keep_float`` names layers the int8 model leaves in float (host and
    phone targets; the model is then no longer full-integer). ``analysis_samples``
    validation samples feed the per-layer error report (0 skips it).
    """

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
    calibration: str = "minmax"
    qat: bool = False
    qat_epochs: int = DEFAULT_QAT_EPOCHS
    qat_learning_rate: float = DEFAULT_QAT_LEARNING_RATE
    qat_patience: int = DEFAULT_QAT_PATIENCE
    keep_float: tuple[str, ...] = ()
    analysis_samples: int = DEFAULT_ANALYSIS_SAMPLES

    def check(self) -> None:
        """Raise for an unknown mode, a count no conversion can use or options that clash."""
        check_mode(self.quantize, self.io_dtype)
        calibration = Calibration.parse(self.calibration)
        if calibration.method != "minmax" and self.quantize != "int8":
            raise ConversionError(
                f"calibration {calibration} applies to int8; {self.quantize} "
                + (
                    "uses TFLite's own min-max calibration"
                    if self.quantize in CALIBRATED_MODES
                    else "is not calibrated"
                )
            )
        if self.qat and self.quantize != "int8":
            raise ConversionError(f"--qat produces int8 models, not {self.quantize}")
        if self.keep_float and self.quantize != "int8":
            raise ConversionError(f"--keep-float applies to int8, not {self.quantize}")
        if self.keep_float and self.qat:
            raise ConversionError("--keep-float applies to post-training quantization, not --qat")
        if self.qat and self.qat_epochs < 1:
            raise TrainingError(f"QAT epochs must be at least 1, got {self.qat_epochs}")
        if self.qat and not (0 < self.qat_learning_rate <= 1):
            raise TrainingError(f"QAT learning rate {self.qat_learning_rate!r} is out of range")
        if self.analysis_samples < 0:
            raise InputDataError(f"analysis samples must be 0 or more, got {self.analysis_samples}")
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
    `float_compute_ops`); ``full_integer`` is true when there are none, and
    ``microcontroller_ready`` when moreover TFLite Micro has every op.

    ``variants`` holds one row per model scored (float32, the post-training
    variant and, with QAT, the QAT int8 model): name, accuracy, MSE, size,
    latency. The ``quantized_*`` fields describe the model written (the QAT one
    with QAT); ``qat`` holds how its fine-tuning went. ``calibration_ranges`` are
    the activation ranges observed and chosen for the post-training int8 model;
    ``layer_errors`` is the per-layer error ranking of the written model, or of
    the post-training model when QAT wrote it (QAT changes the weights, so its
    layers do not compare one by one with the float model's)
    (`edgedeploy.converter.analysis.LayerAnalysis.to_dict`).

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
    calibration: str | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    qat: dict[str, Any] | None = None
    kept_float: list[str] = field(default_factory=list)
    kept_float_nodes: list[str] = field(default_factory=list)
    microcontroller_ready: bool = False
    layer_errors: dict[str, Any] | None = None
    calibration_ranges: list[dict[str, Any]] = field(default_factory=list)

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


@dataclass
class _Variant:
    """One converted model on its way into the report."""

    name: str
    data: bytes
    evaluation: Evaluation | None = None
    bench: dict[str, Any] | None = None

    def row(self, full_integer: bool) -> dict[str, Any]:
        ev = self.evaluation
        return {
            "name": self.name,
            "accuracy": ev.accuracy if ev else None,
            "mse": ev.mse if ev else None,
            "size_bytes": len(self.data),
            "latency_ms": self.bench["median_ms"] if self.bench else None,
            "full_integer": full_integer,
        }


def _ptq_name(config: ConvertConfig) -> str:
    weights = "per-channel" if config.per_channel else "per-tensor"
    if config.quantize == "int8":
        return f"int8 PTQ ({Calibration.parse(config.calibration)}, {weights})"
    if config.quantize == "int16x8":
        return f"int16x8 PTQ ({weights})"
    return config.quantize


def _post_training(
    config: ConvertConfig, source: ConversionSource, samples: Any, log: Callable[[str], None]
) -> tuple[bytes, Any]:
    """The post-training variant: bytes, and the PtqResult for int8 (None otherwise)."""
    if config.quantize == "int8":
        log(
            f"quantizing to int8 with {len(samples)} calibration samples from the training "
            f"split ({Calibration.parse(config.calibration)} ranges)"
        )
        result = quantize_int8(
            source.model,
            samples,
            config.calibration,
            per_channel=config.per_channel,
            io_dtype=config.io_dtype,
            keep_float=config.keep_float,
        )
        return result.model, result
    if config.quantize == "int16x8":
        log(f"quantizing to int16x8 with {len(samples)} calibration samples")
        return (
            to_tflite(
                source.model,
                "int16x8",
                representative=representative_dataset(samples),
                io_dtype=config.io_dtype,
                per_channel=config.per_channel,
            ),
            None,
        )
    log(f"converting to {config.quantize}")
    return to_tflite(source.model, config.quantize), None


def _quantization_aware(
    config: ConvertConfig,
    source: ConversionSource,
    annotated: Any,
    samples: Any,
    log: Callable[[str], None],
) -> tuple[bytes, QatResult]:
    log(
        f"quantization-aware fine-tuning for up to {config.qat_epochs} epochs "
        f"(learning rate {config.qat_learning_rate:g})"
    )
    result = finetune(
        annotated,
        source.dataset,
        source.task,
        epochs=config.qat_epochs,
        learning_rate=config.qat_learning_rate,
        patience=config.qat_patience,
        seed=source.seed,
        log=log,
        augmentation=source.augmentation,
    )
    log(f"converting the QAT model (best epoch {result.best_epoch}) to int8")
    data = to_tflite(
        result.source(source.model.name),
        "int8",
        representative=representative_dataset(samples),
        io_dtype=config.io_dtype,
    )
    return data, result


def convert(config: ConvertConfig, log: Callable[[str], None] | None = None) -> ConversionReport:
    """Convert ``config.source``, score float32 and the variants on the test split, write outputs.

    ``log`` receives a progress line per stage. Bad names (calibration,
    ``keep_float`` layers) and models QAT cannot annotate are refused before
    any quantization or training work, and nothing is written.
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
    annotated = annotate(source.model) if config.qat else None
    float_bytes = to_tflite(source.model, "float32")
    float_file = load_model(float_bytes)
    nodes = resolve_layers(float_file, config.keep_float) if config.keep_float else []
    # Said only now: a bad name or a model QAT cannot take is one line, nothing before it.
    say(f"converted {source.model.name} to float32")
    data = source.dataset
    samples = None
    if config.quantize in CALIBRATED_MODES:
        samples = calibration_subset(data.x_train, config.calibration_samples, source.seed)
    variants = [_Variant("float32", float_bytes)]
    ptq = None
    if config.quantize != "float32":
        ptq_bytes, ptq = _post_training(config, source, samples, say)
        variants.append(_Variant(_ptq_name(config), ptq_bytes))
    qat_result = None
    if annotated is not None:
        qat_bytes, qat_result = _quantization_aware(config, source, annotated, samples, say)
        variants.append(_Variant("int8 QAT", qat_bytes))
    written = variants[-1]

    say(f"evaluating on {len(data.x_test)} held-out test samples")
    y_test = data.y_test if source.task == "classification" else None
    models = {v.name: Model(v.data) for v in variants}
    for v in variants:
        v.evaluation = evaluate_tflite(models[v.name], data.x_test, y_test, source.task)
    if config.bench_runs > 0:
        say(f"benchmarking {len(variants)} models ({config.bench_runs} runs each)")
        for v in variants:
            v.bench = _bench(models[v.name], config.bench_runs)
    float_eval = variants[0].evaluation or evaluate_tflite(
        float_bytes, data.x_test, y_test, source.task
    )
    quantized_eval = written.evaluation or float_eval
    layer_errors = None
    if config.quantize in CALIBRATED_MODES and config.analysis_samples > 0:
        x = data.x_val[: config.analysis_samples]
        say(f"measuring the per-layer error on {len(x)} validation samples")
        # QAT moves the weights, so its layers differ from the float model's by more
        # than quantization; layer by layer, only the post-training model compares.
        analyzed = variants[1] if qat_result is not None else written
        analysis = compare_layers(analyzed.data, float_file, x)
        analysis.model = str(config.out) if analyzed is written else f"the {analyzed.name} model"
        analysis.float_model = f"{source.model.name} (float32)"
        layer_errors = analysis.to_dict()
    parsed = models[written.name].file
    input_dtype, output_dtype = _io_dtypes(parsed)
    float_ops = float_compute_ops(parsed)
    benchmarks = (
        {config.quantize if v is written else v.name: v.bench for v in variants}
        if config.bench_runs > 0
        else {}
    )
    if benchmarks:
        benchmarks["float32"] = variants[0].bench
    report = ConversionReport(
        source=str(source_path),
        out=str(config.out),
        report_path=str(config.report) if config.report is not None else None,
        model=source.model_name,
        dataset=source.dataset_name,
        task=source.task,
        mode=config.quantize,
        per_channel=config.per_channel or qat_result is not None,
        input_dtype=input_dtype,
        output_dtype=output_dtype,
        calibration_samples=len(samples) if samples is not None else 0,
        test_samples=len(data.x_test),
        float_accuracy=float_eval.accuracy,
        quantized_accuracy=quantized_eval.accuracy,
        accuracy_drop_points=_points(float_eval.accuracy, quantized_eval.accuracy),
        agreement=agreement(float_eval, quantized_eval),
        float_mse=float_eval.mse,
        quantized_mse=quantized_eval.mse,
        output_mse=output_mse(float_eval, quantized_eval),
        float_size_bytes=len(float_bytes),
        quantized_size_bytes=len(written.data),
        size_ratio=round(len(written.data) / len(float_bytes), 4),
        float_latency_ms=variants[0].bench["median_ms"] if variants[0].bench else None,
        quantized_latency_ms=written.bench["median_ms"] if written.bench else None,
        ops=parsed.ops_used,
        op_counts=parsed.op_counts,
        float_ops=float_ops,
        full_integer=not float_ops,
        tflm_unsupported_ops=parsed.tflm_unsupported_ops(),
        sha256=parsed.sha256,
        seconds=0.0,
        versions={"edgedeploy": __version__, "tensorflow": tf.__version__},
        benchmarks=benchmarks,
        calibration=str(Calibration.parse(config.calibration))
        if config.quantize == "int8"
        else ("minmax" if config.quantize in CALIBRATED_MODES else None),
        variants=[v.row(not float_compute_ops(models[v.name].file)) for v in variants],
        qat=qat_result.summary() if qat_result is not None else None,
        kept_float=list(config.keep_float),
        kept_float_nodes=nodes,
        microcontroller_ready=not float_ops and not parsed.tflm_unsupported_ops(),
        layer_errors=layer_errors,
        calibration_ranges=[r.to_dict() for r in ptq.ranges] if ptq is not None else [],
    )
    write_bytes(Path(config.out), written.data, force=config.force, protect=protect)
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


def _variant_cells(report: ConversionReport) -> tuple[list[str], list[tuple[str, ...]]]:
    """Column names and rows of the side-by-side table, one column per scored variant."""
    variants = report.variants or [
        {
            "name": "float32",
            "accuracy": report.float_accuracy,
            "mse": report.float_mse,
            "size_bytes": report.float_size_bytes,
            "latency_ms": report.float_latency_ms,
        },
        {
            "name": report.mode,
            "accuracy": report.quantized_accuracy,
            "mse": report.quantized_mse,
            "size_bytes": report.quantized_size_bytes,
            "latency_ms": report.quantized_latency_ms,
        },
    ]
    names = [str(v["name"]) for v in variants]
    if report.task == "classification":
        score = ("test accuracy", *(_fmt(v["accuracy"], "pct") for v in variants))
    else:
        score = ("test reconstruction MSE", *(_fmt(v["mse"], "mse") for v in variants))
    rows = [
        score,
        ("size", *(_fmt(v["size_bytes"], "bytes") for v in variants)),
        ("host latency (median)", *(_fmt(v["latency_ms"], "ms") for v in variants)),
    ]
    return names, rows


def format_report(report: ConversionReport, top: int = DEFAULT_TOP) -> str:
    """A readable table: float32 beside each converted variant, then ops and the worst layers."""
    variant = report.mode
    names, body = _variant_cells(report)
    rows: list[tuple[str, ...]] = [("", *names), *body]
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        f"{report.model or 'model'} on {report.dataset or '?'}: {report.source} → {report.out}"
    ]
    lines += [
        "  "
        + "  ".join(c.ljust(width[0]) if i == 0 else c.rjust(width[i]) for i, c in enumerate(r))
        for r in rows
    ]
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
        + (f" ({report.calibration} ranges)" if report.calibration else "")
    )
    if report.qat is not None:
        lines.append(
            f"  QAT: {report.qat['epochs_run']} epochs at learning rate "
            f"{report.qat['learning_rate']:g}, best epoch {report.qat['best_epoch']} "
            f"({report.qat['monitor']} {report.qat['best_score']:.4f}); the QAT model is written"
        )
    ops = ", ".join(f"{op} ×{n}" for op, n in report.op_counts.items())
    lines.append(f"  ops: {ops}")
    if report.kept_float:
        lines.append(
            f"  kept in float: {', '.join(report.kept_float)}: for host and phone targets only; "
            "the model is not full-integer and not fit for microcontrollers"
        )
    if report.mode in CALIBRATED_MODES and report.float_ops:
        lines.append(f"  not fully integer: computed in float: {', '.join(report.float_ops)}")
    if report.tflm_unsupported_ops:
        lines.append(f"  not supported by TFLite Micro: {', '.join(report.tflm_unsupported_ops)}")
    else:
        lines.append("  TFLite Micro supports every op")
    if report.layer_errors:
        lines.append(_format_layer_errors(report.layer_errors, top))
    return "\n".join(lines)


def _format_layer_errors(layer_errors: dict[str, Any], top: int) -> str:
    from edgedeploy.converter.analysis import LayerAnalysis, TensorError

    fields = set(TensorError.__dataclass_fields__)
    analysis = LayerAnalysis(
        model=layer_errors["model"],
        float_model=layer_errors["float_model"],
        samples=layer_errors["samples"],
        tensors=[
            TensorError(**{k: v for k, v in t.items() if k in fields})
            for t in layer_errors["tensors"]
        ],
        unmatched=layer_errors.get("unmatched", []),
    )
    return _format_analysis(analysis, top)
