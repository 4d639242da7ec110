"""The CLI's quantization options and ``analyze``, in-process: real runs and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgedeploy.cli import main
from tests.toolhelpers import require_module


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("edgedeploy: error: ")
    return lines[0]


@pytest.fixture(scope="session")
def custom_layer_model(tmp_path_factory) -> Path:
    """A trained digits classifier (8×8) with a custom layer tfmot has no QAT rule for."""
    require_module("tf_keras")
    from edgedeploy.training import load_dataset
    from edgedeploy.training._tf import tf_keras

    @tf_keras.utils.register_keras_serializable(package="edgedeploy_tests")
    class Scale(tf_keras.layers.Layer):
        """Multiplies by a learned scalar."""

        def build(self, input_shape):
            self.factor = self.add_weight(name="factor", shape=(), initializer="ones")

        def call(self, x):
            return x * self.factor

    data = load_dataset("digits", input_size=8, seed=0)
    tf_keras.utils.set_random_seed(0)
    layers = tf_keras.layers
    inputs = layers.Input((8, 8, 1))
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = Scale(name="scale")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = tf_keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("custom") / "custom.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def lambda_layer_model(tmp_path_factory) -> Path:
    """A digits classifier (8×8) with a Lambda layer, saved as .h5 (which loads it back)."""
    require_module("tf_keras")
    from edgedeploy.training._tf import tf_keras

    layers = tf_keras.layers
    inputs = layers.Input((8, 8, 1))
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.Lambda(lambda t: t * 0.5, name="halve")(x)
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    path = tmp_path_factory.mktemp("lambda") / "lambda.h5"
    tf_keras.Model(inputs, outputs).save(path)
    return path


def _convert_argv(source: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "convert",
        str(source),
        "--out",
        str(tmp_path / "m.tflite"),
        "--report",
        str(tmp_path / "m.json"),
        "--bench-runs",
        "0",
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--calibration", "entropy"], "unknown calibration 'entropy'"),
        (["--calibration", "percentile:120"], "the percentile must be in (50, 100)"),
        (["--keep-float", "conv1,nosuchlayer"], "no layer named 'nosuchlayer'"),
        (["--quantize", "int16x8", "--qat"], "--qat produces int8 models"),
        (["--qat", "--qat-epochs", "0"], "QAT epochs must be at least 1"),
    ],
)
def test_bad_quantization_options_are_one_line_and_write_nothing(
    trained_small_cnn, tmp_path, capsys, extra, expected
):
    status = main(_convert_argv(trained_small_cnn, tmp_path, *extra))
    assert status != 0
    assert expected in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("custom_layer_model", "cannot annotate layer 'scale' (Scale)"),
        ("lambda_layer_model", "cannot annotate layer 'halve' (Lambda)"),
    ],
)
def test_qat_on_a_layer_tfmot_cannot_annotate_is_one_line_and_writes_nothing(
    request, tmp_path, capsys, fixture, expected
):
    model = request.getfixturevalue(fixture)
    argv = _convert_argv(model, tmp_path, "--dataset", "digits", "--input-size", "8", "--qat")
    assert main(argv) == 4
    assert expected in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_convert_with_calibration_and_keep_float_says_it_is_not_for_microcontrollers(
    trained_small_cnn, tmp_path, capsys
):
    argv = _convert_argv(
        trained_small_cnn,
        tmp_path,
        "--calibration",
        "percentile:99.9",
        "--per-tensor",
        "--keep-float",
        "dense1",
        "--analysis-samples",
        "20",
    )
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "int8 PTQ (percentile:99.9, per-tensor)" in out
    assert "not fit for microcontrollers" in out
    assert "per-layer error" in out
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["calibration"] == "percentile:99.9" and report["per_channel"] is False
    assert report["full_integer"] is False and report["microcontroller_ready"] is False
    assert any("dense1" in n for n in report["kept_float_nodes"])
    chosen = [r for r in report["calibration_ranges"] if "conv1" in r["tensor"]]
    assert chosen and chosen[0]["max"] < chosen[0]["observed_max"]


@pytest.mark.slow
def test_analyze_prints_the_ranking_and_writes_json_and_chart(
    converted_small_cnn, trained_small_cnn, tmp_path, capsys
):
    out = tmp_path / "analysis"
    argv = [
        "analyze",
        converted_small_cnn.out,
        "--float",
        str(trained_small_cnn),
        "--samples",
        "20",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "per-layer error" in printed and "20 samples" in printed
    ranking = json.loads((out / "layers.json").read_text())
    assert ranking["samples"] == 20 and ranking["tensors"][0]["rank"] == 1
    sqnr = [t["local_channel_sqnr_db"] for t in ranking["tensors"]]
    finite = [v if v is not None else float("inf") for v in sqnr]
    assert finite == sorted(finite)
    assert (out / "layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Again without --force: refused before any work, the first results kept.
    before = (out / "layers.json").read_bytes()
    assert main(argv) == 3
    assert "already exists" in _error_line(capsys)
    assert (out / "layers.json").read_bytes() == before


def test_analyze_with_a_bare_float_tflite_needs_a_dataset(converted_small_cnn, tmp_path, capsys):
    float_model = tmp_path / "float.tflite"
    float_model.write_bytes(Path(converted_small_cnn.out).read_bytes())
    argv = [
        "analyze",
        converted_small_cnn.out,
        "--float",
        str(float_model),
        "--out",
        str(tmp_path / "a"),
    ]
    assert main(argv) != 0
    assert "--dataset" in _error_line(capsys)
    assert not (tmp_path / "a").exists()


def test_qat_repeats_the_augmentation_the_model_was_trained_with(tmp_path, capsys):
    require_module("tf_keras")
    trained = tmp_path / "trained"
    argv = ["train", "--model", "small_cnn", "--dataset", "digits", "--input-size", "8"]
    argv += ["--epochs", "2", "--conv-layers", "1", "--dense-layers", "0"]
    assert main([*argv, "--augment", "rotate=10,flip", "--out", str(trained)]) == 0
    report = tmp_path / "qat.json"
    status = main(
        [
            "convert",
            str(trained),
            "--qat",
            "--qat-epochs",
            "1",
            "--bench-runs",
            "0",
            "--out",
            str(tmp_path / "qat.tflite"),
            "--report",
            str(report),
        ]
    )
    assert status == 0, capsys.readouterr().err
    qat = json.loads(report.read_text())["qat"]
    assert qat["augmentation"] == {"shift": 0.1, "zoom": 0.1, "rotate": 10.0, "flip": True}


def test_bad_augmentation_is_one_line_and_trains_nothing(tmp_path, capsys):
    argv = ["train", "--model", "small_cnn", "--dataset", "digits", "--input-size", "8"]
    status = main([*argv, "--augment", "blur=2", "--out", str(tmp_path / "t")])
    assert status != 0
    assert "bad augmentation 'blur=2'" in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []
