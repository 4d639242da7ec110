"""Shared helpers for the C runtime tests: tiny int8 models, building, and comparing.

Single-op (or tiny) models are built in code with tf_keras and the TFLite
converter (full-integer int8, random representative data), exported with
`export_c`, compiled with gcc through the generated Makefile, and run through
the generated host harness over stdin/stdout. Their outputs are compared with
the tflite-micro interpreter (`MicroModel`), the ground truth of what a
microcontroller computes; int8 outputs must match exactly.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.toolhelpers import require_module, require_tool

__all__ = [
    "KERNEL_CASES",
    "MODEL_CASES",
    "Built",
    "build_all",
    "build_exported",
    "compare_with_micro",
    "convert_keras",
    "expected_op",
    "random_inputs",
    "rename_tensor",
    "require_c_toolchain",
    "run_host",
]


def require_c_toolchain() -> None:
    """Skip (fail in CI) when gcc, make or tflite-micro is missing."""
    require_tool("gcc")
    require_tool("make")
    require_module("tflite_micro")


def convert_keras(
    model: Any,
    input_shapes: list[tuple[int, ...]],
    per_tensor: bool = False,
    float_io: bool = False,
    seed: int = 0,
    int16: bool = False,
) -> bytes:
    """Full-integer conversion of a tf_keras model with a random representative dataset."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def representative() -> Any:
        for _ in range(24):
            yield [rng.normal(0.0, 1.0, size=(1, *s)).astype(np.float32) for s in input_shapes]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    if int16:
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io and not int16:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    if per_tensor:
        conv._experimental_disable_per_channel = True
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    return bytes(conv.convert())


def random_inputs(details: list[dict[str, Any]], rng: np.random.Generator) -> list[np.ndarray]:
    """Random tensors for every model input: full-range int8 bytes, or normal floats."""
    out = []
    for d in details:
        shape = tuple(int(v) for v in d["shape"])
        dtype = np.dtype(d["dtype"])
        if dtype == np.int8:
            out.append(rng.integers(-128, 128, size=shape, dtype=np.int8))
        else:
            out.append(rng.normal(0.0, 2.0, size=shape).astype(dtype))
    return out


def run_host(binary: Path, inputs: list[np.ndarray]) -> bytes:
    """Run the generated host harness on raw input bytes; return its stdout."""
    proc = subprocess.run(
        [str(binary)],
        input=b"".join(np.ascontiguousarray(x).tobytes() for x in inputs),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{binary} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


@dataclass
class Built:
    """An exported and compiled model."""

    name: str
    tflite: Path
    out_dir: Path
    binary: Path
    result: Any


def build_exported(tflite: Path, out_dir: Path, opt: str = "-O1") -> Built:
    """Export ``tflite`` with `export_c` and run ``make host`` on it."""
    from edgedeploy.firmware_export.c_runtime import export_c

    result = export_c(tflite, out_dir, force=True, measure_tflm=False)
    proc = subprocess.run(
        ["make", "-s", "-C", str(out_dir), "host", f"OPT={opt}"],
        capture_output=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"make host failed for {tflite.name}:\n{proc.stdout.decode()}{proc.stderr.decode()}"
        )
    return Built(tflite.stem, tflite, out_dir, out_dir / "build" / "model_host", result)


def build_all(items: list[tuple[Path, Path]], opt: str = "-O1") -> list[Built]:
    """Build several exports at once (the machine has two cores)."""
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda it: build_exported(it[0], it[1], opt), items))


def compare_with_micro(built: Built, runs: int, seed: int = 0) -> int:
    """Largest absolute difference between the C runtime and tflite-micro over random inputs."""
    from edgedeploy.runtime import MicroModel

    micro = MicroModel(built.tflite)
    rng = np.random.default_rng(seed)
    worst = 0
    for _ in range(runs):
        xs = random_inputs(micro.input_details, rng)
        expected = micro.run_raw(xs)
        got = run_host(built.binary, xs)
        assert len(got) == sum(e.nbytes for e in expected), "output length differs"
        pos = 0
        for e in expected:
            mine = np.frombuffer(got[pos : pos + e.nbytes], dtype=e.dtype).reshape(e.shape)
            pos += e.nbytes
            if e.dtype.kind == "f":
                # float outputs come from DEQUANTIZE: the same float computation, exactly.
                diff = int(np.any(mine.view(np.int32) != e.view(np.int32)))
            else:
                diff = int(np.abs(mine.astype(np.int64) - e.astype(np.int64)).max(initial=0))
            worst = max(worst, diff)
    return worst


# ---------------------------------------------------------------------------
# Single-op models: (name, builder, per_tensor, float_io)
# A builder returns (tf_keras model, list of input shapes without batch).
# ---------------------------------------------------------------------------
Builder = Callable[[], tuple[Any, list[tuple[int, ...]]]]


def _k() -> Any:
    import tf_keras

    return tf_keras


def _seq(layers: list[Any], shape: tuple[int, ...]) -> tuple[Any, list[tuple[int, ...]]]:
    k = _k()
    k.utils.set_random_seed(1)
    inp = k.Input(shape=shape, batch_size=1)
    x = inp
    for layer in layers:
        x = layer(x)
    return k.Model(inp, x), [shape]


def _two(
    op: Callable[[Any, Any], Any], s1: tuple[int, ...], s2: tuple[int, ...]
) -> tuple[Any, list[tuple[int, ...]]]:
    k = _k()
    k.utils.set_random_seed(1)
    a = k.Input(shape=s1, batch_size=1)
    b = k.Input(shape=s2, batch_size=1)
    return k.Model([a, b], op(a, b)), [s1, s2]


def _lambda(fn: Callable[[Any], Any]) -> Any:
    return _k().layers.Lambda(fn)


def _cases() -> list[tuple[str, Builder, bool, bool]]:
    def L() -> Any:
        return _k().layers

    def tf_() -> Any:
        import tensorflow as tf

        return tf

    return [
        (
            "conv_same_relu",
            lambda: _seq([L().Conv2D(8, 3, padding="same", activation="relu")], (9, 7, 3)),
            False,
            False,
        ),
        (
            "conv_valid_stride2_relu6",
            lambda: _seq([L().Conv2D(6, (3, 2), strides=2, activation="relu6")], (11, 9, 4)),
            False,
            False,
        ),
        (
            "conv_same_stride2_even",
            lambda: _seq([L().Conv2D(5, 3, strides=2, padding="same")], (8, 8, 2)),
            False,
            False,
        ),
        (
            "conv_dilated",
            lambda: _seq([L().Conv2D(4, 3, dilation_rate=2, padding="same")], (10, 9, 3)),
            False,
            False,
        ),
        (
            "conv_pointwise",
            lambda: _seq([L().Conv2D(16, 1, activation="relu")], (6, 5, 8)),
            False,
            False,
        ),
        (
            "conv_per_tensor",
            lambda: _seq([L().Conv2D(5, 3, padding="same", activation="relu")], (7, 6, 3)),
            True,
            False,
        ),
        (
            "dw_same_relu6",
            lambda: _seq([L().DepthwiseConv2D(3, padding="same", activation="relu6")], (8, 7, 6)),
            False,
            False,
        ),
        (
            "dw_valid_stride2_mult2",
            lambda: _seq([L().DepthwiseConv2D(3, strides=2, depth_multiplier=2)], (9, 9, 4)),
            False,
            False,
        ),
        (
            "dw_dilated",
            lambda: _seq([L().DepthwiseConv2D(3, dilation_rate=2, padding="same")], (9, 8, 3)),
            False,
            False,
        ),
        (
            "dw_per_tensor",
            lambda: _seq(
                [L().DepthwiseConv2D((3, 5), padding="same", activation="relu")], (6, 9, 4)
            ),
            True,
            False,
        ),
        ("fc_relu", lambda: _seq([L().Dense(16, activation="relu")], (20,)), False, False),
        ("fc_per_tensor", lambda: _seq([L().Dense(10)], (24,)), True, False),
        (
            "fc_no_bias_relu6",
            lambda: _seq([L().Dense(8, use_bias=False, activation="relu6")], (12,)),
            False,
            False,
        ),
        ("fc_rank3", lambda: _seq([L().Dense(6)], (4, 10)), False, False),
        ("avg_pool_valid", lambda: _seq([L().AveragePooling2D(2)], (8, 6, 3)), False, False),
        (
            "avg_pool_same_stride2",
            lambda: _seq([L().AveragePooling2D(3, strides=2, padding="same")], (7, 8, 4)),
            False,
            False,
        ),
        ("max_pool_valid", lambda: _seq([L().MaxPooling2D((2, 3))], (8, 9, 3)), False, False),
        (
            "max_pool_same",
            lambda: _seq([L().MaxPooling2D(3, strides=2, padding="same")], (7, 7, 5)),
            False,
            False,
        ),
        ("mean_global", lambda: _seq([L().GlobalAveragePooling2D()], (5, 6, 7)), False, False),
        (
            "mean_axis1_keepdims",
            lambda: _seq(
                [_lambda(lambda x: tf_().reduce_mean(x, axis=1, keepdims=True))], (6, 4, 3)
            ),
            False,
            False,
        ),
        ("add", lambda: _two(lambda a, b: L().Add()([a, b]), (4, 5, 3), (4, 5, 3)), False, False),
        (
            "add_broadcast_relu",
            lambda: _two(lambda a, b: L().ReLU()(L().Add()([a, b])), (4, 5, 3), (1, 1, 3)),
            False,
            False,
        ),
        ("mul", lambda: _two(lambda a, b: L().Multiply()([a, b]), (6, 4), (6, 4)), False, False),
        (
            "mul_broadcast",
            lambda: _two(lambda a, b: L().Multiply()([a, b]), (3, 4, 5), (1, 4, 1)),
            False,
            False,
        ),
        ("softmax", lambda: _seq([L().Softmax()], (10,)), False, False),
        ("softmax_rows", lambda: _seq([L().Softmax()], (3, 7)), False, False),
        ("pad", lambda: _seq([L().ZeroPadding2D(((1, 2), (0, 1)))], (4, 5, 3)), False, False),
        (
            "concatenation",
            lambda: _two(lambda a, b: L().Concatenate(axis=-1)([a, b]), (3, 4, 2), (3, 4, 5)),
            False,
            False,
        ),
        (
            "concatenation_axis1",
            lambda: _two(lambda a, b: L().Concatenate(axis=1)([a, b]), (3, 4, 2), (2, 4, 2)),
            False,
            False,
        ),
        ("logistic", lambda: _seq([L().Activation("sigmoid")], (40,)), False, False),
        ("tanh", lambda: _seq([L().Activation("tanh")], (40,)), False, False),
        (
            "hard_swish",
            lambda: _seq([_lambda(lambda x: x * tf_().nn.relu6(x + 3.0) / 6.0)], (40,)),
            False,
            False,
        ),
        ("relu", lambda: _seq([L().ReLU()], (30,)), False, False),
        ("relu6", lambda: _seq([L().ReLU(max_value=6.0)], (30,)), False, False),
        (
            "reshape_squeeze_expand",
            lambda: _seq(
                [
                    L().Reshape((6, 4)),
                    _lambda(lambda x: tf_().expand_dims(x, 1)),
                    L().Dense(3),
                    _lambda(lambda x: tf_().squeeze(x, 1)),
                ],
                (24,),
            ),
            False,
            False,
        ),
        (
            "float_io_quantize_dequantize",
            lambda: _seq([L().Dense(7, activation="relu")], (9,)),
            False,
            True,
        ),
        (
            "conv_grouped",
            lambda: _seq([L().Conv2D(6, 3, groups=2, padding="same")], (6, 5, 4)),
            False,
            False,
        ),
    ]


#: The op each single-op case must contain, so a converter change cannot make it test another.
EXPECTED_OP = {
    "conv": "CONV_2D",
    "dw": "DEPTHWISE_CONV_2D",
    "fc": "FULLY_CONNECTED",
    "avg": "AVERAGE_POOL_2D",
    "max": "MAX_POOL_2D",
    "mean": "MEAN",
    "add": "ADD",
    "mul": "MUL",
    "softmax": "SOFTMAX",
    "pad": "PAD",
    "concatenation": "CONCATENATION",
    "logistic": "LOGISTIC",
    "tanh": "TANH",
    "hard": "HARD_SWISH",
    "relu": "RELU",
    "relu6": "RELU6",
    "reshape": "RESHAPE",
    "float": "QUANTIZE",
}


def expected_op(case: str) -> str:
    return EXPECTED_OP.get(case, EXPECTED_OP[case.split("_")[0]])


def _tiny_ds_cnn() -> tuple[Any, list[tuple[int, ...]]]:
    """A small DS-CNN: conv, depthwise/pointwise blocks, average pool, dense, softmax."""
    k = _k()
    L = k.layers
    k.utils.set_random_seed(2)
    inp = k.Input(shape=(20, 10, 1), batch_size=1)
    x = L.Conv2D(16, (5, 3), strides=2, padding="same", activation="relu")(inp)
    for _ in range(2):
        x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = L.Conv2D(16, 1, activation="relu")(x)
    x = L.AveragePooling2D(pool_size=(10, 5))(x)
    x = L.Flatten()(x)
    return k.Model(inp, L.Dense(6, activation="softmax")(x)), [(20, 10, 1)]


def _tiny_resnet() -> tuple[Any, list[tuple[int, ...]]]:
    """A small ResNet: a residual ADD, max pool, global average pool (MEAN), dense."""
    k = _k()
    L = k.layers
    k.utils.set_random_seed(3)
    inp = k.Input(shape=(12, 12, 3), batch_size=1)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 3, padding="same")(y)
    x = L.ReLU()(L.Add()([x, y]))
    x = L.MaxPooling2D(2)(x)
    s = L.Conv2D(12, 1, strides=2)(x)
    y = L.Conv2D(12, 3, strides=2, padding="same", activation="relu")(x)
    y = L.Conv2D(12, 3, padding="same")(y)
    x = L.ReLU()(L.Add()([s, y]))
    x = L.GlobalAveragePooling2D()(x)
    return k.Model(inp, L.Dense(5, activation="softmax")(x)), [(12, 12, 3)]


def _tiny_mixed() -> tuple[Any, list[tuple[int, ...]]]:
    """Two inputs, two outputs: concatenation, padding, MUL, the smooth activations."""
    import tensorflow as tf

    k = _k()
    L = k.layers
    k.utils.set_random_seed(4)
    a = k.Input(shape=(6, 6, 2), batch_size=1)
    b = k.Input(shape=(6, 6, 3), batch_size=1)
    x = L.Concatenate()([a, b])
    x = L.ZeroPadding2D(1)(x)
    x = L.Conv2D(6, 3, activation="tanh")(x)
    g = L.Conv2D(6, 1, activation="sigmoid")(x)
    x = L.Multiply()([x, g])
    x = L.Lambda(lambda t: t * tf.nn.relu6(t + 3.0) / 6.0)(x)
    x = L.MaxPooling2D(2)(x)
    head1 = L.Dense(4)(L.Flatten()(x))
    head2 = L.Conv2D(2, 1, activation="relu6")(x)
    return k.Model([a, b], [head1, head2]), [(6, 6, 2), (6, 6, 3)]


def _dynamic_batch() -> tuple[Any, list[tuple[int, ...]]]:
    """No fixed batch: the converter computes the RESHAPE target with SHAPE/STRIDED_SLICE/PACK."""
    k = _k()
    L = k.layers
    k.utils.set_random_seed(5)
    inp = k.Input(shape=(6, 6, 2))
    x = L.Conv2D(4, 3, activation="relu")(inp)
    x = L.Reshape((64,))(x)
    x = L.Dense(5)(x)
    return k.Model(inp, L.Softmax()(x)), [(6, 6, 2)]


#: Multi-op models: name -> builder.
MODEL_CASES: dict[str, Builder] = {
    "tiny_ds_cnn": _tiny_ds_cnn,
    "tiny_resnet": _tiny_resnet,
    "tiny_mixed": _tiny_mixed,
    "dynamic_batch": _dynamic_batch,
}


def rename_tensor(data: bytes, index: int, name: str) -> bytes:
    """The model with tensor ``index`` of subgraph 0 renamed (to test name sanitizing)."""
    import flatbuffers

    from edgedeploy.modelfile import schema

    s = schema()
    model = s.ModelT.InitFromPackedBuf(data, 0)
    model.subgraphs[0].tensors[index].name = name.encode("utf-8")
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


#: name -> (builder, per_tensor, float_io)
KERNEL_CASES: dict[str, tuple[Builder, bool, bool]] = {
    name: (builder, per_tensor, float_io) for name, builder, per_tensor, float_io in _cases()
}
