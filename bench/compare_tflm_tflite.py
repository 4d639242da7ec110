"""TFLite Micro versus TFLite reference kernels on random inputs, per model and per op.

Usage: python bench/compare_tflm_tflite.py [MODEL.tflite ...] [--samples 50] [--json PATH]

Without models it compares every ../shared/models/*_int8.tflite. Prints a table
of the largest output difference per model and, where they differ, which ops
differ when each runs alone on identical inputs; writes the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgedeploy.runtime.compare import compare_models

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "tflm_vs_tflite.json"
    )
    args = parser.parse_args(argv)
    models = args.models or sorted(SHARED_MODELS.glob("*_int8.tflite"))
    results = [compare_models(m, samples=args.samples, seed=args.seed) for m in models]

    print(f"{'model':<28} {'samples':>7} {'max |diff|':>10} {'samples differing':>17}")
    for r in results:
        print(f"{r.model:<28} {r.samples:>7} {r.max_abs_diff:>10} {r.differing_samples:>17}")
    for r in results:
        if not r.ops:
            continue
        print(f"\n{r.model}: each op alone on identical inputs (first differing sample)")
        print(f"  {'#':>3} {'op':<20} {'max |diff|':>10} {'elements differing':>20}")
        for o in r.ops:
            print(
                f"  {o.index:>3} {o.op:<20} {o.max_abs_diff:>10} {o.differing_elements:>11} of {o.elements}"
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
