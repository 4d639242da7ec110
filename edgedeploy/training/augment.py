"""Random image augmentation for training and quantization-aware fine-tuning.

The built-in datasets are small (1,797 digits, 6,000 shapes): a MobileNet fits
their training split within a few dozen epochs and then learns it by heart, and
its held-out accuracy stays far below what the architecture can reach. Random
shifts, zooms and small rotations of every training batch make each epoch show
new images, which is the usual cure and what embedded-ML tools offer as a
switch. Augmentation is applied to training batches only, by tf-keras's own
preprocessing layers in a ``tf.data`` pipeline; it is never part of the saved
model, so conversion, calibration and evaluation see the images as they are.
Mirroring is off by default because digits and letters are not mirror-symmetric.

The choice is written into the training directory (``preprocessing.json``), so
``convert --qat`` fine-tunes under the same augmentation as the float training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgedeploy.errors import TrainingError
from edgedeploy.training._tf import tf_keras

__all__ = [
    "DEFAULT_AUGMENTATION",
    "Augmentation",
    "augmented_batches",
    "fit_arguments",
    "parse_augmentation",
]


@dataclass(frozen=True)
class Augmentation:
    """How much each training image may move: fractions of the image side, degrees."""

    #: Largest shift, as a fraction of height and width.
    shift: float = 0.1
    #: Largest zoom in or out, as a fraction of the image side.
    zoom: float = 0.1
    #: Largest rotation either way, in degrees.
    rotate: float = 15.0
    #: Mirror left-right at random (off: digits and text are not mirror-symmetric).
    flip: bool = False

    def check(self) -> None:
        """Raise `TrainingError` for amounts that would destroy the image."""
        for name, value, high in (
            ("shift", self.shift, 0.5),
            ("zoom", self.zoom, 0.5),
            ("rotate", self.rotate, 180.0),
        ):
            if not (math.isfinite(value) and 0.0 <= value <= high):
                raise TrainingError(f"augmentation {name} must be in [0, {high:g}], got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Augmentation:
        """Read back what `to_dict` wrote (a training directory's ``preprocessing.json``)."""
        try:
            aug = cls(
                shift=float(data["shift"]),
                zoom=float(data["zoom"]),
                rotate=float(data["rotate"]),
                flip=bool(data["flip"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainingError(f"unreadable augmentation settings {data!r}") from exc
        aug.check()
        return aug


#: What ``--augment`` without a value means.
DEFAULT_AUGMENTATION = Augmentation()


def parse_augmentation(spec: str) -> Augmentation:
    """``"default"`` or ``"shift=0.1,zoom=0.1,rotate=15,flip"`` (unnamed keys keep their defaults)."""
    if spec.strip() in ("", "default"):
        return DEFAULT_AUGMENTATION
    values: dict[str, Any] = {}
    for part in spec.split(","):
        key, sep, value = part.strip().partition("=")
        if key == "flip" and not sep:
            values["flip"] = True
            continue
        if key not in ("shift", "zoom", "rotate") or not sep:
            raise TrainingError(
                f"bad augmentation {part.strip()!r} in {spec!r} "
                "(expected shift=F, zoom=F, rotate=DEGREES or flip, comma-separated)"
            )
        try:
            values[key] = float(value)
        except ValueError:
            raise TrainingError(f"augmentation {key} is not a number: {value!r}") from None
    aug = Augmentation(**{**DEFAULT_AUGMENTATION.to_dict(), **values})
    aug.check()
    return aug


def _layers(aug: Augmentation, seed: int) -> Any:
    """The tf-keras preprocessing layers, each with its own seed so runs repeat."""
    layers = tf_keras.layers
    steps: list[Any] = []
    if aug.flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if aug.rotate > 0:
        steps.append(layers.RandomRotation(aug.rotate / 360.0, fill_mode="nearest", seed=seed + 1))
    if aug.zoom > 0:
        steps.append(layers.RandomZoom(aug.zoom, fill_mode="nearest", seed=seed + 2))
    if aug.shift > 0:
        steps.append(
            layers.RandomTranslation(aug.shift, aug.shift, fill_mode="nearest", seed=seed + 3)
        )
    return tf_keras.Sequential(steps, name="augmentation")


def augmented_batches(
    x: np.ndarray, y: np.ndarray, aug: Augmentation, batch_size: int, seed: int
) -> Any:
    """A shuffled, batched ``tf.data.Dataset`` of ``(x, y)`` with ``aug`` applied to each batch.

    Only images (N×H×W×C) can be augmented; flat vectors raise `TrainingError`.
    Pixel values are clipped back into the batch's original range, so a
    rotation's interpolation cannot leave the range calibration will see.
    """
    import tensorflow as tf

    if x.ndim != 4:
        raise TrainingError(
            f"augmentation applies to images (height × width × channels); this data has "
            f"samples of shape {list(x.shape[1:])}"
        )
    aug.check()
    pipeline = _layers(aug, seed)
    low, high = float(np.min(x)), float(np.max(x))

    def apply(images: Any, labels: Any) -> tuple[Any, Any]:
        return tf.clip_by_value(pipeline(images, training=True), low, high), labels

    data = tf.data.Dataset.from_tensor_slices((x, y))
    data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return data.map(apply, num_parallel_calls=1).prefetch(2)


def fit_arguments(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augmentation: Augmentation | None
) -> dict[str, Any]:
    """Keras ``fit`` keyword arguments for the training data, augmented or as it is.

    Training and QAT fine-tuning both call this, so they feed the data the same way.
    """
    if augmentation is None:
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": True}
    return {"x": augmented_batches(x, y, augmentation, batch_size, seed)}
