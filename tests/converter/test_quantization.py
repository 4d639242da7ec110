"""Calibration strategies, float-kept layers, per-layer error ranking, int16x8 and QAT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.toolhelpers import require_module

require_module("tf_keras")

from edgedeploy.converter import (  # noqa: E402
    ActivationHistogram,
    Calibration,
    ModelSource,
    annotate,
    calibration_subset,
    choose_range,
    compare_layers,
    evaluate_tflite,
    finetune,
    format_report,
    quantize_int8,
    representative_dataset,
    to_tflite,
)
from edgedeploy.converter.source import load_source  # noqa: E402
from edgedeploy.converter.tflite import float_compute_ops  # noqa: E402
from edgedeploy.errors import InputDataError, UnknownNameError  # noqa: E402
from edgedeploy.modelfile import load_model  # noqa: E402
from edgedeploy.runtime import Model  # noqa: E402
from edgedeploy.training import load_dataset  # noqa: E402
from edgedeploy.training._tf import tf_keras  # noqa: E402

#: Hot-pixel outliers added to the calibration data: samples, pixels each, value.
HOT_SAMPLES, HOT_PIXELS, HOT_VALUE = 2, 4, 30.0


# --- pure calibration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "method", "percentile"),
    [
        ("minmax", "minmax", None),
        ("mse", "mse", None),
        ("percentile", "percentile", 99.99),
        ("percentile:99.9", "percentile", 99.9),
    ],
)
def test_calibration_names_parse(text, method, percentile):
    parsed = Calibration.parse(text)
    assert (parsed.method, parsed.percentile) == (method, percentile)
    assert Calibration.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("entropy", UnknownNameError),
        ("mse:3", UnknownNameError),
        ("percentile:abc", InputDataError),
        ("percentile:100", InputDataError),
        ("percentile:40", InputDataError),
    ],
)
def test_bad_calibration_names_are_refused(text, error):
    with pytest.raises(error, match="calibration"):
        Calibration.parse(text)


def _hist(values: np.ndarray) -> ActivationHistogram:
    hist = ActivationHistogram(float(values.min()), float(values.max()))
    hist.add(values)
    return hist


def _rounding_mse(values: np.ndarray, high: float) -> float:
    step = high / 255
    return float(np.mean((np.round(np.clip(values, 0, high) / step) * step - values) ** 2))


def test_mse_clips_a_heavy_tail_where_that_lowers_the_error():
    values = np.abs(np.random.default_rng(0).laplace(0.0, 1.0, 200_000))
    hist = _hist(values)
    assert choose_range(hist, Calibration.parse("minmax")) == (0.0, values.max())
    _, high = choose_range(hist, Calibration.parse("mse"))
    assert high < 0.9 * values.max()
    assert _rounding_mse(values, high) < 0.9 * _rounding_mse(values, values.max())


def test_percentile_clips_rare_outliers_that_minmax_and_mse_keep():
    """Three values at 400 among 200 000 of |Laplace(1)|.

    Percentile clips them (the 99.99th percentile of |Laplace(1)| is ln 10⁴ ≈ 9.2);
    MSE keeps them, rightly by its measure: clipping three values by ~390 costs
    more squared error than the coarser step costs all the others.
    """
    values = np.abs(np.random.default_rng(0).laplace(0.0, 1.0, 200_000))
    values[:3] = 400.0
    hist = _hist(values)
    _, p_high = choose_range(hist, Calibration.parse("percentile"))
    _, m_high = choose_range(hist, Calibration.parse("mse"))
    assert 8.0 < p_high < 12.0
    assert m_high > 300.0
    assert _rounding_mse(values, m_high) < _rounding_mse(values, p_high)


# --- post-training int8 on the session's small_cnn ------------------------------------------


@pytest.fixture(scope="session")
def small_cnn_source(trained_small_cnn):
    return load_source(trained_small_cnn)


@pytest.fixture(scope="session")
def calibration_samples(small_cnn_source):
    return calibration_subset(small_cnn_source.dataset.x_train, 200, 0)


def _activation_scales(data: bytes) -> dict[str, float]:
    model = load_model(data)
    return {
        t.name: t.quant.scales[0]
        for t in model.tensors
        if not t.is_constant and t.dtype == "int8" and t.quant and t.quant.scales
    }


@pytest.mark.slow
def test_minmax_calibration_is_the_converters_own(small_cnn_source, calibration_samples):
    ours = quantize_int8(small_cnn_source.model, calibration_samples, "minmax").model
    theirs = to_tflite(small_cnn_source.model, "int8", representative_dataset(calibration_samples))
    assert sorted(_activation_scales(ours).values()) == pytest.approx(
        sorted(_activation_scales(theirs).values()), rel=1e-6
    )


@pytest.mark.slow
def test_strategies_give_different_scales_and_the_chosen_ranges_reach_the_model(
    small_cnn_source, calibration_samples
):
    scales = {}
    for name in ("minmax", "percentile", "mse"):
        result = quantize_int8(small_cnn_source.model, calibration_samples, name)
        model_scales = _activation_scales(result.model)
        scales[name] = model_scales
        checked = 0
        for r in result.ranges:
            if r.tensor not in model_scales or "conv" not in r.tensor:
                continue
            # A ReLU output: the range [0, max] becomes scale max / 255.
            assert model_scales[r.tensor] == pytest.approx((r.max - r.min) / 255, rel=1e-3)
            checked += 1
        assert checked >= 3, result.ranges
    convs = [n for n in scales["minmax"] if "conv" in n]
    for a, b in (("minmax", "percentile"), ("minmax", "mse"), ("percentile", "mse")):
        assert any(scales[a][n] != pytest.approx(scales[b][n], rel=1e-4) for n in convs), (a, b)
    # Clipping strategies never widen a range min-max chose.
    for n in convs:
        assert scales["percentile"][n] <= scales["minmax"][n] * (1 + 1e-6)
        assert scales["mse"][n] <= scales["minmax"][n] * (1 + 1e-6)


def hot_pixels(samples: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    out = samples[:HOT_SAMPLES].copy()
    for sample in out:
        sample.reshape(-1)[rng.integers(0, sample.size, HOT_PIXELS)] = HOT_VALUE
    return out


@pytest.mark.slow
def test_percentile_beats_minmax_when_the_calibration_data_has_outliers(
    small_cnn_source, calibration_samples
):
    data = small_cnn_source.dataset
    samples = np.concatenate([calibration_samples, hot_pixels(calibration_samples)])
    reference = to_tflite(small_cnn_source.model, "float32")
    sqnr, accuracy = {}, {}
    for name in ("minmax", "percentile", "mse"):
        model = quantize_int8(small_cnn_source.model, samples, name).model
        sqnr[name] = compare_layers(model, reference, data.x_val[:50]).mean_sqnr_db
        accuracy[name] = evaluate_tflite(
            Model(model), data.x_test, data.y_test, "classification"
        ).accuracy
    # Min-max stretches the input's int8 step 30-fold for four pixels; percentile
    # clips them (measured: about 12 dB better); MSE, dominated by the outliers'
    # squared distance, clips far less.
    assert sqnr["percentile"] > sqnr["minmax"] + 5.0, sqnr
    assert sqnr["mse"] >= sqnr["minmax"] - 0.5, sqnr
    assert accuracy["percentile"] >= accuracy["minmax"] - 0.01, accuracy


@pytest.mark.slow
def test_keep_float_leaves_the_named_layer_in_float(small_cnn_source, calibration_samples):
    result = quantize_int8(small_cnn_source.model, calibration_samples, keep_float=["dense1"])
    model = load_model(result.model)
    assert result.kept_float and all("dense1" in n for n in result.kept_float)
    assert float_compute_ops(model) == ["FULLY_CONNECTED"]
    data = small_cnn_source.dataset
    accuracy = evaluate_tflite(Model(result.model), data.x_test, data.y_test, "classification")
    assert accuracy.accuracy > 0.9
    with pytest.raises(UnknownNameError, match=r"no layer named 'dense9'.*conv1"):
        quantize_int8(small_cnn_source.model, calibration_samples, keep_float=["dense9"])


# --- the per-layer report finds a planted bad layer ------------------------------------------


def _depthwise_model(seed: int = 0):
    tf_keras.utils.set_random_seed(seed)
    layers = tf_keras.layers
    inputs = layers.Input((12, 12, 1))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = layers.Conv2D(16, 1, activation="relu", name="pw")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(4, activation="softmax", name="head")(x)
    return tf_keras.Model(inputs, outputs, name="planted")


def test_planted_bad_depthwise_channel_is_ranked_worst():
    """One depthwise output channel's weights ×100 under per-tensor weight scales.

    The function is kept (the next 1×1 convolution divides that channel by 100),
    so the float model is as good as before, but the one int8 weight scale of
    the depthwise convolution is set by the big channel and the other channels'
    weights round to a few levels or to zero: that layer must top the ranking.
    """
    model = _depthwise_model()
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (64, 12, 12, 1)).astype(np.float32)
    dw, pw = model.get_layer("dw"), model.get_layer("pw")
    kernel, bias = dw.get_weights()
    kernel[..., 3, 0] *= 100.0
    bias[3] *= 100.0
    dw.set_weights([kernel, bias])
    pw_kernel, pw_bias = pw.get_weights()
    pw_kernel[:, :, 3, :] /= 100.0
    pw.set_weights([pw_kernel, pw_bias])
    source = ModelSource("planted", keras_model=model)
    reference = to_tflite(source, "float32")
    quantized = to_tflite(source, "int8", representative_dataset(x[:32]), per_channel=False)
    analysis = compare_layers(quantized, reference, x[32:])
    worst, second = analysis.tensors[0], analysis.tensors[1]
    assert worst.op == "DEPTHWISE_CONV_2D" and "dw" in worst.layers, [
        (t.label, t.local_channel_sqnr_db) for t in analysis.tensors
    ]
    assert worst.local_channel_sqnr_db < second.local_channel_sqnr_db - 10.0
    assert [t.rank for t in analysis.tensors] == list(range(1, len(analysis.tensors) + 1))


def test_unplanted_model_has_no_such_outlier_layer():
    """The control: the same network without the planted channel has no layer 10 dB worse."""
    source = ModelSource("plain", keras_model=_depthwise_model())
    x = np.random.default_rng(0).uniform(0.0, 1.0, (64, 12, 12, 1)).astype(np.float32)
    reference = to_tflite(source, "float32")
    quantized = to_tflite(source, "int8", representative_dataset(x[:32]), per_channel=False)
    analysis = compare_layers(quantized, reference, x[32:])
    dw = next(t for t in analysis.tensors if t.op == "DEPTHWISE_CONV_2D")
    assert dw.local_channel_sqnr_db > 25.0


# --- int16x8 in TFLite Micro ----------------------------------------------------------------


@pytest.mark.slow
def test_int16x8_runs_in_tflite_micro_as_accurately_as_int8(small_cnn_source, calibration_samples):
    require_module("tflite_micro")
    from edgedeploy.runtime import MicroModel, dequantize, quantize

    data = small_cnn_source.dataset
    representative = representative_dataset(calibration_samples)
    accuracy = {}
    for mode in ("int8", "int16x8"):
        converted = to_tflite(small_cnn_source.model, mode, representative)
        parsed = load_model(converted)
        activations = {t.dtype for t in parsed.tensors if not t.is_constant}
        assert activations == ({"int16"} if mode == "int16x8" else {"int8"}), activations
        micro, host = MicroModel(converted), Model(converted)
        spec_in, spec_out = host.inputs[0], host.outputs[0]
        x, y = data.x_test[:120], data.y_test[:120]
        predicted = [
            int(np.argmax(dequantize(micro.run_raw([quantize(s[None], spec_in)])[0], spec_out)))
            for s in x
        ]
        accuracy[mode] = float(np.mean(np.array(predicted) == y))
        assert parsed.tflm_unsupported_ops() == []
    assert accuracy["int8"] > 0.9
    assert accuracy["int16x8"] >= accuracy["int8"] - 0.02, accuracy


# --- quantization-aware training ------------------------------------------------------------


def _residual_model():
    """Depthwise convolution, batch normalization, ReLU6 and a residual ADD: QAT must take all."""
    tf_keras.utils.set_random_seed(0)
    layers = tf_keras.layers
    inputs = layers.Input((8, 8, 1))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    y = layers.BatchNormalization(momentum=0.9, name="dw_bn")(y)
    y = layers.ReLU(6.0, name="dw_relu6")(y)
    y = layers.Conv2D(16, 1, use_bias=False, name="pw")(y)
    y = layers.BatchNormalization(momentum=0.9, name="pw_bn")(y)
    x = layers.Add(name="residual")([x, y])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(10, activation="softmax", name="head")(x)
    return tf_keras.Model(inputs, outputs, name="residual")


def _range_vars(model) -> dict[str, float]:
    """The annotated model's activation range variables (weights' ranges left out)."""
    return {
        v.name: float(np.asarray(v.numpy()).max())
        for v in model.non_trainable_variables
        if v.name.endswith(("_min:0", "_max:0")) and "kernel" not in v.name
    }


def test_qat_ranges_start_at_the_calibrated_activation_ranges():
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

    from edgedeploy.converter.qat import initialize_ranges

    data = load_dataset("digits", input_size=8, seed=0)
    model = _residual_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=2, batch_size=32, verbose=0)
    annotated = annotate(ModelSource("residual", keras_model=model))
    before = _range_vars(annotated)
    # tfmot's start: every activation range is [-6, 6].
    assert {abs(v) for k, v in before.items() if not k.startswith("quantize_layer")} == {6.0}
    moving = {v.name: v.numpy() for v in annotated.variables if "moving_" in v.name}
    original = quant_ops.MovingAvgQuantize
    x = data.x_train[:256]
    assert initialize_ranges(annotated, x, batch_size=64, max_batches=3) == 3
    assert quant_ops.MovingAvgQuantize is original
    after = _range_vars(annotated)
    # The input range is the mean of the three batches' ranges (with 0 inside).
    expected_max = np.mean([max(float(x[i : i + 64].max()), 0.0) for i in (0, 64, 128)])
    assert after["quantize_layer/quantize_layer_max:0"] == pytest.approx(expected_max, rel=1e-5)
    # ReLU6 outputs: min 0 (not -6), max within (0, 6]; the residual ADD's range moved too.
    relu = {k: v for k, v in after.items() if "relu6" in k}
    assert relu and all(v == 0.0 for k, v in relu.items() if k.endswith("_min:0"))
    assert all(0.0 < v <= 6.0 for k, v in relu.items() if k.endswith("_max:0"))
    assert after != before
    assert all(after[k] != before[k] for k in after if "residual" in k and k.endswith("_max:0"))
    # Batch-normalization statistics are left as trained.
    for v in annotated.variables:
        if v.name in moving:
            np.testing.assert_array_equal(v.numpy(), moving[v.name])


@pytest.mark.slow
def test_qat_on_a_tiny_residual_model_converts_to_full_integer_int8():
    data = load_dataset("digits", input_size=8, seed=0)
    model = _residual_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=15, batch_size=32, verbose=0)
    source = ModelSource("residual", keras_model=model)
    float_accuracy = evaluate_tflite(
        to_tflite(source, "float32"), data.x_test, data.y_test, "classification"
    ).accuracy
    lines = []
    result = finetune(annotate(source), data, "classification", epochs=2, log=lines.append)
    assert len(lines) == result.epochs_run and lines[0].startswith("QAT epoch 1/2")
    assert 1 <= result.best_epoch <= result.epochs_run
    samples = representative_dataset(calibration_subset(data.x_train, 100))
    converted = to_tflite(result.source("residual"), "int8", samples)
    parsed = load_model(converted)
    assert float_compute_ops(parsed) == []
    assert {"DEPTHWISE_CONV_2D", "ADD", "CONV_2D"} <= set(parsed.ops_used)
    assert "MUL" not in parsed.ops_used  # batch normalization folded, not left as an op
    qat_accuracy = evaluate_tflite(converted, data.x_test, data.y_test, "classification").accuracy
    assert float_accuracy > 0.5
    assert qat_accuracy >= float_accuracy - 0.05, (float_accuracy, qat_accuracy)


@pytest.fixture(scope="session")
def qat_small_cnn(trained_small_cnn, tmp_path_factory):
    from edgedeploy.converter import ConvertConfig, convert

    out = tmp_path_factory.mktemp("qat")
    return convert(
        ConvertConfig(
            source=trained_small_cnn,
            out=out / "qat.tflite",
            report=out / "qat.json",
            qat=True,
            qat_epochs=2,
            bench_runs=3,
            analysis_samples=30,
        )
    )


@pytest.mark.slow
def test_convert_with_qat_reports_float_ptq_and_qat_side_by_side(qat_small_cnn):
    report = qat_small_cnn
    names = [v["name"] for v in report.variants]
    assert names == ["float32", "int8 PTQ (minmax, per-channel)", "int8 QAT"]
    assert all(v["size_bytes"] > 0 and v["latency_ms"] is not None for v in report.variants)
    float_row, _, qat_row = report.variants
    assert qat_row["accuracy"] == report.quantized_accuracy
    assert qat_row["accuracy"] >= float_row["accuracy"] - 0.02
    assert report.full_integer and report.microcontroller_ready
    assert (report.input_dtype, report.output_dtype) == ("int8", "int8")
    assert report.qat is not None and report.qat["epochs_run"] >= 1
    assert report.qat["range_batches"] >= 1
    assert report.layer_errors is not None and report.layer_errors["tensors"]
    # Layer by layer only the post-training model compares with the float one.
    assert report.layer_errors["model"] == "the int8 PTQ (minmax, per-channel) model"
    text = format_report(report)
    assert "int8 QAT" in text and "QAT: " in text and "per-layer error" in text
    assert Path(report.out).is_file() and Path(str(report.report_path)).is_file()
