"""Reading a .tflite flatbuffer into plain data, without TensorFlow.

Every stage that looks inside a model (``info``, the exporters, the C compiler)
goes through `load_model`, so a file is checked once, at the boundary: it must
exist, carry the TFLite file identifier, parse, and keep every tensor, buffer and
operator index in range. The flatbuffer schema bindings come from ai-edge-litert
(a base dependency), with tflite-micro's and TensorFlow's copies as fall-backs.
"""

from __future__ import annotations

import hashlib
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from edgedeploy.errors import DependencyError, ModelFormatError
from edgedeploy.fsutil import read_input_file
from edgedeploy.tflm_ops import TFLM_RESOLVER_METHODS

__all__ = [
    "MAX_TENSOR_ELEMENTS",
    "ModelFile",
    "OperatorInfo",
    "QuantParams",
    "TensorInfo",
    "load_model",
    "schema",
]

#: Largest element count accepted for one tensor; no microcontroller model comes
#: near it, and it keeps a hostile shape from asking for gigabytes.
MAX_TENSOR_ELEMENTS = 1 << 28
#: Largest rank accepted for a tensor.
MAX_TENSOR_RANK = 8
#: The flatbuffer file identifier every .tflite file carries at bytes 4..8.
TFLITE_IDENTIFIER = b"TFL3"

# TensorType enum value -> (name, numpy dtype or None when numpy has no twin).
_TENSOR_TYPES: dict[int, tuple[str, Any]] = {
    0: ("float32", np.float32),
    1: ("float16", np.float16),
    2: ("int32", np.int32),
    3: ("uint8", np.uint8),
    4: ("int64", np.int64),
    5: ("string", None),
    6: ("bool", np.bool_),
    7: ("int16", np.int16),
    8: ("complex64", np.complex64),
    9: ("int8", np.int8),
    10: ("float64", np.float64),
    11: ("complex128", np.complex128),
    12: ("uint64", np.uint64),
    13: ("resource", None),
    14: ("variant", None),
    15: ("uint32", np.uint32),
    16: ("uint16", np.uint16),
    17: ("int4", None),
}


def schema() -> ModuleType:
    """Return the generated TFLite schema module from whichever runtime is installed."""
    try:
        from ai_edge_litert import schema_py_generated

        return schema_py_generated
    except ImportError:
        pass
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

        return schema_py_generated
    except ImportError:
        pass
    try:
        from tensorflow.lite.python import schema_py_generated

        return schema_py_generated
    except ImportError as exc:
        raise DependencyError(
            "no TFLite schema available: install ai-edge-litert (pip install ai-edge-litert)"
        ) from exc


def _enum_names(enum_class: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_")}


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization of a tensor: real = scale * (q - zero_point)."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the primary subgraph."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    buffer: int
    quant: QuantParams | None
    is_constant: bool
    is_variable: bool = False

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def numpy_dtype(self) -> Any:
        return next((np.dtype(t) for n, t in _TENSOR_TYPES.values() if n == self.dtype and t), None)

    @property
    def nbytes(self) -> int:
        dt = self.numpy_dtype
        return self.num_elements * (dt.itemsize if dt is not None else 1)


@dataclass(frozen=True)
class OperatorInfo:
    """One operator: its builtin name, tensor indices (-1 = optional input absent) and options."""

    index: int
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    version: int = 1


@dataclass
class ModelFile:
    """A parsed .tflite model: tensors, operators and raw buffers of subgraph 0."""

    path: Path | None
    data: bytes
    sha256: str
    version: int
    description: str
    tensors: list[TensorInfo]
    operators: list[OperatorInfo]
    inputs: list[int]
    outputs: list[int]
    num_subgraphs: int
    _buffers: list[bytes]

    @property
    def name(self) -> str:
        return self.path.name if self.path else "<bytes>"

    @property
    def op_counts(self) -> dict[str, int]:
        """Operator name -> how often it appears, in first-use order."""
        return dict(Counter(op.op for op in self.operators))

    @property
    def ops_used(self) -> list[str]:
        return sorted(self.op_counts)

    @property
    def input_tensors(self) -> list[TensorInfo]:
        return [self.tensors[i] for i in self.inputs]

    @property
    def output_tensors(self) -> list[TensorInfo]:
        return [self.tensors[i] for i in self.outputs]

    @property
    def parameter_bytes(self) -> int:
        """Bytes of constant tensor data (weights, biases, quantization tables)."""
        return sum(len(self._buffers[t.buffer]) for t in self.tensors if t.is_constant)

    def tflm_unsupported_ops(self) -> list[str]:
        """Ops of this model that TensorFlow Lite Micro has no kernel for."""
        return [op for op in self.ops_used if op not in TFLM_RESOLVER_METHODS]

    def buffer_bytes(self, tensor_index: int) -> bytes:
        """Raw bytes of a constant tensor (empty for activations)."""
        return self._buffers[self.tensors[tensor_index].buffer]

    def constant(self, tensor_index: int) -> np.ndarray:
        """A constant tensor's data as a numpy array of its shape and dtype."""
        tensor = self.tensors[tensor_index]
        raw = self.buffer_bytes(tensor_index)
        dtype = tensor.numpy_dtype
        if dtype is None or not raw:
            raise ModelFormatError(f"{self.name}: tensor {tensor.name!r} has no constant data")
        if len(raw) != tensor.num_elements * dtype.itemsize:
            raise ModelFormatError(
                f"{self.name}: tensor {tensor.name!r} holds {len(raw)} bytes, "
                f"its shape {list(tensor.shape)} needs {tensor.num_elements * dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype=dtype).reshape(tensor.shape)


def _decode(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _options_dict(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in vars(options).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        out[key] = value
    return out


def _buffer_data(buf: Any, data: bytes, where: str) -> bytes:
    """A buffer's bytes: inline, or (for models over 2 GB) at an offset into the file."""
    offset = int(getattr(buf, "offset", 0) or 0)
    size = int(getattr(buf, "size", 0) or 0)
    if offset > 1:
        if offset + size > len(data):
            raise ModelFormatError(f"{where} points past the end of the file")
        return data[offset : offset + size]
    if buf.data is None:
        return b""
    return np.asarray(buf.data, dtype=np.uint8).tobytes()


def load_model(source: Path | str | bytes, what: str = "model") -> ModelFile:
    """Parse and check a .tflite model from a path or bytes.

    Raises `InputFileError` for a missing or unreadable file and
    `ModelFormatError` for anything that is not a well-formed .tflite model.
    """
    path: Path | None
    if isinstance(source, bytes | bytearray):
        data, path = bytes(source), None
    else:
        path = Path(source)
        data = read_input_file(path, what)
    name = path.name if path else what
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelFormatError(f"{name} is not a .tflite model (no TFL3 file identifier)")
    s = schema()
    try:
        model = s.ModelT.InitFromPackedBuf(data, 0)
    except (IndexError, struct.error, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise ModelFormatError(f"{name} is a corrupt .tflite model ({type(exc).__name__})") from exc
    return _from_object(model, data, path, name, s)


def _from_object(model: Any, data: bytes, path: Path | None, name: str, s: ModuleType) -> ModelFile:
    if not model.subgraphs:
        raise ModelFormatError(f"{name} has no subgraph")
    op_names = _enum_names(s.BuiltinOperator)
    buffers_t = model.buffers or []
    buffers = [_buffer_data(b, data, f"{name}: buffer {i}") for i, b in enumerate(buffers_t)]
    sg = model.subgraphs[0]
    tensors: list[TensorInfo] = []
    for i, t in enumerate(sg.tensors or []):
        tname = _decode(t.name)
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
        if len(shape) > MAX_TENSOR_RANK or any(d < 0 for d in shape):
            raise ModelFormatError(f"{name}: tensor {i} has an invalid shape {list(shape)}")
        elements = int(np.prod(shape, dtype=object)) if shape else 1
        if elements > MAX_TENSOR_ELEMENTS:
            raise ModelFormatError(
                f"{name}: tensor {i} declares {elements} elements, over the limit of "
                f"{MAX_TENSOR_ELEMENTS}"
            )
        if t.type not in _TENSOR_TYPES:
            raise ModelFormatError(f"{name}: tensor {i} has an unknown type code {t.type}")
        if not 0 <= t.buffer < max(len(buffers), 1):
            raise ModelFormatError(
                f"{name}: tensor {i} names buffer {t.buffer}, which does not exist"
            )
        q = t.quantization
        quant = None
        if q is not None and q.scale is not None and len(q.scale) > 0:
            zps = q.zeroPoint if q.zeroPoint is not None else [0] * len(q.scale)
            quant = QuantParams(
                scales=tuple(float(v) for v in q.scale),
                zero_points=tuple(int(v) for v in zps),
                quantized_dimension=int(q.quantizedDimension or 0),
            )
        is_const = bool(buffers) and len(buffers[t.buffer]) > 0
        tensors.append(
            TensorInfo(
                index=i,
                name=tname,
                shape=shape,
                dtype=_TENSOR_TYPES[t.type][0],
                buffer=int(t.buffer),
                quant=quant,
                is_constant=is_const,
                is_variable=bool(t.isVariable),
            )
        )
    codes = model.operatorCodes or []
    operators: list[OperatorInfo] = []
    for i, op in enumerate(sg.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise ModelFormatError(
                f"{name}: operator {i} names opcode {op.opcodeIndex}, past the table"
            )
        code = codes[op.opcodeIndex]
        builtin = max(int(code.builtinCode or 0), int(code.deprecatedBuiltinCode or 0))
        opname = op_names.get(builtin, f"UNKNOWN_{builtin}")
        if opname == "CUSTOM":
            opname = f"CUSTOM:{_decode(code.customCode)}"
        ins = tuple(int(v) for v in (op.inputs if op.inputs is not None else ()))
        outs = tuple(int(v) for v in (op.outputs if op.outputs is not None else ()))
        for idx in ins + outs:
            if idx != -1 and not 0 <= idx < len(tensors):
                raise ModelFormatError(
                    f"{name}: operator {i} ({opname}) names tensor {idx}, out of range"
                )
        operators.append(
            OperatorInfo(
                index=i,
                op=opname,
                inputs=ins,
                outputs=outs,
                options=_options_dict(op.builtinOptions),
                version=int(code.version or 1),
            )
        )
    inputs = [int(v) for v in (sg.inputs if sg.inputs is not None else ())]
    outputs = [int(v) for v in (sg.outputs if sg.outputs is not None else ())]
    for idx in inputs + outputs:
        if not 0 <= idx < len(tensors):
            raise ModelFormatError(
                f"{name}: subgraph input/output names tensor {idx}, out of range"
            )
    return ModelFile(
        path=path,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        version=int(model.version or 0),
        description=_decode(model.description),
        tensors=tensors,
        operators=operators,
        inputs=inputs,
        outputs=outputs,
        num_subgraphs=len(model.subgraphs),
        _buffers=buffers,
    )
