"""Reading what `train` wrote, so later stages need no flags repeated.

`load_trained` checks a training output directory and returns its metadata;
`TrainedModel.dataset` rebuilds exactly the splits the model was trained and
tested on (same dataset, size, channels and seed), which is what calibration and
evaluation must use. `load_keras_model` opens any Keras model file, trying
tf-keras first and Keras 3 second, and turns every failure into one
`ModelFormatError` line.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedeploy.errors import InputFileError, ModelFormatError
from edgedeploy.training.augment import Augmentation
from edgedeploy.training.datasets import Dataset, load_dataset
from edgedeploy.training.trainer import LABELS_FILE, MODEL_FILES, PREPROCESSING_FILE

__all__ = [
    "KERAS_SUFFIXES",
    "TrainedModel",
    "is_training_dir",
    "load_keras_model",
    "load_trained",
]

#: File suffixes `load_keras_model` accepts.
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_REQUIRED_KEYS = ("model", "task", "dataset", "input_size", "input_shape", "seed")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_keras_model(path: Path) -> tuple[Any, str]:
    """Load a ``.keras``/``.h5`` model; return it and ``"tf_keras"`` or ``"keras3"``.

    Files written by tf-keras (Keras 2, what `train` writes) load with tf-keras;
    a Keras 3 ``.keras`` file, which tf-keras cannot deserialize, is loaded with
    Keras 3 when it is installed. Keras 3 prints and warns while loading; that
    output is swallowed so the library stays quiet.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"model file {path} does not exist")
    if path.suffix.lower() not in KERAS_SUFFIXES:
        raise ModelFormatError(
            f"model file {path} is not a Keras model (expected {', '.join(KERAS_SUFFIXES)})"
        )
    from edgedeploy.training._tf import tf_keras

    errors = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf_keras.models.load_model(path, compile=False), "tf_keras"
    except Exception as exc:  # a corrupt file raises many types; all mean the same
        errors.append(f"tf-keras: {_first_line(exc)}")
    if path.suffix.lower() == ".keras":
        try:
            import keras
        except ImportError:
            errors.append("Keras 3 is not installed")
        else:
            try:
                with (
                    warnings.catch_warnings(),
                    contextlib.redirect_stdout(io.StringIO()),
                ):
                    warnings.simplefilter("ignore")
                    return keras.saving.load_model(path, compile=False), "keras3"
            except Exception as exc:
                errors.append(f"Keras 3: {_first_line(exc)}")
    raise ModelFormatError(f"cannot load Keras model {path}: {'; '.join(errors)}")


def is_training_dir(path: Path) -> bool:
    """True when ``path`` is a directory written by `train`."""
    return Path(path).is_dir() and (Path(path) / PREPROCESSING_FILE).is_file()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputFileError(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc


@dataclass
class TrainedModel:
    """A training output directory: its metadata, labels and model file."""

    directory: Path
    model_path: Path
    preprocessing: dict[str, Any]
    labels: list[str]

    @property
    def name(self) -> str:
        return str(self.preprocessing["model"])

    @property
    def task(self) -> str:
        return str(self.preprocessing["task"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.preprocessing["input_shape"])

    @property
    def augmentation(self) -> Augmentation | None:
        """The augmentation the model was trained with; None for none (or an older directory)."""
        recorded = self.preprocessing.get("augmentation")
        if recorded is None:
            return None
        if not isinstance(recorded, dict):
            raise ModelFormatError(
                f"{self.directory / PREPROCESSING_FILE}: 'augmentation' is not an object"
            )
        return Augmentation.from_dict(recorded)

    def load_model(self) -> Any:
        """The trained Keras model."""
        return load_keras_model(self.model_path)[0]

    def dataset(
        self,
        dataset: str | None = None,
        input_size: int | None = None,
        channels: int | None = None,
    ) -> Dataset:
        """The splits the model was trained on; arguments override the recorded ones."""
        pre = self.preprocessing
        loaded = load_dataset(
            dataset if dataset is not None else pre["dataset"],
            input_size if input_size is not None else int(pre["input_size"]),
            channels if channels is not None else pre.get("channels"),
            int(pre["seed"]),
        )
        return loaded.flattened() if self.task == "reconstruction" else loaded


def load_trained(path: Path) -> TrainedModel:
    """Check and read a directory written by `train`."""
    directory = Path(path)
    if not directory.is_dir():
        raise InputFileError(f"training output {directory} is not a directory")
    preprocessing = _read_json(directory / PREPROCESSING_FILE)
    if not isinstance(preprocessing, dict):
        raise InputFileError(f"{directory / PREPROCESSING_FILE} must hold a JSON object")
    missing = [key for key in _REQUIRED_KEYS if key not in preprocessing]
    if missing:
        raise InputFileError(f"{directory / PREPROCESSING_FILE} has no {missing[0]!r} entry")
    labels = _read_json(directory / LABELS_FILE)
    if not isinstance(labels, list):
        raise InputFileError(f"{directory / LABELS_FILE} must hold a JSON list")
    recorded = preprocessing.get("model_file")
    names = sorted(MODEL_FILES, key=lambda n: n != recorded)
    model_path = next((directory / n for n in names if (directory / n).is_file()), None)
    if model_path is None:
        raise InputFileError(f"training output {directory} holds no {' or '.join(names)}")
    return TrainedModel(directory, model_path, preprocessing, [str(v) for v in labels])
