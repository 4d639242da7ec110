"""Representative data for post-training quantization.

The TFLite converter measures every activation's range on a "representative
dataset" and picks each int8 scale from it. These helpers choose that data
(a fixed, seeded subset of the training split: never the test split, which
must stay unseen) and shape it the way the converter wants. They are kept
apart from `convert` so that other calibration strategies and quantization-aware
training can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from edgedeploy.errors import InputDataError

__all__ = ["RepresentativeDataset", "calibration_subset", "representative_dataset"]

#: What the converter calls: a generator factory yielding one list of inputs per sample.
RepresentativeDataset = Callable[[], Iterator[list[np.ndarray]]]


def calibration_subset(x: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` samples of ``x`` picked by a seeded shuffle (all of them when fewer exist).

    A shuffle rather than the first ``count`` rows, because datasets are often
    stored sorted by class and calibrating on one class misjudges the ranges.
    """
    if count < 1:
        raise InputDataError(f"calibration needs at least 1 sample, got {count}")
    if len(x) == 0:
        raise InputDataError("the calibration split is empty")
    order = np.random.default_rng(seed).permutation(len(x))
    return np.ascontiguousarray(x[order[: min(count, len(x))]], dtype=np.float32)


def representative_dataset(samples: np.ndarray) -> RepresentativeDataset:
    """Wrap float samples (N×input shape) as the converter's ``representative_dataset``."""
    samples = np.asarray(samples, dtype=np.float32)

    def generate() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample[None, ...]]

    return generate
