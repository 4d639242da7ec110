"""Phone bundles: the model with TFLite model metadata, its labels and a README for the app.

Android and iOS apps load the same .tflite with LiteRT; what they need besides the
model is how to feed it and how to read its output. The TFLite metadata standard
carries exactly that inside the file (name, description, input normalization,
a labels file), and Android's ``MetadataExtractor``, ML Model Binding and the
LiteRT support library read it. The README shows the few lines of Kotlin or
Swift that load the model, normalize and quantize an input with the model's own
constants, and dequantize the output.

Attaching metadata rewrites the model's flatbuffer. Inference must not change,
so `export_mobile` runs the original and the rewritten model on the same seeded
input and refuses to write a bundle whose outputs differ in a single byte.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgedeploy.errors import (
    EdgeDeployError,
    InputDataError,
    ModelFormatError,
    UnknownNameError,
    UnsupportedModelError,
)
from edgedeploy.firmware_export.bundles.common import (
    LABELS_FILE,
    MODEL_FILE,
    BundleResult,
    check_labels,
    io_table,
    load_source,
)
from edgedeploy.firmware_export.bundles.tflite_metadata import (
    AssociatedFile,
    AssociatedFileType,
    ColorSpace,
    ModelMetadata,
    TensorMetadata,
    attach_metadata,
    build_metadata,
)
from edgedeploy.firmware_export.cgen import render_template
from edgedeploy.fsutil import atomic_output_dir
from edgedeploy.modelfile import ModelFile, TensorInfo

__all__ = [
    "ANDROID_LITERT_VERSION",
    "PLATFORMS",
    "build_model_metadata",
    "export_mobile",
    "verify_same_inference",
]

#: Targets `export_mobile` writes a README for.
PLATFORMS = ("android", "ios")
#: LiteRT Maven artifacts named in the Android README (Interpreter API, with metadata reader).
ANDROID_LITERT_VERSION = "1.4.0"
#: Longest model name or description stored in the metadata.
MAX_TEXT_LENGTH = 4096
_PACKAGE = "edgedeploy.firmware_export.bundles"
_INTEGER_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def _floats(value: float | Sequence[float], what: str) -> tuple[float, ...]:
    if np.isscalar(value):
        values: tuple = (value,)
    else:
        try:
            values = tuple(value)  # type: ignore[arg-type]
        except TypeError as exc:
            raise InputDataError(f"{what} must be a number or a list of numbers") from exc
    if not values:
        raise InputDataError(f"{what} needs at least one value")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{what} must be numbers, got {values!r}") from exc
    if not all(np.isfinite(out)):
        raise InputDataError(f"{what} must be finite, got {list(out)}")
    return out


def _normalization(
    mean: float | Sequence[float], std: float | Sequence[float], model: ModelFile
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std, one value or one per channel (the last axis of every input)."""
    m, s = _floats(mean, "mean"), _floats(std, "std")
    if len(m) != len(s):
        raise InputDataError(f"mean has {len(m)} values but std has {len(s)}")
    if any(v == 0 for v in s):
        raise InputDataError(f"std must not be 0 (got {list(s)}): inputs are divided by it")
    if len(m) > 1:
        for t in model.input_tensors:
            channels = t.shape[-1] if t.shape else 1
            if channels != len(m):
                raise InputDataError(
                    f"{len(m)} mean/std values given, but input {t.name!r} {list(t.shape)} "
                    f"has {channels} channels on its last axis"
                )
    return m, s


def _image_properties(t: TensorInfo) -> tuple[int, tuple[int, int]]:
    """Colour space and (width, height) of an NHWC image input."""
    if len(t.shape) != 4 or t.shape[-1] not in (1, 3):
        raise InputDataError(
            f"input {t.name!r} {list(t.shape)} is not an image: image=True needs "
            "[batch, height, width, 1 or 3]"
        )
    space = ColorSpace.GRAYSCALE if t.shape[-1] == 1 else ColorSpace.RGB
    return space, (int(t.shape[2]), int(t.shape[1]))


def build_model_metadata(
    model: ModelFile,
    name: str,
    description: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    labels: list[str] | None,
    image: bool = False,
    version: str = "",
    author: str = "",
    license: str = "",
) -> ModelMetadata:
    """The metadata tables for ``model``: normalization on every input, labels on output 0."""
    inputs = []
    for t in model.input_tensors:
        space, size = _image_properties(t) if image else (None, None)
        inputs.append(
            TensorMetadata(
                name=t.name,
                description=f"{t.dtype}{list(t.shape)}; real value = (raw - mean) / std",
                mean=mean,
                std=std,
                image=space,
                image_size=size,
            )
        )
    outputs = []
    for i, t in enumerate(model.output_tensors):
        files: tuple[AssociatedFile, ...] = ()
        text = f"{t.dtype}{list(t.shape)}"
        if i == 0 and labels:
            files = (
                AssociatedFile(
                    LABELS_FILE,
                    f"{len(labels)} class names, one per line",
                    AssociatedFileType.TENSOR_AXIS_LABELS,
                ),
            )
            text += f"; scores of {len(labels)} classes"
        outputs.append(TensorMetadata(name=t.name, description=text, associated_files=files))
    return ModelMetadata(
        name=name,
        description=description,
        version=version,
        author=author,
        license=license,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
    )


def _seeded_inputs(model: ModelFile, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.input_tensors:
        dtype = t.numpy_dtype
        if dtype is None:
            raise UnsupportedModelError(f"input {t.name!r} has type {t.dtype}")
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, int(info.max) + 1, size=t.shape, dtype=dtype))
        elif dtype == np.bool_:
            arrays.append(rng.integers(0, 2, size=t.shape).astype(np.bool_))
        else:
            arrays.append(rng.standard_normal(t.shape).astype(dtype))
    return arrays


def verify_same_inference(original: bytes, rewritten: bytes, runs: int = 2) -> bool:
    """Check that ``rewritten`` computes exactly what ``original`` does (LiteRT, seeded inputs).

    Returns False when the original itself cannot run here (a custom op, say), so
    there is nothing to compare against; raises `ModelFormatError` when the two differ.
    """
    from edgedeploy.runtime import Model

    try:
        before = Model(original)
    except EdgeDeployError:
        return False
    after = Model(rewritten)
    for seed in range(runs):
        try:
            inputs = _seeded_inputs(before.file, seed)
        except UnsupportedModelError:
            return False
        for i, (a, b) in enumerate(zip(before.run_raw(inputs), after.run_raw(inputs), strict=True)):
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                raise ModelFormatError(
                    f"output {i} changed after the metadata was attached (seed {seed}); "
                    "the bundle was not written"
                )
    return True


def _num(value: float) -> str:
    """A float literal valid in Kotlin (with an ``f`` added) and Swift, exact for float32."""
    return np.format_float_positional(np.float32(value), unique=True, trim="0")


def _plus(value: int) -> str:
    """`` + 5`` or `` - 5``: a zero point added in generated code, without ``+ -5``."""
    return f" + {value}" if value >= 0 else f" - {-value}"


def _kotlin_store(t: TensorInfo) -> str:
    if t.dtype == "float32":
        return "input.putFloat(real)"
    if t.dtype in _INTEGER_RANGES and t.quant is not None and not t.quant.per_channel:
        lo, hi = _INTEGER_RANGES[t.dtype]
        q = f"((real / {_num(t.quant.scales[0])}f).roundToInt(){_plus(t.quant.zero_points[0])})"
        put = "putShort" if t.dtype == "int16" else "put"
        cast = "toShort()" if t.dtype == "int16" else "toByte()"
        return f"input.{put}({q}.coerceIn({lo}, {hi}).{cast})"
    return f'TODO("write input {t.dtype} values into the buffer")'


def _kotlin_load(t: TensorInfo) -> str:
    if t.dtype == "float32":
        return "output.getFloat()"
    if t.dtype in _INTEGER_RANGES and t.quant is not None and not t.quant.per_channel:
        raw = {
            "int8": "output.get().toInt()",
            "uint8": "(output.get().toInt() and 0xFF)",
            "int16": "output.getShort().toInt()",
        }[t.dtype]
        return f"({raw}{_plus(-t.quant.zero_points[0])}) * {_num(t.quant.scales[0])}f"
    return f'TODO("read output {t.dtype} values")'


def _swift_store(t: TensorInfo) -> str:
    if t.dtype == "float32":
        return "withUnsafeBytes(of: real) { input.append(contentsOf: $0) }"
    if t.dtype in _INTEGER_RANGES and t.quant is not None and not t.quant.per_channel:
        q = f"Int((real / {_num(t.quant.scales[0])}).rounded()){_plus(t.quant.zero_points[0])}"
        if t.dtype == "int8":
            return f"input.append(UInt8(bitPattern: Int8(clamping: {q})))"
        if t.dtype == "uint8":
            return f"input.append(UInt8(clamping: {q}))"
        return f"withUnsafeBytes(of: Int16(clamping: {q})) {{ input.append(contentsOf: $0) }}"
    return f'fatalError("write input {t.dtype} values into the buffer")'


def _swift_load(t: TensorInfo) -> str:
    if t.dtype == "float32":
        return "output.data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }"
    if t.dtype in _INTEGER_RANGES and t.quant is not None and not t.quant.per_channel:
        shift, scale = _plus(-t.quant.zero_points[0]), _num(t.quant.scales[0])
        if t.dtype == "int8":
            return f"output.data.map {{ (Float(Int8(bitPattern: $0)){shift}) * {scale} }}"
        if t.dtype == "uint8":
            return f"output.data.map {{ (Float($0){shift}) * {scale} }}"
        return (
            "output.data.withUnsafeBytes { $0.bindMemory(to: Int16.self)"
            f".map {{ (Float($0){shift}) * {scale} }} }}"
        )
    return f'fatalError("read output {t.dtype} values")'


def _class_name(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words)[:60] or "Edge"
    if text[0].isdigit():
        text = "Model" + text
    return text if text.endswith("Model") else text + "Model"


def _readme_values(
    loaded: ModelFile,
    data: bytes,
    title: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    labels: list[str] | None,
) -> dict[str, object]:
    first_in, first_out = loaded.input_tensors[0], loaded.output_tensors[0]
    has_labels = bool(labels)
    best_kotlin = " (`labels[scores.indices.maxBy { scores[it] }]` names the best class)"
    best_swift = " (`labels[scores.indices.max { scores[$0] < scores[$1] }!]` names the best class)"
    return {
        "title": title,
        "model_file": MODEL_FILE,
        "model_stem": Path(MODEL_FILE).stem,
        "model_bytes": len(data),
        "source_name": loaded.name,
        "mean_text": str(list(mean)),
        "std_text": str(list(std)),
        "labels_text": f" and {len(labels)} class labels in `{LABELS_FILE}`" if labels else "",
        "labels_copy": f" and `{LABELS_FILE}`" if has_labels else "",
        "io_table": io_table(loaded),
        "android_litert_version": ANDROID_LITERT_VERSION,
        "class_name": _class_name(title),
        "kotlin_labels": (
            f'MetadataExtractor(model).getAssociatedFile("{LABELS_FILE}")'
            ".bufferedReader().readLines()"
            if has_labels
            else "emptyList()"
        ),
        "swift_labels": (
            f'try String(contentsOfFile: Bundle.main.path(forResource: "{Path(LABELS_FILE).stem}", '
            'ofType: "txt")!, encoding: .utf8).split(separator: "\\n").map(String.init)'
            if has_labels
            else "[]"
        ),
        "kotlin_mean": ", ".join(f"{_num(v)}f" for v in mean),
        "kotlin_std": ", ".join(f"{_num(v)}f" for v in std),
        "swift_mean": ", ".join(_num(v) for v in mean),
        "swift_std": ", ".join(_num(v) for v in std),
        "in_count": first_in.num_elements,
        "in_shape": str(list(first_in.shape)),
        "in_bytes": first_in.nbytes,
        "out_count": first_out.num_elements,
        "out_bytes": first_out.nbytes,
        "kotlin_store": _kotlin_store(first_in),
        "kotlin_load": _kotlin_load(first_out),
        "swift_store": _swift_store(first_in),
        "swift_load": _swift_load(first_out),
        "top_note_kotlin": best_kotlin if has_labels else "",
        "top_note_swift": best_swift if has_labels else "",
    }


def _text(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InputDataError(f"{what} must be a string")
    if len(value) > MAX_TEXT_LENGTH:
        raise InputDataError(f"{what} is longer than {MAX_TEXT_LENGTH} characters")
    return value


def export_mobile(
    model: Path | str | bytes,
    out: Path | str,
    platform: str = "android",
    force: bool = False,
    labels: Sequence[str] | None = None,
    mean: float | Sequence[float] = 0.0,
    std: float | Sequence[float] = 1.0,
    name: str | None = None,
    description: str | None = None,
    image: bool = False,
    version: str = "",
    author: str = "",
    license: str = "",
) -> BundleResult:
    """Write a phone bundle for ``model`` into the new directory ``out``.

    ``out`` gets ``model.tflite`` carrying TFLite model metadata (``name``,
    ``description``, the input normalization ``(raw - mean) / std`` and, with
    ``labels``, a ``labels.txt`` associated with the first output and packed into
    the file), ``labels.txt`` beside it, and a ``README.md`` with the Kotlin
    (``platform="android"``) or Swift (``"ios"``) code that runs it with LiteRT.

    ``mean``/``std`` are one value or one per channel (the inputs' last axis);
    the defaults 0 and 1 say the model takes raw values as they are. ``image``
    describes the inputs as NHWC images (RGB or grayscale) instead of plain
    features, as image-classifier tooling expects.

    Raises `UnknownNameError` for another platform, `InputDataError` for
    labels, normalization or texts that do not fit the model, `ModelFormatError`
    if the rewritten model would compute anything different, and
    `OutputExistsError` / `OutputPathError` for an unusable ``out``.
    """
    if platform not in PLATFORMS:
        raise UnknownNameError(
            f"unknown phone platform {platform!r}; choose one of {', '.join(PLATFORMS)}"
        )
    loaded, protect = load_source(model)
    checked = check_labels(labels, loaded)
    norm_mean, norm_std = _normalization(mean, std, loaded)
    title = _text(
        name if name is not None else (loaded.path.stem if loaded.path else "model"), "name"
    )
    if not title.strip():
        raise InputDataError("the model name must not be empty")
    text = _text(
        description
        if description is not None
        else f"{title}: {len(loaded.operators)} ops, exported by edgedeploy",
        "description",
    )
    meta = build_model_metadata(
        loaded,
        name=title,
        description=text,
        mean=norm_mean,
        std=norm_std,
        labels=checked,
        image=image,
        version=_text(version, "version"),
        author=_text(author, "author"),
        license=_text(license, "license"),
    )
    labels_bytes = ("\n".join(checked) + "\n").encode("utf-8") if checked else None
    packed = attach_metadata(
        loaded.data,
        build_metadata(meta),
        {LABELS_FILE: labels_bytes} if labels_bytes is not None else None,
    )
    checked_inference = verify_same_inference(loaded.data, packed)
    files: dict[str, bytes] = {MODEL_FILE: packed}
    if labels_bytes is not None:
        files[LABELS_FILE] = labels_bytes
    values = _readme_values(loaded, packed, title, norm_mean, norm_std, checked)
    files["README.md"] = render_template(
        f"mobile/README_{platform}.md.tmpl", values, package=_PACKAGE
    ).encode("utf-8")
    with atomic_output_dir(Path(out), force=force, protect=protect) as tmp:
        for file_name, data in files.items():
            (tmp / file_name).write_bytes(data)
    notes = [
        f"metadata: name {title!r}, mean {list(norm_mean)}, std {list(norm_std)}"
        + (f", {len(checked)} labels packed" if checked else ""),
        "inference checked byte-identical with and without metadata (LiteRT)"
        if checked_inference
        else "inference not compared: LiteRT cannot run the original model here",
    ]
    return BundleResult(
        target=platform,
        out=Path(out),
        files={n: len(d) for n, d in files.items()},
        model_sha256=loaded.sha256,
        notes=tuple(notes),
    )
