"""Exporting a .tflite model as firmware source for microcontrollers.

`export_tflm` writes a TensorFlow Lite Micro project (model array, settings
header, op resolver, harness, Arduino sketch); `render_c_array` embeds any file
as an aligned C or C++ array. The plain-C runtime lives in the ``c_runtime``
subpackage and is imported from there.
"""

from edgedeploy.firmware_export.c_array import CArray, render_c_array
from edgedeploy.firmware_export.tflm import (
    TflmExportResult,
    arena_with_margin,
    export_tflm,
    format_export,
)

__all__ = [
    "CArray",
    "TflmExportResult",
    "arena_with_margin",
    "export_tflm",
    "format_export",
    "render_c_array",
]
