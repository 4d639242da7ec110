"""Representative data and calibration strategies for post-training quantization.

The TFLite converter measures every activation's range on a "representative
dataset" and picks each int8 scale from it. These helpers choose that data
(a fixed, seeded subset of the training split: never the test split, which
must stay unseen) and shape it the way the converter wants.

The converter itself only knows min-max ranges. `Calibration` names the other
strategies (percentile clipping, MSE-optimal clipping); `choose_range` applies
one to an `ActivationHistogram` of a tensor's calibration values. Those are pure
NumPy; `edgedeploy.converter.ptq` collects the histograms and writes the chosen
ranges into the model before it is quantized.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from edgedeploy.errors import InputDataError, UnknownNameError

__all__ = [
    "CALIBRATION_METHODS",
    "DEFAULT_PERCENTILE",
    "ActivationHistogram",
    "Calibration",
    "RepresentativeDataset",
    "calibration_subset",
    "choose_range",
    "mse_range",
    "percentile_range",
    "representative_dataset",
]

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


# --- calibration strategies ---------------------------------------------------------------

#: How an activation's int8 range is chosen from what it did on the calibration data.
CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "percentile", "mse")
#: The percentile ``percentile`` clips at when none is given (and 100 minus it below).
DEFAULT_PERCENTILE = 99.99
#: Bins of the per-tensor histograms that percentile and MSE calibration read. Fine
#: enough that a bin is an eighth of an int8 step over the full observed range.
HISTOGRAM_BINS = 2048
#: Candidate clipping points per side searched by MSE calibration.
MSE_CANDIDATES = 256
#: Narrowest range MSE calibration may choose, as a share of the observed one; below it
#: the search would trade almost every value for rounding precision on a sliver.
MSE_MIN_FRACTION = 1 / 64


@dataclass(frozen=True)
class Calibration:
    """A calibration strategy: ``minmax``, ``percentile`` (with its P) or ``mse``.

    * ``minmax`` keeps each activation's observed range: nothing is clipped, so
      one outlier can make the int8 step of a tensor coarse for every sample.
    * ``percentile`` clips at the P-th and (100−P)-th percentile of the values
      the tensor took on the calibration data.
    * ``mse`` picks the clipping range that minimizes the tensor's expected
      quantization error on the calibration data: rounding noise (step²/12 for
      every value inside the range) plus the squared distance of every clipped
      value to the range's edge.
    """

    method: str = "minmax"
    percentile: float | None = None

    @classmethod
    def parse(cls, text: str) -> Calibration:
        """``"minmax"``, ``"mse"``, ``"percentile"`` or ``"percentile:P"`` (50 < P < 100)."""
        name, _, value = str(text).strip().partition(":")
        if name not in CALIBRATION_METHODS:
            raise UnknownNameError(
                f"unknown calibration {text!r} (valid: minmax, percentile[:P], mse)"
            )
        if name != "percentile":
            if value:
                raise UnknownNameError(f"calibration {name} takes no value, got {text!r}")
            return cls(name)
        if not value:
            return cls(name, DEFAULT_PERCENTILE)
        try:
            p = float(value)
        except ValueError:
            raise InputDataError(f"calibration {text!r}: {value!r} is not a number") from None
        if not 50.0 < p < 100.0:
            raise InputDataError(f"calibration {text!r}: the percentile must be in (50, 100)")
        return cls(name, p)

    def __str__(self) -> str:
        return f"percentile:{self.percentile:g}" if self.method == "percentile" else self.method


@dataclass
class ActivationHistogram:
    """The values one tensor took on the calibration data, binned over its observed range.

    The range always contains zero and zero is a bin edge, so that the clipping
    points searched on either side fall on edges.
    """

    low: float
    high: float
    edges: np.ndarray = field(init=False, repr=False)
    counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        low, high = min(float(self.low), 0.0), max(float(self.high), 0.0)
        if high - low <= 0.0:
            high = 1.0
        negative = round(HISTOGRAM_BINS * -low / (high - low))
        negative = min(max(negative, 1 if low < 0 else 0), HISTOGRAM_BINS - (1 if high > 0 else 0))
        left = np.linspace(low, 0.0, negative + 1) if negative else np.zeros(1)
        right = np.linspace(0.0, high, HISTOGRAM_BINS - negative + 1)
        self.low, self.high = low, high
        self.edges = np.concatenate([left, right[1:]]) if negative else right
        self.counts = np.zeros(len(self.edges) - 1, dtype=np.float64)

    def add(self, values: np.ndarray) -> None:
        """Count ``values`` (clipped into the range: the calibrator's float kernels and ours
        may differ in the last bit)."""
        flat = np.clip(np.asarray(values, dtype=np.float64).ravel(), self.low, self.high)
        self.counts += np.histogram(flat, bins=self.edges)[0]

    @property
    def total(self) -> float:
        return float(self.counts.sum())


def percentile_range(hist: ActivationHistogram, percentile: float) -> tuple[float, float]:
    """The (100−P)-th and P-th percentile of the histogrammed values, interpolated in a bin."""
    total = hist.total
    if total == 0:
        return hist.low, hist.high
    cumulative = np.concatenate([[0.0], np.cumsum(hist.counts)]) / total
    high = float(np.interp(percentile / 100.0, cumulative, hist.edges))
    low = float(np.interp(1.0 - percentile / 100.0, cumulative, hist.edges))
    return min(low, 0.0) if hist.low < 0 else hist.low, max(high, 0.0)


def _side_candidates(edges: np.ndarray, zero: int, step: int) -> np.ndarray:
    return np.unique(np.concatenate([np.arange(zero, len(edges), step), [len(edges) - 1]]))


def mse_range(hist: ActivationHistogram, levels: int = 255) -> tuple[float, float]:
    """The clipping range with the least expected quantization error over the histogram.

    For a range [lo, hi] quantized to ``levels`` steps of s = (hi − lo) / levels,
    each value inside costs the rounding noise s²/12 of a uniform error, and each
    value outside costs its squared distance to the nearest edge. Prefix sums
    over the bins make every (lo, hi) pair cost O(1), so all pairs of
    `MSE_CANDIDATES` points per side are tried.
    """
    counts, edges = hist.counts, hist.edges
    if hist.total == 0:
        return hist.low, hist.high
    centers = (edges[:-1] + edges[1:]) / 2
    zero = int(np.argmin(np.abs(edges)))
    # Prefix sums of n, n·x and n·x² over bins: S[k] is the sum over bins 0..k-1.
    s0 = np.concatenate([[0.0], np.cumsum(counts)])
    s1 = np.concatenate([[0.0], np.cumsum(counts * centers)])
    s2 = np.concatenate([[0.0], np.cumsum(counts * centers**2)])
    n_bins = len(counts)
    min_width = MSE_MIN_FRACTION * (hist.high - hist.low)
    # Candidate ends are edge indices: highs at or above zero, lows at or below it.
    step_hi = max(1, (n_bins - zero) // MSE_CANDIDATES)
    step_lo = max(1, zero // MSE_CANDIDATES)
    highs = _side_candidates(edges, zero, step_hi) if hist.high > 0 else np.array([zero])
    lows = zero - _side_candidates(edges[::-1][: zero + 1], 0, step_lo) if hist.low < 0 else None
    lows = np.array([zero]) if lows is None else np.unique(np.clip(lows, 0, zero))
    hi_val, lo_val = edges[highs], edges[lows]
    # Cost of values above each high edge h: Σ n (x − h)² over bins k ≥ h.
    above = (
        (s2[-1] - s2[highs]) - 2 * hi_val * (s1[-1] - s1[highs]) + hi_val**2 * (s0[-1] - s0[highs])
    )
    # Cost of values below each low edge l: Σ n (x − l)² over bins k < l.
    below = s2[lows] - 2 * lo_val * s1[lows] + lo_val**2 * s0[lows]
    inside = s0[highs][None, :] - s0[lows][:, None]
    width = hi_val[None, :] - lo_val[:, None]
    cost = below[:, None] + above[None, :] + inside * (width / levels) ** 2 / 12.0
    cost = np.where(width >= min_width, cost, np.inf)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return float(lo_val[i]), float(hi_val[j])


def choose_range(
    hist: ActivationHistogram, calibration: Calibration, levels: int = 255
) -> tuple[float, float]:
    """The range ``calibration`` picks for a tensor from its histogram."""
    if calibration.method == "percentile":
        return percentile_range(hist, calibration.percentile or DEFAULT_PERCENTILE)
    if calibration.method == "mse":
        return mse_range(hist, levels)
    return hist.low, hist.high
