"""Shared fixtures for the TensorFlow Lite Micro export tests.

The kws export is made once per session; compilers come through `require_tool`
(skipped locally when absent, a failure in CI); tiny .tflite models are built in
code with the schema's object API, so no fixture file is committed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from edgedeploy.modelfile import schema
from tests.paths import KWS_INT8
from tests.toolhelpers import require_module, require_tool

#: Flags every generated C++ file must compile cleanly with.
CXX_FLAGS = ("-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic")
#: Flags every generated C file must compile cleanly with.
C_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")

#: Twelve labels for kws_ref_int8 that a careless generator would break: quotes,
#: backslashes, a trigraph, a comment end, control characters, non-ASCII, printf.
TRICKY_LABELS = [
    "down",
    'say "go"',
    "back\\slash",
    "??/trigraph",
    "*/ not a comment end",
    "line\nbreak",
    "café ☕",
    "tab\there",
    "%s%d",
    "",
    "_silence_",
    "_unknown_",
]


@pytest.fixture(scope="session")
def kws_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """kws_ref_int8 exported once with `TRICKY_LABELS`: (TflmExportResult, directory)."""
    require_module("tflite_micro")
    from edgedeploy.firmware_export import export_tflm

    out = tmp_path_factory.mktemp("kws") / "fw"
    return export_tflm(KWS_INT8, out, labels=TRICKY_LABELS), out


@pytest.fixture(scope="session")
def build_program() -> Callable[..., Path]:
    """Compile sources into an executable; the compile must be warning-free."""

    def build(
        sources: Sequence[Path],
        output: Path,
        *,
        compiler: str = "g++",
        flags: Sequence[str] = CXX_FLAGS,
        include: Sequence[Path] = (),
    ) -> Path:
        exe = require_tool(compiler)
        cmd = [exe, *flags, *(f"-I{d}" for d in include), *map(str, sources), "-o", str(output)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
        return output

    return build


def _quant(s: object, scale: float, zero_point: int) -> object:
    q = s.QuantizationParametersT()
    q.scale, q.zeroPoint = [scale], [zero_point]
    return q


def _tensor(s: object, name: str, shape: list[int], dtype: int, buffer: int, quant=None):
    t = s.TensorT()
    t.name, t.shape, t.type, t.buffer, t.quantization = name.encode(), shape, dtype, buffer, quant
    return t


def _pack(model: object) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _opcode(s: object, op: str) -> object:
    code = s.OperatorCodeT()
    if op.startswith("CUSTOM:"):
        code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.CUSTOM
        code.customCode = op.split(":", 1)[1].encode()
    else:
        builtin = getattr(s.BuiltinOperator, op)
        code.builtinCode, code.deprecatedBuiltinCode = builtin, min(builtin, 127)
    code.version = 1
    return code


@pytest.fixture(scope="session")
def fc_model_bytes() -> bytes:
    """A runnable int8 model: one FULLY_CONNECTED from [1, 3] to [1, 2], fixed weights."""
    s = schema()
    rng = np.random.default_rng(3)
    weights = rng.integers(-127, 128, size=(2, 3), dtype=np.int8)
    bias = np.array([100, -50], dtype=np.int32)
    buffers = []
    for data in (b"", b"", weights.tobytes(), bias.tobytes(), b""):
        buf = s.BufferT()
        buf.data = list(data) if data else None
        buffers.append(buf)
    int8, int32 = s.TensorType.INT8, s.TensorType.INT32
    sg = s.SubGraphT()
    sg.tensors = [
        _tensor(s, "in", [1, 3], int8, 1, _quant(s, 0.5, 1)),
        _tensor(s, "w", [2, 3], int8, 2, _quant(s, 0.25, 0)),
        _tensor(s, "b", [2], int32, 3, _quant(s, 0.125, 0)),
        _tensor(s, "out", [1, 2], int8, 4, _quant(s, 1.0, -3)),
    ]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = s.FullyConnectedOptionsT()
    sg.operators, sg.inputs, sg.outputs = [op], [0], [3]
    model = s.ModelT()
    model.version, model.operatorCodes = 3, [_opcode(s, "FULLY_CONNECTED")]
    model.subgraphs, model.buffers = [sg], buffers
    return _pack(model)


@pytest.fixture(scope="session")
def op_model_bytes() -> Callable[[Sequence[Sequence[str]]], bytes]:
    """Build a float model whose subgraph ``g`` chains the ops ``subgraphs[g]``.

    Only the structure is meaningful (each op maps one [1, 4] tensor to the next):
    the models are for checks that happen before anything runs.
    """

    def build(subgraphs: Sequence[Sequence[str]]) -> bytes:
        s = schema()
        names = sorted({op for ops in subgraphs for op in ops})
        model = s.ModelT()
        model.version = 3
        model.operatorCodes = [_opcode(s, op) for op in names]
        empty = s.BufferT()
        model.buffers = [empty]
        model.subgraphs = []
        for ops in subgraphs:
            sg = s.SubGraphT()
            sg.tensors = [
                _tensor(s, f"t{i}", [1, 4], s.TensorType.FLOAT32, 0) for i in range(len(ops) + 1)
            ]
            sg.operators = []
            for i, op_name in enumerate(ops):
                op = s.OperatorT()
                op.opcodeIndex, op.inputs, op.outputs = names.index(op_name), [i], [i + 1]
                sg.operators.append(op)
            sg.inputs, sg.outputs = [0], [len(ops)]
            model.subgraphs.append(sg)
        return _pack(model)

    return build
