"""Quantization-aware training: fine-tune a trained float model under simulated int8.

`annotate` wraps a tf-keras model with tensorflow-model-optimization's default
8-bit scheme (``tfmot.quantization.keras.quantize_model``): fake-quantization of
per-channel int8 weights and of every activation TFLite will quantize, with
batch normalization folded into the preceding convolution's pattern, ReLU/ReLU6
fused, and residual ADDs quantized at their output, exactly where the TFLite
kernels will round. `finetune` then trains that model for a few epochs at a low
learning rate, so the weights settle where the rounding hurts least; early
stopping watches validation accuracy (validation loss for reconstruction
models) and restores the best epoch. The result converts to full-integer int8
with the trained ranges by the ordinary converter call
(`edgedeploy.converter.tflite.to_tflite`).

QAT is fine-tuning: it trains the weights further, so its int8 accuracy can end
up above the float model's as well as below; reports show both as they are.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgedeploy.converter.tflite import ModelSource
from edgedeploy.errors import DependencyError, TrainingError, UnsupportedModelError
from edgedeploy.training._tf import tf_keras
from edgedeploy.training.augment import Augmentation, fit_arguments
from edgedeploy.training.datasets import Dataset

__all__ = [
    "DEFAULT_QAT_EPOCHS",
    "DEFAULT_QAT_LEARNING_RATE",
    "DEFAULT_QAT_PATIENCE",
    "QatResult",
    "annotate",
    "finetune",
    "initialize_ranges",
]

#: Fine-tuning epochs when none are given: enough for the weights to adapt to the
#: rounding on datasets of a few thousand samples, few enough to stay cheap.
DEFAULT_QAT_EPOCHS = 5
#: A tenth of the training default (Adam 1e-3): QAT starts from a trained model and
#: only has to nudge it, and a large step undoes the float training.
DEFAULT_QAT_LEARNING_RATE = 1e-4
#: Epochs without a better validation score before QAT stops.
DEFAULT_QAT_PATIENCE = 2
#: Batch size of the fine-tuning, the training default.
QAT_BATCH_SIZE = 64
#: Training batches whose mean min/max start each activation range (`initialize_ranges`).
QAT_RANGE_BATCHES = 32

_UNSUPPORTED_LAYER = re.compile(r"Layer (\S+?):<class '([^']+)'> is not supported")


@dataclass
class QatResult:
    """The fine-tuned, fake-quantized Keras model and how its fine-tuning went."""

    model: Any = field(repr=False)
    epochs_run: int
    best_epoch: int
    learning_rate: float
    monitor: str
    best_score: float
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    augmentation: Augmentation | None = None
    range_batches: int = 0

    def source(self, name: str) -> ModelSource:
        """The fine-tuned model as something `to_tflite` converts."""
        return ModelSource(f"{name} (QAT)", keras_model=self.model, framework="tf_keras")

    def summary(self) -> dict[str, Any]:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "learning_rate": self.learning_rate,
            "monitor": self.monitor,
            "best_score": self.best_score,
            "seconds": round(self.seconds, 3),
            "history": self.history,
            "augmentation": self.augmentation.to_dict() if self.augmentation else None,
            "range_batches": self.range_batches,
        }


def _tfmot() -> Any:
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as exc:
        raise DependencyError(
            "quantization-aware training needs tensorflow-model-optimization: "
            "pip install 'edgedeploy[train]'"
        ) from exc
    return tfmot


def annotate(source: ModelSource) -> Any:
    """``source``'s Keras model wrapped for QAT with tfmot's default 8-bit scheme.

    Raises `UnsupportedModelError` for a model tfmot cannot wrap: not a tf-keras
    model (Keras 3, a SavedModel), a subclassed model, or a layer the scheme
    has no rule for (a custom layer), named in the message.
    """
    if source.keras_model is None or source.framework != "tf_keras":
        kind = "a SavedModel" if source.keras_model is None else f"a {source.framework} model"
        raise UnsupportedModelError(
            f"quantization-aware training needs a tf-keras model; {source.name} is {kind}"
        )
    tfmot = _tfmot()
    for layer in source.keras_model.layers:
        # tfmot only warns about a Lambda layer, leaves it unquantized and may then fail
        # to clone the model; it is as unsupported as any custom layer, so say so.
        if isinstance(layer, tf_keras.layers.Lambda):
            raise _no_rule(layer.name, "Lambda", source.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tfmot.quantization.keras.quantize_model(source.keras_model)
    except (RuntimeError, ValueError, TypeError) as exc:
        text = str(exc)
        match = _UNSUPPORTED_LAYER.search(text)
        if match:
            raise _no_rule(match.group(1), match.group(2).rsplit(".", 1)[-1], source.name) from exc
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise UnsupportedModelError(
            f"quantization-aware training cannot annotate {source.name}: {first}"
        ) from exc


def _no_rule(layer: str, cls: str, model: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"quantization-aware training cannot annotate layer {layer!r} ({cls}) of "
        f"{model}: tfmot's default 8-bit scheme has no rule for it"
    )


@contextlib.contextmanager
def _running_mean_ranges() -> Iterator[dict[str, int]]:
    """Make tfmot's activation ranges a running mean over the batches of this block.

    tfmot's activation quantizers start at [-6, 6] and follow each training batch's
    min/max with an exponential moving average of decay 0.999, a constant in its
    `MovingAverageQuantizer`. On ImageNet, a few thousand steps into the first epoch,
    the start no longer matters; a dataset of a thousand images gives twenty steps an
    epoch, so after five epochs the ranges are still 90 % the start value: ReLU outputs
    clipped at 6 and half the int8 steps spent on negatives that never occur, in
    training and in the converted model. Inside this block the quantizers' decay is
    ``k / (k + 1)`` at batch ``k`` (the caller sets ``state["batch"]``), so after ``n``
    batches each range is the mean of the ``n`` batch ranges — the value the moving
    average settles at. This replaces one argument of tfmot's own range update; the
    test `test_qat_ranges_start_at_the_calibrated_activation_ranges` fails if a
    tfmot release changes where that update happens.
    """
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

    original = quant_ops.MovingAvgQuantize
    state = {"batch": 0}

    def running_mean(*args: Any, **kwargs: Any) -> Any:
        kwargs["ema_decay"] = state["batch"] / (state["batch"] + 1)
        return original(*args, **kwargs)

    quant_ops.MovingAvgQuantize = running_mean
    try:
        yield state
    finally:
        quant_ops.MovingAvgQuantize = original


def initialize_ranges(model: Any, x: Any, batch_size: int = 64, max_batches: int = 32) -> int:
    """Set every activation quantizer's range of an `annotate`-d model from data; batches used.

    Runs up to ``max_batches`` batches of ``x`` through the model in training mode
    (as fine-tuning will) under `_running_mean_ranges`, layer after layer in one
    pass, so each quantizer sees its input already quantized with its
    predecessors' new ranges. Batch-normalization statistics are restored
    afterwards: only the quantizer ranges change.
    """
    moving = [
        (v, v.numpy())
        for v in model.non_trainable_variables
        if "moving_mean" in v.name or "moving_variance" in v.name
    ]
    batches = [x[i : i + batch_size] for i in range(0, len(x), batch_size)][:max_batches]
    with _running_mean_ranges() as state:
        for index, batch in enumerate(batches):
            state["batch"] = index
            model(np.asarray(batch), training=True)
    for variable, value in moving:
        variable.assign(value)
    return len(batches)


class _EpochLog(tf_keras.callbacks.Callback):
    """One progress line per fine-tuning epoch to the caller's ``log``."""

    def __init__(self, log: Callable[[str], None], epochs: int, monitor: str) -> None:
        super().__init__()
        self._log, self._epochs, self._monitor = log, epochs, monitor
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        self._log(
            f"QAT epoch {epoch + 1}/{self._epochs}: loss {logs.get('loss', math.nan):.4f} "
            f"{self._monitor} {logs.get(self._monitor, math.nan):.4f} "
            f"({time.perf_counter() - self._start:.1f} s)"
        )


def finetune(
    model: Any,
    data: Dataset,
    task: str,
    epochs: int = DEFAULT_QAT_EPOCHS,
    learning_rate: float = DEFAULT_QAT_LEARNING_RATE,
    patience: int = DEFAULT_QAT_PATIENCE,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    augmentation: Augmentation | None = None,
    initial_ranges: bool = True,
) -> QatResult:
    """Fine-tune an `annotate`-d model on ``data``'s training split, in place.

    Annotation is a separate step so that a model QAT cannot handle is refused
    before anything else is done. Seeded like training; the best epoch by
    validation accuracy (classification) or validation loss (reconstruction) is
    kept. ``augmentation`` is the float training's (from the training directory):
    fine-tuning on un-augmented images would shift the weights towards the
    training split as it is and undo what augmentation bought. With
    ``initial_ranges`` (the default) the activation ranges start from the
    training data (`initialize_ranges`) instead of tfmot's [-6, 6].
    """
    if epochs < 1:
        raise TrainingError(f"QAT epochs must be at least 1, got {epochs}")
    if not (math.isfinite(learning_rate) and 0 < learning_rate <= 1):
        raise TrainingError(f"QAT learning rate {learning_rate!r} is out of range")
    tf_keras.utils.set_random_seed(seed)
    range_batches = 0
    if initial_ranges:
        order = np.random.default_rng(seed).permutation(len(data.x_train))
        sample = data.x_train[order[: QAT_BATCH_SIZE * QAT_RANGE_BATCHES]]
        range_batches = initialize_ranges(model, sample, QAT_BATCH_SIZE, QAT_RANGE_BATCHES)
    if task == "classification":
        loss, metrics, monitor, mode = (
            "sparse_categorical_crossentropy",
            ["accuracy"],
            "val_accuracy",
            "max",
        )
        y_train, y_val = data.y_train, data.y_val
    else:
        loss, metrics, monitor, mode = "mse", [], "val_loss", "min"
        y_train, y_val = data.x_train, data.x_val
    model.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate=learning_rate), loss=loss, metrics=metrics
    )
    callbacks: list[Any] = [
        tf_keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=patience, restore_best_weights=True
        ),
        tf_keras.callbacks.TerminateOnNaN(),
    ]
    if log is not None:
        callbacks.append(_EpochLog(log, epochs, monitor))
    fit_data = fit_arguments(data.x_train, y_train, QAT_BATCH_SIZE, seed, augmentation)
    start = time.perf_counter()
    fitted = model.fit(
        **fit_data,
        validation_data=(data.x_val, y_val),
        epochs=epochs,
        callbacks=callbacks,
        verbose=0,
    )
    history = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    if any(not math.isfinite(v) for v in history.get("loss", [])):
        raise TrainingError(
            f"quantization-aware training diverged; try a learning rate below {learning_rate}"
        )
    scores = history.get(monitor, [math.nan])
    best = max(range(len(scores)), key=lambda i: scores[i] if mode == "max" else -scores[i])
    return QatResult(
        model=model,
        epochs_run=len(history.get("loss", [])),
        best_epoch=best + 1,
        learning_rate=learning_rate,
        monitor=monitor,
        best_score=scores[best],
        seconds=time.perf_counter() - start,
        history=history,
        augmentation=augmentation,
        range_batches=range_batches,
    )
