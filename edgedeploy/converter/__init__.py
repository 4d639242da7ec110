"""Conversion: a trained Keras model to .tflite (float32, float16, dynamic or full int8).

`convert` reads a training output directory (or a Keras file / SavedModel plus a
dataset), converts it, scores float32 beside the converted model on the
held-out test split with LiteRT, and writes the .tflite and a JSON report.
The calibration, conversion and evaluation helpers are public so that other
quantization strategies can be built from the same pieces.
"""

from edgedeploy.converter.calibration import (
    RepresentativeDataset,
    calibration_subset,
    representative_dataset,
)
from edgedeploy.converter.convert import ConversionReport, ConvertConfig, convert, format_report
from edgedeploy.converter.evaluation import (
    Evaluation,
    agreement,
    evaluate_outputs,
    evaluate_tflite,
    output_mse,
    run_tflite,
)
from edgedeploy.converter.source import ConversionSource, load_source
from edgedeploy.converter.tflite import (
    IO_DTYPES,
    QUANTIZE_MODES,
    ModelSource,
    converter_error_line,
    to_tflite,
)

__all__ = [
    "IO_DTYPES",
    "QUANTIZE_MODES",
    "ConversionReport",
    "ConversionSource",
    "ConvertConfig",
    "Evaluation",
    "ModelSource",
    "RepresentativeDataset",
    "agreement",
    "calibration_subset",
    "convert",
    "converter_error_line",
    "evaluate_outputs",
    "evaluate_tflite",
    "format_report",
    "load_source",
    "output_mse",
    "representative_dataset",
    "run_tflite",
    "to_tflite",
]
