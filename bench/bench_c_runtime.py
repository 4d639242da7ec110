"""The plain-C int8 runtime against the tflite-micro interpreter, model by model.

Usage: python bench/bench_c_runtime.py [--json PATH] [--no-zoo] [--check 20]

For each model, on this machine: host latency of the generated model_host
(gcc -O2 and -O3, median of N invokes) versus the tflite-micro interpreter
(median of N ``invoke`` calls on the same kind of input), the arena of both
(ours: planned offline; TFLite Micro: measured total and its activation part),
the Cortex-M4 build's flash and RAM (arm-none-eabi-size), and the largest
output difference from tflite-micro on random inputs (must be 0).

Models: kws_ref_int8 and ad01_int8 from ../shared/models and, unless
--no-zoo, the project's zoo (edgedeploy.training.build_model) converted to
full int8 with edgedeploy.converter.to_tflite: small_cnn, mobilenet_v1
(alpha 0.25, 96x96x3), ds_cnn, resnet8, autoencoder, after two epochs on
random data (latency, memory and bit-exactness do not depend on accuracy).
Writes bench/results/c_runtime.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from zoo import zoo_models

from edgedeploy.firmware_export.c_runtime import export_c
from edgedeploy.runtime import MicroModel

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
TARGET_SECONDS = 1.0


def _make(out_dir: Path, target: str, opt: str | None = None) -> str:
    cmd = ["make", "-s", "-C", str(out_dir), target]
    if opt:
        cmd.append(f"OPT={opt}")
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _host_median_us(out_dir: Path, opt: str) -> float:
    subprocess.run(["make", "-s", "-C", str(out_dir), "clean"], check=True, capture_output=True)
    _make(out_dir, "host", opt)
    binary = out_dir / "build" / "model_host"
    probe = subprocess.run(
        [str(binary), "--bench", "3"], capture_output=True, text=True, check=True
    )
    each = float(probe.stdout.split(":")[1])
    runs = int(min(20000, max(5, TARGET_SECONDS * 1e6 / max(each, 1.0))))
    proc = subprocess.run(
        [str(binary), "--bench", str(runs)], capture_output=True, text=True, check=True
    )
    return float(proc.stdout.split(":")[1])


def _micro_median_us(micro: MicroModel, inputs: list[np.ndarray]) -> float:
    interp = micro._interp  # invoke alone: no input copies, no output reads
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    t0 = time.perf_counter()
    interp.invoke()
    each = time.perf_counter() - t0
    runs = int(min(5000, max(5, TARGET_SECONDS / max(each, 1e-6))))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


_REPORT = """
import sys
from edgedeploy.runtime.micro import _captured_c_output, micro_runtime
data = open(sys.argv[1], "rb").read()
with _captured_c_output() as log:
    interp = micro_runtime().Interpreter.from_bytes(data, arena_size=1 << 20)
    interp.print_allocations()
print("\\n".join(log))
"""


def _tflm_arena_fallback(path: Path) -> tuple[int, int]:
    """TFLite Micro's recorded arena (total, head) with a 1 MiB arena, in a child process."""
    proc = subprocess.run(
        [sys.executable, "-c", _REPORT, str(path)], capture_output=True, text=True, check=True
    )
    found = {
        key: int(m.group(1))
        for key in ("total", "head")
        if (m := re.search(rf"Arena allocation {key} (\d+) bytes", proc.stdout))
    }
    return found["total"], found["head"]


def _random_inputs(micro: MicroModel, rng: np.random.Generator) -> list[np.ndarray]:
    xs = []
    for d in micro.input_details:
        shape = tuple(int(v) for v in d["shape"])
        xs.append(rng.integers(-128, 128, size=shape, dtype=np.int8))
    return xs


def _max_diff(micro: MicroModel, binary: Path, samples: int) -> int:
    rng = np.random.default_rng(1)
    worst = 0
    for _ in range(samples):
        xs = _random_inputs(micro, rng)
        expected = micro.run_raw(xs)
        got = subprocess.run(
            [str(binary)], input=b"".join(x.tobytes() for x in xs), capture_output=True, check=True
        ).stdout
        pos = 0
        for e in expected:
            mine = np.frombuffer(got[pos : pos + e.nbytes], dtype=e.dtype)
            pos += e.nbytes
            worst = max(worst, int(np.abs(mine.astype(np.int64) - e.reshape(-1)).max(initial=0)))
    return worst


def bench_model(path: Path, work: Path, check: int) -> dict[str, Any]:
    out_dir = work / path.stem
    result = export_c(path, out_dir, force=True)
    micro = MicroModel(path, sandbox=False)  # invoke timed in process
    row: dict[str, Any] = {
        "model": path.stem,
        "ops": result.ops,
        "arena_bytes": result.arena_bytes,
        "lower_bound_bytes": result.lower_bound_bytes,
    }
    if result.tflm_arena is not None:
        row["tflm_arena_total"] = result.tflm_arena.total
        row["tflm_arena_head"] = result.tflm_arena.head
    else:
        row["tflm_arena_total"], row["tflm_arena_head"] = _tflm_arena_fallback(path)
        row["tflm_arena_note"] = "measure_arena's minimum-arena search crashed; 1 MiB arena report"
    row["c_host_us_O2"] = _host_median_us(out_dir, "-O2")
    row["max_diff"] = _max_diff(micro, out_dir / "build" / "model_host", check)
    row["c_host_us_O3"] = _host_median_us(out_dir, "-O3")
    row["tflm_us"] = _micro_median_us(micro, _random_inputs(micro, np.random.default_rng(2)))
    row["speedup_O2"] = row["tflm_us"] / row["c_host_us_O2"]
    row["speedup_O3"] = row["tflm_us"] / row["c_host_us_O3"]
    size = _make(out_dir, "cortex-m4")
    row["cm4_flash_bytes"] = int(re.search(r"^flash (\d+) B", size, re.M).group(1))
    row["cm4_ram_bytes"] = int(re.search(r"^ram (\d+) B", size, re.M).group(1))
    row["const_bytes"] = result.const_bytes
    return row


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'model':<20}{'diff':>5}{'arena':>9}{'bound':>9}{'tflm hd':>9}{'tflm tot':>9}"
        f"{'C -O2 us':>11}{'C -O3 us':>11}{'tflm us':>11}{'x O2':>7}{'x O3':>7}"
        f"{'cm4 flash':>11}{'cm4 ram':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['model']:<20}{r['max_diff']:>5}{r['arena_bytes']:>9}{r['lower_bound_bytes']:>9}"
            f"{r['tflm_arena_head']:>9}{r['tflm_arena_total']:>9}{r['c_host_us_O2']:>11.1f}"
            f"{r['c_host_us_O3']:>11.1f}{r['tflm_us']:>11.1f}{r['speedup_O2']:>7.1f}"
            f"{r['speedup_O3']:>7.1f}{r['cm4_flash_bytes']:>11}{r['cm4_ram_bytes']:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "c_runtime.json")
    parser.add_argument("--no-zoo", action="store_true", help="only the shared reference models")
    parser.add_argument("--check", type=int, default=20, help="random inputs compared per model")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_c_runtime_") as tmp:
        work = Path(tmp)
        models = [SHARED_MODELS / "kws_ref_int8.tflite", SHARED_MODELS / "ad01_int8.tflite"]
        if not args.no_zoo:
            models += zoo_models(work)
        rows = []
        for path in models:
            rows.append(bench_model(path, work, args.check))
            print(f"done {path.stem}", file=sys.stderr, flush=True)
    print(_table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "note": "latencies are medians on this host; zoo models trained 2 epochs on random data",
        "models": rows,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0 if all(r["max_diff"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
