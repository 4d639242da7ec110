"""Finding the model to convert and the data to calibrate and evaluate it on.

A conversion source is one of:

* a training output directory (`edgedeploy.training.train` wrote it): model,
  task, dataset, input size, channels and seed are read from it, so the
  calibration data comes from the very training split and the evaluation from
  the very test split the model was trained and tested on;
* a Keras model file (``.keras`` from tf-keras or Keras 3, ``.h5``);
* a SavedModel directory (``saved_model.pb`` inside).

A bare model file or SavedModel carries no dataset, so ``dataset`` must be
given; the input size and channels default to the model's own input shape.
The task is read from the training directory, or else inferred: a model whose
output has the shape of its flat input is a reconstruction model, any other a
classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedeploy.converter.tflite import ModelSource
from edgedeploy.errors import (
    DatasetError,
    InputFileError,
    ModelFormatError,
    UnsupportedModelError,
)
from edgedeploy.training._tf import tf
from edgedeploy.training.artifacts import is_training_dir, load_keras_model, load_trained
from edgedeploy.training.augment import Augmentation
from edgedeploy.training.datasets import Dataset, dataset_reference, load_dataset

__all__ = ["ConversionSource", "load_source"]


@dataclass
class ConversionSource:
    """A model ready for the converter, with the dataset and task it is judged by."""

    path: Path
    kind: str  # "training_dir", "keras_file" or "saved_model"
    framework: str  # "tf_keras", "keras3" or "saved_model"
    model: ModelSource
    model_name: str | None
    task: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dataset: Dataset
    dataset_name: str
    seed: int
    #: The training directory's augmentation, which QAT fine-tuning repeats; None for bare models.
    augmentation: Augmentation | None = None


def _shape(value: Any, what: str, path: Path) -> tuple[int, ...]:
    """A Keras or TensorSpec shape without its batch dimension, all dimensions known."""
    dims = list(value)[1:]
    if any(d is None for d in dims):
        raise UnsupportedModelError(
            f"model {path}: its {what} shape {list(value)} has unknown dimensions; "
            "microcontroller models need fixed shapes"
        )
    return tuple(int(d) for d in dims)


def _single(value: Any, what: str, path: Path) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            raise UnsupportedModelError(
                f"model {path} has {len(value)} {what}s; only single-{what} models are supported"
            )
        return value[0]
    return value


def _keras_shapes(model: Any, path: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    inputs = _single(model.inputs, "input", path)
    outputs = _single(model.outputs, "output", path)
    return _shape(inputs.shape, "input", path), _shape(outputs.shape, "output", path)


def _saved_model_shapes(directory: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    try:
        loaded = tf.saved_model.load(str(directory))
    except Exception as exc:  # a damaged SavedModel raises many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"cannot load SavedModel {directory}: {first}") from exc
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise UnsupportedModelError(f"SavedModel {directory} has no serving_default signature")
    inputs = list(signature.structured_input_signature[1].values())
    outputs = list(signature.structured_outputs.values())
    return (
        _shape(_single(inputs, "input", directory).shape, "input", directory),
        _shape(_single(outputs, "output", directory).shape, "output", directory),
    )


def _infer_task(input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> str:
    if len(input_shape) == 1 and output_shape == input_shape:
        return "reconstruction"
    return "classification"


def _vector_geometry(
    size: int, input_size: int | None, channels: int | None
) -> tuple[int, int | None]:
    """Image side and channels whose flattened size is ``size`` (a guess if none fits)."""
    if input_size is not None:
        return input_size, channels
    for candidate in (channels,) if channels is not None else (1, 3):
        side = math.isqrt(size // candidate) if size % candidate == 0 else 0
        if side and side * side * candidate == size:
            return side, candidate
    return 32, channels


def _bare_dataset(
    path: Path,
    dataset: str | None,
    input_size: int | None,
    channels: int | None,
    seed: int,
    task: str,
    input_shape: tuple[int, ...],
) -> Dataset:
    if dataset is None:
        raise DatasetError(
            f"{path} is a bare model: give the dataset to calibrate and evaluate it on (--dataset)"
        )
    if task == "reconstruction":
        side, chans = _vector_geometry(input_shape[0], input_size, channels)
        return load_dataset(dataset, side, chans, seed).flattened()
    if len(input_shape) != 3:
        raise UnsupportedModelError(
            f"model {path} takes input of shape {list(input_shape)}; "
            "classifiers must take images (height, width, channels)"
        )
    size = input_size if input_size is not None else (input_shape[0], input_shape[1])
    return load_dataset(dataset, size, channels if channels is not None else input_shape[2], seed)


def _check_fit(
    path: Path,
    data: Dataset,
    task: str,
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
) -> None:
    if tuple(data.input_shape) != tuple(input_shape):
        raise DatasetError(
            f"dataset {data.name} gives inputs of shape {list(data.input_shape)}, the model "
            f"{path} takes {list(input_shape)}: give a matching input size and channels"
        )
    if task == "classification" and output_shape[-1] != data.num_classes:
        raise DatasetError(
            f"dataset {data.name} has {data.num_classes} classes, the model {path} "
            f"outputs {output_shape[-1]}"
        )


def load_source(
    path: Path,
    dataset: str | None = None,
    input_size: int | None = None,
    channels: int | None = None,
    seed: int = 0,
) -> ConversionSource:
    """Open a training directory, Keras file or SavedModel with its calibration/test data.

    Raises `InputFileError` for a missing path, `ModelFormatError` for a file that
    is not a loadable model, `UnsupportedModelError` for multi-input or
    dynamically shaped models, and `DatasetError` when the dataset does not fit.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"model source {path} does not exist")
    if is_training_dir(path):
        trained = load_trained(path)
        keras_model, framework = load_keras_model(trained.model_path)
        input_shape, output_shape = _keras_shapes(keras_model, trained.model_path)
        data = trained.dataset(dataset, input_size, channels)
        _check_fit(path, data, trained.task, input_shape, output_shape)
        return ConversionSource(
            path=path,
            kind="training_dir",
            framework=framework,
            model=ModelSource(trained.name, keras_model=keras_model, framework=framework),
            model_name=trained.name,
            task=trained.task,
            input_shape=input_shape,
            output_shape=output_shape,
            dataset=data,
            dataset_name=dataset_reference(dataset)
            if dataset
            else str(trained.preprocessing["dataset"]),
            seed=int(trained.preprocessing["seed"]),
            augmentation=trained.augmentation,
        )
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise InputFileError(
                f"{path} is neither a training output (no preprocessing.json) nor a SavedModel "
                "(no saved_model.pb)"
            )
        input_shape, output_shape = _saved_model_shapes(path)
        model = ModelSource(path.name, saved_model_dir=path)
        kind, framework, name = "saved_model", "saved_model", None
    else:
        keras_model, framework = load_keras_model(path)
        input_shape, output_shape = _keras_shapes(keras_model, path)
        model = ModelSource(path.name, keras_model=keras_model, framework=framework)
        kind, name = "keras_file", None
    task = _infer_task(input_shape, output_shape)
    data = _bare_dataset(path, dataset, input_size, channels, seed, task, input_shape)
    _check_fit(path, data, task, input_shape, output_shape)
    return ConversionSource(
        path=path,
        kind=kind,
        framework=framework,
        model=model,
        model_name=name,
        task=task,
        input_shape=input_shape,
        output_shape=output_shape,
        dataset=data,
        dataset_name=dataset_reference(dataset) if dataset else "",
        seed=seed,
    )
