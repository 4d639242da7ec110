"""Per-layer quantization error: where a quantized model departs from its float original.

`compare_layers` runs a quantized .tflite and the float .tflite it came from on
the same samples, every intermediate tensor preserved, and measures for each
quantized tensor two errors against float:

* **accumulated** — the float model's own activation against the dequantized
  quantized activation: everything that went wrong up to and including this
  tensor (what TFLite's QuantizationDebugger calls whole-model verification);
* **local** — the float op, cut out of the float model (see
  `edgedeploy.runtime.compare.extract_op_model`), run on the *dequantized
  quantized inputs* of the op, against the op's quantized output: the error this
  op adds by itself (weight rounding, bias, output rounding and clipping), as the
  debugger's per-layer NumericVerify does. A requantizing QUANTIZE is judged
  against its own input; the model input against the float input.

Each error is given as SQNR in dB (over the whole tensor, and the median over
its channels), RMSE in units of the tensor's quantization step (rounding alone
gives 1/√12 ≈ 0.29; the measure TFLite's QuantizationDebugger guide uses) and
cosine similarity. Tensors are ranked worst first by the local median channel
SQNR: local, because accumulated errors grow down the graph and would blame
every layer after the culprit; per channel, because the typical int8 failure is
one channel with a huge range (of weights under per-tensor scales, or of
activations) that makes the step coarse for all the others. That channel
dominates the tensor's power, so whole-tensor SQNR and RMSE in (coarse) steps
both look fine while most channels are wiped out; their median SQNR does not.

Tensors are matched structurally, not by name: the graph inputs correspond,
QUANTIZE/DEQUANTIZE are transparent, and an op corresponds to the float op of the
same type whose inputs correspond. This survives renamed tensors (QAT's
``quant_`` layers) and float-kept layers; names are the fall-back.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy.errors import InputDataError, ModelFormatError
from edgedeploy.fsutil import atomic_output_dir, check_output_path
from edgedeploy.modelfile import ModelFile, OperatorInfo, TensorInfo, load_model
from edgedeploy.runtime.compare import extract_op_model
from edgedeploy.runtime.interpreter import interpreter_module

__all__ = [
    "ANALYSIS_JSON",
    "ANALYSIS_PNG",
    "DEFAULT_ANALYSIS_SAMPLES",
    "LayerAnalysis",
    "TensorError",
    "TensorMatch",
    "analyze",
    "chart_png",
    "compare_layers",
    "format_analysis",
    "match_tensors",
]

#: Validation samples the per-layer comparison runs when no count is given.
DEFAULT_ANALYSIS_SAMPLES = 100
#: RMSE of pure rounding, in quantization steps: a uniform error over one step.
ROUNDING_RMSE_STEPS = 1 / math.sqrt(12)
#: Rows of the short table in reports.
DEFAULT_TOP = 5
#: File names of the ranking and its chart in `analyze`'s output directory.
ANALYSIS_JSON = "layers.json"
ANALYSIS_PNG = "layers.png"

#: Highest SQNR drawn in charts: above it all errors are negligible and the bars would
#: only squeeze the interesting ones.
_CHART_MAX_DB = 80.0
#: Longest tensor label in tables and charts.
_LABEL_CHARS = 48
_CASTS = frozenset({"QUANTIZE", "DEQUANTIZE"})
_COMMUTATIVE = frozenset({"ADD", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"})
_QUANTIZED = frozenset({"int8", "uint8", "int16"})


@dataclass(frozen=True)
class TensorMatch:
    """Which float tensor and op each tensor and op of the quantized model corresponds to."""

    tensors: dict[int, int]
    ops: dict[int, int]
    by_name: int


@dataclass
class TensorError:
    """The quantization error of one quantized tensor, local and accumulated."""

    rank: int
    tensor: str
    float_tensor: str
    layers: list[str]
    op: str
    op_index: int | None
    dtype: str
    scale: float
    zero_point: int
    elements: int
    local_channel_sqnr_db: float | None
    local_rmse_steps: float
    local_sqnr_db: float | None
    local_cosine: float | None
    rmse_steps: float
    sqnr_db: float | None
    cosine: float | None

    @property
    def label(self) -> str:
        """Short name: the Keras layers fused into the op, else the tensor name."""
        text = "+".join(self.layers) if self.layers else self.tensor
        return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


@dataclass
class LayerAnalysis:
    """Every quantized tensor's error, worst first, with the samples it was measured on."""

    model: str
    float_model: str
    samples: int
    tensors: list[TensorError]
    unmatched: list[str] = field(default_factory=list)
    matched_by_name: int = 0

    @property
    def mean_sqnr_db(self) -> float | None:
        """Mean accumulated SQNR over tensors with a finite one (a single quality number)."""
        values = [t.sqnr_db for t in self.tensors if t.sqnr_db is not None]
        return float(np.mean(values)) if values else None

    @property
    def worst(self) -> TensorError | None:
        return self.tensors[0] if self.tensors else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "float_model": self.float_model,
            "samples": self.samples,
            "mean_sqnr_db": self.mean_sqnr_db,
            "ranked_by": "local_channel_sqnr_db",
            "rounding_rmse_steps": ROUNDING_RMSE_STEPS,
            "tensors": [t.to_dict() for t in self.tensors],
            "unmatched": self.unmatched,
            "matched_by_name": self.matched_by_name,
        }


# --- matching ------------------------------------------------------------------------------


def _data_tensors(model: ModelFile) -> set[int]:
    """Tensors computed from the model inputs (not weights, nor ops on weights only)."""
    data = set(model.inputs)
    for op in model.operators:
        if any(i in data for i in op.inputs if i >= 0):
            data.update(op.outputs)
    return data


def _data_inputs(op: OperatorInfo, data: set[int]) -> list[int]:
    return [i for i in op.inputs if i >= 0 and i in data]


def _normalized(name: str) -> str:
    """A tensor name without QAT's ``quant_`` layer prefixes and the calibrator's suffixes."""
    parts = []
    for part in name.split(";"):
        pieces = [p[len("quant_") :] if p.startswith("quant_") else p for p in part.split("/")]
        parts.append("/".join(pieces))
    return ";".join(parts)


def match_tensors(quantized: ModelFile, reference: ModelFile) -> TensorMatch:
    """Map the quantized model's tensors and ops onto the float model's (see the module doc)."""
    if len(quantized.inputs) != len(reference.inputs):
        raise InputDataError(
            f"the quantized model has {len(quantized.inputs)} inputs, "
            f"the float model {len(reference.inputs)}: they are not the same network"
        )
    f_data, q_data = _data_tensors(reference), _data_tensors(quantized)
    canon: dict[int, int] = {i: i for i in reference.inputs}
    index: dict[tuple[str, tuple[int, ...]], list[int]] = {}
    producer: dict[int, int] = {}
    for op in reference.operators:
        ins = _data_inputs(op, f_data)
        if op.op in _CASTS and len(ins) == 1 and ins[0] in canon:
            canon[op.outputs[0]] = canon[ins[0]]
            continue
        for out in op.outputs:
            canon.setdefault(out, out)
            producer[out] = op.index
        key_ins = tuple(canon.get(i, i) for i in ins)
        index.setdefault((op.op, key_ins), []).append(op.index)
        if op.op in _COMMUTATIVE:
            index.setdefault((op.op, tuple(sorted(key_ins))), []).append(op.index)
    by_name = {_normalized(t.name): t.index for t in reference.tensors if t.index in f_data}
    tensors = dict(zip(quantized.inputs, reference.inputs, strict=True))
    ops: dict[int, int] = {}
    used: set[int] = set()
    named = 0
    for op in quantized.operators:
        ins = _data_inputs(op, q_data)
        if op.op in _CASTS and len(ins) == 1:
            if ins[0] in tensors:
                tensors[op.outputs[0]] = tensors[ins[0]]
            continue
        found = None
        if all(i in tensors for i in ins):
            mapped = tuple(tensors[i] for i in ins)
            keys = [(op.op, mapped)]
            if op.op in _COMMUTATIVE:
                keys.append((op.op, tuple(sorted(mapped))))
            found = next((f for key in keys for f in index.get(key, []) if f not in used), None)
        if found is not None:
            used.add(found)
            ops[op.index] = found
            for q_out, f_out in zip(op.outputs, reference.operators[found].outputs, strict=False):
                tensors[q_out] = canon.get(f_out, f_out)
            continue
        for q_out in op.outputs:
            f_out = by_name.get(_normalized(quantized.tensors[q_out].name))
            if f_out is not None:
                tensors[q_out] = canon.get(f_out, f_out)
                named += 1
                f_op = producer.get(f_out)
                if f_op is not None and f_op not in used and reference.operators[f_op].op == op.op:
                    used.add(f_op)
                    ops[op.index] = f_op
    return TensorMatch(tensors, ops, named)


# --- running -------------------------------------------------------------------------------


def _interpreter(data: bytes, preserve: bool) -> Any:
    module = interpreter_module()
    with warnings.catch_warnings():
        # LiteRT warns that preserving every tensor is meant for debugging: it is.
        warnings.simplefilter("ignore")
        interp = module.Interpreter(model_content=data, experimental_preserve_all_tensors=preserve)
    interp.allocate_tensors()
    return interp


def _quantized(t: TensorInfo) -> bool:
    return t.dtype in _QUANTIZED and t.quant is not None and len(t.quant.scales) == 1


def _real(value: np.ndarray, t: TensorInfo) -> np.ndarray:
    if t.quant is not None and t.dtype in _QUANTIZED and t.quant.scales:
        scale, zero = t.quant.scales[0], t.quant.zero_points[0]
        return ((value.astype(np.float64) - zero) * scale).astype(np.float64)
    return value.astype(np.float64)


def _stored(x: np.ndarray, t: TensorInfo) -> np.ndarray:
    """A real-valued input as the tensor stores it (TFLite's rounding: half away from zero)."""
    x = np.asarray(x, dtype=np.float64).reshape(t.shape)
    if not _quantized(t):
        return x.astype(t.numpy_dtype)
    info = np.iinfo(t.numpy_dtype)
    scaled = x / t.quant.scales[0]
    q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + t.quant.zero_points[0]
    return np.clip(q, info.min, info.max).astype(t.numpy_dtype)


class _Sums:
    """Running sums for RMSE, SQNR and cosine between a reference and a test signal.

    Signal and error power are also summed per channel (the last axis), so a
    layer whose channels are mostly wiped out is seen even when one large channel
    dominates the tensor's total power.
    """

    def __init__(self) -> None:
        self.n = 0
        self.ref2 = self.err2 = self.test2 = self.dot = 0.0
        self.channel_ref2: np.ndarray | None = None
        self.channel_err2: np.ndarray | None = None

    def add(self, ref: np.ndarray, test: np.ndarray) -> None:
        channels = ref.shape[-1] if ref.ndim else 1
        ref, test = ref.reshape(-1, channels), test.reshape(-1, channels)
        diff = ref - test
        channel_ref2, channel_err2 = (ref * ref).sum(axis=0), (diff * diff).sum(axis=0)
        if self.channel_ref2 is None or self.channel_err2 is None:
            self.channel_ref2, self.channel_err2 = channel_ref2, channel_err2
        else:
            self.channel_ref2 = self.channel_ref2 + channel_ref2
            self.channel_err2 = self.channel_err2 + channel_err2
        self.n += ref.size
        self.ref2 += float(channel_ref2.sum())
        self.err2 += float(channel_err2.sum())
        self.test2 += float((test * test).sum())
        self.dot += float((ref * test).sum())

    def rmse(self) -> float:
        return math.sqrt(self.err2 / self.n) if self.n else 0.0

    def sqnr_db(self) -> float | None:
        """None when undefined: no error at all, or a reference that is all zeros."""
        if self.err2 <= 0.0 or self.ref2 <= 0.0:
            return None
        return 10.0 * math.log10(self.ref2 / self.err2)

    def channel_sqnr_db(self) -> float | None:
        """Median SQNR over the channels that carry signal (None: no error in most of them)."""
        if self.channel_ref2 is None or self.channel_err2 is None:
            return None
        live = self.channel_ref2 > 0
        if not live.any():
            return None
        ref2, err2 = self.channel_ref2[live], self.channel_err2[live]
        with np.errstate(divide="ignore"):
            per_channel = np.where(
                err2 > 0, 10.0 * np.log10(ref2 / np.maximum(err2, 1e-300)), np.inf
            )
        median = float(np.median(per_channel))
        return None if math.isinf(median) else median

    def cosine(self) -> float | None:
        if self.ref2 <= 0.0 or self.test2 <= 0.0:
            return None
        return self.dot / math.sqrt(self.ref2 * self.test2)


def _layers(name: str) -> list[str]:
    found: dict[str, None] = {}
    for part in name.split(";"):
        pieces = part.split("/")
        if len(pieces) > 2:
            found[pieces[1]] = None
    return list(found)


@dataclass
class _Entry:
    q_index: int
    f_index: int
    op: OperatorInfo | None
    local: _Sums = field(default_factory=_Sums)
    accumulated: _Sums = field(default_factory=_Sums)


@dataclass
class _LocalRun:
    """A float op cut out of the float model, fed with the quantized model's inputs of it."""

    interp: Any
    feeds: list[tuple[int, int]]  # (sub-model input index, quantized tensor index)
    output: int


def _local_runs(
    quantized: ModelFile, reference: ModelFile, match: TensorMatch, entries: list[_Entry]
) -> dict[int, _LocalRun]:
    q_data = _data_tensors(quantized)
    runs = {}
    for entry in entries:
        op = entry.op
        if op is None or op.op in _CASTS or op.index not in match.ops:
            continue
        f_op = reference.operators[match.ops[op.index]]
        # The cut-out op takes the float op's non-constant inputs, in order.
        f_inputs = [i for i in f_op.inputs if i >= 0 and not reference.tensors[i].is_constant]
        q_inputs = _data_inputs(op, q_data)
        feeds_q = [next((q for q in q_inputs if match.tensors.get(q) == f), None) for f in f_inputs]
        if any(q is None for q in feeds_q):
            continue
        interp = _interpreter(extract_op_model(reference, f_op.index), preserve=False)
        details = interp.get_input_details()
        out_position = op.outputs.index(entry.q_index)
        runs[entry.q_index] = _LocalRun(
            interp,
            [(d["index"], q) for d, q in zip(details, feeds_q, strict=True) if q is not None],
            interp.get_output_details()[out_position]["index"],
        )
    return runs


def _entries(quantized: ModelFile, reference: ModelFile, match: TensorMatch) -> list[_Entry]:
    producers = {out: op for op in quantized.operators for out in op.outputs}
    entries = []
    for q_index, f_index in match.tensors.items():
        t, f = quantized.tensors[q_index], reference.tensors[f_index]
        if not _quantized(t) or t.num_elements != f.num_elements:
            continue
        entries.append(_Entry(q_index, f_index, producers.get(q_index)))
    entries.sort(key=lambda e: (-1 if e.op is None else e.op.index, e.q_index))
    return entries


def compare_layers(
    quantized: Path | str | bytes | ModelFile,
    reference: Path | str | bytes | ModelFile,
    x: np.ndarray,
) -> LayerAnalysis:
    """Measure every quantized tensor's error against the float model on samples ``x``."""
    q = quantized if isinstance(quantized, ModelFile) else load_model(quantized)
    f = reference if isinstance(reference, ModelFile) else load_model(reference)
    if len(q.inputs) != 1:
        raise InputDataError(
            f"per-layer analysis needs a single-input model, {q.name} has {len(q.inputs)}"
        )
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        raise InputDataError("per-layer analysis needs at least one sample")
    if tuple(x.shape[1:]) != tuple(f.input_tensors[0].shape[1:]):
        raise InputDataError(
            f"samples of shape {list(x.shape[1:])} do not fit the float model's input "
            f"{list(f.input_tensors[0].shape[1:])}"
        )
    match = match_tensors(q, f)
    entries = _entries(q, f, match)
    if not entries:
        raise ModelFormatError(
            f"{q.name} has no quantized tensor that corresponds to one of the float model"
        )
    runs = _local_runs(q, f, match, entries)
    q_interp, f_interp = _interpreter(q.data, preserve=True), _interpreter(f.data, preserve=True)
    q_in, f_in = q.input_tensors[0], f.input_tensors[0]
    for sample in x:
        f_interp.set_tensor(f_in.index, sample.reshape(f_in.shape).astype(np.float32))
        q_interp.set_tensor(q_in.index, _stored(sample, q_in))
        f_interp.invoke()
        q_interp.invoke()
        values: dict[int, np.ndarray] = {}

        def real(index: int, values: dict[int, np.ndarray] = values) -> np.ndarray:
            if index not in values:
                values[index] = _real(q_interp.get_tensor(index), q.tensors[index])
            return values[index]

        for entry in entries:
            test = real(entry.q_index)
            entry.accumulated.add(f_interp.get_tensor(entry.f_index).astype(np.float64), test)
            run = runs.get(entry.q_index)
            if run is not None:
                for sub_index, q_index in run.feeds:
                    run.interp.set_tensor(
                        sub_index,
                        real(q_index)
                        .astype(np.float32)
                        .reshape(run.interp.get_tensor(sub_index).shape),
                    )
                run.interp.invoke()
                entry.local.add(run.interp.get_tensor(run.output).astype(np.float64), test)
            elif entry.op is None:
                entry.local.add(sample.astype(np.float64), test)
            elif entry.op.op in _CASTS:
                source = entry.op.inputs[0]
                entry.local.add(real(source), test)
    return _analysis(q, f, match, entries, len(x))


def _analysis(
    q: ModelFile, f: ModelFile, match: TensorMatch, entries: list[_Entry], samples: int
) -> LayerAnalysis:
    results = []
    for entry in entries:
        if entry.local.n == 0:
            continue
        t = q.tensors[entry.q_index]
        scale = float(t.quant.scales[0]) if t.quant else 0.0
        results.append(
            TensorError(
                rank=0,
                tensor=t.name,
                float_tensor=f.tensors[entry.f_index].name,
                layers=_layers(f.tensors[entry.f_index].name),
                op="INPUT" if entry.op is None else entry.op.op,
                op_index=None if entry.op is None else entry.op.index,
                dtype=t.dtype,
                scale=scale,
                zero_point=int(t.quant.zero_points[0]) if t.quant else 0,
                elements=t.num_elements,
                local_channel_sqnr_db=entry.local.channel_sqnr_db(),
                local_rmse_steps=entry.local.rmse() / scale if scale else 0.0,
                local_sqnr_db=entry.local.sqnr_db(),
                local_cosine=entry.local.cosine(),
                rmse_steps=entry.accumulated.rmse() / scale if scale else 0.0,
                sqnr_db=entry.accumulated.sqnr_db(),
                cosine=entry.accumulated.cosine(),
            )
        )
    results.sort(key=_badness)
    for rank, item in enumerate(results, start=1):
        item.rank = rank
    quantized_data = {
        i for i in _data_tensors(q) if _quantized(q.tensors[i]) and i not in match.tensors
    }
    return LayerAnalysis(
        model=q.name,
        float_model=f.name,
        samples=samples,
        tensors=results,
        unmatched=[q.tensors[i].name for i in sorted(quantized_data)],
        matched_by_name=match.by_name,
    )


def _badness(item: TensorError) -> tuple[float, float]:
    """Sort key, worst first: local median channel SQNR (None = no error), then local RMSE."""
    sqnr = math.inf if item.local_channel_sqnr_db is None else item.local_channel_sqnr_db
    return (sqnr, -item.local_rmse_steps)


# --- the command-level call, text and chart ------------------------------------------------


def analyze(
    model: Path | str | bytes,
    float_source: Path | str,
    *,
    dataset: str | None = None,
    input_size: int | None = None,
    channels: int | None = None,
    samples: int = DEFAULT_ANALYSIS_SAMPLES,
    out: Path | None = None,
    force: bool = False,
) -> LayerAnalysis:
    """The per-layer error of quantized ``model`` against its float original, on validation data.

    ``float_source`` is what the model was converted from: a training directory
    (its validation split is used), a Keras file or SavedModel with ``dataset``,
    or a float .tflite with ``dataset``. With ``out``, that directory is written
    atomically with the ranking as `ANALYSIS_JSON` and its chart as
    `ANALYSIS_PNG`; an existing one is refused without ``force`` before any work.
    """
    from edgedeploy.converter.source import load_source
    from edgedeploy.converter.tflite import to_tflite

    if samples < 1:
        raise InputDataError(f"per-layer analysis needs at least 1 sample, got {samples}")
    if out is not None:
        check_output_path(Path(out), force)
    q = load_model(model)
    source = Path(float_source)
    if source.suffix.lower() == ".tflite":
        reference = load_model(source)
        if dataset is None:
            raise InputDataError(
                f"{source} is a bare .tflite: give the dataset to analyze it on (--dataset)"
            )
        from edgedeploy.training.datasets import load_dataset

        shape = reference.input_tensors[0].shape[1:]
        size = input_size if input_size is not None else (shape[0], shape[1])
        loaded = load_dataset(dataset, size, channels or (shape[2] if len(shape) > 2 else None), 0)
        data = loaded.flattened() if len(shape) == 1 else loaded
    else:
        loaded_source = load_source(source, dataset, input_size, channels, seed=0)
        reference = load_model(to_tflite(loaded_source.model, "float32"))
        data = loaded_source.dataset
    x = data.x_val[:samples] if len(data.x_val) else data.x_test[:samples]
    analysis = compare_layers(q, reference, x)
    analysis.float_model = str(source)
    if model is not None and not isinstance(model, bytes):
        analysis.model = str(model)
    if out is not None:
        chart = chart_png(analysis)
        with atomic_output_dir(Path(out), force) as directory:
            (directory / ANALYSIS_JSON).write_text(json.dumps(analysis.to_dict(), indent=2) + "\n")
            (directory / ANALYSIS_PNG).write_bytes(chart)
    return analysis


def _db(value: float | None) -> str:
    return "exact" if value is None else f"{value:.1f}"


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_analysis(analysis: LayerAnalysis, top: int | None = None) -> str:
    """A table of the ``top`` worst tensors (all when None), worst first."""
    shown = analysis.tensors if top is None else analysis.tensors[:top]
    header = (
        "#",
        "layer",
        "op",
        "local ch. SQNR dB",
        "local SQNR dB",
        "local RMSE/step",
        "SQNR dB",
        "cosine",
    )
    rows = [
        (
            str(t.rank),
            t.label,
            t.op,
            _db(t.local_channel_sqnr_db),
            _db(t.local_sqnr_db),
            f"{t.local_rmse_steps:.3f}",
            _db(t.sqnr_db),
            _num(t.cosine),
        )
        for t in shown
    ]
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        f"per-layer error of {analysis.model} against {analysis.float_model} "
        f"({analysis.samples} samples; worst first; rounding alone is "
        f"{ROUNDING_RMSE_STEPS:.2f} steps)"
    ]
    for r in [header, *rows]:
        lines.append(
            "  "
            + "  ".join(
                r[i].ljust(width[i]) if i in (1, 2) else r[i].rjust(width[i]) for i in range(len(r))
            )
        )
    mean = analysis.mean_sqnr_db
    more = len(analysis.tensors) - len(shown)
    lines.append(
        f"  mean SQNR {_db(mean)} dB over {len(analysis.tensors)} tensors"
        + (f"; {more} more in the JSON" if more > 0 else "")
        + (
            f"; {len(analysis.unmatched)} tensors without a float twin"
            if analysis.unmatched
            else ""
        )
    )
    return "\n".join(lines)


def chart_png(analysis: LayerAnalysis) -> bytes:
    """A PNG chart, one row per tensor in graph order: local channel SQNR bars, accumulated SQNR.

    The worst `DEFAULT_TOP` tensors are drawn in red. Drawn on matplotlib's Agg
    canvas directly, so no global backend is set and no display is needed.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ordered = sorted(
        analysis.tensors, key=lambda t: (-1 if t.op_index is None else t.op_index, t.tensor)
    )
    values = [v for t in ordered for v in (t.local_channel_sqnr_db, t.sqnr_db) if v is not None]
    cap = min(max(values, default=60.0), _CHART_MAX_DB) + 5.0
    local = [
        min(cap, cap if t.local_channel_sqnr_db is None else t.local_channel_sqnr_db)
        for t in ordered
    ]
    total = [min(cap, cap if t.sqnr_db is None else t.sqnr_db) for t in ordered]
    worst = {t.tensor for t in analysis.tensors[:DEFAULT_TOP]}
    rows = np.arange(len(ordered))
    figure = Figure(figsize=(8.0, max(3.0, 0.22 * len(ordered) + 1.4)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    colors = ["#d62728" if t.tensor in worst else "#1f77b4" for t in ordered]
    axes.barh(rows, local, color=colors, label="local median channel SQNR (error the op adds)")
    axes.plot(total, rows, "k.-", linewidth=1, label="accumulated SQNR (against the float model)")
    axes.set_yticks(rows)
    axes.set_yticklabels([f"{t.label} ({t.op})" for t in ordered], fontsize=6)
    axes.invert_yaxis()
    axes.set_xlim(min(0.0, *local, *total), cap)
    axes.set_xlabel("SQNR (dB), higher is better")
    axes.set_title(
        f"{Path(analysis.model).name}: per-layer quantization error, "
        f"{analysis.samples} samples (red: worst {DEFAULT_TOP})",
        fontsize=9,
    )
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
