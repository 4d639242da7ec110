"""Flash and RAM of each model on each board profile: the `edgedeploy fit` figures as a table.

Usage: python bench/fit_table.py [MODEL.tflite ...] [--devices a,b] [--no-train] [--json PATH]

Without models it uses ../shared/models/kws_ref_int8.tflite, ad01_int8.tflite and
ad01_float32.tflite, plus the project's int8 small_cnn, trained for a few epochs
on the digits dataset and converted here (skipped with --no-train, or when
TensorFlow is not installed). Prints one row per model and board with the
figures' basis (c-runtime, tflite-micro or linux), need, budget, margin and
verdict; writes every report as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from zoo import small_cnn_int8

from edgedeploy.devices import list_profiles
from edgedeploy.devices.fit import FitReport, fit
from edgedeploy.errors import EdgeDeployError

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
DEFAULT_MODELS = ("kws_ref_int8.tflite", "ad01_int8.tflite", "ad01_float32.tflite")


def _kib(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:,.1f}"


def print_table(reports: list[FitReport]) -> None:
    header = (
        f"{'model':<22} {'device':<17} {'basis':<12} {'flash KiB':>10} {'of':>8} "
        f"{'margin':>9} {'RAM KiB':>10} {'of':>11} {'margin':>11}  verdict"
    )
    print(header)
    print("-" * len(header))
    for r in reports:
        flash_budget = "-" if r.flash_budget == 0 else _kib(r.flash_budget)
        print(
            f"{r.model.removesuffix('.tflite'):<22} {r.device:<17} {r.basis:<12} "
            f"{_kib(r.flash_bytes):>10} {flash_budget:>8} {_kib(r.flash_margin):>9} "
            f"{_kib(r.ram_bytes):>10} {_kib(r.ram_budget):>11} {_kib(r.ram_margin):>11}  "
            f"{'fits' if r.fits else 'DOES NOT FIT'}"
        )
    notes = sorted({f"{r.device}: {r.basis_note}" for r in reports if r.basis == "c-runtime"})
    if notes:
        print("\nc-runtime figures per device:")
        for note in notes:
            print(f"  {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--devices", default=None, help="comma-separated profile names")
    parser.add_argument("--no-train", action="store_true", help="do not build small_cnn")
    parser.add_argument("--epochs", type=int, default=3, help="small_cnn training epochs")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "fit_table.json")
    args = parser.parse_args(argv)
    devices = args.devices.split(",") if args.devices else [p.name for p in list_profiles()]
    with tempfile.TemporaryDirectory(prefix="fit-table-") as tmp:
        models = list(args.models) or [SHARED_MODELS / name for name in DEFAULT_MODELS]
        if not args.models and not args.no_train:
            cnn = small_cnn_int8(Path(tmp), args.epochs)
            if cnn is not None:
                models.append(cnn)
        reports = []
        for model in models:
            for device in devices:
                try:
                    reports.append(fit(model, device))
                except EdgeDeployError as exc:
                    print(f"{model.name} on {device}: {exc}", file=sys.stderr)
    print_table(reports)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([r.to_dict() for r in reports], indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
