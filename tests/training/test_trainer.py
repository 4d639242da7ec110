"""Training: reaches the accuracy target, writes a self-describing directory, or nothing at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.toolhelpers import require_module

require_module("tf_keras")

from edgedeploy.errors import (  # noqa: E402
    DatasetError,
    InputFileError,
    ModelFormatError,
    OutputExistsError,
    TrainingError,
    UnknownNameError,
)
from edgedeploy.training import TrainConfig, load_trained, train  # noqa: E402

#: A model small enough to train in about a second, for tests of the mechanics.
TINY = {"conv_layers": 1, "dense_layers": 0, "filters": 4}


@pytest.mark.slow
def test_small_cnn_on_digits_reaches_the_float_target(trained_small_cnn):
    report = json.loads((trained_small_cnn / "train_report.json").read_text())
    assert report["test_accuracy"] >= 0.95, report["test_accuracy"]
    assert report["test_samples"] == 360
    assert 1 <= report["epochs_run"] <= 10
    assert len(report["history"]["val_accuracy"]) == report["epochs_run"]
    assert 1 <= report["best_epoch"] <= report["epochs_run"]


@pytest.mark.slow
def test_output_directory_describes_itself(trained_small_cnn):
    assert sorted(p.name for p in trained_small_cnn.iterdir()) == [
        "labels.json",
        "model.keras",
        "preprocessing.json",
        "train_report.json",
    ]
    pre = json.loads((trained_small_cnn / "preprocessing.json").read_text())
    assert pre["model"] == "small_cnn"
    assert pre["dataset"] == "digits"
    assert pre["task"] == "classification"
    assert pre["input_shape"] == [32, 32, 1]
    assert pre["input_size"] == 32 and pre["channels"] == 1 and pre["seed"] == 0
    assert pre["num_classes"] == 10
    assert "16" in pre["scaling"]
    assert json.loads((trained_small_cnn / "labels.json").read_text()) == [
        str(d) for d in range(10)
    ]


@pytest.mark.slow
def test_saved_model_reloads_and_scores_as_reported(trained_small_cnn):
    trained = load_trained(trained_small_cnn)
    model = trained.load_model()
    data = trained.dataset()
    accuracy = float(np.mean(model.predict(data.x_test, verbose=0).argmax(axis=1) == data.y_test))
    report = json.loads((trained_small_cnn / "train_report.json").read_text())
    assert accuracy == pytest.approx(report["test_accuracy"], abs=1e-9)


def test_training_is_reproducible_and_logs_one_line_per_epoch(tmp_path):
    lines: list[str] = []
    config = TrainConfig(
        model="small_cnn",
        dataset="digits",
        out=tmp_path / "a",
        input_size=8,
        epochs=2,
        patience=5,
        model_options=TINY,
    )
    first = train(config, log=lines.append)
    config.out = tmp_path / "b"
    second = train(config)
    assert first.history == second.history
    assert first.test_accuracy == second.test_accuracy
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2: loss ")
    assert "val_accuracy" in lines[1]


def test_autoencoder_trains_on_flattened_images(tmp_path):
    result = train(
        TrainConfig(
            model="autoencoder",
            dataset="digits",
            out=tmp_path / "ae",
            input_size=8,
            epochs=2,
            model_options={"hidden_units": 16, "hidden_layers": 1},
        )
    )
    assert result.task == "reconstruction"
    assert result.test_accuracy is None
    assert result.test_mse is not None and 0 < result.test_mse < 1
    assert result.input_shape == (64,)
    pre = json.loads((tmp_path / "ae" / "preprocessing.json").read_text())
    assert pre["task"] == "reconstruction" and pre["input_shape"] == [64]
    assert "64 values" in pre["details"]["flatten"]
    assert result.to_dict()["input_shape"] == [64]


def test_existing_output_is_refused_before_training(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        train(TrainConfig(model="small_cnn", dataset="digits", out=out, epochs=1))
    assert (out / "keep.txt").read_text() == "mine"


def test_force_replaces_an_existing_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    train(
        TrainConfig(
            model="small_cnn",
            dataset="digits",
            out=out,
            input_size=8,
            epochs=1,
            force=True,
            model_options=TINY,
        )
    )
    assert not (out / "stale.txt").exists()
    assert (out / "model.keras").is_file()


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"model": "lenet"}, UnknownNameError, "unknown model 'lenet'"),
        ({"model_options": {"alpha": 0.5}}, UnknownNameError, "no option 'alpha'"),
        ({"dataset": "nope"}, UnknownNameError, "unknown dataset"),
        ({"dataset": "missing/dir"}, DatasetError, "does not exist"),
        ({"epochs": 0}, TrainingError, "epochs 0"),
        ({"learning_rate": -1.0}, TrainingError, "learning rate"),
        ({"channels": 2}, TrainingError, "channels 2"),
        ({"model": "mobilenet_v1", "input_size": 16}, TrainingError, "at least 32×32"),
    ],
)
def test_bad_configs_fail_with_one_line_and_write_nothing(tmp_path, changes, error, message):
    settings = {"model": "small_cnn", "dataset": "digits", "out": tmp_path / "out", "epochs": 1}
    settings.update(changes)
    with pytest.raises(error, match=message) as caught:
        train(TrainConfig(**settings))
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_load_trained_rejects_damaged_directories(tmp_path):
    with pytest.raises(InputFileError, match="not a directory"):
        load_trained(tmp_path / "missing")
    (tmp_path / "preprocessing.json").write_text("{not json")
    with pytest.raises(InputFileError, match="not valid JSON"):
        load_trained(tmp_path)
    (tmp_path / "preprocessing.json").write_text(json.dumps({"model": "small_cnn"}))
    with pytest.raises(InputFileError, match="has no 'task' entry"):
        load_trained(tmp_path)


def test_corrupt_model_file_is_a_format_error(tmp_path):
    from edgedeploy.training import load_keras_model

    bad = tmp_path / "model.keras"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(ModelFormatError, match="cannot load Keras model") as caught:
        load_keras_model(bad)
    assert "\n" not in str(caught.value)
    other = tmp_path / "weights.bin"
    other.write_bytes(b"\0" * 16)
    with pytest.raises(ModelFormatError, match="not a Keras model"):
        load_keras_model(other)
    with pytest.raises(InputFileError, match="does not exist"):
        load_keras_model(tmp_path / "missing.keras")
