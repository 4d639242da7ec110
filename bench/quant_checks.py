"""The numbers behind the quantization features: QAT, calibration, per-layer report, int16x8.

Usage: python -m bench.quant_checks [--sections qat,calibration,int16] [--epochs N]
                                    [--qat-epochs N] [--work DIR] [--json PATH]

* ``qat`` — every zoo classifier trained on its dataset in `QAT_RUNS`, then
  float, post-training int8 (per-channel, min-max) and QAT int8 accuracy on the
  test split, with the acceptance check
  (QAT within `QAT_TOLERANCE_POINTS` of float; where PTQ loses more than
  `PTQ_LOSS_POINTS`, QAT recovers at least half) and the top rows of the
  per-layer error report of the post-training model.
* ``calibration`` — small_cnn on digits calibrated with min-max, percentile
  (99.99 and 99.9) and MSE on clean calibration data and on the same data with
  two "hot pixel" samples added (a few pixels at 30× full scale, as a glitching
  sensor gives): activation scales of a few tensors, test accuracy and mean SQNR.
* ``int16`` — small_cnn and ds_cnn on digits as int8 and int16x8, both run in
  the TFLite Micro interpreter over the whole test split.

Prints a table per section and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.zoo import (  # noqa: E402
    BenchTraining,
    add_training_arguments,
    quantized_variants,
    train_classifier,
)

#: (model, dataset) of the QAT section: every zoo classifier.
QAT_RUNS = [
    ("small_cnn", "digits"),
    ("mobilenet_v1", "digits"),
    ("mobilenet_v2", "digits"),
    ("ds_cnn", "digits"),
    ("resnet8", "shapes"),
]
#: QAT int8 must be at most this many points below float.
QAT_TOLERANCE_POINTS = 0.5
#: A post-training loss above this many points must be at least half recovered by QAT.
PTQ_LOSS_POINTS = 1.0
#: Calibration strategies compared.
CALIBRATIONS = ("minmax", "percentile", "percentile:99.9", "mse")
#: Hot-pixel outliers: samples, pixels per sample, value (inputs are in [0, 1]).
HOT_SAMPLES, HOT_PIXELS, HOT_VALUE = 2, 4, 30.0
#: Tensors whose activation scales the calibration section prints (by position).
SHOWN_TENSORS = 4


def _print_table(head: list[str], rows: list[list[str]]) -> None:
    width = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, width, strict=True))
            )
        )


def qat_section(
    work: Path, training: BenchTraining, qat_epochs: int, qat_lr: float
) -> list[dict[str, Any]]:
    """Float / PTQ / QAT accuracy of every zoo classifier, the check, the worst layers."""
    results = []
    for model, dataset in QAT_RUNS:
        print(f"{model} on {dataset}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        trained = train_classifier(work, model, dataset, training)
        row = quantized_variants(
            trained, work, qat_epochs, qat_lr, per_tensor=False, analysis_samples=100
        )
        f, p, q = (row[k]["accuracy"] * 100 for k in ("float", "ptq_per_channel", "qat"))
        ptq_loss, qat_gap = f - p, f - q
        within = qat_gap <= QAT_TOLERANCE_POINTS
        recovers = ptq_loss <= PTQ_LOSS_POINTS or (q - p) >= ptq_loss / 2
        row["check"] = {
            "ptq_loss_points": round(ptq_loss, 3),
            "qat_minus_float_points": round(q - f, 3),
            "qat_within_tolerance": within,
            "qat_recovers_half": recovers,
            "pass": within and recovers,
        }
        row["seconds"] = round(time.perf_counter() - start, 1)
        results.append(row)
    print("\nQAT: test accuracy (%) of float, post-training int8 (per-channel) and QAT int8")
    _print_table(
        ["model", "dataset", "test n", "float", "PTQ", "QAT", "QAT−float", "QAT epochs", "check"],
        [
            [
                r["model"],
                r["dataset"],
                str(r["test_samples"]),
                f"{r['float']['accuracy'] * 100:.2f}",
                f"{r['ptq_per_channel']['accuracy'] * 100:.2f}",
                f"{r['qat']['accuracy'] * 100:.2f}",
                f"{r['check']['qat_minus_float_points']:+.2f}",
                f"{r['qat_fit']['best_epoch']}/{r['qat_fit']['epochs_run']}",
                "pass" if r["check"]["pass"] else "FAIL",
            ]
            for r in results
        ],
    )
    print("\nPer-layer error of each post-training int8 model: the three worst tensors")
    rows = []
    for r in results:
        layers = r["layer_errors"]
        for t in layers["tensors"][:3]:
            rows.append(
                [
                    r["model"],
                    str(t["rank"]),
                    t["label"],
                    t["op"],
                    _db(t["local_channel_sqnr_db"]),
                    f"{t['local_rmse_steps']:.3f}",
                    _db(t["sqnr_db"]),
                    f"{layers['mean_sqnr_db']:.1f}",
                ]
            )
    _print_table(
        ["model", "#", "layer", "op", "local ch. SQNR", "local RMSE/step", "SQNR", "mean SQNR"],
        rows,
    )
    return results


def _db(value: float | None) -> str:
    return "exact" if value is None else f"{value:.1f}"


def hot_pixels(samples: np.ndarray, seed: int = 1) -> np.ndarray:
    """`HOT_SAMPLES` copies of calibration samples with `HOT_PIXELS` pixels set to `HOT_VALUE`."""
    rng = np.random.default_rng(seed)
    out = samples[:HOT_SAMPLES].copy()
    for sample in out:
        sample.reshape(-1)[rng.integers(0, sample.size, HOT_PIXELS)] = HOT_VALUE
    return out


def calibration_section(work: Path, training: BenchTraining) -> dict[str, Any]:
    """Scales, accuracy and mean SQNR of each calibration strategy, clean and with outliers."""
    from edgedeploy.converter import (
        calibration_subset,
        compare_layers,
        evaluate_tflite,
        quantize_int8,
        to_tflite,
    )
    from edgedeploy.converter.source import load_source
    from edgedeploy.modelfile import load_model
    from edgedeploy.runtime import Model

    trained = train_classifier(work, "small_cnn", "digits", training)
    source = load_source(trained)
    data = source.dataset
    clean = calibration_subset(data.x_train, 200, 0)
    sets = {"clean": clean, "outliers": np.concatenate([clean, hot_pixels(clean)])}
    reference = to_tflite(source.model, "float32")
    results: dict[str, Any] = {"model": "small_cnn", "dataset": "digits", "sets": {}}
    for set_name, samples in sets.items():
        rows = []
        for calibration in CALIBRATIONS:
            ptq = quantize_int8(source.model, samples, calibration)
            model = load_model(ptq.model)
            accuracy = evaluate_tflite(Model(ptq.model), data.x_test, data.y_test, "classification")
            analysis = compare_layers(ptq.model, reference, data.x_val[:100])
            by_name = {t.name: t for t in model.tensors}
            scales = []
            for r in ptq.ranges[:SHOWN_TENSORS]:
                t = by_name.get(r.tensor)
                label = r.tensor.split(";")[0]
                scales.append(
                    {
                        "tensor": label,
                        "observed": [r.observed_min, r.observed_max],
                        "chosen": [r.min, r.max],
                        "int8_scale": t.quant.scales[0] if t is not None and t.quant else None,
                        "int8_zero_point": t.quant.zero_points[0]
                        if t is not None and t.quant
                        else None,
                    }
                )
            rows.append(
                {
                    "calibration": calibration,
                    "accuracy": accuracy.accuracy,
                    "mean_sqnr_db": analysis.mean_sqnr_db,
                    "tensors": scales,
                }
            )
        results["sets"][set_name] = rows
    for set_name, rows in results["sets"].items():
        print(f"\nCalibration of small_cnn on digits, {set_name} calibration data")
        names = [t["tensor"][:28] for t in rows[0]["tensors"]]
        _print_table(
            ["calibration", *(f"scale {n}" for n in names), "test acc %", "mean SQNR dB"],
            [
                [
                    r["calibration"],
                    *(f"{t['int8_scale']:.6f}" for t in r["tensors"]),
                    f"{r['accuracy'] * 100:.2f}",
                    f"{r['mean_sqnr_db']:.2f}",
                ]
                for r in rows
            ],
        )
    return results


def _micro_accuracy(data: bytes, x: np.ndarray, y: np.ndarray) -> float:
    from edgedeploy.runtime import MicroModel, Model, dequantize, quantize

    micro = MicroModel(data)
    host = Model(data)
    spec_in, spec_out = host.inputs[0], host.outputs[0]
    hits = 0
    for sample, label in zip(x, y, strict=True):
        out = micro.run_raw([quantize(sample[None], spec_in)])[0]
        hits += int(np.argmax(dequantize(out, spec_out)) == label)
    return hits / len(y)


def int16_section(work: Path, training: BenchTraining) -> list[dict[str, Any]]:
    """int8 beside int16x8, both in the TFLite Micro interpreter, on small_cnn and ds_cnn."""
    from edgedeploy.converter import calibration_subset, representative_dataset, to_tflite
    from edgedeploy.converter.source import load_source
    from edgedeploy.modelfile import load_model

    results = []
    for name in ("small_cnn", "ds_cnn"):
        source = load_source(train_classifier(work, name, "digits", training))
        data = source.dataset
        samples = representative_dataset(calibration_subset(data.x_train, 200, 0))
        row: dict[str, Any] = {"model": name, "dataset": "digits", "test_samples": len(data.y_test)}
        for mode in ("int8", "int16x8"):
            model = to_tflite(source.model, mode, samples)
            parsed = load_model(model)
            row[mode] = {
                "micro_accuracy": _micro_accuracy(model, data.x_test, data.y_test),
                "size_bytes": len(model),
                "activation_dtype": parsed.input_tensors[0].dtype,
                "ops": parsed.ops_used,
                "tflm_unsupported_ops": parsed.tflm_unsupported_ops(),
            }
        float_model = to_tflite(source.model, "float32")
        from edgedeploy.converter import evaluate_tflite

        row["float_accuracy"] = evaluate_tflite(
            float_model, data.x_test, data.y_test, "classification"
        ).accuracy
        results.append(row)
    print("\nint16x8 beside int8 in the TFLite Micro interpreter (test accuracy %)")
    _print_table(
        [
            "model",
            "test n",
            "float (LiteRT)",
            "int8 (TFLM)",
            "int16x8 (TFLM)",
            "int8 KB",
            "16x8 KB",
        ],
        [
            [
                r["model"],
                str(r["test_samples"]),
                f"{r['float_accuracy'] * 100:.2f}",
                f"{r['int8']['micro_accuracy'] * 100:.2f}",
                f"{r['int16x8']['micro_accuracy'] * 100:.2f}",
                f"{r['int8']['size_bytes'] / 1024:.0f}",
                f"{r['int16x8']['size_bytes'] / 1024:.0f}",
            ]
            for r in results
        ],
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="qat,calibration,int16")
    add_training_arguments(parser)
    parser.add_argument("--work", type=Path, default=None, help="trained models are reused")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "quant_checks.json"
    )
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="edgedeploy-quant-"))
    work.mkdir(parents=True, exist_ok=True)
    sections = set(args.sections.split(","))
    training = BenchTraining.from_args(args)
    results: dict[str, Any] = {
        "settings": {
            **asdict(training),
            "qat_epochs": args.qat_epochs,
            "qat_lr": args.qat_lr,
        }
    }
    started = time.perf_counter()
    if "qat" in sections:
        results["qat"] = qat_section(work, training, args.qat_epochs, args.qat_lr)
    if "calibration" in sections:
        results["calibration"] = calibration_section(work, training)
    if "int16" in sections:
        results["int16"] = int16_section(work, training)
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\n{results['seconds']} s; wrote {args.json}; work directory {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
