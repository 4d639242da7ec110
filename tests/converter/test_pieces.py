"""The reusable pieces of conversion: calibration data, scoring, the converter wrapper, sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.toolhelpers import require_module

require_module("tf_keras")

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from edgedeploy.converter import (  # noqa: E402
    ConvertConfig,
    ModelSource,
    agreement,
    calibration_subset,
    convert,
    converter_error_line,
    evaluate_outputs,
    representative_dataset,
    to_tflite,
)
from edgedeploy.converter.tflite import float_compute_ops  # noqa: E402
from edgedeploy.errors import ConversionError, InputDataError  # noqa: E402
from edgedeploy.modelfile import load_model  # noqa: E402
from edgedeploy.training import TrainConfig, load_dataset, train  # noqa: E402

layers = tf_keras.layers


def _lambda_model(fn) -> object:
    inputs = layers.Input((8,))
    return tf_keras.Model(inputs, layers.Lambda(fn)(inputs))


def test_calibration_subset_is_seeded_capped_and_mixed():
    x = np.repeat(np.arange(10, dtype=np.float32), 20)[:, None]  # sorted by "class"
    first = calibration_subset(x, 50, seed=0)
    np.testing.assert_array_equal(first, calibration_subset(x, 50, seed=0))
    assert not np.array_equal(first, calibration_subset(x, 50, seed=1))
    assert len(np.unique(first)) >= 8  # not just the first class
    assert len(calibration_subset(x, 10_000)) == len(x)
    with pytest.raises(InputDataError, match="at least 1"):
        calibration_subset(x, 0)
    batches = list(representative_dataset(first)())
    assert len(batches) == 50
    assert batches[0][0].shape == (1, 1) and batches[0][0].dtype == np.float32


def test_evaluate_outputs_scores_classes_and_reconstructions():
    outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], np.float32)
    labels = np.array([0, 1, 1, 1])
    score = evaluate_outputs(outputs, np.zeros((4, 3)), labels, "classification")
    assert score.accuracy == 0.75 and score.mse is None
    flipped = evaluate_outputs(outputs[:, ::-1], np.zeros((4, 3)), labels, "classification")
    assert agreement(score, flipped) == 0.0
    x = np.array([[0.0, 1.0], [1.0, 1.0]], np.float32)
    recon = evaluate_outputs(np.array([[0.0, 0.0], [1.0, 1.0]]), x, None, "reconstruction")
    assert recon.mse == pytest.approx(0.25) and recon.accuracy is None
    assert agreement(recon, recon) is None


def test_converter_error_line_picks_the_message_not_the_location():
    message = (
        '<unknown>:0: error: loc(callsite("model/lambda/Erf@__inference"("x.py":1:1))): '
        "'tf.Erf' op is neither a custom op nor a flex op\n"
        "<unknown>:0: note: loc(fused[...]): called from\n"
        "<unknown>:0: error: failed while converting: 'main'"
    )
    assert converter_error_line(RuntimeError(message)) == (
        "'tf.Erf' op is neither a custom op nor a flex op"
    )
    assert converter_error_line(ValueError("\n\nplain reason\nmore")) == "plain reason"
    assert converter_error_line(ValueError("")) == "ValueError"


def test_a_refused_model_raises_conversion_error_with_the_converter_reason():
    model = _lambda_model(tf.math.erf)
    with pytest.raises(ConversionError, match=r"refused erf \(float32\): 'tf\.Erf' op") as caught:
        to_tflite(ModelSource("erf", keras_model=model), "float32")
    assert "\n" not in str(caught.value)


def test_float_ops_left_in_an_int8_model_are_reported():
    model = _lambda_model(lambda t: tf.math.cumsum(t, axis=1))
    samples = np.random.default_rng(0).random((20, 8)).astype(np.float32)
    data = to_tflite(
        ModelSource("cumsum", keras_model=model), "int8", representative_dataset(samples)
    )
    assert float_compute_ops(load_model(data)) == ["CUMSUM"]


def test_int8_without_calibration_data_is_refused():
    with pytest.raises(ConversionError, match="representative dataset"):
        to_tflite(ModelSource("m", keras_model=_lambda_model(tf.nn.relu)), "int8")


def _tiny_keras3_model(path: Path) -> None:
    import keras

    data = load_dataset("digits", input_size=8, seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=3, verbose=0)
    model.save(path)


@pytest.mark.slow
def test_a_keras3_file_converts(tmp_path):
    require_module("keras")
    _tiny_keras3_model(tmp_path / "k3.keras")
    report = convert(
        ConvertConfig(
            source=tmp_path / "k3.keras", out=tmp_path / "k3.tflite", dataset="digits", bench_runs=0
        )
    )
    assert report.float_accuracy > 0.6
    assert abs(report.float_accuracy - report.quantized_accuracy) <= 0.03
    assert report.input_dtype == "int8" and report.full_integer


@pytest.mark.slow
def test_a_saved_model_directory_converts(tmp_path):
    train(
        TrainConfig(
            model="small_cnn",
            dataset="digits",
            out=tmp_path / "run",
            input_size=8,
            epochs=3,
            model_options={"conv_layers": 1, "filters": 8},
        )
    )
    model = tf_keras.models.load_model(tmp_path / "run" / "model.keras")
    model.export(str(tmp_path / "saved"))
    from_dir = convert(
        ConvertConfig(source=tmp_path / "run", out=tmp_path / "a.tflite", bench_runs=0)
    )
    from_saved = convert(
        ConvertConfig(
            source=tmp_path / "saved", out=tmp_path / "b.tflite", dataset="digits", bench_runs=0
        )
    )
    assert from_saved.float_accuracy == from_dir.float_accuracy
    assert from_saved.op_counts == from_dir.op_counts


@pytest.mark.slow
def test_autoencoder_converts_to_full_integer_and_reports_mse(tmp_path):
    train(
        TrainConfig(
            model="autoencoder",
            dataset="digits",
            out=tmp_path / "ae",
            input_size=8,
            epochs=3,
            model_options={"hidden_units": 32, "hidden_layers": 2},
        )
    )
    report = convert(
        ConvertConfig(source=tmp_path / "ae", out=tmp_path / "ae.tflite", bench_runs=3)
    )
    assert report.task == "reconstruction"
    assert report.float_accuracy is None and report.quantized_accuracy is None
    assert 0 < report.float_mse < 0.2
    assert report.quantized_mse == pytest.approx(report.float_mse, rel=0.2)
    assert report.ops == ["FULLY_CONNECTED"]
    assert report.full_integer and report.tflm_unsupported_ops == []
    assert (report.input_dtype, report.output_dtype) == ("int8", "int8")
