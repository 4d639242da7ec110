"""Running .tflite models on a host or Raspberry Pi without TensorFlow.

`Model` runs a model with LiteRT (or tflite-runtime, or tensorflow.lite);
`MicroModel` runs it in the TFLite Micro interpreter, the reference for what a
microcontroller computes; `measure_arena` sizes TFLite Micro's tensor arena.
"""

from edgedeploy.runtime.interpreter import (
    BenchmarkResult,
    Model,
    TensorSpec,
    dequantize,
    quantize,
)
from edgedeploy.runtime.micro import ArenaReport, MicroModel, measure_arena

__all__ = [
    "ArenaReport",
    "BenchmarkResult",
    "MicroModel",
    "Model",
    "TensorSpec",
    "dequantize",
    "measure_arena",
    "quantize",
]
