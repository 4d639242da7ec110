"""The project's zoo as full-integer int8 models with weights that need no real training.

Latency, memory and bit-exactness do not depend on accuracy, so benchmarks and
the plain-C runtime's zoo test build each zoo model, fit it two epochs on random
data and convert it with the project's own converter. Used by
bench/bench_c_runtime.py (run from bench/) and tests (imported as bench.zoo).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
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


# --- trained classifiers and their quantized variants (quant_checks.py, seed_table.py) ------

#: Zoo classifiers with the options the quantization benchmarks train them with.
CLASSIFIER_OPTIONS: dict[str, dict[str, Any]] = {
    "small_cnn": {},
    "mobilenet_v1": {"alpha": 0.25},
    "mobilenet_v2": {"alpha": 0.35},
    "ds_cnn": {},
    "resnet8": {},
}
#: Input side of every image the quantization benchmarks train on (the MobileNets' minimum).
BENCH_INPUT_SIZE = 32
#: Float training of the quantization benchmarks: at most this many epochs, early stopping
#: on validation loss with this patience, and random shifts/zooms/rotations (the default
#: `edgedeploy train --augment`). Without augmentation the MobileNets learn the 1,167
#: training digits by heart within 30 epochs and stay near 78-84 % on the test split; with
#: it MobileNet-v1 0.25 keeps improving past epoch 100 (95.8 % at 128 epochs).
BENCH_EPOCHS = 150
BENCH_PATIENCE = 20
BENCH_AUGMENTATION = "default"
#: Channels per built-in dataset: digits are grey, shapes are colour.
BENCH_CHANNELS = {"digits": 1, "shapes": 3}


def _log(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The float-training options every quantization benchmark takes, with the bench defaults."""
    parser.add_argument("--epochs", type=int, default=BENCH_EPOCHS, help="float training, at most")
    parser.add_argument("--patience", type=int, default=BENCH_PATIENCE, help="early stopping")
    parser.add_argument(
        "--augment",
        default=BENCH_AUGMENTATION,
        help="augmentation spec as for `edgedeploy train --augment`, or 'none'",
    )
    parser.add_argument("--qat-epochs", type=int, default=5)
    parser.add_argument("--qat-lr", type=float, default=1e-4)


@dataclass(frozen=True)
class BenchTraining:
    """How a quantization benchmark trains its float models (`add_training_arguments`)."""

    epochs: int = BENCH_EPOCHS
    patience: int = BENCH_PATIENCE
    #: An `edgedeploy train --augment` spec, or "none".
    augment: str = BENCH_AUGMENTATION

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchTraining:
        return cls(args.epochs, args.patience, args.augment)


def train_classifier(work: Path, name: str, dataset: str, training: BenchTraining) -> Path:
    """Train zoo classifier ``name`` on ``dataset`` into ``work``; reuse a finished directory.

    Reuse makes a rerun of a benchmark (after a later stage failed) start where
    it stopped; the training itself is seeded, so a fresh run gives the same model.
    """
    from edgedeploy.training import TrainConfig, parse_augmentation, train
    from edgedeploy.training.artifacts import is_training_dir

    out = work / f"{name}_{dataset}"
    if is_training_dir(out):
        return out
    train(
        TrainConfig(
            model=name,
            dataset=dataset,
            out=out,
            input_size=BENCH_INPUT_SIZE,
            channels=BENCH_CHANNELS[dataset],
            epochs=training.epochs,
            patience=training.patience,
            model_options=CLASSIFIER_OPTIONS[name],
            augmentation=None
            if training.augment == "none"
            else parse_augmentation(training.augment),
            force=True,
        ),
        log=_log,
    )
    return out


def quantized_variants(
    trained: Path,
    work: Path,
    qat_epochs: int,
    qat_learning_rate: float,
    per_tensor: bool = True,
    bench_runs: int = 0,
    analysis_samples: int = 0,
) -> dict[str, Any]:
    """Float, PTQ (per-tensor, per-channel) and QAT int8 of one trained classifier, scored.

    Two `convert` calls: the per-channel one with QAT (its report holds float,
    per-channel PTQ and QAT side by side, as the CLI prints them) and, when
    ``per_tensor``, a per-tensor PTQ one. ``analysis_samples`` > 0 adds the
    per-layer error ranking of the per-channel PTQ model (the QAT call's report
    ranks that model, as QAT moves the weights).
    """
    from edgedeploy.converter import ConvertConfig, convert

    tag = trained.name
    both = convert(
        ConvertConfig(
            source=trained,
            out=work / f"{tag}_qat.tflite",
            force=True,
            qat=True,
            qat_epochs=qat_epochs,
            qat_learning_rate=qat_learning_rate,
            bench_runs=bench_runs,
            analysis_samples=analysis_samples,
        ),
        log=_log,
    )
    rows = {v["name"]: v for v in both.variants}
    result: dict[str, Any] = {
        "model": both.model,
        "dataset": both.dataset,
        "test_samples": both.test_samples,
        "float": rows["float32"],
        "ptq_per_channel": next(v for n, v in rows.items() if n.startswith("int8 PTQ")),
        "qat": rows["int8 QAT"],
        "qat_fit": both.qat,
        "qat_full_integer": both.full_integer,
        "qat_microcontroller_ready": both.microcontroller_ready,
    }
    if per_tensor:
        tensor = convert(
            ConvertConfig(
                source=trained,
                out=work / f"{tag}_ptq_per_tensor.tflite",
                force=True,
                per_channel=False,
                bench_runs=0,
                analysis_samples=0,
            )
        )
        result["ptq_per_tensor"] = tensor.variants[-1]
    if analysis_samples > 0:
        result["layer_errors"] = both.layer_errors
    return result
