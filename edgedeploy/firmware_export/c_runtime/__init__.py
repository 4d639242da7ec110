"""The plain-C int8 runtime: full-integer int8 .tflite models compiled ahead of time to C.

`export_c` writes model.h / model.c (weights in flash, straight-line kernel
calls, one statically planned arena), the hand-written C99 kernel library,
a host harness and a Makefile (``make host``, ``make cortex-m4``). The output
is bit-exact with TensorFlow Lite Micro's reference kernels, in less RAM.
`check_c_supported` refuses a model the runtime cannot run, before anything
is written.
"""

from edgedeploy.firmware_export.c_runtime._export import (
    KERNEL_DIR,
    CExportResult,
    check_c_supported,
    export_c,
    format_export,
    live_ops,
    plan_model,
)
from edgedeploy.firmware_export.c_runtime._lower import SUPPORTED_OPS

__all__ = [
    "KERNEL_DIR",
    "SUPPORTED_OPS",
    "CExportResult",
    "check_c_supported",
    "export_c",
    "format_export",
    "live_ops",
    "plan_model",
]
