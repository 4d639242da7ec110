"""Training: a zoo of microcontroller-sized tf-keras models and the datasets to train them on.

`train` builds a model of `MODEL_NAMES`, trains it on a dataset of
`load_dataset` with seeded, early-stopped training, and writes a directory that
later stages (conversion, export) read without any flag being repeated.
`load_trained` reads such a directory back.
"""

from edgedeploy.training.artifacts import (
    TrainedModel,
    is_training_dir,
    load_keras_model,
    load_trained,
)
from edgedeploy.training.augment import (
    DEFAULT_AUGMENTATION,
    Augmentation,
    augmented_batches,
    parse_augmentation,
)
from edgedeploy.training.datasets import DATASET_NAMES, Dataset, load_dataset
from edgedeploy.training.models import MODEL_NAMES, build_model, model_options, model_task
from edgedeploy.training.trainer import TrainConfig, TrainResult, evaluate_keras, train

__all__ = [
    "DATASET_NAMES",
    "DEFAULT_AUGMENTATION",
    "MODEL_NAMES",
    "Augmentation",
    "Dataset",
    "TrainConfig",
    "TrainResult",
    "TrainedModel",
    "augmented_batches",
    "build_model",
    "evaluate_keras",
    "is_training_dir",
    "load_dataset",
    "load_keras_model",
    "load_trained",
    "model_options",
    "model_task",
    "parse_augmentation",
    "train",
]
