"""Seed models for the fuzzers: the shared reference models and small ones built in code.

The reference models (MLPerf Tiny kws and ad01, int8 and float) are read from
``../shared/models`` and never copied. The project's own small int8 model is
built with the schema's object API (no TensorFlow), so the long fuzz run
starts in a second: two FULLY_CONNECTED layers with a RELU between them and a
SOFTMAX, every tensor int8 with real quantization parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np

from edgedeploy.modelfile import TFLITE_IDENTIFIER, schema

__all__ = ["shared_seeds", "small_int8_model"]


def shared_seeds(directory: Path) -> dict[str, bytes]:
    """Every .tflite file of ``directory``, by stem."""
    return {p.stem: p.read_bytes() for p in sorted(Path(directory).glob("*.tflite"))}


def _tensor(s: Any, name: str, shape: list[int], dtype: int, buffer: int, q: tuple) -> Any:
    t = s.TensorT()
    t.name, t.shape, t.type, t.buffer = name.encode(), shape, dtype, buffer
    t.quantization = s.QuantizationParametersT()
    t.quantization.scale, t.quantization.zeroPoint = [q[0]], [q[1]]
    return t


def _opcode(s: Any, builtin: int) -> Any:
    code = s.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    return code


def small_int8_model(seed: int = 0, names: dict[str, str] | None = None) -> bytes:
    """An int8 classifier [1, 8] -> FC(6) -> RELU -> FC(4) -> SOFTMAX, fixed random weights.

    ``names`` renames tensors (default name -> new name): the hostile-name tests
    build the same model twice, once with plain and once with hostile names.
    """
    s = schema()
    rng = np.random.default_rng(seed)
    rename = names or {}
    int8, int32 = s.TensorType.INT8, s.TensorType.INT32
    weights1 = rng.integers(-127, 128, size=(6, 8), dtype=np.int8).tobytes()
    bias1 = rng.integers(-300, 300, size=6, dtype=np.int32).tobytes()
    weights2 = rng.integers(-127, 128, size=(4, 6), dtype=np.int8).tobytes()
    bias2 = rng.integers(-300, 300, size=4, dtype=np.int32).tobytes()
    contents = [b"", b"", weights1, bias1, b"", b"", weights2, bias2, b"", b""]
    buffers = []
    for data in contents:
        buf = s.BufferT()
        buf.data = np.frombuffer(data, dtype=np.uint8) if data else None
        buffers.append(buf)
    specs = [
        ("input", [1, 8], int8, 1, (0.05, -3)),
        ("fc1/weights", [6, 8], int8, 2, (0.01, 0)),
        ("fc1/bias", [6], int32, 3, (0.0005, 0)),
        ("fc1/out", [1, 6], int8, 4, (0.08, -10)),
        ("relu/out", [1, 6], int8, 5, (0.08, -128)),
        ("fc2/weights", [4, 6], int8, 6, (0.012, 0)),
        ("fc2/bias", [4], int32, 7, (0.00096, 0)),
        ("logits", [1, 4], int8, 8, (0.1, 5)),
        ("probabilities", [1, 4], int8, 9, (1.0 / 256, -128)),
    ]
    sg = s.SubGraphT()
    sg.tensors = [_tensor(s, rename.get(n, n), *rest) for n, *rest in specs]
    codes = [
        s.BuiltinOperator.FULLY_CONNECTED,
        s.BuiltinOperator.RELU,
        s.BuiltinOperator.SOFTMAX,
    ]
    plan = [(0, [0, 1, 2], [3]), (1, [3], [4]), (0, [4, 5, 6], [7]), (2, [7], [8])]
    sg.operators = []
    for opcode, inputs, outputs in plan:
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = opcode, inputs, outputs
        if opcode == 0:
            op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
            op.builtinOptions = s.FullyConnectedOptionsT()
        elif opcode == 2:
            op.builtinOptionsType = s.BuiltinOptions.SoftmaxOptions
            op.builtinOptions = s.SoftmaxOptionsT()
            op.builtinOptions.beta = 1.0
        sg.operators.append(op)
    sg.inputs, sg.outputs = [0], [8]
    sg.name = rename.get("main", "main").encode()
    model = s.ModelT()
    model.version, model.buffers, model.subgraphs = 3, buffers, [sg]
    model.operatorCodes = [_opcode(s, c) for c in codes]
    model.description = rename.get("description", "edgedeploy fuzz seed").encode()
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())
