"""Reading a .tflite flatbuffer into plain data, without TensorFlow.

Every stage that looks inside a model (``info``, the runtimes, the exporters, the
C compiler) goes through `load_model`, so a file is checked once, at the boundary,
before any C++ code or allocation sees it:

1. It must be a regular file no larger than `MAX_MODEL_BYTES` and carry the TFLite
   file identifier.
2. The flatbuffer is verified the way FlatBuffers' C++ ``Verifier`` does it (no
   Python binding of that verifier exists): the schema's own generated reader is
   run over the whole model with every table, vtable, offset, vector and string
   bounds- and alignment-checked (`verify_flatbuffer`). LiteRT verifies models
   like this before use; TensorFlow Lite Micro never does, and reads past the
   end of a corrupt buffer.
3. Every index the interpreters follow without checking is checked, in every
   subgraph: tensor, buffer, opcode and subgraph indices, quantization sizes,
   constant data long enough for its shape, and out-of-file buffer offsets.
4. Sizes are bounded before anything is allocated: tensor rank, elements and
   bytes, and the activation memory the whole model could need
   (`MAX_TENSOR_ELEMENTS`, `MAX_TENSOR_BYTES`, `MAX_ACTIVATION_BYTES`).

What stays possible after this (a kernel that crashes on parameters it never
checks) is contained by `edgedeploy.sandbox`. The flatbuffer schema bindings
come from ai-edge-litert (a base dependency), with tflite-micro's and
TensorFlow's copies as fall-backs.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import re
import struct
import types
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import flatbuffers
import flatbuffers.encode
import flatbuffers.number_types
import flatbuffers.packer
import flatbuffers.table
import flatbuffers.util
import numpy as np

from edgedeploy.errors import DependencyError, ModelFormatError
from edgedeploy.fsutil import read_input_file
from edgedeploy.tflm_ops import TFLM_RESOLVER_METHODS

__all__ = [
    "MAX_ACTIVATION_BYTES",
    "MAX_FLATBUFFER_TABLES",
    "MAX_MODEL_BYTES",
    "MAX_TENSOR_BYTES",
    "MAX_TENSOR_ELEMENTS",
    "MAX_TENSOR_RANK",
    "TFLITE_IDENTIFIER",
    "ModelFile",
    "OperatorInfo",
    "QuantParams",
    "TensorInfo",
    "load_model",
    "schema",
    "verify_flatbuffer",
]

#: Largest model file read: FlatBuffers' own limit (2 GiB - 1), past which its
#: 32-bit offsets cannot address the data.
MAX_MODEL_BYTES = (1 << 31) - 1
#: Most table visits the verifier makes (FlatBuffers' C++ default ``max_tables``).
#: The effective limit is also bounded by the file size, as each distinct table
#: takes at least four bytes: more visits mean tables shared through crafted
#: offsets, a way to make reading the file take exponential time.
MAX_FLATBUFFER_TABLES = 1_000_000
#: Largest element count accepted for one tensor; no microcontroller model comes
#: near it, and it keeps a hostile shape from asking for gigabytes.
MAX_TENSOR_ELEMENTS = 1 << 28
#: Largest size of one tensor in bytes (a Raspberry Pi has 1-8 GiB in all).
MAX_TENSOR_BYTES = 1 << 29
#: Largest total of every non-constant tensor of every subgraph, in bytes: an
#: upper bound of the arena any interpreter plans, checked before one allocates.
MAX_ACTIVATION_BYTES = 1 << 30
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
    18: ("bfloat16", None),
    19: ("int2", None),
    20: ("uint4", None),
    21: ("float8_e4m3fn", None),
    22: ("float8_e5m2", None),
}
# Bits per element of the fixed-size types: a constant tensor's data must hold
# at least elements x bits (packed), or a kernel reads past its buffer.
_TYPE_BITS: dict[str, int] = {
    "float32": 32,
    "float16": 16,
    "int32": 32,
    "uint8": 8,
    "int64": 64,
    "bool": 8,
    "int16": 16,
    "complex64": 64,
    "int8": 8,
    "float64": 64,
    "complex128": 128,
    "uint64": 64,
    "uint32": 32,
    "uint16": 16,
    "int4": 4,
    "bfloat16": 16,
    "int2": 2,
    "uint4": 4,
    "float8_e4m3fn": 8,
    "float8_e5m2": 8,
}
# Where a builtin op accepts an omitted (-1) input: the bias of the convolutions
# and FULLY_CONNECTED; any input but the first for the recurrent ops (their
# optional gates and states) and custom ops. LiteRT and TFLite Micro dereference
# an omitted input of any other op (a RELU of tensor -1 is a segmentation fault).
_BIAS_ONLY = {
    "FULLY_CONNECTED": 2,
    "CONV_2D": 2,
    "DEPTHWISE_CONV_2D": 2,
    "CONV_3D": 2,
    "TRANSPOSE_CONV": 3,
    "CONV_3D_TRANSPOSE": 3,
}
_ANY_BUT_FIRST = frozenset(
    {
        "LSTM",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "BIDIRECTIONAL_SEQUENCE_LSTM",
        "UNIDIRECTIONAL_SEQUENCE_RNN",
        "BIDIRECTIONAL_SEQUENCE_RNN",
        "SVDF",
        "CUSTOM",
    }
)


def _may_omit(op_name: str, position: int) -> bool:
    """Whether input ``position`` of an ``op_name`` may be -1 (left out)."""
    if op_name in _BIAS_ONLY:
        return position == _BIAS_ONLY[op_name]
    return op_name in _ANY_BUT_FIRST and position > 0


# Option fields naming another subgraph (IF, WHILE, CALL_ONCE, StableHLO ops).
_SUBGRAPH_FIELD = re.compile(r"subgraph(index|indices)$", re.IGNORECASE)


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


@functools.cache
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


# --- the flatbuffer verifier ------------------------------------------------------


class _Malformed(Exception):
    """A verifier finding; `load_model` turns it into one `ModelFormatError` line."""


class _VerifyState:
    """What the tables of one verification share: the buffer size and a visit budget."""

    __slots__ = ("max_tables", "size", "tables")

    def __init__(self, size: int) -> None:
        self.size = size
        self.tables = 0
        self.max_tables = min(MAX_FLATBUFFER_TABLES, size // 4 + 64)


class _CheckedBytes(bytes):
    """The model's bytes, carrying the state its `_CheckedTable` readers share."""

    state: _VerifyState


_UOFFSET = flatbuffers.number_types.UOffsetTFlags.packer_type
_SOFFSET = flatbuffers.number_types.SOffsetTFlags.packer_type
_VOFFSET = flatbuffers.number_types.VOffsetTFlags.packer_type
_MAX_OFFSET = 1 << 31


class _CheckedTable(flatbuffers.table.Table):
    """A flatbuffers ``Table`` that checks every read the way the C++ ``Verifier`` does.

    The generated schema reader calls these methods for every field it reads;
    the object API (``ModelT.InitFromBuf``) reads every field of every table, so
    running it over a `_CheckedBytes` buffer verifies the whole model: each
    scalar lies inside the buffer and is aligned, each vtable is in bounds and
    of even size, each offset is non-zero and lands inside the buffer, each
    vector fits and each string is zero-terminated.
    """

    __slots__ = ("_vtable",)

    def __init__(self, buf: Any, pos: int) -> None:
        state: _VerifyState | None = getattr(buf, "state", None)
        if state is None:
            raise _Malformed("a table outside the verified buffer")
        state.tables += 1
        if state.tables > state.max_tables:
            raise _Malformed(
                f"more than {state.max_tables} tables for {state.size} bytes "
                "(offsets shared or looping)"
            )
        if not 0 <= pos < state.size:
            raise _Malformed(f"a table at offset {pos}, outside the file")
        self.Bytes = buf
        self.Pos = pos
        self._vtable: tuple[int, int] | None = None

    def _read(self, packer: struct.Struct, off: int, what: str) -> Any:
        width = packer.size
        if off < 0 or off + width > self.Bytes.state.size:
            raise _Malformed(f"{what} at offset {off} lies outside the file")
        if off % width:
            raise _Malformed(f"{what} at offset {off} is not {width}-byte aligned")
        return packer.unpack_from(self.Bytes, off)[0]

    def _target(self, off: int, what: str) -> int:
        value = self._read(_UOFFSET, off, f"offset to a {what}")
        if value == 0 or value >= _MAX_OFFSET or off + value >= self.Bytes.state.size:
            raise _Malformed(f"offset {value} at {off} to a {what} points outside the file")
        return int(off + value)

    def _vector(self, off: int, width: int, what: str) -> tuple[int, int]:
        start = self._target(off, what)
        length = self._read(_UOFFSET, start, f"length of a {what}")
        if length >= _MAX_OFFSET // width or start + 4 + length * width > self.Bytes.state.size:
            raise _Malformed(f"a {what} of {length} elements at {start} runs past the file")
        return start + 4, int(length)

    def _vt(self) -> tuple[int, int]:
        if self._vtable is None:
            soffset = self._read(_SOFFSET, self.Pos, "vtable offset")
            vtable = self.Pos - soffset
            vsize = self._read(_VOFFSET, vtable, "vtable")
            if vsize & 1 or vtable + vsize > self.Bytes.state.size:
                raise _Malformed(f"the vtable at {vtable} (size {vsize}) is malformed")
            self._vtable = (vtable, vsize)
        return self._vtable

    def Offset(self, vtableOffset: int) -> int:
        vtable, vsize = self._vt()
        if vtableOffset + 2 <= vsize:
            return int(self._read(_VOFFSET, vtable + vtableOffset, "vtable entry"))
        return 0

    def Indirect(self, off: int) -> int:
        return self._target(off, "table")

    def String(self, off: int) -> bytes:
        start, length = self._vector(off, 1, "string")
        end = start + length
        if end >= self.Bytes.state.size or self.Bytes[end] != 0:
            raise _Malformed(f"the string at {start - 4} is not zero-terminated")
        return bytes(self.Bytes[start:end])

    def VectorLen(self, off: int) -> int:
        return self._vector(self.Pos + off, 1, "vector")[1]

    def Vector(self, off: int) -> int:
        return self._vector(self.Pos + off, 1, "vector")[0]

    def Union(self, t2: Any, off: int) -> None:
        t2.Pos = self._target(self.Pos + off, "union")
        t2.Bytes = self.Bytes

    def Get(self, flags: Any, off: int) -> Any:
        return flags.py_type(self._read(flags.packer_type, off, "field"))

    def GetVectorAsNumpy(self, flags: Any, off: int) -> np.ndarray:
        start, length = self._vector(self.Pos + off, flags.bytewidth, "vector")
        return flatbuffers.encode.GetVectorAsNumpy(
            flatbuffers.number_types.to_numpy_type(flags), self.Bytes, length, start
        )

    def GetArrayAsNumpy(self, flags: Any, off: int, length: int) -> np.ndarray:
        if off < 0 or length < 0 or off + length * flags.bytewidth > self.Bytes.state.size:
            raise _Malformed(f"an array of {length} elements at {off} runs past the file")
        return super().GetArrayAsNumpy(flags, off, length)


@functools.cache
def _checked_schema() -> ModuleType:
    """A private copy of the schema reader whose tables are `_CheckedTable`.

    The generated code finds ``flatbuffers.table.Table`` through its module
    global ``flatbuffers``; giving the copy its own namespace there leaves the
    real schema module, and every other flatbuffers user, untouched.
    """
    base = schema()
    spec = importlib.util.spec_from_file_location("edgedeploy._checked_schema", base.__file__)
    if spec is None or spec.loader is None:
        raise DependencyError(f"cannot load the TFLite schema from {base.__file__}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.flatbuffers = types.SimpleNamespace(  # type: ignore[attr-defined]
        table=types.SimpleNamespace(Table=_CheckedTable),
        number_types=flatbuffers.number_types,
        encode=flatbuffers.encode,
        packer=flatbuffers.packer,
        util=flatbuffers.util,
    )
    return module


def verify_flatbuffer(data: bytes, name: str = "model") -> Any:
    """Verify ``data`` as a TFLite flatbuffer and return it unpacked (a schema ``ModelT``).

    Raises `ModelFormatError` naming the first offset, vtable, vector or string
    that lies outside the file or is misaligned.
    """
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFormatError(f"{name} is {len(data)} bytes, over the limit of {MAX_MODEL_BYTES}")
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelFormatError(f"{name} is not a .tflite model (no TFL3 file identifier)")
    buf = _CheckedBytes(data)
    buf.state = _VerifyState(len(data))
    root = struct.unpack_from("<I", data, 0)[0]
    try:
        if not 8 <= root < len(data) - 4:
            raise _Malformed(f"the root offset {root} points outside the file")
        return _checked_schema().ModelT.InitFromBuf(buf, root)
    except _Malformed as exc:
        raise ModelFormatError(f"{name} is a corrupt .tflite model: {exc}") from exc
    except (
        IndexError,
        struct.error,
        ValueError,
        TypeError,
        AttributeError,
        OverflowError,
        RecursionError,
    ) as exc:
        # The checked reader raises `_Malformed` for what it checks; anything else is
        # the generated reader meeting a value it cannot represent: say what it was.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
        raise ModelFormatError(
            f"{name} is a corrupt .tflite model: the flatbuffer reader failed on a value "
            f"it cannot represent ({detail})"
        ) from exc


# --- indices and sizes -------------------------------------------------------------


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


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in (values if values is not None else ()))


def _check_quantization(name: str, where: str, q: Any, shape: tuple[int, ...]) -> None:
    """Scales and zero points the interpreters index per channel without checking."""
    scales = [] if q is None or q.scale is None else [float(v) for v in q.scale]
    zero_points = _ints(q.zeroPoint) if q is not None else ()
    if not scales:
        return
    if any(not math.isfinite(v) or v < 0 for v in scales):
        raise ModelFormatError(f"{name}: {where} has a negative or non-finite scale")
    if zero_points and len(zero_points) != len(scales):
        raise ModelFormatError(
            f"{name}: {where} has {len(scales)} scales but {len(zero_points)} zero points"
        )
    if len(scales) > 1:
        axis = int(q.quantizedDimension or 0)
        if not 0 <= axis < len(shape) or shape[axis] != len(scales):
            raise ModelFormatError(
                f"{name}: {where} has {len(scales)} per-channel scales along axis {axis}, "
                f"which its shape {list(shape)} does not have"
            )


def _tensor_size(name: str, where: str, t: Any) -> tuple[tuple[int, ...], int, int]:
    """Shape, element count and packed byte size of a tensor, within the named limits."""
    shape = _ints(t.shape)
    if len(shape) > MAX_TENSOR_RANK or any(d < 0 for d in shape):
        raise ModelFormatError(f"{name}: {where} has an invalid shape {list(shape)}")
    elements = math.prod(shape)
    if elements > MAX_TENSOR_ELEMENTS:
        raise ModelFormatError(
            f"{name}: {where} declares {elements} elements, over the limit of {MAX_TENSOR_ELEMENTS}"
        )
    if t.type not in _TENSOR_TYPES:
        raise ModelFormatError(f"{name}: {where} has an unknown type code {t.type}")
    nbytes = -(-elements * _TYPE_BITS.get(_TENSOR_TYPES[t.type][0], 8) // 8)
    if nbytes > MAX_TENSOR_BYTES:
        raise ModelFormatError(
            f"{name}: {where} needs {nbytes} bytes, over the limit of {MAX_TENSOR_BYTES}"
        )
    signature = t.shapeSignature
    if (
        signature is not None
        and len(signature)
        and (len(signature) != len(shape) or any(int(d) < -1 for d in signature))
    ):
        raise ModelFormatError(f"{name}: {where} has an invalid shape signature")
    return shape, elements, nbytes


def _builtin_name(code: Any) -> str:
    """The builtin operator name of an opcode table entry (``UNKNOWN_<n>`` if none)."""
    builtin = max(int(code.builtinCode or 0), int(code.deprecatedBuiltinCode or 0))
    return _enum_names(schema().BuiltinOperator).get(builtin, f"UNKNOWN_{builtin}")


def _check_model(model: Any, data: bytes, name: str, buffers: list[bytes]) -> None:
    """Check, in every subgraph, what LiteRT or TFLite Micro would index or allocate blindly."""
    subgraphs = model.subgraphs or []
    codes = model.operatorCodes or []
    if model.externalBuffers or model.externalBufferGroups:
        raise ModelFormatError(
            f"{name} keeps weights in external files; only self-contained models are read"
        )
    activation_bytes = 0
    for g, sg in enumerate(subgraphs):
        tensors = sg.tensors or []
        for i, t in enumerate(tensors):
            where = f"subgraph {g} tensor {i}" if g else f"tensor {i}"
            shape, _, nbytes = _tensor_size(name, where, t)
            if not 0 <= t.buffer < len(buffers):
                raise ModelFormatError(
                    f"{name}: {where} names buffer {t.buffer}, which does not exist"
                )
            _check_quantization(name, where, t.quantization, shape)
            held = len(buffers[t.buffer])
            dtype = _TENSOR_TYPES[t.type][0]
            if held == 0 or t.isVariable:
                activation_bytes += nbytes
            elif t.sparsity is None and dtype in _TYPE_BITS and held < nbytes:
                raise ModelFormatError(
                    f"{name}: {where} ({_decode(t.name)!r}) holds {held} bytes of data; its "
                    f"{dtype} shape {list(shape)} needs {nbytes}"
                )
        for i, op in enumerate(sg.operators or []):
            where = f"subgraph {g} operator {i}" if g else f"operator {i}"
            if not 0 <= op.opcodeIndex < len(codes):
                raise ModelFormatError(
                    f"{name}: {where} names opcode {op.opcodeIndex}, past the table"
                )
            for idx in _ints(op.inputs) + _ints(op.outputs) + _ints(op.intermediates):
                if idx != -1 and not 0 <= idx < len(tensors):
                    raise ModelFormatError(f"{name}: {where} names tensor {idx}, out of range")
            ins = _ints(op.inputs)
            op_name = _builtin_name(codes[op.opcodeIndex])
            if -1 in _ints(op.outputs) or any(
                idx == -1 and not _may_omit(op_name, k) for k, idx in enumerate(ins)
            ):
                raise ModelFormatError(
                    f"{name}: {where} ({op_name}) leaves out an input or output it cannot do without"
                )
            for idx in _ints(op.outputs):
                # Constant data is read-only (mapped from flash on a board): a kernel
                # writing there corrupts the model or faults.
                t = tensors[idx] if idx != -1 else None
                if t is not None and len(buffers[t.buffer]) and not t.isVariable:
                    raise ModelFormatError(
                        f"{name}: {where} writes tensor {idx}, which holds constant data"
                    )
            for options in (op.builtinOptions, op.builtinOptions2):
                for key, value in (vars(options) if options is not None else {}).items():
                    if _SUBGRAPH_FIELD.search(key):
                        for index in np.atleast_1d(np.asarray(value if value is not None else [])):
                            if not 0 <= int(index) < len(subgraphs):
                                raise ModelFormatError(
                                    f"{name}: {where} names subgraph {int(index)}, out of range"
                                )
            offset = int(op.largeCustomOptionsOffset or 0)
            if offset > 1 and offset + int(op.largeCustomOptionsSize or 0) > len(data):
                raise ModelFormatError(f"{name}: {where} has custom options past the end of file")
        for idx in _ints(sg.inputs) + _ints(sg.outputs):
            if not 0 <= idx < len(tensors):
                raise ModelFormatError(
                    f"{name}: subgraph {g} input/output names tensor {idx}, out of range"
                )
    if activation_bytes > MAX_ACTIVATION_BYTES:
        raise ModelFormatError(
            f"{name}: its tensors need up to {activation_bytes} bytes of working memory, over "
            f"the limit of {MAX_ACTIVATION_BYTES}"
        )
    for i, sig in enumerate(model.signatureDefs or []):
        if not 0 <= sig.subgraphIndex < len(subgraphs):
            raise ModelFormatError(
                f"{name}: signature {i} names subgraph {sig.subgraphIndex}, out of range"
            )
        count = len(subgraphs[sig.subgraphIndex].tensors or [])
        for m in (sig.inputs or []) + (sig.outputs or []):
            if not 0 <= m.tensorIndex < count:
                raise ModelFormatError(
                    f"{name}: signature {i} names tensor {m.tensorIndex}, out of range"
                )
    metadata_buffers = [m.buffer for m in (model.metadata or [])]
    for idx in metadata_buffers + list(_ints(model.metadataBuffer)):
        if not 0 <= idx < len(buffers):
            raise ModelFormatError(f"{name}: metadata names buffer {idx}, which does not exist")


def load_model(source: Path | str | bytes, what: str = "model") -> ModelFile:
    """Verify and parse a .tflite model from a path or bytes.

    Raises `InputFileError` for a missing, unreadable or non-regular file and
    `ModelFormatError` for anything that is not a well-formed .tflite model
    within the size limits of this module, before anything is allocated for it.
    """
    path: Path | None
    if isinstance(source, bytes | bytearray):
        data, path = bytes(source), None
    else:
        path = Path(source)
        data = read_input_file(path, what, max_bytes=MAX_MODEL_BYTES)
    name = path.name if path else what
    model = verify_flatbuffer(data, name)
    if not model.subgraphs:
        raise ModelFormatError(f"{name} has no subgraph")
    buffers = [
        _buffer_data(b, data, f"{name}: buffer {i}") for i, b in enumerate(model.buffers or [])
    ]
    _check_model(model, data, name, buffers)
    return _from_object(model, data, path, name, schema(), buffers)


def _from_object(
    model: Any, data: bytes, path: Path | None, name: str, s: ModuleType, buffers: list[bytes]
) -> ModelFile:
    """The `ModelFile` of subgraph 0 of a model `_check_model` accepted."""
    op_names = _enum_names(s.BuiltinOperator)
    sg = model.subgraphs[0]
    tensors: list[TensorInfo] = []
    for i, t in enumerate(sg.tensors or []):
        q = t.quantization
        quant = None
        if q is not None and q.scale is not None and len(q.scale) > 0:
            zps = (
                q.zeroPoint if q.zeroPoint is not None and len(q.zeroPoint) else [0] * len(q.scale)
            )
            quant = QuantParams(
                scales=tuple(float(v) for v in q.scale),
                zero_points=tuple(int(v) for v in zps),
                quantized_dimension=int(q.quantizedDimension or 0),
            )
        tensors.append(
            TensorInfo(
                index=i,
                name=_decode(t.name),
                shape=_ints(t.shape),
                dtype=_TENSOR_TYPES[t.type][0],
                buffer=int(t.buffer),
                quant=quant,
                is_constant=len(buffers[t.buffer]) > 0,
                is_variable=bool(t.isVariable),
            )
        )
    codes = model.operatorCodes or []
    operators: list[OperatorInfo] = []
    for i, op in enumerate(sg.operators or []):
        code = codes[op.opcodeIndex]
        builtin = max(int(code.builtinCode or 0), int(code.deprecatedBuiltinCode or 0))
        opname = op_names.get(builtin, f"UNKNOWN_{builtin}")
        if opname == "CUSTOM":
            opname = f"CUSTOM:{_decode(code.customCode)}"
        operators.append(
            OperatorInfo(
                index=i,
                op=opname,
                inputs=_ints(op.inputs),
                outputs=_ints(op.outputs),
                options=_options_dict(op.builtinOptions),
                version=int(code.version or 1),
            )
        )
    return ModelFile(
        path=path,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        version=int(model.version or 0),
        description=_decode(model.description),
        tensors=tensors,
        operators=operators,
        inputs=list(_ints(sg.inputs)),
        outputs=list(_ints(sg.outputs)),
        num_subgraphs=len(model.subgraphs),
        _buffers=buffers,
    )
