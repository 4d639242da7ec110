"""The model zoo: every builder builds, with the right output and the reference structure."""

from __future__ import annotations

import pytest

from tests.toolhelpers import require_module

require_module("tf_keras")

import tf_keras  # noqa: E402

from edgedeploy.errors import TrainingError, UnknownNameError  # noqa: E402
from edgedeploy.training import MODEL_NAMES, build_model, model_options, model_task  # noqa: E402

layers = tf_keras.layers


def _count(model, kind) -> int:
    return sum(isinstance(layer, kind) for layer in model.layers)


def test_model_names_are_the_documented_zoo():
    assert set(MODEL_NAMES) == {
        "autoencoder",
        "ds_cnn",
        "mobilenet_v1",
        "mobilenet_v2",
        "resnet8",
        "small_cnn",
    }


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "autoencoder"])
@pytest.mark.parametrize("shape", [(32, 32, 1), (40, 48, 3)])
def test_classifiers_build_with_one_softmax_output_per_class(name, shape):
    model = build_model(name, shape, 7)
    assert model.input_shape == (None, *shape)
    assert model.output_shape == (None, 7)
    assert model_task(name) == "classification"


def test_autoencoder_reconstructs_its_flat_input():
    model = build_model("autoencoder", (64,), 10, hidden_units=32, bottleneck=4)
    assert model.input_shape == (None, 64)
    assert model.output_shape == (None, 64)
    assert model_task("autoencoder") == "reconstruction"
    widths = [layer.units for layer in model.layers if isinstance(layer, layers.Dense)]
    assert widths == [32, 32, 32, 32, 4, 32, 32, 32, 32, 64]
    assert _count(model, layers.BatchNormalization) == 9


def test_small_cnn_layer_counts_follow_the_options():
    model = build_model("small_cnn", (32, 32, 1), 10, conv_layers=4, dense_layers=2)
    assert _count(model, layers.Conv2D) == 4
    assert _count(model, layers.MaxPooling2D) == 1
    assert _count(model, layers.Dense) == 3  # two hidden, one classifier
    flat = next(layer for layer in model.layers if isinstance(layer, layers.Flatten))
    assert flat.output_shape == (None, 8 * 8 * 16)  # pool defaults to height // 8


def test_reference_architectures_keep_batch_norm_and_residual_adds():
    ds = build_model("ds_cnn", (49, 10, 1), 12)
    assert _count(ds, layers.DepthwiseConv2D) == 4
    assert _count(ds, layers.BatchNormalization) == 9
    resnet = build_model("resnet8", (32, 32, 3), 10)
    assert _count(resnet, layers.Add) == 3
    assert _count(resnet, layers.Conv2D) == 9  # 7 on the main path, 2 strided shortcuts
    v1 = build_model("mobilenet_v1", (32, 32, 1), 10, alpha=0.25)
    assert _count(v1, layers.DepthwiseConv2D) == 13
    v2 = build_model("mobilenet_v2", (32, 32, 3), 10)
    assert _count(v2, layers.Add) == 10
    relu6 = [layer for layer in v2.layers if isinstance(layer, layers.ReLU)]
    assert relu6 and all(float(layer.max_value) == 6.0 for layer in relu6)
    for model in (ds, resnet, v1, v2):
        momenta = {
            layer.momentum for layer in model.layers if isinstance(layer, layers.BatchNormalization)
        }
        assert momenta == {0.9}


def test_alpha_scales_mobilenet_width():
    narrow = build_model("mobilenet_v1", (32, 32, 1), 10, alpha=0.25).count_params()
    wide = build_model("mobilenet_v1", (32, 32, 1), 10, alpha=0.5).count_params()
    assert wide > 2.5 * narrow


def test_unknown_model_name_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match=r"unknown model 'lenet'.*small_cnn"):
        build_model("lenet", (32, 32, 1), 10)


def test_unknown_option_lists_the_model_options():
    with pytest.raises(UnknownNameError, match=r"no option 'alpha'.*conv_layers"):
        build_model("small_cnn", (32, 32, 1), 10, alpha=0.5)
    assert "alpha" in model_options("mobilenet_v1")


@pytest.mark.parametrize(
    ("name", "shape", "options", "message"),
    [
        ("mobilenet_v1", (24, 24, 1), {}, "at least 32×32"),
        ("mobilenet_v1", (32, 32, 1), {"alpha": 2.0}, "alpha must be in"),
        ("small_cnn", (32, 32, 2), {}, "1 or 3 channels"),
        ("small_cnn", (64,), {}, "takes images"),
        ("autoencoder", (8, 8, 1), {}, "flat vectors"),
        ("small_cnn", (32, 32, 1), {"conv_layers": 0}, "conv_layers must be in"),
    ],
)
def test_bad_shapes_and_options_are_one_line_errors(name, shape, options, message):
    with pytest.raises(TrainingError, match=message):
        build_model(name, shape, 10, **options)


def test_a_classifier_needs_two_classes():
    with pytest.raises(TrainingError, match="at least 2 classes"):
        build_model("small_cnn", (32, 32, 1), 1)
