"""Prepare-time quantization parameters, computed exactly as TFLite Micro computes them.

Bit-exactness needs more than the same kernel arithmetic: every multiplier,
shift and clamp bound must equal the one TFLite Micro derives in its
``Prepare`` functions from the float scales. Those use double precision
``frexp`` and round-half-away-from-zero, and in a few places float32 products
(fully connected per-tensor, RELU, HARD_SWISH); each helper here names the
TFLite Micro function it mirrors and keeps its float32/float64 steps.
"""

from __future__ import annotations

import math

import numpy as np

from edgedeploy.errors import UnsupportedModelError

__all__ = [
    "SINGLE_ROUNDING",
    "activation_range",
    "calculate_input_radius",
    "f32",
    "quantize_multiplier",
    "round_away",
]

#: TFLite Micro's tflite-micro wheel is built with double rounding
#: (TFLITE_SINGLE_ROUNDING unset); the C library's default matches.
SINGLE_ROUNDING = False

_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def f32(value: float) -> np.float32:
    """The float32 TFLite holds for a scale (model files store float32)."""
    return np.float32(value)


def round_away(x: float) -> int:
    """``std::round``: to nearest, ties away from zero (Python's round() ties to even)."""
    if x < 0:
        return -round_away(-x)
    floor = math.floor(x)
    return int(floor + 1) if x - floor >= 0.5 else int(floor)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``QuantizeMultiplier``: real ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        # Finite scales can still divide to infinity (1e38 / 1e-45).
        raise UnsupportedModelError(
            f"quantization scales whose rescaling factor is {real} (not finite)"
        )
    q, shift = math.frexp(real)
    q_fixed = round_away(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if SINGLE_ROUNDING and shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return q_fixed, shift


def calculate_input_radius(
    input_integer_bits: int, input_left_shift: int, total_bits: int = 31
) -> int:
    """``CalculateInputRadius``: largest input difference the fixed-point path can take."""
    value = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * (1 << (total_bits - input_integer_bits))
        / (1 << input_left_shift)
    )
    return math.floor(value)


def _quantize_float(scale: float, zero_point: int, value: float) -> int:
    """kernel_util's ``Quantize``: float32 division, then std::round."""
    return zero_point + round_away(float(np.float32(value) / f32(scale)))


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for an int8 output.

    Raises ValueError for a fused activation TFLite Micro does not clamp this way.
    """
    qmin, qmax = -128, 127
    if activation == 0:
        return qmin, qmax
    if activation == 1:
        return max(qmin, _quantize_float(scale, zero_point, 0.0)), qmax
    if activation == 3:
        return (
            max(qmin, _quantize_float(scale, zero_point, 0.0)),
            min(qmax, _quantize_float(scale, zero_point, 6.0)),
        )
    if activation == 2:
        return (
            max(qmin, _quantize_float(scale, zero_point, -1.0)),
            min(qmax, _quantize_float(scale, zero_point, 1.0)),
        )
    raise ValueError(f"fused activation {_ACTIVATIONS.get(activation, activation)}")
