"""Models on the emulated Cortex-M4: export, build, flash, benchmark and validate, as a table.

Usage: python bench/bench_device.py [MODEL.tflite ...] [--device qemu-m4] [--runs N]
                                    [--inputs K] [--no-train] [--json PATH]

Without models it uses ../shared/models/kws_ref_int8.tflite and ad01_int8.tflite,
plus the project's int8 small_cnn, trained for a few epochs on the digits dataset
and converted here (skipped with --no-train or without TensorFlow). For each model
it writes the benchmark firmware, builds it with arm-none-eabi-gcc, starts it on
QEMU, times ``--runs`` inferences with the board's counter (instructions, from
QEMU's -icount), compares every output byte of ``--inputs`` random inputs with the
TFLite Micro interpreter, and stops QEMU. Prints one row per model and writes all
results as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zoo import small_cnn_int8

from edgedeploy.devices.bench import bench
from edgedeploy.devices.flash import flash, stop
from edgedeploy.devices.validate import validate
from edgedeploy.errors import EdgeDeployError
from edgedeploy.firmware_export.firmware import build_firmware, export_firmware
from edgedeploy.fsutil import write_text

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
DEFAULT_MODELS = ("kws_ref_int8.tflite", "ad01_int8.tflite")
DEFAULT_JSON = ROOT / "bench" / "results" / "device_qemu_m4.json"


def run_model(model: Path, device: str, work: Path, runs: int, inputs: int) -> dict[str, Any]:
    """Export, build, flash, bench and validate one model; QEMU is always stopped."""
    fwdir = work / f"fw-{model.stem}"
    started = time.monotonic()
    export_firmware(model, fwdir, device=device, force=True)
    build = build_firmware(fwdir)
    flashed = flash(fwdir, device, build=False)
    try:
        timing = bench(model, device, port=flashed.url, runs=runs, timeout=60)
        check = validate(model, device, inputs=inputs, port=flashed.url, timeout=60)
    finally:
        stop(fwdir)
    return {
        "model": model.name,
        "device": device,
        "build": build.to_dict(),
        "bench": timing.to_dict(),
        "validate": check.to_dict(),
        "seconds": round(time.monotonic() - started, 1),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'model':<30} {'flash B':>9} {'RAM B':>8} {'arena B':>8} {'stack use':>9} "
        f"{'per inference':>16} {'unit':<12} {'validation':<22}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        b, v = row["bench"], row["validate"]
        verdict = (
            f"{v['samples']}/{v['samples']} bit-exact"
            if v["passed"]
            else f"{v['mismatched_samples']}/{v['samples']} DIFFER"
        )
        print(
            f"{row['model']:<30} {b['flash_bytes']:>9,} {b['ram_bytes']:>8,} "
            f"{b['arena_bytes']:>8,} {b['stack_peak_bytes']:>9,} {b['per_inference']:>16,.0f} "
            f"{b['unit']:<12} {verdict:<22}"
        )
    print(
        "instructions: QEMU -icount shift=6, counted by the board's own timer "
        "(instructions, not cycles); stack: peak use"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--device", default="qemu-m4")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-device-") as tmp:
        work = Path(tmp)
        models = list(args.models) or [SHARED_MODELS / name for name in DEFAULT_MODELS]
        if not args.models and not args.no_train:
            cnn = small_cnn_int8(work, args.epochs)
            if cnn is not None:
                models.append(cnn)
        for model in models:
            print(f"{model.name}: export, build, flash, bench, validate", file=sys.stderr)
            try:
                rows.append(run_model(model, args.device, work, args.runs, args.inputs))
            except EdgeDeployError as exc:
                print(f"{model.name}: {exc}", file=sys.stderr)
                return 1
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.json, json.dumps(rows, indent=2) + "\n", force=True)
    print(f"wrote {args.json}")
    return 0 if all(row["validate"]["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
