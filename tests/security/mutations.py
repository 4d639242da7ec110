"""Seeded mutations of .tflite models: what a corrupt download or a hostile author produces.

Two families. Byte mutations (bit flips, truncations, swapped or overwritten
offsets, inserted and deleted bytes) aim at the flatbuffer's structure: most of
a model is weight data where a flipped bit is harmless, so most positions are
drawn outside the large buffers. Structural mutations unpack the model with the
schema's object API, change one thing a reader must not trust (a huge or
negative dimension, an index out of range, an opcode past the table, a broken
quantization, a short constant, a wild option value) and pack it again, so the
result parses and reaches the checks and kernels behind the parser.

`Mutator(seeds, seed).cases(n)` yields the same `Case` sequence for the same
seed on every run; the CI test and ``bench/fuzz_long.py`` share it.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import flatbuffers
import numpy as np

from edgedeploy.modelfile import TFLITE_IDENTIFIER, schema

__all__ = ["BYTE_MUTATIONS", "STRUCTURE_MUTATIONS", "Case", "Mutator", "pack", "unpack"]

#: Buffers longer than this count as weight data, not structure.
_DATA_SPAN = 64
#: 32-bit values that break offsets and lengths: zero, all ones, sign bits, sizes.
_WORDS = (0, 1, 2, 3, 4, 0xFFFFFFFF, 0xFFFFFFFC, 0x7FFFFFFF, 0x80000000, 0x40000000, 0xFFFF)
#: Values for indices and sizes that a careless reader would follow.
_BAD_INDICES = (-1, -2, -1000, 1 << 20, (1 << 31) - 1, -(1 << 31))
_HUGE_SHAPES = (
    [1 << 31],
    [1 << 16, 1 << 15],
    [1, 65536, 32768, 1],
    [2, 1 << 30],
    [0x7FFFFFFF, 0x7FFFFFFF],
    [46341, 46341],
    [-1, 4],
    [4, -(1 << 31)],
    [1] * 9,
    [1] * 64,
    [0, 8],
    [3] * 20,
)


@dataclass(frozen=True)
class Case:
    """One mutated model: where it came from, what was done, and its bytes."""

    number: int
    seed_name: str
    mutation: str
    data: bytes

    @property
    def label(self) -> str:
        return f"case {self.number} ({self.seed_name}, {self.mutation})"


def unpack(data: bytes) -> Any:
    """A model's object tree (schema ``ModelT``)."""
    return schema().ModelT.InitFromPackedBuf(data, 0)


def pack(model: Any) -> bytes:
    """Serialize an object tree with the TFLite file identifier."""
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def _data_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the large constant buffers (weights) of a model."""
    s = schema()
    root = s.Model.GetRootAs(data, 0)
    spans = []
    for i in range(root.BuffersLength()):
        buf = root.Buffers(i)
        n = buf.DataLength()
        if n > _DATA_SPAN:
            o = buf._tab.Offset(4)
            start = buf._tab.Vector(o)
            spans.append((start, start + n))
    return sorted(spans)


class _Seed:
    """A seed model with what the mutations need: bytes, structure positions, object tree."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.data = data
        self.tree = unpack(data)
        mask = np.ones(len(data), dtype=bool)
        for start, end in _data_spans(data):
            mask[start:end] = False
        self.structure = np.flatnonzero(mask)
        self.words = np.unique(self.structure[self.structure + 4 <= len(data)] & ~3)


# --- byte mutations --------------------------------------------------------------


def _position(rng: random.Random, seed: _Seed) -> int:
    if rng.random() < 0.85:
        return int(seed.structure[rng.randrange(len(seed.structure))])
    return rng.randrange(len(seed.data))


def _word(rng: random.Random, seed: _Seed) -> int:
    return int(seed.words[rng.randrange(len(seed.words))])


def _bit_flips(rng: random.Random, seed: _Seed) -> bytes:
    b = bytearray(seed.data)
    for _ in range(rng.choice((1, 1, 2, 4, 8, 32))):
        b[_position(rng, seed)] ^= 1 << rng.randrange(8)
    return bytes(b)


def _truncate(rng: random.Random, seed: _Seed) -> bytes:
    cut = rng.choice((rng.randrange(len(seed.data)), rng.randrange(64), len(seed.data) - 1))
    return seed.data[:cut]


def _swap_words(rng: random.Random, seed: _Seed) -> bytes:
    b = bytearray(seed.data)
    i, j = _word(rng, seed), _word(rng, seed)
    b[i : i + 4], b[j : j + 4] = b[j : j + 4], b[i : i + 4]
    return bytes(b)


def _set_word(rng: random.Random, seed: _Seed) -> bytes:
    b = bytearray(seed.data)
    value = rng.choice((*_WORDS, len(b), len(b) - 4, rng.getrandbits(32)))
    i = _word(rng, seed)
    b[i : i + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(b)


def _shift_bytes(rng: random.Random, seed: _Seed) -> bytes:
    b = bytearray(seed.data)
    i = _position(rng, seed)
    n = rng.choice((1, 2, 4, 8, 64))
    if rng.random() < 0.5:
        del b[i : i + n]
    else:
        b[i:i] = bytes(rng.getrandbits(8) for _ in range(n))
    return bytes(b)


def _splice(rng: random.Random, seed: _Seed) -> bytes:
    b = bytearray(seed.data)
    n = rng.choice((8, 16, 64, 256))
    src, dst = _position(rng, seed), _position(rng, seed)
    b[dst : dst + n] = b[src : src + n]
    return bytes(b[: len(seed.data)])


BYTE_MUTATIONS: dict[str, Callable[[random.Random, _Seed], bytes]] = {
    "bit_flips": _bit_flips,
    "truncate": _truncate,
    "swap_offsets": _swap_words,
    "overwrite_offset": _set_word,
    "insert_delete": _shift_bytes,
    "splice": _splice,
}


# --- structural mutations ----------------------------------------------------------


def _pick(rng: random.Random, items: list[Any] | None) -> Any:
    if not items:
        raise _Skip
    return items[rng.randrange(len(items))]


class _Skip(Exception):
    """The mutation does not apply to this model (or made an unpackable value)."""


def _sg(rng: random.Random, tree: Any) -> Any:
    return _pick(rng, tree.subgraphs)


def _huge_dimension(rng: random.Random, tree: Any) -> None:
    t = _pick(rng, _sg(rng, tree).tensors)
    t.shape = np.array(rng.choice(_HUGE_SHAPES), dtype=np.int64).astype(np.int32)


def _wrong_dimension(rng: random.Random, tree: Any) -> None:
    t = _pick(rng, _sg(rng, tree).tensors)
    shape = [int(v) for v in (t.shape if t.shape is not None else [])] or [1]
    shape[rng.randrange(len(shape))] = rng.choice((0, 1, 2, 3, 7, 1000))
    if rng.random() < 0.3:
        shape = shape[:-1] if len(shape) > 1 and rng.random() < 0.5 else [*shape, 1]
    t.shape = np.array(shape, dtype=np.int32)


def _tensor_index(rng: random.Random, tree: Any) -> None:
    sg = _sg(rng, tree)
    op = _pick(rng, sg.operators)
    field = rng.choice(("inputs", "outputs"))
    values = [int(v) for v in (getattr(op, field) if getattr(op, field) is not None else [])]
    if not values:
        raise _Skip
    n = len(sg.tensors or [])
    values[rng.randrange(len(values))] = rng.choice((*_BAD_INDICES, n, n + 1, rng.randrange(n)))
    setattr(op, field, np.array(values, dtype=np.int32))


def _subgraph_io(rng: random.Random, tree: Any) -> None:
    sg = _sg(rng, tree)
    field = rng.choice(("inputs", "outputs"))
    values = [int(v) for v in (getattr(sg, field) if getattr(sg, field) is not None else [])]
    n = len(sg.tensors or [])
    choice = rng.random()
    if choice < 0.6 and values:
        values[rng.randrange(len(values))] = rng.choice((*_BAD_INDICES, n, rng.randrange(n)))
    elif choice < 0.8:
        values = []
    else:
        values = [*values, *values]
    setattr(sg, field, np.array(values, dtype=np.int32))


def _buffer_index(rng: random.Random, tree: Any) -> None:
    t = _pick(rng, _sg(rng, tree).tensors)
    n = len(tree.buffers or [])
    t.buffer = rng.choice((n, n + 1, 0xFFFFFFFF, 1 << 31, rng.randrange(max(n, 1))))


def _opcode_index(rng: random.Random, tree: Any) -> None:
    op = _pick(rng, _sg(rng, tree).operators)
    n = len(tree.operatorCodes or [])
    op.opcodeIndex = rng.choice((n, n + 7, 0xFFFFFFFF, 1 << 31, rng.randrange(max(n, 1))))


def _builtin_code(rng: random.Random, tree: Any) -> None:
    code = _pick(rng, tree.operatorCodes)
    value = rng.choice(
        (-1, 0, 32, 127, 200, 255, 1000, -(1 << 31), (1 << 31) - 1, rng.randrange(210))
    )
    code.builtinCode = value
    code.deprecatedBuiltinCode = max(-128, min(127, value))
    if rng.random() < 0.3:
        code.version = rng.choice((0, 99, -1))
        code.customCode = b"evil\x00op"


def _tensor_type(rng: random.Random, tree: Any) -> None:
    t = _pick(rng, _sg(rng, tree).tensors)
    t.type = rng.choice((*range(23), 23, 100, 127, -1))


def _quantization(rng: random.Random, tree: Any) -> None:
    s = schema()
    t = _pick(rng, _sg(rng, tree).tensors)
    q = t.quantization or s.QuantizationParametersT()
    scales = list(q.scale) if q.scale is not None else [0.5]
    zeros = list(q.zeroPoint) if q.zeroPoint is not None else [0]
    what = rng.randrange(6)
    if what == 0:
        scales = scales + [0.1] * rng.choice((1, 3, 100))
    elif what == 1:
        zeros = zeros[:-1] if len(zeros) > 1 else []
    elif what == 2:
        q.quantizedDimension = rng.choice((-1, 4, 99, 1 << 30))
        scales = scales * 2
        zeros = zeros * 2
    elif what == 3:
        scales[rng.randrange(len(scales))] = rng.choice(
            (float("nan"), float("inf"), -1.0, 0.0, 1e-45, 1e38, -0.0)
        )
    elif what == 4:
        zeros[rng.randrange(len(zeros))] = rng.choice((128, -129, 1 << 31, -(1 << 40), 65536))
    else:
        q = None
    if q is not None:
        q.scale = np.array(scales, dtype=np.float32)
        q.zeroPoint = np.array(zeros, dtype=np.int64)
    t.quantization = q


def _constant_data(rng: random.Random, tree: Any) -> None:
    candidates = [b for b in (tree.buffers or []) if b.data is not None and len(b.data)]
    buf = _pick(rng, candidates)
    data = np.asarray(buf.data, dtype=np.uint8)
    what = rng.randrange(4)
    if what == 0:
        buf.data = data[: rng.randrange(len(data))]
    elif what == 1:
        buf.data = None
    elif what == 2:
        buf.data = np.concatenate([data, data])
    else:
        buf.offset, buf.size = rng.choice(((1 << 40, 16), (1 << 20, 1 << 20), (8, 1 << 31), (2, 0)))


def _options(rng: random.Random, tree: Any) -> None:
    s = schema()
    op = _pick(rng, _sg(rng, tree).operators)
    what = rng.randrange(4)
    if what == 0 and op.builtinOptions is not None:
        fields = [k for k, v in vars(op.builtinOptions).items() if isinstance(v, int | bool)]
        key = _pick(rng, fields)
        value = rng.choice((0, -1, 1, 2, 3, 6, 100, 127, -128, 1 << 30, -(1 << 31), (1 << 31) - 1))
        setattr(op.builtinOptions, key, value)
    elif what == 1:
        names = [k for k in vars(s.BuiltinOptions) if not k.startswith("_") and k != "NONE"]
        kind = rng.choice(names)
        op.builtinOptionsType = getattr(s.BuiltinOptions, kind)
        op.builtinOptions = getattr(s, f"{kind}T")()
        for key, value in vars(op.builtinOptions).items():
            if isinstance(value, int) and "subgraph" in key.lower():
                setattr(op.builtinOptions, key, rng.choice((1, 5, -1, 1 << 20)))
    elif what == 2:
        op.builtinOptionsType, op.builtinOptions = 0, None
    else:
        op.customOptions = np.frombuffer(bytes(rng.getrandbits(8) for _ in range(24)), np.uint8)
        op.largeCustomOptionsOffset = rng.choice((0, 1 << 40, 16))
        op.largeCustomOptionsSize = rng.choice((0, 1 << 20, 8))


def _operator_list(rng: random.Random, tree: Any) -> None:
    sg = _sg(rng, tree)
    ops = list(sg.operators or [])
    if not ops:
        raise _Skip
    what = rng.randrange(5)
    i = rng.randrange(len(ops))
    if what == 0:
        del ops[i]
    elif what == 1:
        ops.insert(i, copy.deepcopy(ops[rng.randrange(len(ops))]))
    elif what == 2:
        rng.shuffle(ops)
    elif what == 3:
        op = ops[i]
        values = [int(v) for v in (op.inputs if op.inputs is not None else [])]
        op.inputs = np.array(values[: rng.randrange(len(values) + 1)] if values else [], np.int32)
    else:
        op = ops[i]
        values = [int(v) for v in (op.inputs if op.inputs is not None else [])]
        op.inputs = np.array([*values, *values, -1], dtype=np.int32)
    sg.operators = ops


def _subgraphs(rng: random.Random, tree: Any) -> None:
    what = rng.randrange(3)
    if what == 0:
        tree.subgraphs = [*tree.subgraphs, copy.deepcopy(tree.subgraphs[0])]
    elif what == 1:
        tree.subgraphs = []
    else:
        sig = schema().SignatureDefT()
        m = schema().TensorMapT()
        m.name, m.tensorIndex = b"x", rng.choice((0, 1 << 20, 5000))
        sig.inputs, sig.outputs, sig.signatureKey = [m], [m], b"serving_default"
        sig.subgraphIndex = rng.choice((0, 1, 7, 1 << 30))
        tree.signatureDefs = [sig]


def _metadata(rng: random.Random, tree: Any) -> None:
    m = schema().MetadataT()
    m.name = rng.choice((b"min_runtime_version", b"TFLITE_METADATA", b"CONVERSION_METADATA"))
    n = len(tree.buffers or [])
    m.buffer = rng.choice((n, n + 10, 0xFFFFFFFF, rng.randrange(max(n, 1))))
    tree.metadata = [*(tree.metadata or []), m]
    if rng.random() < 0.3:
        tree.version = rng.choice((0, 1, 2, 4, 0xFFFFFFFF))


def _names(rng: random.Random, tree: Any) -> None:
    evil = (
        b"*/ #include <evil.h> /*",
        b'"; system("x"); "',
        b"\\\n#define X",
        b"??/\n",
        "caf\u00e9 \u2603".encode(),
        b"\xff\xfe\x80invalid utf8",
        b"\x00nul",
        b"%s%n%x",
        b"a" * 5000,
        b"",
    )
    for t in _sg(rng, tree).tensors or []:
        if rng.random() < 0.5:
            t.name = rng.choice(evil)
    if rng.random() < 0.3:
        tree.description = rng.choice(evil)


STRUCTURE_MUTATIONS: dict[str, Callable[[random.Random, Any], None]] = {
    "huge_dimension": _huge_dimension,
    "wrong_dimension": _wrong_dimension,
    "tensor_index": _tensor_index,
    "subgraph_io": _subgraph_io,
    "buffer_index": _buffer_index,
    "opcode_index": _opcode_index,
    "builtin_code": _builtin_code,
    "tensor_type": _tensor_type,
    "quantization": _quantization,
    "constant_data": _constant_data,
    "options": _options,
    "operator_list": _operator_list,
    "subgraphs": _subgraphs,
    "metadata": _metadata,
    "names": _names,
}


class Mutator:
    """Deterministic stream of mutated models from named seed models."""

    def __init__(self, seeds: dict[str, bytes], seed: int = 0, structural: float = 0.6) -> None:
        self._seeds = [_Seed(name, data) for name, data in sorted(seeds.items())]
        self._rng = random.Random(seed)
        self._structural = structural

    def _structural_case(self, seed: _Seed) -> tuple[str, bytes]:
        for _ in range(20):
            name = self._rng.choice(sorted(STRUCTURE_MUTATIONS))
            tree = copy.deepcopy(seed.tree)
            try:
                for _ in range(self._rng.choice((1, 1, 1, 2, 3))):
                    STRUCTURE_MUTATIONS[name](self._rng, tree)
                return name, pack(tree)
            except (_Skip, OverflowError, ValueError, TypeError, AttributeError, IndexError):
                continue
            except Exception as exc:  # struct.error from the packer is an unrepresentable value
                if type(exc).__name__ != "error":
                    raise
        return "bit_flips", _bit_flips(self._rng, seed)

    def cases(self, count: int, start: int = 0) -> Iterator[Case]:
        """``count`` cases; ``start`` numbers them (for runs split in chunks)."""
        for number in range(start, start + count):
            seed = self._seeds[self._rng.randrange(len(self._seeds))]
            if self._rng.random() < self._structural:
                mutation, data = self._structural_case(seed)
            else:
                mutation = self._rng.choice(sorted(BYTE_MUTATIONS))
                data = BYTE_MUTATIONS[mutation](self._rng, seed)
            yield Case(number, seed.name, mutation, data)
