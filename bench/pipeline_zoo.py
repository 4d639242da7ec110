"""The whole pipeline on every model of the zoo: train → int8 → export (TFLite Micro and plain C).

Usage: python bench/pipeline_zoo.py [--epochs N] [--work DIR] [--json PATH]

Each model is trained on the built-in data, converted to full-integer int8,
exported for TFLite Micro (C array, resolver, measured arena) and as plain C;
the plain-C model is compiled and checked byte for byte against the TFLite
Micro interpreter on a few random inputs. Prints one table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgedeploy.converter import ConvertConfig, convert
from edgedeploy.firmware_export import export_tflm
from edgedeploy.firmware_export.c_runtime import export_c
from edgedeploy.modelfile import load_model
from edgedeploy.runtime import MicroModel
from edgedeploy.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]

# (model, dataset, input size, channels, options)
RUNS = [
    ("small_cnn", "digits", 32, 1, {}),
    ("mobilenet_v1", "digits", 32, 1, {"alpha": 0.25}),
    ("ds_cnn", "digits", 32, 1, {}),
    ("resnet8", "shapes", 32, 3, {}),
    ("autoencoder", "digits", 8, 1, {}),
]


def _c_matches_micro(model: Path, cdir: Path, samples: int = 5) -> int:
    """Build the plain-C model, run ``samples`` random inputs; return the largest byte difference."""
    subprocess.run(["make", "-s", "-C", str(cdir), "host"], check=True, capture_output=True)
    mf = load_model(model)
    micro = MicroModel(model)
    rng = np.random.default_rng(0)
    worst = 0
    for _ in range(samples):
        xs = [rng.integers(-128, 128, size=t.shape, dtype=np.int8) for t in mf.input_tensors]
        out = subprocess.run(
            [str(cdir / "build" / "model_host")],
            input=b"".join(x.tobytes() for x in xs),
            capture_output=True,
            check=True,
        ).stdout
        want = b"".join(o.tobytes() for o in micro.run_raw(xs))
        got = np.frombuffer(out, np.int8).astype(int)
        worst = max(worst, int(np.abs(got - np.frombuffer(want, np.int8).astype(int)).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "pipeline_zoo.json"
    )
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="edgedeploy-zoo-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, dataset, size, channels, options in RUNS:
        start = time.perf_counter()
        tdir = work / name
        train(
            TrainConfig(
                model=name,
                dataset=dataset,
                out=tdir,
                input_size=size,
                channels=channels,
                epochs=args.epochs,
                force=True,
                model_options=options,
            )
        )
        tfl = work / f"{name}_int8.tflite"
        rep = convert(ConvertConfig(source=tdir, out=tfl, force=True, bench_runs=20))
        tflm = export_tflm(tfl, work / f"{name}_tflm", force=True)
        cexp = export_c(tfl, work / f"{name}_c", force=True)
        diff = _c_matches_micro(tfl, work / f"{name}_c")
        rows.append(
            {
                "model": name,
                "dataset": dataset,
                "float_metric": rep.float_accuracy
                if rep.float_accuracy is not None
                else rep.float_mse,
                "int8_metric": rep.quantized_accuracy
                if rep.quantized_accuracy is not None
                else rep.quantized_mse,
                "metric": "accuracy" if rep.float_accuracy is not None else "reconstruction MSE",
                "float_bytes": rep.float_size_bytes,
                "int8_bytes": rep.quantized_size_bytes,
                "ops": rep.ops,
                "full_integer": rep.full_integer,
                "tflm_arena_bytes": tflm.arena_size,
                "c_arena_bytes": cexp.arena_bytes,
                "c_vs_tflm_max_diff": diff,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    print(
        f"{'model':<14} {'data':<7} {'metric':<19} {'float':>9} {'int8':>9} {'ratio':>6} "
        f"{'TFLM arena':>10} {'C arena':>8} {'C≡TFLM':>7} {'s':>6}"
    )
    for r in rows:
        print(
            f"{r['model']:<14} {r['dataset']:<7} {r['metric']:<19} {r['float_metric']:>9.4f} "
            f"{r['int8_metric']:>9.4f} {r['int8_bytes'] / r['float_bytes']:>6.3f} "
            f"{r['tflm_arena_bytes']!s:>10} {r['c_arena_bytes']:>8} "
            f"{'yes' if r['c_vs_tflm_max_diff'] == 0 else 'NO':>7} {r['seconds']:>6}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
