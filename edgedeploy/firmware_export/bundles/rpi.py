"""The Raspberry Pi bundle: the model, its labels and two small scripts that need no TensorFlow.

A Pi runs .tflite models with LiteRT (``ai-edge-litert``), which has wheels for
64-bit Raspberry Pi OS; the bundle's ``predict.py`` falls back to the older
``tflite-runtime`` for 32-bit systems. The scripts are self-contained (numpy and
an interpreter only) so the folder can be copied to a Pi and run there; their
quantize/dequantize steps are the ones `edgedeploy.runtime.Model.predict` uses,
and the tests check in a fresh virtual environment that both print the same
outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from edgedeploy.firmware_export.bundles.common import (
    LABELS_FILE,
    MODEL_FILE,
    BundleResult,
    check_labels,
    io_table,
    load_source,
)
from edgedeploy.firmware_export.cgen import render_template
from edgedeploy.fsutil import atomic_output_dir

__all__ = ["DEFAULT_LITERT_VERSION", "export_rpi"]

#: ai-edge-litert pinned in requirements.txt when it is not installed here to ask.
DEFAULT_LITERT_VERSION = "2.3.0"
_PACKAGE = "edgedeploy.firmware_export.bundles"


def litert_version() -> str:
    """The ai-edge-litert version to pin: the one installed here, which the exporter ran."""
    try:
        return metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        return DEFAULT_LITERT_VERSION


def export_rpi(
    model: Path | str | bytes,
    out: Path | str,
    force: bool = False,
    labels: Sequence[str] | None = None,
) -> BundleResult:
    """Write a Raspberry Pi bundle for ``model`` into the new directory ``out``.

    The directory holds ``model.tflite`` (unchanged), ``labels.txt`` when labels
    are given (one per class of the first output), ``predict.py``,
    ``benchmark.py``, ``requirements.txt`` and a ``README.md``. It is written
    atomically: on any error nothing is left behind, and an existing ``out`` is
    replaced only with ``force``.

    Raises `ModelFormatError` for a file that is not a model, `InputDataError`
    for labels that do not match the model, `OutputExistsError` /
    `OutputPathError` for an unusable ``out``.
    """
    loaded, protect = load_source(model)
    checked = check_labels(labels, loaded)
    out = Path(out)
    values = {
        "model_file": MODEL_FILE,
        "title": loaded.path.stem if loaded.path else "model",
        "source_name": loaded.name,
        "model_bytes": len(loaded.data),
        "sha256_short": loaded.sha256[:16],
        "bundle_name": out.name,
        "litert_version": litert_version(),
        "io_table": io_table(loaded),
        "labels_row": (
            f"| `{LABELS_FILE}` | {len(checked)} class names, one per line |\n" if checked else ""
        ),
        "labels_note": f", named from {LABELS_FILE}" if checked else "",
    }
    files: dict[str, bytes] = {MODEL_FILE: loaded.data}
    if checked:
        files[LABELS_FILE] = ("\n".join(checked) + "\n").encode("utf-8")
    for name in ("predict.py", "benchmark.py", "requirements.txt", "README.md"):
        files[name] = render_template(f"rpi/{name}.tmpl", values, package=_PACKAGE).encode("utf-8")
    with atomic_output_dir(out, force=force, protect=protect) as tmp:
        for name, data in files.items():
            path = tmp / name
            path.write_bytes(data)
            if name.endswith(".py"):
                path.chmod(0o755)
    return BundleResult(
        target="rpi",
        out=out,
        files={name: len(data) for name, data in files.items()},
        model_sha256=loaded.sha256,
        notes=(
            f"run: pip install -r requirements.txt && python predict.py INPUT.npy "
            f"(ai-edge-litert {values['litert_version']}, no TensorFlow)",
        ),
    )
