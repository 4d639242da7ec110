"""What the Raspberry Pi and phone bundles share: labels checks, the I/O table, the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedeploy.errors import InputDataError
from edgedeploy.modelfile import ModelFile, TensorInfo, load_model

__all__ = [
    "LABELS_FILE",
    "MAX_LABEL_LENGTH",
    "MODEL_FILE",
    "BundleResult",
    "check_labels",
    "format_bundle",
    "io_table",
    "load_source",
]

#: Name of the model inside every bundle: apps and scripts find it without configuration.
MODEL_FILE = "model.tflite"
#: Name of the labels file inside a bundle (one label per line).
LABELS_FILE = "labels.txt"
#: Longest label accepted; a longer one is almost surely a wrongly parsed file.
MAX_LABEL_LENGTH = 256


@dataclass(frozen=True)
class BundleResult:
    """A bundle written to ``out``: its files (name -> bytes) and what was checked."""

    target: str
    out: Path
    files: dict[str, int]
    model_sha256: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "out": str(self.out),
            "files": dict(self.files),
            "model_sha256": self.model_sha256,
            "notes": list(self.notes),
        }


def format_bundle(result: BundleResult) -> str:
    """A few lines for the CLI: where the bundle is and what is in it."""
    lines = [f"{result.target} bundle written to {result.out}"]
    lines += [f"  {name:<20} {size:>9} bytes" for name, size in sorted(result.files.items())]
    lines += [f"  {note}" for note in result.notes]
    return "\n".join(lines)


def load_source(model: Path | str | bytes) -> tuple[ModelFile, tuple[Path, ...]]:
    """Load the model once, and name the input file an output must never overwrite."""
    loaded = load_model(model)
    protect = (loaded.path,) if loaded.path is not None else ()
    return loaded, protect


def check_labels(labels: Sequence[str] | None, model: ModelFile) -> list[str] | None:
    """Validate labels against the model's first output; one per class along its last axis.

    A count that does not match the output is refused: shipped with the model,
    it would silently name every class wrongly.
    """
    if labels is None:
        return None
    if isinstance(labels, str):
        raise InputDataError("labels must be a list of strings, not one string")
    cleaned = []
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise InputDataError(f"label {i} is {type(label).__name__}, not a string")
        text = label.strip()
        if not text:
            raise InputDataError(f"label {i} is empty")
        if "\n" in text or "\r" in text:
            raise InputDataError(f"label {i} ({text[:40]!r}) spans several lines")
        if len(text) > MAX_LABEL_LENGTH:
            raise InputDataError(f"label {i} is longer than {MAX_LABEL_LENGTH} characters")
        cleaned.append(text)
    output = model.output_tensors[0]
    classes = output.shape[-1] if output.shape else 1
    if len(cleaned) != classes:
        raise InputDataError(
            f"{len(cleaned)} labels given, but the model's output {output.name!r} "
            f"{list(output.shape)} has {classes} classes"
        )
    return cleaned


def _quant_text(t: TensorInfo) -> str:
    if t.quant is None or not t.quant.scales:
        return "not quantized"
    if t.quant.per_channel:
        return f"per-channel, {len(t.quant.scales)} scales"
    return f"scale {t.quant.scales[0]:.9g}, zero point {t.quant.zero_points[0]}"


def io_table(model: ModelFile) -> str:
    """A Markdown table of the model's inputs and outputs with their quantization."""
    rows = ["| tensor | name | dtype | shape | quantization |", "|---|---|---|---|---|"]
    for kind, tensors in (("input", model.input_tensors), ("output", model.output_tensors)):
        for i, t in enumerate(tensors):
            name = t.name.replace("|", "\\|").replace("`", "'")
            rows.append(
                f"| {kind} {i} | `{name}` | {t.dtype} | {list(t.shape)} | {_quant_text(t)} |"
            )
    return "\n".join(rows)
