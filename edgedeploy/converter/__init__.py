"""Conversion: a trained Keras model to .tflite (float32, float16, dynamic, int8 or int16x8).

`convert` reads a training output directory (or a Keras file / SavedModel plus a
dataset), converts it, scores float32 beside the converted model on the
held-out test split with LiteRT, and writes the .tflite and a JSON report.
Post-training int8 takes a calibration strategy (`Calibration`: min-max,
percentile, MSE) and may keep layers in float (`quantize_int8`);
quantization-aware training fine-tunes under fake quantization (`finetune`);
`analyze` / `compare_layers` rank every quantized tensor by its error against
the float model. The pieces are public so that other strategies can be built
from them.
"""

from edgedeploy.converter.analysis import (
    LayerAnalysis,
    TensorError,
    analyze,
    chart_png,
    compare_layers,
    format_analysis,
    match_tensors,
)
from edgedeploy.converter.calibration import (
    CALIBRATION_METHODS,
    ActivationHistogram,
    Calibration,
    RepresentativeDataset,
    calibration_subset,
    choose_range,
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
from edgedeploy.converter.ptq import PtqResult, TensorRange, quantize_int8, resolve_layers
from edgedeploy.converter.qat import QatResult, annotate, finetune
from edgedeploy.converter.source import ConversionSource, load_source
from edgedeploy.converter.tflite import (
    CALIBRATED_MODES,
    IO_DTYPES,
    IO_DTYPES_16X8,
    QUANTIZE_MODES,
    ModelSource,
    converter_error_line,
    to_tflite,
)

__all__ = [
    "CALIBRATED_MODES",
    "CALIBRATION_METHODS",
    "IO_DTYPES",
    "IO_DTYPES_16X8",
    "QUANTIZE_MODES",
    "ActivationHistogram",
    "Calibration",
    "ConversionReport",
    "ConversionSource",
    "ConvertConfig",
    "Evaluation",
    "LayerAnalysis",
    "ModelSource",
    "PtqResult",
    "QatResult",
    "RepresentativeDataset",
    "TensorError",
    "TensorRange",
    "agreement",
    "analyze",
    "annotate",
    "calibration_subset",
    "chart_png",
    "choose_range",
    "compare_layers",
    "convert",
    "converter_error_line",
    "evaluate_outputs",
    "evaluate_tflite",
    "finetune",
    "format_analysis",
    "format_report",
    "load_source",
    "match_tensors",
    "output_mse",
    "quantize_int8",
    "representative_dataset",
    "resolve_layers",
    "run_tflite",
    "to_tflite",
]
