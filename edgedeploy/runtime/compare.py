"""Comparing TFLite Micro with TFLite's reference kernels, model by model and op by op.

The two interpreters do not always agree bit for bit. When they differ, the
whole-model difference says little: one op's off-by-one is carried and grown by
every later op. `localize` therefore runs each operator alone, as a one-op model
cut out of the original, on the very input tensors the TFLite reference
interpreter computed for it, so every op is judged on identical inputs.
What a microcontroller computes is what TFLite Micro computes; TFLite is the
comparison, not the truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np

from edgedeploy.errors import DependencyError
from edgedeploy.modelfile import ModelFile, load_model, schema
from edgedeploy.runtime.interpreter import interpreter_module
from edgedeploy.runtime.micro import MicroModel

__all__ = ["ModelComparison", "OpDifference", "compare_models", "extract_op_model", "localize"]


@dataclass(frozen=True)
class OpDifference:
    """How one operator, run alone on identical inputs, differs between the interpreters."""

    index: int
    op: str
    output: str
    max_abs_diff: int
    differing_elements: int
    elements: int


@dataclass(frozen=True)
class ModelComparison:
    """TFLite Micro versus TFLite reference kernels over ``samples`` random inputs."""

    model: str
    samples: int
    max_abs_diff: int
    differing_samples: int
    ops: list[OpDifference]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def extract_op_model(model: ModelFile, op_index: int) -> bytes:
    """A .tflite with operator ``op_index`` alone; its activation inputs become model inputs."""
    s = schema()
    tree = s.ModelT.InitFromPackedBuf(model.data, 0)
    graph = tree.subgraphs[0]
    op = model.operators[op_index]
    graph.operators = [graph.operators[op_index]]
    graph.inputs = np.array(_activation_inputs(model, op_index), dtype=np.int32)
    graph.outputs = np.array(list(op.outputs), dtype=np.int32)
    tree.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _activation_inputs(model: ModelFile, op_index: int) -> list[int]:
    op = model.operators[op_index]
    return [i for i in op.inputs if i >= 0 and not model.tensors[i].is_constant]


def _reference_interpreter(data: bytes, preserve: bool) -> Any:
    module = interpreter_module()
    resolver = getattr(module, "OpResolverType", None)
    if resolver is None:
        raise DependencyError("the installed TFLite interpreter has no reference-kernel resolver")
    interp = module.Interpreter(
        model_content=data,
        experimental_op_resolver_type=resolver.BUILTIN_REF,
        experimental_preserve_all_tensors=preserve,
    )
    interp.allocate_tensors()
    return interp


def _random_inputs(model: ModelFile, rng: np.random.Generator) -> list[np.ndarray]:
    arrays = []
    for t in model.input_tensors:
        dtype = t.numpy_dtype
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, int(info.max) + 1, size=t.shape, dtype=dtype))
        else:
            arrays.append(rng.standard_normal(t.shape).astype(dtype))
    return arrays


def localize(model: ModelFile, inputs: list[np.ndarray]) -> list[OpDifference]:
    """Run every op alone in both interpreters on the reference's own intermediate tensors."""
    ref = _reference_interpreter(model.data, preserve=True)
    for detail, x in zip(ref.get_input_details(), inputs, strict=True):
        ref.set_tensor(detail["index"], x)
    ref.invoke()
    found = []
    for k, op in enumerate(model.operators):
        sub = extract_op_model(model, k)
        feeds = [ref.get_tensor(i) for i in _activation_inputs(model, k)]
        expected = _reference_interpreter(sub, preserve=False)
        for detail, x in zip(expected.get_input_details(), feeds, strict=True):
            expected.set_tensor(detail["index"], x)
        expected.invoke()
        micro_out = MicroModel(sub).run_raw(feeds)
        for out_index, got in zip(op.outputs, micro_out, strict=True):
            want = expected.get_tensor(out_index)
            diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
            found.append(
                OpDifference(
                    index=k,
                    op=op.op,
                    output=model.tensors[out_index].name,
                    max_abs_diff=int(diff.max()) if diff.size else 0,
                    differing_elements=int(np.count_nonzero(diff)),
                    elements=int(diff.size),
                )
            )
    return found


def compare_models(model: Path | str | bytes, samples: int = 50, seed: int = 0) -> ModelComparison:
    """Run ``samples`` random inputs through TFLite Micro and TFLite's reference kernels.

    When any output differs, the first differing sample is localized op by op.
    """
    mf = load_model(model)
    rng = np.random.default_rng(seed)
    micro = MicroModel(mf.data)
    ref = _reference_interpreter(mf.data, preserve=False)
    worst, differing, first_bad = 0, 0, None
    for _ in range(samples):
        xs = _random_inputs(mf, rng)
        for detail, x in zip(ref.get_input_details(), xs, strict=True):
            ref.set_tensor(detail["index"], x)
        ref.invoke()
        want = [ref.get_tensor(d["index"]) for d in ref.get_output_details()]
        got = micro.run_raw(xs)
        diff = max(
            int(np.abs(g.astype(np.int64) - w.astype(np.int64)).max())
            for g, w in zip(got, want, strict=True)
        )
        if diff:
            differing += 1
            if first_bad is None:
                first_bad = xs
        worst = max(worst, diff)
    ops = localize(mf, first_bad) if first_bad is not None else []
    return ModelComparison(
        model=mf.name, samples=samples, max_abs_diff=worst, differing_samples=differing, ops=ops
    )
