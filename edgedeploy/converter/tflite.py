"""One call around ``tf.lite.TFLiteConverter`` for each quantization mode.

Modes:

* ``float32`` — no optimization; the reference the others are compared with.
* ``float16`` — weights stored as float16, computed in float32.
* ``dynamic`` — int8 weights, float activations (dynamic-range quantization);
  needs no calibration data, but TFLite Micro cannot run its hybrid kernels.
* ``int8`` — full-integer: int8 weights and activations scaled from a
  representative dataset, builtin int8 kernels only (what microcontrollers run);
  input/output int8, uint8 (the converter adds QUANTIZE ops at the edges), or
  float32 (QUANTIZE/DEQUANTIZE at the edges).
* ``int16x8`` — int8 weights, int16 activations (TFLite's
  ``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``): 256 times
  finer activations for models whose int8 activations lose too much, at twice
  the activation memory. Scaled from a representative dataset like ``int8``;
  input/output int16 or float32 (`io_dtype_for` reads the default ``int8`` as
  "integer I/O", i.e. int16). TFLite and TFLite Micro run CONV_2D,
  DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, pooling, SOFTMAX and the reshaping ops
  in 16x8.

Per-channel weight scales are the converter's default for convolutions; the only
switch for per-tensor scales is the private attribute
``_experimental_disable_per_channel`` (checked by the tests on the weights of
the result, since a private switch can vanish silently). Converter failures
become one `ConversionError` line taken from the converter's own message.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedeploy.converter.calibration import RepresentativeDataset
from edgedeploy.errors import ConversionError, UnknownNameError
from edgedeploy.modelfile import ModelFile
from edgedeploy.training._tf import tf

__all__ = [
    "CALIBRATED_MODES",
    "IO_DTYPES",
    "IO_DTYPES_16X8",
    "QUANTIZE_MODES",
    "ModelSource",
    "check_mode",
    "converter_error_line",
    "float_compute_ops",
    "io_dtype_for",
    "to_tflite",
]

QUANTIZE_MODES: tuple[str, ...] = ("float32", "float16", "dynamic", "int8", "int16x8")
#: I/O dtypes of an ``int8`` model (the other float modes keep float32 I/O).
IO_DTYPES: tuple[str, ...] = ("int8", "uint8", "float32")
#: I/O dtypes of an ``int16x8`` model; ``int8``, the configuration default, means int16.
IO_DTYPES_16X8: tuple[str, ...] = ("int16", "float32")
#: Modes whose activations are integers scaled from calibration data.
CALIBRATED_MODES: tuple[str, ...] = ("int8", "int16x8")
_IO_TF_TYPES = {"int8": "int8", "uint8": "uint8", "float32": "float32", "int16": "int16"}
# Lines of a converter message that locate an error but do not say what it is.
_NOISE = re.compile(r"^(<unknown>|loc\(|\s*$|see current operation|Traceback|File \")")


@dataclass
class ModelSource:
    """Something the TFLite converter can read: an in-memory Keras model or a SavedModel dir.

    ``framework`` is ``"tf_keras"`` or ``"keras3"`` for an in-memory model.
    """

    name: str
    keras_model: Any = None
    saved_model_dir: Path | None = None
    framework: str = "tf_keras"
    _export: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def _batch_one_specs(self) -> list[Any]:
        return [
            tf.TensorSpec([1, *t.shape[1:]], t.dtype, name=_input_name(t, i))
            for i, t in enumerate(self.keras_model.inputs)
        ]

    def converter(self) -> Any:
        """A fresh ``TFLiteConverter`` for this model, traced with a batch of one.

        A Keras model's own signature has an unknown batch size, which makes the
        converter keep run-time shape arithmetic (SHAPE, STRIDED_SLICE, PACK before
        a RESHAPE); microcontrollers run one sample at a time, so the model is
        traced with batch 1 and every shape is static. A Keras 3 model's variables
        are only captured correctly through its own SavedModel export, so it is
        exported once (with the batch-1 signature) to a temporary directory.
        """
        if self.saved_model_dir is not None:
            return tf.lite.TFLiteConverter.from_saved_model(str(self.saved_model_dir))
        model = self.keras_model
        specs = self._batch_one_specs()
        if self.framework == "keras3":
            if self._export is None:
                self._export = tempfile.TemporaryDirectory(prefix="edgedeploy-keras3-")
                model.export(self._export.name, format="tf_saved_model", input_signature=specs)
            return tf.lite.TFLiteConverter.from_saved_model(self._export.name)
        function = tf.function(
            lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False)
        )
        concrete = function.get_concrete_function(*specs)
        return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


def _input_name(tensor: Any, index: int) -> str:
    name = str(getattr(tensor, "name", "") or f"input_{index}").split(":")[0]
    return re.sub(r"[^A-Za-z0-9_.\-/]", "_", name) or f"input_{index}"


def check_mode(mode: str, io_dtype: str = "int8") -> None:
    """Raise `UnknownNameError` for a quantization mode or I/O dtype that does not exist."""
    if mode not in QUANTIZE_MODES:
        raise UnknownNameError(
            f"unknown quantization mode {mode!r} (valid: {', '.join(QUANTIZE_MODES)})"
        )
    io_dtype_for(mode, io_dtype)


def io_dtype_for(mode: str, io_dtype: str) -> str:
    """The I/O dtype a ``mode`` model gets when ``io_dtype`` is asked for; raise if it has none.

    ``int16x8`` models take int16 or float32; the configuration default ``int8``
    stands for "integer I/O" there, so ``--quantize int16x8`` alone gives int16 I/O.
    """
    if mode == "int16x8":
        effective = "int16" if io_dtype == "int8" else io_dtype
        if effective not in IO_DTYPES_16X8:
            raise UnknownNameError(
                f"unknown I/O dtype {io_dtype!r} for int16x8 (valid: {', '.join(IO_DTYPES_16X8)})"
            )
        return effective
    if io_dtype not in IO_DTYPES:
        raise UnknownNameError(f"unknown I/O dtype {io_dtype!r} (valid: {', '.join(IO_DTYPES)})")
    return io_dtype


def converter_error_line(exc: BaseException) -> str:
    """The first line of a converter exception that says what went wrong.

    MLIR messages start with location lines (``<unknown>:0: error: loc(...)``);
    the text after ``error:`` on the first error line is what a user needs.
    """
    lines = [line.strip() for line in str(exc).splitlines()]
    for line in lines:
        match = re.search(r"\berror:\s*(.+)", line)
        if match:
            text = re.sub(r"^loc\([^)]*\)+:?\s*", "", match.group(1)).strip()
            if text:
                return text
    for line in lines:
        if not _NOISE.match(line):
            return line
    return type(exc).__name__


_FLOAT_TYPES = frozenset({"float32", "float16", "float64", "complex64", "complex128"})
_CASTS = frozenset({"QUANTIZE", "DEQUANTIZE"})


def float_compute_ops(model: ModelFile) -> list[str]:
    """Ops (other than QUANTIZE/DEQUANTIZE) that read or write float tensors, in model order.

    The converter does not enforce full-integer output even when asked for int8
    builtins only: an op without an int8 kernel (CUMSUM, RFFT2D, ...) is kept in
    float between a DEQUANTIZE and a QUANTIZE. Such a model is not fully integer,
    so this is reported rather than assumed.
    """
    found: dict[str, None] = {}
    for op in model.operators:
        if op.op in _CASTS:
            continue
        tensors = [model.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
        if any(t.dtype in _FLOAT_TYPES for t in tensors):
            found[op.op] = None
    return list(found)


def to_tflite(
    source: ModelSource,
    mode: str,
    representative: RepresentativeDataset | None = None,
    io_dtype: str = "int8",
    per_channel: bool = True,
) -> bytes:
    """Convert ``source`` to a .tflite flatbuffer in quantization ``mode``.

    ``representative`` is required for ``int8`` and ``int16x8``; ``io_dtype``
    applies to those two only; ``per_channel=False`` asks for one weight scale per
    tensor (``int8``, ``int16x8`` and ``dynamic``). A model trained with
    fake-quantization (QAT) is converted with its trained ranges by the same call.
    """
    check_mode(mode, io_dtype)
    if mode in CALIBRATED_MODES and representative is None:
        raise ConversionError(f"{mode} quantization needs a representative dataset")
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            # The converter warns about statistics it does not need and Keras 3 prints
            # where it exported; neither is for the user of a library.
            warnings.simplefilter("ignore")
            converter = source.converter()
            if mode != "float32":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if mode == "float16":
                converter.target_spec.supported_types = [tf.float16]
            if mode in ("int8", "int16x8", "dynamic") and not per_channel:
                converter._experimental_disable_per_channel = True
            if mode in CALIBRATED_MODES:
                converter.representative_dataset = representative
                converter.target_spec.supported_ops = [
                    tf.lite.OpsSet.TFLITE_BUILTINS_INT8
                    if mode == "int8"
                    else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                ]
                dtype = getattr(tf, _IO_TF_TYPES[io_dtype_for(mode, io_dtype)])
                converter.inference_input_type = dtype
                converter.inference_output_type = dtype
            return bytes(converter.convert())
    except ConversionError:
        raise
    except Exception as exc:  # the converter raises many types; each means the model was refused
        raise ConversionError(
            f"the TFLite converter refused {source.name} ({mode}): {converter_error_line(exc)}"
        ) from exc
