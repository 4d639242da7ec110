"""Conversion end to end: accuracy and size targets on real held-out data, outputs and errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.toolhelpers import require_module

require_module("tf_keras")

from edgedeploy.converter import ConvertConfig, convert, format_report  # noqa: E402
from edgedeploy.errors import (  # noqa: E402
    DatasetError,
    InputDataError,
    InputFileError,
    ModelFormatError,
    OutputExistsError,
    OutputPathError,
    UnknownNameError,
)
from edgedeploy.modelfile import load_model  # noqa: E402

#: Keys the report must carry (the brief's contract with later stages).
REPORT_KEYS = {
    "float_accuracy",
    "quantized_accuracy",
    "float_size_bytes",
    "quantized_size_bytes",
    "ops",
    "op_counts",
    "size_ratio",
    "float_latency_ms",
    "quantized_latency_ms",
    "mode",
    "input_dtype",
    "output_dtype",
    "per_channel",
    "model",
    "dataset",
    "source",
    "out",
    "versions",
    "float_mse",
    "quantized_mse",
}


def _weight_scales(path: Path, op_name: str) -> list[tuple[int, int]]:
    """(output channels, number of scales) of the weights of every ``op_name`` op."""
    model = load_model(path)
    found = []
    for op in model.operators:
        if op.op == op_name:
            weights = model.tensors[op.inputs[1]]
            assert weights.dtype == "int8"
            channels = weights.shape[3] if op_name == "DEPTHWISE_CONV_2D" else weights.shape[0]
            found.append((channels, len(weights.quant.scales)))
    return found


@pytest.mark.slow
def test_int8_small_cnn_meets_accuracy_and_size_targets(converted_small_cnn):
    report = converted_small_cnn
    assert report.float_accuracy >= 0.95
    assert abs(report.float_accuracy - report.quantized_accuracy) <= 0.010
    assert report.quantized_size_bytes <= 0.30 * report.float_size_bytes
    assert report.size_ratio == pytest.approx(
        report.quantized_size_bytes / report.float_size_bytes, abs=1e-4
    )
    assert report.test_samples == 360 and report.calibration_samples == 200
    tflite = Path(report.out)
    assert tflite.stat().st_size == report.quantized_size_bytes
    parsed = load_model(tflite)
    assert parsed.tflm_unsupported_ops() == []
    assert report.full_integer and report.float_ops == []
    assert [t.dtype for t in parsed.input_tensors] == ["int8"]
    assert [t.dtype for t in parsed.output_tensors] == ["int8"]
    assert report.ops == parsed.ops_used
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(report.ops)
    # Per-channel by default: every convolution has one scale per output channel.
    convs = _weight_scales(tflite, "CONV_2D")
    assert convs and all(channels == scales and scales > 1 for channels, scales in convs)


@pytest.mark.slow
def test_report_file_matches_and_reads_well(converted_small_cnn):
    on_disk = json.loads(Path(converted_small_cnn.report_path).read_text())
    assert set(on_disk) >= REPORT_KEYS
    assert on_disk == json.loads(json.dumps(converted_small_cnn.to_dict()))
    assert on_disk["model"] == "small_cnn" and on_disk["dataset"] == "digits"
    assert on_disk["float_latency_ms"] > 0 and on_disk["quantized_latency_ms"] > 0
    assert on_disk["float_mse"] is None
    text = format_report(converted_small_cnn)
    accuracy_row = next(line for line in text.splitlines() if "test accuracy" in line)
    assert f"{converted_small_cnn.float_accuracy * 100:.2f} %" in accuracy_row
    assert f"{converted_small_cnn.quantized_accuracy * 100:.2f} %" in accuracy_row
    assert "float32" in text and "int8" in text and "CONV_2D" in text


@pytest.mark.slow
def test_tflite_micro_computes_the_reported_int8_accuracy(converted_small_cnn, trained_small_cnn):
    """Ground truth for a microcontroller: the TFLite Micro interpreter on the test split."""
    require_module("tflite_micro")
    from edgedeploy.runtime import MicroModel, Model, quantize
    from edgedeploy.training import load_trained

    data = load_trained(trained_small_cnn).dataset()
    micro = MicroModel(Path(converted_small_cnn.out))
    spec = Model(Path(converted_small_cnn.out)).inputs[0]
    predicted = [int(np.argmax(micro.run_raw([quantize(x[None], spec)])[0])) for x in data.x_test]
    accuracy = float(np.mean(np.array(predicted) == data.y_test))
    assert accuracy == pytest.approx(converted_small_cnn.quantized_accuracy, abs=0.006)


@pytest.mark.slow
def test_per_tensor_switch_leaves_one_scale_per_weight_tensor(trained_small_cnn, tmp_path):
    report = convert(
        ConvertConfig(
            source=trained_small_cnn, out=tmp_path / "pt.tflite", per_channel=False, bench_runs=0
        )
    )
    assert report.per_channel is False
    for op_name in ("CONV_2D", "FULLY_CONNECTED"):
        found = _weight_scales(tmp_path / "pt.tflite", op_name)
        assert found and all(scales == 1 for _, scales in found), (op_name, found)
    assert report.float_latency_ms is None  # bench_runs=0 skips the benchmark
    assert report.quantized_accuracy >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "io_dtype", "input_dtype", "weight_dtype"),
    [
        ("int8", "uint8", "uint8", "int8"),
        ("int8", "float32", "float32", "int8"),
        ("float16", "int8", "float32", "float16"),
        ("dynamic", "int8", "float32", "int8"),
        ("float32", "int8", "float32", "float32"),
    ],
)
def test_modes_and_io_dtypes(
    trained_small_cnn, tmp_path, mode, io_dtype, input_dtype, weight_dtype
):
    report = convert(
        ConvertConfig(
            source=trained_small_cnn,
            out=tmp_path / "m.tflite",
            quantize=mode,
            io_dtype=io_dtype,
            bench_runs=0,
        )
    )
    parsed = load_model(tmp_path / "m.tflite")
    assert report.input_dtype == input_dtype == parsed.input_tensors[0].dtype
    # The largest weight tensor tells the storage type (dynamic-range quantization leaves
    # tensors under 1024 elements in float, so a small convolution is no witness).
    largest = max((t for t in parsed.tensors if t.is_constant), key=lambda t: t.num_elements)
    assert largest.dtype == weight_dtype
    assert abs(report.float_accuracy - report.quantized_accuracy) <= 0.02
    if mode == "float32":
        assert report.quantized_size_bytes == report.float_size_bytes
    if mode == "float16":
        assert 0.4 < report.size_ratio < 0.6


@pytest.mark.slow
def test_bare_keras_file_with_dataset_matches_the_training_directory(
    trained_small_cnn, converted_small_cnn, tmp_path
):
    bare = tmp_path / "copy.keras"
    shutil.copy(trained_small_cnn / "model.keras", bare)
    with pytest.raises(DatasetError, match="--dataset"):
        convert(ConvertConfig(source=bare, out=tmp_path / "x.tflite"))
    report = convert(
        ConvertConfig(source=bare, out=tmp_path / "bare.tflite", dataset="digits", bench_runs=0)
    )
    # Input size and channels come from the model; seed 0 gives the same test split.
    assert report.float_accuracy == converted_small_cnn.float_accuracy
    assert report.task == "classification"
    with pytest.raises(DatasetError, match="takes \\[32, 32, 1\\]"):
        convert(
            ConvertConfig(
                source=bare, out=tmp_path / "y.tflite", dataset="digits", input_size=16, force=True
            )
        )
    with pytest.raises(DatasetError, match="6 classes"):
        convert(ConvertConfig(source=bare, out=tmp_path / "z.tflite", dataset="shapes", channels=1))


@pytest.mark.slow
def test_existing_outputs_are_refused_without_force(converted_small_cnn, trained_small_cnn):
    tflite = Path(converted_small_cnn.out)
    before = tflite.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        convert(ConvertConfig(source=trained_small_cnn, out=tflite))
    fresh = tflite.with_name("fresh.tflite")
    with pytest.raises(OutputExistsError, match="already exists"):
        convert(
            ConvertConfig(
                source=trained_small_cnn, out=fresh, report=Path(converted_small_cnn.report_path)
            )
        )
    assert tflite.read_bytes() == before
    assert not fresh.exists()


@pytest.mark.slow
def test_outputs_may_not_overwrite_the_source(trained_small_cnn):
    before = (trained_small_cnn / "model.keras").read_bytes()
    with pytest.raises(OutputPathError, match="would overwrite the input"):
        convert(
            ConvertConfig(
                source=trained_small_cnn, out=trained_small_cnn / "model.keras", force=True
            )
        )
    with pytest.raises(OutputPathError, match="would overwrite the input"):
        convert(
            ConvertConfig(
                source=trained_small_cnn,
                out=trained_small_cnn.parent / "ok.tflite",
                report=trained_small_cnn / "train_report.json",
                force=True,
            )
        )
    assert (trained_small_cnn / "model.keras").read_bytes() == before


def test_corrupt_model_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(
        ModelFormatError, match=r"cannot load Keras model .*broken\.keras"
    ) as caught:
        convert(ConvertConfig(source=bad, out=tmp_path / "out.tflite", dataset="digits"))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.tflite").exists()


def test_corrupt_model_in_a_training_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"garbage")
    (run / "labels.json").write_text('["a", "b"]')
    (run / "preprocessing.json").write_text(
        json.dumps(
            {
                "model": "small_cnn",
                "task": "classification",
                "dataset": "digits",
                "input_size": 8,
                "input_shape": [8, 8, 1],
                "seed": 0,
                "model_file": "model.keras",
            }
        )
    )
    with pytest.raises(ModelFormatError, match="cannot load Keras model"):
        convert(ConvertConfig(source=run, out=tmp_path / "out.tflite"))


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"quantize": "int4"}, UnknownNameError, "unknown quantization mode 'int4'"),
        ({"io_dtype": "int16"}, UnknownNameError, "unknown I/O dtype 'int16'"),
        ({"calibration_samples": 0}, InputDataError, "at least 1"),
        ({"bench_runs": -1}, InputDataError, "0 or more"),
        ({"source": Path("/nonexistent/model.keras")}, InputFileError, "does not exist"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, changes, error, message):
    settings = {"source": tmp_path, "out": tmp_path / "o.tflite"}
    settings.update(changes)
    with pytest.raises(error, match=message):
        convert(ConvertConfig(**settings))


def test_a_directory_that_is_no_model(tmp_path):
    with pytest.raises(InputFileError, match="neither a training output"):
        convert(ConvertConfig(source=tmp_path, out=tmp_path / "o.tflite", dataset="digits"))
