"""Exporting a .tflite model as a TensorFlow Lite Micro firmware project.

`export_tflm` checks the model first (every op must have a TFLite Micro kernel,
the schema version must be the one TFLite Micro reads, inputs and outputs must
be types the harness can feed and print), then runs it in the TFLite Micro
interpreter on the host to size the tensor arena and to record the reference
outputs for the test input, and only then writes the directory, atomically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy import __version__
from edgedeploy.errors import (
    InputDataError,
    InputFileError,
    ModelFormatError,
    UnsupportedModelError,
)
from edgedeploy.firmware_export.c_array import render_c_array
from edgedeploy.firmware_export.cgen import (
    bytes_initializer,
    c_float,
    c_string_literal,
    comment_text,
    render_template,
    sketch_name,
)
from edgedeploy.fsutil import atomic_output_dir, check_output_path, read_input_file
from edgedeploy.modelfile import ModelFile, TensorInfo, load_model, schema
from edgedeploy.tflm_ops import TFLM_RESOLVER_METHODS

__all__ = [
    "ARENA_ALIGNMENT",
    "ARENA_MARGIN_BYTES",
    "DEFAULT_ARENA_MARGIN",
    "LABELS_FILE_NAME",
    "TFLM_SCHEMA_VERSION",
    "TflmExportResult",
    "arena_with_margin",
    "export_tflm",
    "format_export",
    "model_ops",
    "pattern_input",
]

#: The flatbuffer schema version TensorFlow Lite Micro reads (TFLITE_SCHEMA_VERSION).
TFLM_SCHEMA_VERSION = 3
#: Fraction added to the arena measured on the host (see `arena_with_margin`).
DEFAULT_ARENA_MARGIN = 0.10
#: Largest margin fraction accepted; more means a measurement is not trusted at all.
MAX_ARENA_MARGIN = 4.0
#: Bytes added to every arena on top of the fraction, for small models whose
#: optimized-kernel scratch buffers are large next to their activations.
ARENA_MARGIN_BYTES = 1024
#: The arena size is a multiple of this (TFLite Micro aligns tensors to 16 bytes).
ARENA_ALIGNMENT = 16
#: Looked for beside the model when no labels are given (training writes it).
LABELS_FILE_NAME = "labels.json"
#: Baud rate of the Arduino sketch's serial port.
ARDUINO_BAUD = 115200
#: The Arduino sketch repeats the inference this often, for a late serial monitor.
ARDUINO_REPEAT_SECONDS = 5
#: Name of the machine-readable summary written into the export directory.
MANIFEST_NAME = "export.json"

# Model tensor dtype -> the TfLiteType enumerator the harness checks it against.
_TFLITE_TYPES = {
    "float32": "kTfLiteFloat32",
    "int8": "kTfLiteInt8",
    "uint8": "kTfLiteUInt8",
    "int16": "kTfLiteInt16",
    "int32": "kTfLiteInt32",
    "int64": "kTfLiteInt64",
    "bool": "kTfLiteBool",
}
_QUANTIZABLE = ("int8", "uint8", "int16")
# Sources written twice: once beside main.cc, once (as .cpp) in the Arduino sketch.
_SHARED_SOURCES = ("model_data", "test_input", "inference")
_SHARED_HEADERS = ("model_settings.h", "model_op_resolver.h")


@dataclass(frozen=True)
class TflmExportResult:
    """What `export_tflm` wrote and measured."""

    model: str
    out: str
    model_bytes: int
    sha256: str
    ops: tuple[str, ...]
    arena_size: int
    arena_measured: int
    arena_margin: float
    arena_margin_bytes: int
    labels: tuple[str, ...] | None
    labels_source: str | None
    test_input: str
    reference_top_class: int | None
    sketch: str
    files: tuple[str, ...]
    tool_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("ops", "labels", "files"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data


# --- checks ------------------------------------------------------------------


def model_ops(model: ModelFile) -> list[str]:
    """The builtin (or ``CUSTOM:name``) ops used by every subgraph of ``model``, sorted.

    `ModelFile` describes subgraph 0 only, but control-flow ops (IF, WHILE,
    CALL_ONCE) run other subgraphs whose ops the resolver must register too.
    """
    s = schema()
    root = s.Model.GetRootAs(model.data, 0)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    ops = set(model.ops_used)
    codes = root.OperatorCodesLength()
    for g in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(g)
        for j in range(subgraph.OperatorsLength()):
            index = subgraph.Operators(j).OpcodeIndex()
            if not 0 <= index < codes:
                raise ModelFormatError(
                    f"{model.name}: subgraph {g} operator {j} names opcode {index}, past the table"
                )
            code = root.OperatorCodes(index)
            builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
            name = names.get(builtin, f"UNKNOWN_{builtin}")
            if name == "CUSTOM":
                custom = code.CustomCode()
                name = f"CUSTOM:{custom.decode('utf-8', 'replace') if custom else ''}"
            ops.add(name)
    return sorted(ops)


def _check_supported(model: ModelFile, ops: list[str]) -> None:
    """Raise `UnsupportedModelError` for anything TFLite Micro or the harness cannot run."""
    missing = sorted(
        set(model.tflm_unsupported_ops()) | {op for op in ops if op not in TFLM_RESOLVER_METHODS}
    )
    if missing:
        raise UnsupportedModelError(
            f"{model.name} uses {len(missing)} op(s) TensorFlow Lite Micro has no kernel for: "
            f"{', '.join(missing)}"
        )
    if model.version != TFLM_SCHEMA_VERSION:
        raise UnsupportedModelError(
            f"{model.name} has flatbuffer schema version {model.version}; TensorFlow Lite "
            f"Micro reads version {TFLM_SCHEMA_VERSION}"
        )
    if not model.inputs or not model.outputs:
        raise UnsupportedModelError(f"{model.name} has no inputs or no outputs to test with")
    for role, tensors in (("input", model.input_tensors), ("output", model.output_tensors)):
        for t in tensors:
            if t.dtype not in _TFLITE_TYPES:
                raise UnsupportedModelError(
                    f"{model.name}: {role} {t.name!r} is {t.dtype}; the exported harness feeds "
                    f"and prints only {', '.join(_TFLITE_TYPES)}"
                )
            if t.quant is not None and t.quant.per_channel:
                raise UnsupportedModelError(
                    f"{model.name}: {role} {t.name!r} is quantized per channel; TensorFlow Lite "
                    "Micro takes per-tensor quantized inputs and outputs only"
                )


def _num_classes(tensor: TensorInfo) -> int:
    return tensor.shape[-1] if tensor.shape else 1


def _resolve_labels(
    model: ModelFile, labels: Sequence[str] | None
) -> tuple[list[str] | None, str | None]:
    """The labels to export and where they came from; checked against output 0."""
    source: str | None
    if labels is not None:
        found, source = list(labels), "given by the caller"
    elif model.path is not None and (model.path.parent / LABELS_FILE_NAME).is_file():
        path = model.path.parent / LABELS_FILE_NAME
        raw = read_input_file(path, "labels file")
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputFileError(f"labels file {path} is not valid UTF-8 JSON") from exc
        if not isinstance(parsed, list):
            raise InputFileError(f"labels file {path} must hold a JSON list of strings")
        found, source = parsed, f"{LABELS_FILE_NAME} beside the model"
    else:
        return None, None
    if not found:
        raise InputDataError(f"the labels ({source}) are an empty list")
    bad = next((v for v in found if not isinstance(v, str)), None)
    if bad is not None:
        raise InputDataError(f"the labels ({source}) must be strings, found {bad!r}")
    output = model.output_tensors[0]
    classes = _num_classes(output)
    if len(found) != classes:
        raise InputDataError(
            f"{len(found)} labels ({source}) but output {output.name!r} of {model.name} has "
            f"{classes} classes (shape {list(output.shape)})"
        )
    return found, source


# --- the test input ----------------------------------------------------------


def pattern_input(tensor: TensorInfo) -> np.ndarray:
    """The fixed test pattern for ``tensor`` when no sample is given.

    Element ``i`` takes ``(37 i + 11) mod 256``, moved into the tensor's range:
    a full-range ramp for int8/uint8/int16 and [-1, 1] for float32. Integer
    inputs that are not quantized are usually indices, so they get zeros, and
    booleans alternate.
    """
    i = np.arange(tensor.num_elements, dtype=np.int64)
    ramp = (37 * i + 11) % 256
    dtype = tensor.dtype
    if dtype == "float32":
        values: np.ndarray = (ramp / 127.5 - 1.0).astype(np.float32)
    elif dtype == "int8":
        values = (ramp - 128).astype(np.int8)
    elif dtype == "uint8":
        values = ramp.astype(np.uint8)
    elif dtype == "int16":
        values = ((ramp - 128) * 256).astype(np.int16)
    elif dtype == "bool":
        values = (i % 2).astype(np.bool_)
    else:
        values = np.zeros(tensor.num_elements, dtype=tensor.numpy_dtype)
    return values.reshape(tensor.shape)


def _coerce_sample(sample: Any, tensor: TensorInfo, index: int) -> np.ndarray:
    """``sample`` as one batch-1 tensor of ``tensor``'s dtype, quantizing floats if needed."""
    x = np.asarray(sample)
    shape = tensor.shape
    if x.shape != shape:
        if shape[:1] == (1,) and x.shape == shape[1:]:
            x = x.reshape(shape)
        elif shape[:1] == (1,) and x.ndim == len(shape) and x.shape[1:] == shape[1:] and x.shape[0]:
            x = x[:1]
        else:
            raise InputDataError(
                f"sample for input {index} has shape {list(x.shape)}; the model expects "
                f"{list(shape)}"
            )
    target = tensor.numpy_dtype
    if x.dtype == target:
        return x
    if x.dtype.kind == "f" and tensor.dtype in _QUANTIZABLE and tensor.quant is not None:
        from edgedeploy.runtime import TensorSpec, quantize

        spec = TensorSpec(
            name=tensor.name,
            index=tensor.index,
            shape=shape,
            dtype=tensor.dtype,
            scale=tensor.quant.scales[0],
            zero_point=tensor.quant.zero_points[0],
        )
        return quantize(x, spec)
    if x.dtype.kind in "fiub" and np.can_cast(x.dtype, target, casting="same_kind"):
        if x.dtype.kind in "iu" and target.kind in "iu":
            info = np.iinfo(target)
            if x.size and (x.min() < info.min or x.max() > info.max):
                raise InputDataError(
                    f"sample for input {index} holds values outside the {tensor.dtype} range"
                )
        return x.astype(target)
    raise InputDataError(
        f"sample for input {index} is {x.dtype.name}; the model expects {tensor.dtype}"
    )


def _test_inputs(model: ModelFile, sample: Any) -> tuple[list[np.ndarray], str]:
    if sample is None:
        return (
            [pattern_input(t) for t in model.input_tensors],
            "a fixed pattern, element i = (37 i + 11) mod 256 moved into the input's range",
        )
    samples = list(sample) if isinstance(sample, list | tuple) else [sample]
    if len(samples) != len(model.inputs):
        raise InputDataError(
            f"{len(samples)} sample array(s) given; {model.name} has {len(model.inputs)} input(s)"
        )
    inputs = [
        _coerce_sample(s, t, i)
        for i, (s, t) in enumerate(zip(samples, model.input_tensors, strict=True))
    ]
    return inputs, "a sample given to edgedeploy export"


# --- arena ---------------------------------------------------------------------


def _check_margin(margin: float) -> None:
    if not 0.0 <= margin <= MAX_ARENA_MARGIN:
        raise InputDataError(f"arena margin {margin} must be between 0 and {MAX_ARENA_MARGIN}")


def arena_with_margin(measured: int, margin: float = DEFAULT_ARENA_MARGIN) -> int:
    """The arena to ship for one measured on the host.

    ``measured + ceil(measured * margin) + ARENA_MARGIN_BYTES``, rounded up to
    `ARENA_ALIGNMENT`. The host measurement (TFLite Micro's reference kernels on a
    64-bit machine) misses the scratch buffers optimized kernels such as CMSIS-NN
    request and any alignment the arena's start needs; interpreter structures are
    smaller on a 32-bit target, so for them the host figure is an upper bound.
    """
    _check_margin(margin)
    size = measured + math.ceil(measured * margin) + ARENA_MARGIN_BYTES
    return -(-size // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


def _measure(model: ModelFile) -> int:
    from edgedeploy.runtime import measure_arena

    try:
        return measure_arena(model.data).minimum
    except ModelFormatError as exc:
        raise UnsupportedModelError(
            f"{model.name}: TensorFlow Lite Micro cannot prepare it ({exc})"
        ) from exc


def _reference_outputs(model: ModelFile, inputs: list[np.ndarray], arena: int) -> list[np.ndarray]:
    """Run the test input in the TFLite Micro interpreter with the arena being shipped."""
    from edgedeploy.runtime import MicroModel

    return MicroModel(model.data, arena_size=arena).run_raw(inputs)


# --- rendering -----------------------------------------------------------------


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(str(d) for d in shape)


def _tensor_settings(role: str, index: int, t: TensorInfo) -> str:
    prefix = f"k{role.capitalize()}{index}"
    lines = [
        f"// {role.capitalize()} {index}: {comment_text(t.name)}, {t.dtype} [{_dims(t.shape)}]",
        f"constexpr char {prefix}Name[] = {c_string_literal(t.name)};",
        f"constexpr char {prefix}Type[] = {c_string_literal(t.dtype)};",
        f"constexpr int {prefix}Rank = {len(t.shape)};",
    ]
    if t.shape:
        lines.append(f"constexpr int {prefix}Dims[{prefix}Rank] = {{{_dims(t.shape)}}};")
    lines += [
        f"constexpr int {prefix}Elements = {t.num_elements};",
        f"constexpr int {prefix}Bytes = {t.nbytes};",
    ]
    if t.quant is not None:
        lines += [
            f"// real value = {prefix}Scale * (quantized value - {prefix}ZeroPoint)",
            f"constexpr float {prefix}Scale = {c_float(t.quant.scales[0])};",
            f"constexpr int {prefix}ZeroPoint = {t.quant.zero_points[0]};",
        ]
    else:
        lines += [
            "// not quantized: scale 0 by TensorFlow Lite's convention",
            f"constexpr float {prefix}Scale = 0.0f;",
            f"constexpr int {prefix}ZeroPoint = 0;",
        ]
    return "\n".join(lines)


def _label_settings(labels: list[str] | None, source: str | None, output: TensorInfo) -> str:
    if labels is None:
        return "\n".join(
            [
                "// No class labels were exported (give --labels, or put labels.json beside the model).",
                "constexpr int kCategoryCount = 0;",
                "",
                "inline const char* CategoryLabel(int) { return nullptr; }",
            ]
        )
    entries = "\n".join(f"    {c_string_literal(label)}," for label in labels)
    return "\n".join(
        [
            f"// Class labels of output 0 ({comment_text(output.name)}), "
            f"{comment_text(source or 'given by the caller')}.",
            f"constexpr int kCategoryCount = {len(labels)};",
            "constexpr const char* kCategoryLabels[kCategoryCount] = {",
            entries,
            "};",
            "",
            "// The label of class `index`, or nullptr outside 0 .. kCategoryCount - 1.",
            "inline const char* CategoryLabel(int index) {",
            "  return index >= 0 && index < kCategoryCount ? kCategoryLabels[index] : nullptr;",
            "}",
        ]
    )


def _array_definition(symbol: str, data: bytes) -> str:
    return f"alignas(16) const unsigned char {symbol}[] = {{\n{bytes_initializer(data)}\n}};"


def _render_files(
    model: ModelFile,
    ops: list[str],
    arena: int,
    measured: int,
    margin: float,
    labels: list[str] | None,
    labels_source: str | None,
    inputs: list[np.ndarray],
    outputs: list[np.ndarray],
    input_description: str,
    sketch: str,
) -> dict[str, str]:
    """Every file of the export directory, relative path -> text."""
    model_label = model.name
    common = {
        "model_name": comment_text(model_label),
        "model_name_literal": c_string_literal(model_label),
        "sha256": model.sha256,
        "arena_size": arena,
        "arena_measured": measured,
        "arena_margin_percent": f"{margin * 100:g}",
        "arena_margin_bytes": ARENA_MARGIN_BYTES,
        "arena_alignment": ARENA_ALIGNMENT,
        "op_count": len(ops),
        "op_list": ", ".join(ops),
        "input_description": comment_text(input_description),
        "sketch": sketch,
        "baud": ARDUINO_BAUD,
        "repeat_seconds": ARDUINO_REPEAT_SECONDS,
        "model_bytes": len(model.data),
    }
    tensor_blocks = [_tensor_settings("input", i, t) for i, t in enumerate(model.input_tensors)] + [
        _tensor_settings("output", i, t) for i, t in enumerate(model.output_tensors)
    ]
    settings = render_template(
        "model_settings.h.tmpl",
        {
            **common,
            "num_inputs": len(model.inputs),
            "num_outputs": len(model.outputs),
            "tensor_settings": "\n\n".join(tensor_blocks),
            "label_settings": _label_settings(labels, labels_source, model.output_tensors[0]),
        },
    )
    resolver = render_template(
        "model_op_resolver.h.tmpl",
        {
            **common,
            "add_calls": "\n".join(
                f"  if (resolver.{TFLM_RESOLVER_METHODS[op]}() != kTfLiteOk) return kTfLiteError;"
                for op in ops
            ),
        },
    )
    declarations, definitions = [], []
    for role, arrays in (("test_input", inputs), ("expected_output", outputs)):
        for i, array in enumerate(arrays):
            symbol = f"g_{role}_{i}"
            declarations.append(f"extern const unsigned char {symbol}[];")
            definitions.append(_array_definition(symbol, np.ascontiguousarray(array).tobytes()))
    test_h = render_template(
        "test_input.h.tmpl", {**common, "declarations": "\n".join(declarations)}
    )
    test_cc = render_template(
        "test_input.cc.tmpl", {**common, "definitions": "\n\n".join(definitions)}
    )

    def checks(role: str, tensors: list[TensorInfo], symbol: str) -> str:
        return "\n".join(
            f"    {{k{role}{i}Name, {_TFLITE_TYPES[t.dtype]}, k{role}{i}Bytes, {symbol}_{i}}},"
            for i, t in enumerate(tensors)
        )

    inference_cc = render_template(
        "inference.cc.tmpl",
        {
            **common,
            "input_checks": checks("Input", model.input_tensors, "g_test_input"),
            "output_checks": checks("Output", model.output_tensors, "g_expected_output"),
        },
    )
    c_array = render_c_array(model.data, source_label=model_label)
    shared = {
        "model_data.h": c_array.header,
        "model_data.cc": c_array.source,
        "model_settings.h": settings,
        "model_op_resolver.h": resolver,
        "test_input.h": test_h,
        "test_input.cc": test_cc,
        "inference.h": render_template("inference.h.tmpl", common),
        "inference.cc": inference_cc,
    }
    files = dict(shared)
    files["main.cc"] = render_template("main.cc.tmpl", common)
    files["README.md"] = render_template("README.md.tmpl", common)
    sketch_dir = f"arduino/{sketch}"
    files[f"{sketch_dir}/{sketch}.ino"] = render_template("sketch.ino.tmpl", common)
    for name, text in shared.items():
        arduino_name = name[: -len(".cc")] + ".cpp" if name.endswith(".cc") else name
        files[f"{sketch_dir}/{arduino_name}"] = text
    return files


# --- the export ----------------------------------------------------------------


def export_tflm(
    model: Path | str,
    out: Path | str,
    force: bool = False,
    labels: Sequence[str] | None = None,
    arena_margin: float = DEFAULT_ARENA_MARGIN,
    sample: np.ndarray | Sequence[np.ndarray] | None = None,
) -> TflmExportResult:
    """Write a TensorFlow Lite Micro project for ``model`` into the new directory ``out``.

    ``labels`` name the classes of the first output; when None, ``labels.json``
    (a JSON list of strings, as training writes it) beside the model is used if
    present. ``sample`` is the test input the harness runs (one array per model
    input, in the input's dtype or float to be quantized); without it a fixed
    pattern is used. ``arena_margin`` is the fraction added to the measured
    arena (see `arena_with_margin`).

    Raises `UnsupportedModelError` (before writing anything) for a model TFLite
    Micro cannot run, `InputDataError` for labels or a sample that do not fit the
    model and `OutputExistsError` when ``out`` exists and ``force`` is false.
    """
    model_path, out_path = Path(model), Path(out)
    parsed = load_model(model_path)
    ops = model_ops(parsed)
    _check_supported(parsed, ops)
    label_list, labels_source = _resolve_labels(parsed, labels)
    inputs, input_description = _test_inputs(parsed, sample)
    _check_margin(arena_margin)
    check_output_path(out_path, force, protect=(model_path,))
    measured = _measure(parsed)
    arena = arena_with_margin(measured, arena_margin)
    outputs = _reference_outputs(parsed, inputs, arena)
    sketch = sketch_name(model_path.stem)
    files = _render_files(
        parsed,
        ops,
        arena,
        measured,
        arena_margin,
        label_list,
        labels_source,
        inputs,
        outputs,
        input_description,
        sketch,
    )
    top = int(np.argmax(outputs[0].astype(np.float64))) if outputs[0].size > 1 else None
    result = TflmExportResult(
        model=str(model_path),
        out=str(out_path),
        model_bytes=len(parsed.data),
        sha256=parsed.sha256,
        ops=tuple(ops),
        arena_size=arena,
        arena_measured=measured,
        arena_margin=arena_margin,
        arena_margin_bytes=ARENA_MARGIN_BYTES,
        labels=tuple(label_list) if label_list is not None else None,
        labels_source=labels_source,
        test_input=input_description,
        reference_top_class=top,
        sketch=f"arduino/{sketch}/{sketch}.ino",
        files=tuple(sorted([*files, MANIFEST_NAME])),
    )
    files[MANIFEST_NAME] = json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
    with atomic_output_dir(out_path, force=force, protect=(model_path,)) as tmp:
        for relative, text in files.items():
            target = tmp / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return result


def format_export(result: TflmExportResult) -> list[str]:
    """The lines the CLI prints after an export."""
    margin = f"{result.arena_margin * 100:g} % + {result.arena_margin_bytes} B"
    if result.labels is None:
        labels = "none (give --labels, or put labels.json beside the model)"
    else:
        labels = f"{len(result.labels)} ({result.labels_source})"
    lines = [
        f"exported {Path(result.model).name} ({result.model_bytes:,} bytes) for TensorFlow "
        f"Lite Micro to {result.out}",
        f"  ops ({len(result.ops)}): {', '.join(result.ops)}",
        f"  tensor arena: {result.arena_size:,} bytes (measured {result.arena_measured:,} on "
        f"this 64-bit host + {margin}, rounded up to {ARENA_ALIGNMENT})",
        f"  labels: {labels}",
        f"  test input: {result.test_input}",
    ]
    if result.reference_top_class is not None:
        top = result.reference_top_class
        name = f" ({result.labels[top]})" if result.labels else ""
        lines.append(f"  host TensorFlow Lite Micro reference: top class {top}{name}")
    lines += [
        f"  generic target: {result.out}/main.cc; Arduino: {result.out}/{result.sketch}",
        f"  build instructions: {result.out}/README.md",
    ]
    return lines
