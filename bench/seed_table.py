"""TFLite's float / post-training / quantization-aware table, reproduced on the zoo in one run.

Usage: python -m bench.seed_table [--epochs N] [--qat-epochs N] [--work DIR] [--json PATH]
                                  [--png PATH] [--markdown PATH]

TFLite's model-optimization guide shows MobileNet-v1 top-1 0.709 float, 0.657
after post-training quantization and 0.700 after quantization-aware training.
This trains mobilenet_v1 (alpha 0.25), mobilenet_v2 (alpha 0.35), resnet8 and
small_cnn on the built-in ``digits`` and ``shapes`` data (32×32), converts each
to int8 with per-tensor and per-channel post-training quantization and with
QAT, and prints the table in the same shape: one row per measure, one column
per model and dataset. Accuracies are on the held-out test split (360 digits,
1200 shapes); latency is LiteRT's median on this host. JSON, a Markdown copy of
the table and a PNG chart are written beside it.
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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.zoo import (  # noqa: E402
    BenchTraining,
    add_training_arguments,
    quantized_variants,
    train_classifier,
)

#: (model, dataset) columns of the table, in order.
COLUMNS = [
    (model, dataset)
    for model in ("mobilenet_v1", "mobilenet_v2", "resnet8", "small_cnn")
    for dataset in ("digits", "shapes")
]
#: Short column heads.
SHORT = {"mobilenet_v1": "MNv1 0.25", "mobilenet_v2": "MNv2 0.35", "resnet8": "ResNet8"}


def _head(model: str, dataset: str) -> str:
    return f"{SHORT.get(model, model)} {dataset}"


def _rows(results: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    def top1(key: str) -> list[str]:
        return [f"{r[key]['accuracy']:.3f}" for r in results]

    def ms(key: str) -> list[str]:
        return [f"{r[key]['latency_ms']:.3f}" for r in results]

    def kb(key: str) -> list[str]:
        return [f"{r[key]['size_bytes'] / 1024:.0f}" for r in results]

    return [
        ("Top-1 (float)", top1("float")),
        ("Top-1 (PTQ per-tensor)", top1("ptq_per_tensor")),
        ("Top-1 (PTQ per-channel)", top1("ptq_per_channel")),
        ("Top-1 (QAT)", top1("qat")),
        ("Host latency float (ms)", ms("float")),
        ("Host latency int8 (ms)", ms("ptq_per_channel")),
        ("Size float (KB)", kb("float")),
        ("Size int8 (KB)", kb("ptq_per_channel")),
    ]


def format_table(results: list[dict[str, Any]]) -> str:
    """The table as Markdown (readable as plain text too)."""
    heads = [_head(r["model"], r["dataset"]) for r in results]
    rows = _rows(results)
    first = max(len(name) for name, _ in rows)
    width = [max(len(h), *(len(cells[i]) for _, cells in rows)) for i, h in enumerate(heads)]
    lines = [
        "| "
        + "".ljust(first)
        + " | "
        + " | ".join(h.rjust(w) for h, w in zip(heads, width, strict=True))
        + " |",
        "|" + "-" * (first + 2) + "|" + "|".join("-" * (w + 1) + ":" for w in width) + "|",
    ]
    for name, cells in rows:
        lines.append(
            "| "
            + name.ljust(first)
            + " | "
            + " | ".join(c.rjust(w) for c, w in zip(cells, width, strict=True))
            + " |"
        )
    return "\n".join(lines)


def chart_png(results: list[dict[str, Any]]) -> bytes:
    """Grouped bars: top-1 of float, PTQ per-tensor, PTQ per-channel and QAT per column."""
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = [
        ("float", "float", "#7f7f7f"),
        ("ptq_per_tensor", "PTQ per-tensor", "#d62728"),
        ("ptq_per_channel", "PTQ per-channel", "#ff7f0e"),
        ("qat", "QAT", "#2ca02c"),
    ]
    x = np.arange(len(results))
    figure = Figure(figsize=(10.0, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    bar = 0.2
    for i, (key, label, colour) in enumerate(series):
        values = [r[key]["accuracy"] for r in results]
        axes.bar(x + (i - 1.5) * bar, values, bar, label=label, color=colour)
    low = min(r[k]["accuracy"] for r in results for k, _, _ in series)
    axes.set_ylim(max(0.0, low - 0.05), 1.0)
    axes.set_xticks(x)
    axes.set_xticklabels([_head(r["model"], r["dataset"]) for r in results], fontsize=8)
    axes.set_ylabel("top-1 accuracy (held-out test split)")
    axes.set_title(
        "int8 accuracy: post-training (per-tensor, per-channel) and QAT", fontsize=10, pad=24
    )
    axes.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser)
    parser.add_argument("--bench-runs", type=int, default=50)
    parser.add_argument("--work", type=Path, default=None, help="reused between runs")
    parser.add_argument("--only", default=None, help="comma-separated model names")
    results_dir = ROOT / "bench" / "results"
    parser.add_argument("--json", type=Path, default=results_dir / "seed_table.json")
    parser.add_argument("--png", type=Path, default=results_dir / "seed_table.png")
    parser.add_argument("--markdown", type=Path, default=results_dir / "seed_table.md")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="edgedeploy-seed-"))
    work.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None
    training = BenchTraining.from_args(args)
    results = []
    started = time.perf_counter()
    for model, dataset in COLUMNS:
        if wanted is not None and model not in wanted:
            continue
        print(f"{model} on {dataset}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        trained = train_classifier(work, model, dataset, training)
        row = quantized_variants(
            trained, work, args.qat_epochs, args.qat_lr, bench_runs=args.bench_runs
        )
        row["seconds"] = round(time.perf_counter() - start, 1)
        results.append(row)
        print(
            f"  float {row['float']['accuracy']:.3f}  PTQ/t {row['ptq_per_tensor']['accuracy']:.3f}"
            f"  PTQ/c {row['ptq_per_channel']['accuracy']:.3f}  QAT {row['qat']['accuracy']:.3f}"
            f"  ({row['seconds']} s)",
            file=sys.stderr,
            flush=True,
        )
    table = format_table(results)
    print(table)
    total = round(time.perf_counter() - started, 1)
    print(f"\n{len(results)} columns in {total} s; work directory {work}")
    for path in (args.json, args.png, args.markdown):
        path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        **asdict(training),
        "qat_epochs": args.qat_epochs,
        "qat_lr": args.qat_lr,
    }
    args.json.write_text(
        json.dumps({"settings": meta, "seconds": total, "columns": results}, indent=2) + "\n"
    )
    args.markdown.write_text(table + "\n")
    args.png.write_bytes(chart_png(results))
    print(f"wrote {args.json}, {args.markdown} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
