"""Scoring .tflite models on held-out data, the same way for every variant.

Float and quantized models are run through `edgedeploy.runtime.Model` (LiteRT):
a quantized input gets the float sample quantized with the model's own scale and
zero point, and quantized outputs are dequantized, so both variants are scored
on identical real-valued data. Classification scores top-1 accuracy; the
autoencoder scores the mean squared reconstruction error (its anomaly score).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy.errors import InputDataError
from edgedeploy.runtime import Model

__all__ = [
    "TASKS",
    "Evaluation",
    "agreement",
    "evaluate_outputs",
    "evaluate_tflite",
    "output_mse",
    "run_tflite",
]

#: What a model computes, which decides how it is scored.
TASKS = ("classification", "reconstruction")


@dataclass
class Evaluation:
    """A model's score on one split; ``outputs`` are kept for comparisons between variants."""

    task: str
    samples: int
    accuracy: float | None
    mse: float | None
    outputs: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "mse": self.mse,
        }


def run_tflite(model: Model | bytes | Path, x: np.ndarray) -> np.ndarray:
    """Run every sample of ``x`` through a single-input model; return float first outputs."""
    runner = model if isinstance(model, Model) else Model(model)
    if len(runner.inputs) != 1:
        raise InputDataError(
            f"evaluation needs a single-input model, this one has {len(runner.inputs)}"
        )
    return runner.predict_batch(np.asarray(x, dtype=np.float32)).astype(np.float32)


def evaluate_outputs(
    outputs: np.ndarray, x: np.ndarray, y: np.ndarray | None, task: str
) -> Evaluation:
    """Score model outputs: argmax accuracy against ``y``, or reconstruction MSE against ``x``."""
    if task not in TASKS:
        raise InputDataError(f"unknown task {task!r} (valid: {', '.join(TASKS)})")
    outputs = np.asarray(outputs, dtype=np.float32)
    if task == "reconstruction":
        target = np.asarray(x, dtype=np.float32).reshape(outputs.shape)
        mse = float(np.mean((outputs.astype(np.float64) - target) ** 2))
        return Evaluation(task, len(outputs), None, mse, outputs)
    if y is None or len(y) != len(outputs):
        raise InputDataError("classification needs one label per evaluated sample")
    predicted = outputs.reshape(len(outputs), -1).argmax(axis=1)
    return Evaluation(task, len(outputs), float(np.mean(predicted == y)), None, outputs)


def evaluate_tflite(
    model: Model | bytes | Path, x: np.ndarray, y: np.ndarray | None, task: str
) -> Evaluation:
    """Run and score a .tflite model on ``x`` (and labels ``y`` for classification)."""
    return evaluate_outputs(run_tflite(model, x), x, y, task)


def agreement(a: Evaluation, b: Evaluation) -> float | None:
    """Share of samples on which two classifiers pick the same class (None for reconstruction)."""
    if a.task != "classification" or b.task != "classification":
        return None
    first = a.outputs.reshape(len(a.outputs), -1).argmax(axis=1)
    second = b.outputs.reshape(len(b.outputs), -1).argmax(axis=1)
    return float(np.mean(first == second))


def output_mse(a: Evaluation, b: Evaluation) -> float:
    """Mean squared difference between two models' outputs on the same samples.

    The quantization error as the model's user sees it, for any task: for the
    autoencoder it is far more telling than comparing the two reconstruction
    errors, which can agree closely while individual outputs differ.
    """
    if a.outputs.shape != b.outputs.shape:
        raise InputDataError(
            f"outputs of shape {list(a.outputs.shape)} and {list(b.outputs.shape)} cannot be compared"
        )
    return float(np.mean((a.outputs.astype(np.float64) - b.outputs) ** 2))
