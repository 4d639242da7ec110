"""The project's zoo as full-integer int8 models with weights that need no real training.

Latency, memory and bit-exactness do not depend on accuracy, so benchmarks and
the plain-C runtime's zoo test build each zoo model, fit it two epochs on random
data and convert it with the project's own converter. Used by
bench/bench_c_runtime.py (run from bench/) and tests (imported as bench.zoo).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy.errors import EdgeDeployError

#: (zoo name, input shape, classes)
ZOO = [
    ("small_cnn", (32, 32, 1), 10),
    ("mobilenet_v1", (96, 96, 3), 2),
    ("ds_cnn", (49, 10, 1), 12),
    ("resnet8", (32, 32, 3), 10),
    ("autoencoder", (640,), 0),
]


def zoo_models(out: Path) -> list[Path]:
    from edgedeploy.converter import ModelSource, to_tflite
    from edgedeploy.training import build_model

    paths = []
    for name, shape, classes in ZOO:
        model = build_model(name, shape, classes)
        rng = np.random.default_rng(0)
        brief_fit(model, shape, classes, rng)

        def representative(shape: tuple[int, ...] = shape, rng: np.random.Generator = rng) -> Any:
            for _ in range(32):
                yield [rng.normal(0.0, 1.0, size=(1, *shape)).astype(np.float32)]

        path = out / f"{name}_int8.tflite"
        path.write_bytes(to_tflite(ModelSource(name, keras_model=model), "int8", representative))
        paths.append(path)
    return paths


def brief_fit(model: Any, shape: tuple[int, ...], classes: int, rng: np.random.Generator) -> None:
    """Two epochs on random data so batch-norm statistics are no longer the initial ones.

    An untrained deep model's logits can collapse to a range so narrow that its
    int8 SOFTMAX has no valid multiplier (TFLite Micro aborts on such a model
    and the C exporter refuses it). Latency and memory do not depend on the
    weights, so random data is enough; batch-norm momentum is lowered so the
    moving statistics settle within these few steps.
    """
    for layer in model.layers:
        if hasattr(layer, "momentum"):
            layer.momentum = 0.5
    x = rng.normal(0.0, 1.0, size=(128, *shape)).astype(np.float32)
    if classes:
        y = rng.integers(0, classes, size=128)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    else:
        y = x
        model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)


def small_cnn_int8(work: Path, epochs: int) -> Path | None:
    """Train and convert the project's small_cnn on digits; None when training is unavailable."""
    try:
        from edgedeploy.converter import ConvertConfig, convert
        from edgedeploy.training import TrainConfig, train
    except ImportError as exc:
        print(f"small_cnn skipped: {exc}", file=sys.stderr)
        return None
    trained = work / "small_cnn"
    try:
        train(
            TrainConfig(
                model="small_cnn", dataset="digits", out=trained, input_size=32, epochs=epochs
            ),
            log=lambda line: print(f"  {line}", file=sys.stderr),
        )
        out = work / "small_cnn_digits_int8.tflite"
        convert(ConvertConfig(source=trained, out=out, quantize="int8", bench_runs=0))
    except EdgeDeployError as exc:
        print(f"small_cnn skipped: {exc}", file=sys.stderr)
        return None
    return out
