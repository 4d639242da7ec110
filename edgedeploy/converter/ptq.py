"""Post-training int8 quantization with a chosen calibration strategy and float-kept layers.

The TFLite converter calibrates and quantizes in one call, with min-max ranges
only. This module splits that call where TFLite's own QuantizationDebugger splits
it, so that the ranges can be chosen between the two halves:

1. `calibrate`: the converter with ``_experimental_calibrate_only`` returns the
   float model with every activation's observed min and max written into its
   tensors' quantization parameters (what the debugger calls the calibrated model);
2. `collect_histograms`: the calibration samples are run through that float
   model once more (LiteRT, every intermediate tensor preserved) and each
   activation's values are binned;
3. `with_ranges`: the ranges `choose_range` picks replace the recorded min/max;
4. `quantize_calibrated`: ``tensorflow.lite.python.convert.mlir_quantize`` (the
   quantizer the converter and the debugger call) turns the ranges into int8
   scales and zero points, leaving the ``denylisted_nodes`` in float.

With ``minmax`` step 2 and 3 are skipped and the result is the converter's own
int8 model (the tests check it tensor by tensor). The private converter switch
and the internal quantizer entry point are what the QuantizationDebugger uses;
the tests check that chosen ranges really arrive in the int8 model, so a
TensorFlow release that changes them fails loudly instead of silently.

A quantizer still imposes its constraints on top of the ranges: MAX_POOL_2D,
RESHAPE and similar ops share their input's scale, SOFTMAX and LOGISTIC outputs
get the fixed scale 1/256, and every range is widened to contain zero.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import flatbuffers
import numpy as np

from edgedeploy.converter.calibration import (
    ActivationHistogram,
    Calibration,
    choose_range,
    representative_dataset,
)
from edgedeploy.converter.tflite import ModelSource, converter_error_line, io_dtype_for
from edgedeploy.errors import ConversionError, UnknownNameError
from edgedeploy.modelfile import ModelFile, load_model, schema
from edgedeploy.runtime.interpreter import interpreter_module
from edgedeploy.training._tf import tf

__all__ = [
    "PtqResult",
    "TensorRange",
    "calibrate",
    "calibrated_ranges",
    "collect_histograms",
    "layer_names",
    "quantize_calibrated",
    "quantize_int8",
    "resolve_layers",
    "with_ranges",
]

#: Layer names listed in the message for an unknown ``--keep-float`` name.
_LISTED_LAYERS = 15


@dataclass(frozen=True)
class TensorRange:
    """One activation: the range seen on the calibration data and the range chosen."""

    tensor: str
    observed_min: float
    observed_max: float
    min: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PtqResult:
    """A post-training int8 model and how its activation ranges were chosen."""

    model: bytes
    calibration: Calibration
    ranges: list[TensorRange]
    kept_float: list[str]


def _quiet_convert(converter: Any, what: str) -> bytes:
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises many types; each means the model was refused
        raise ConversionError(
            f"the TFLite converter refused {what}: {converter_error_line(exc)}"
        ) from exc


def calibrate(source: ModelSource, samples: np.ndarray) -> bytes:
    """The float .tflite of ``source`` with each activation's min/max on ``samples`` recorded."""
    converter = source.converter()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(samples)
    converter._experimental_calibrate_only = True
    return _quiet_convert(converter, f"{source.name} (calibration)")


def _tree(model: bytes) -> Any:
    return schema().ModelT.InitFromPackedBuf(model, 0)


def _pack(tree: Any) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def calibrated_ranges(calibrated: bytes) -> dict[int, tuple[str, float, float]]:
    """Tensor index -> (name, min, max) for every tensor the calibrator recorded a range for."""
    found = {}
    for index, tensor in enumerate(_tree(calibrated).subgraphs[0].tensors):
        q = tensor.quantization
        if q is not None and q.min is not None and q.max is not None and len(q.min) == 1:
            name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
            found[index] = (name, float(q.min[0]), float(q.max[0]))
    return found


def with_ranges(calibrated: bytes, ranges: dict[int, tuple[float, float]]) -> bytes:
    """``calibrated`` with the recorded min/max of the given tensors replaced."""
    tree = _tree(calibrated)
    tensors = tree.subgraphs[0].tensors
    for index, (low, high) in ranges.items():
        q = tensors[index].quantization
        q.min = np.array([low], dtype=np.float32)
        q.max = np.array([high], dtype=np.float32)
    return _pack(tree)


def collect_histograms(
    calibrated: bytes, samples: np.ndarray, tensors: dict[int, tuple[str, float, float]]
) -> dict[int, ActivationHistogram]:
    """Run ``samples`` through the calibrated float model and bin each listed tensor's values.

    The recorded min/max give each histogram its range. The interpreter keeps
    every intermediate tensor (which also keeps delegates away, so the values are
    the builtin kernels' ones, as in the calibrator).
    """
    module = interpreter_module()
    with warnings.catch_warnings():
        # LiteRT warns that preserving every tensor is meant for debugging: it is.
        warnings.simplefilter("ignore")
        interp = module.Interpreter(
            model_content=calibrated, experimental_preserve_all_tensors=True
        )
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    hists = {i: ActivationHistogram(low, high) for i, (_, low, high) in tensors.items()}
    for sample in np.asarray(samples, dtype=np.float32):
        interp.set_tensor(detail["index"], sample.reshape(detail["shape"]))
        interp.invoke()
        for index, hist in hists.items():
            hist.add(interp.get_tensor(index))
    return hists


def layer_names(model: ModelFile) -> list[str]:
    """The Keras layer names that appear in the op output names of a converted model.

    A converted op's output tensor is named after every TensorFlow op fused into
    it (``;``-separated), each a path ``model/layer/op``: the second component is
    the Keras layer (``ds_cnn/conv2d/BiasAdd`` -> ``conv2d``).
    """
    names: dict[str, None] = {}
    for op in model.operators:
        for out in op.outputs:
            for part in model.tensors[out].name.split(";"):
                pieces = part.split("/")
                if len(pieces) > 2:
                    names[pieces[1]] = None
    return list(names)


def resolve_layers(model: ModelFile, names: list[str] | tuple[str, ...]) -> list[str]:
    """The output tensor names of the ops of ``model`` that compute the named layers.

    A name is a Keras layer name (every op fused from it matches) or an op's
    full output tensor name. These are the "nodes" TFLite's quantizer leaves in
    float. Raises `UnknownNameError` for a name that matches no op.
    """
    nodes: dict[str, None] = {}
    for name in names:
        wanted = name.strip()
        matched = []
        for op in model.operators:
            for out in op.outputs:
                tensor = model.tensors[out].name
                layers = {p.split("/")[1] for p in tensor.split(";") if p.count("/") >= 2}
                if wanted and (tensor == wanted or wanted in layers):
                    matched.append(tensor)
        if not matched:
            known = layer_names(model)
            listed = ", ".join(known[:_LISTED_LAYERS]) + (
                ", ..." if len(known) > _LISTED_LAYERS else ""
            )
            raise UnknownNameError(
                f"--keep-float: the model has no layer named {name!r} (layers: {listed})"
            )
        nodes.update(dict.fromkeys(matched))
    return list(nodes)


def quantize_calibrated(
    calibrated: bytes,
    per_channel: bool = True,
    io_dtype: str = "int8",
    denylisted_nodes: list[str] | None = None,
) -> bytes:
    """Quantize a calibrated float model to int8 with the ranges recorded in it.

    ``denylisted_nodes`` (op output tensor names, see `resolve_layers`) stay in
    float between a DEQUANTIZE and a QUANTIZE.
    """
    from tensorflow.lite.python.convert import deduplicate_readonly_buffers, mlir_quantize

    dtype = getattr(tf, io_dtype_for("int8", io_dtype))
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            model = mlir_quantize(
                calibrated,
                disable_per_channel=not per_channel,
                input_data_type=dtype,
                output_data_type=dtype,
                denylisted_nodes=list(denylisted_nodes or []) or None,
            )
            return bytes(deduplicate_readonly_buffers(model))
    except Exception as exc:  # the quantizer raises many types; each means it refused
        raise ConversionError(
            f"the TFLite quantizer refused the model: {converter_error_line(exc)}"
        ) from exc


def _keep_float_nodes(calibrated: bytes, keep_float: tuple[str, ...]) -> list[str]:
    if not keep_float:
        return []
    return resolve_layers(load_model(calibrated), keep_float)


def quantize_int8(
    source: ModelSource,
    samples: np.ndarray,
    calibration: Calibration | str = "minmax",
    per_channel: bool = True,
    io_dtype: str = "int8",
    keep_float: tuple[str, ...] | list[str] = (),
) -> PtqResult:
    """Post-training int8 quantization of ``source`` calibrated on ``samples``.

    ``keep_float`` names layers (see `resolve_layers`) to leave in float; the
    result then is no longer full-integer.
    """
    chosen = calibration if isinstance(calibration, Calibration) else Calibration.parse(calibration)
    calibrated = calibrate(source, samples)
    nodes = _keep_float_nodes(calibrated, tuple(keep_float))
    recorded = calibrated_ranges(calibrated)
    if chosen.method == "minmax":
        picked = {i: (low, high) for i, (_, low, high) in recorded.items()}
    else:
        hists = collect_histograms(calibrated, samples, recorded)
        picked = {i: choose_range(hists[i], chosen) for i in recorded}
        calibrated = with_ranges(calibrated, picked)
    ranges = [TensorRange(name, low, high, *picked[i]) for i, (name, low, high) in recorded.items()]
    model = quantize_calibrated(calibrated, per_channel, io_dtype, nodes)
    return PtqResult(model, chosen, ranges, nodes)
