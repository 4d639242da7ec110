"""The model zoo: tf-keras builders for the architectures people put on microcontrollers.

Each builder follows a published reference (MLPerf Tiny for DS-CNN, ResNet-8 and
the anomaly-detection autoencoder; Keras Applications for the MobileNets) and
keeps its BatchNormalization layers where the reference has them, so that the
TFLite converter and quantization-aware training can fold them into the
preceding convolution. Every builder takes ``(input_shape, num_classes, **options)``
with keyword-only options and defaults; `build_model` checks option names
against the builder's signature so that a misspelt option fails up front with the
valid names, instead of being silently ignored.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from edgedeploy.errors import TrainingError, UnknownNameError
from edgedeploy.training._tf import tf_keras

__all__ = [
    "MODEL_NAMES",
    "build_model",
    "check_options",
    "model_options",
    "model_task",
]

layers = tf_keras.layers
regularizers = tf_keras.regularizers

#: Smallest spatial input the MobileNets accept: five stride-2 stages must leave ≥ 1 pixel.
MOBILENET_MIN_SIZE = 32
#: Weight decay of the MLPerf Tiny reference models (DS-CNN, ResNet-8).
MLPERF_WEIGHT_DECAY = 1e-4
#: BatchNormalization moving-average momentum. Keras defaults to 0.99 (MobileNet v2 to
#: 0.999), tuned for ImageNet's many thousand steps per epoch; on datasets of a few
#: thousand samples the moving statistics are still near their initial values after
#: a few epochs and the trained model predicts one class at inference. 0.9 lets them
#: settle within a hundred steps.
BN_MOMENTUM = 0.9


def _check_image_shape(name: str, input_shape: tuple[int, ...], min_size: int = 1) -> None:
    if len(input_shape) != 3:
        raise TrainingError(
            f"model {name} takes images of shape (height, width, channels), got {list(input_shape)}"
        )
    height, width, channels = input_shape
    if height < min_size or width < min_size:
        raise TrainingError(
            f"model {name} needs inputs of at least {min_size}×{min_size}, got {height}×{width}"
        )
    if channels not in (1, 3):
        raise TrainingError(f"model {name} takes 1 or 3 channels, got {channels}")


def _check_range(name: str, option: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise TrainingError(f"model {name}: {option} must be in [{low}, {high}], got {value}")


def _set_bn_momentum(model: Any, momentum: float) -> Any:
    """Set every BatchNormalization layer's momentum (read when training is traced)."""
    _check_range(model.name, "bn_momentum", momentum, 0.0, 0.999)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = momentum
    return model


def _bn(momentum: float) -> Any:
    _check_range("model", "bn_momentum", momentum, 0.0, 0.999)
    return layers.BatchNormalization(momentum=momentum)


def _classifier_head(x: Any, num_classes: int) -> Any:
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)


def small_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    conv_layers: int = 3,
    dense_layers: int = 1,
    filters: int = 16,
    dense_units: int = 128,
    pool_size: int | None = None,
) -> Any:
    """INPUT → [conv3×3 → ReLU]×conv_layers → max-pool → [dense → ReLU]×dense_layers → dense.

    ``pool_size`` defaults to ``height // 8`` so the flattened features stay at
    about 8×8×filters whatever the input size: the first dense layer, which holds
    most of the weights, then does not grow with the image.
    """
    _check_image_shape("small_cnn", input_shape)
    _check_range("small_cnn", "conv_layers", conv_layers, 1, 16)
    _check_range("small_cnn", "dense_layers", dense_layers, 0, 8)
    _check_range("small_cnn", "filters", filters, 1, 1024)
    _check_range("small_cnn", "dense_units", dense_units, 1, 8192)
    pool = pool_size if pool_size is not None else max(1, min(input_shape[:2]) // 8)
    _check_range("small_cnn", "pool_size", pool, 1, min(input_shape[:2]))
    inputs = layers.Input(shape=input_shape, name="input")
    x = inputs
    for i in range(conv_layers):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
    if pool > 1:
        x = layers.MaxPooling2D(pool, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in range(dense_layers):
        x = layers.Dense(dense_units, activation="relu", name=f"dense{i + 1}")(x)
    outputs = _classifier_head(x, num_classes)
    return tf_keras.Model(inputs, outputs, name="small_cnn")


def mobilenet_v1(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    alpha: float = 0.25,
    depth_multiplier: int = 1,
    dropout: float = 1e-3,
    bn_momentum: float = BN_MOMENTUM,
) -> Any:
    """MobileNet v1 (Keras Applications, untrained): 13 depthwise-separable blocks, ReLU6.

    alpha 0.25 at 96×96 is the MLPerf Tiny visual-wake-words model; any size ≥ 32 works.
    """
    _check_image_shape("mobilenet_v1", input_shape, MOBILENET_MIN_SIZE)
    _check_range("mobilenet_v1", "alpha", alpha, 0.25, 1.0)
    _check_range("mobilenet_v1", "dropout", dropout, 0.0, 0.9)
    model = tf_keras.applications.MobileNet(
        input_shape=input_shape,
        alpha=alpha,
        depth_multiplier=depth_multiplier,
        dropout=dropout,
        include_top=True,
        weights=None,
        classes=num_classes,
        classifier_activation="softmax",
    )
    return _set_bn_momentum(model, bn_momentum)


def mobilenet_v2(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    alpha: float = 0.35,
    bn_momentum: float = BN_MOMENTUM,
) -> Any:
    """MobileNet v2 (Keras Applications, untrained): inverted residuals, ReLU6, linear bottlenecks."""
    _check_image_shape("mobilenet_v2", input_shape, MOBILENET_MIN_SIZE)
    _check_range("mobilenet_v2", "alpha", alpha, 0.25, 1.0)
    model = tf_keras.applications.MobileNetV2(
        input_shape=input_shape,
        alpha=alpha,
        include_top=True,
        weights=None,
        classes=num_classes,
        classifier_activation="softmax",
    )
    return _set_bn_momentum(model, bn_momentum)


def ds_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    filters: int = 64,
    blocks: int = 4,
    first_kernel: tuple[int, int] = (10, 4),
    bn_momentum: float = BN_MOMENTUM,
) -> Any:
    """The MLPerf Tiny keyword-spotting DS-CNN.

    A strided 10×4 convolution, then ``blocks`` depthwise-separable blocks
    (depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN → ReLU), average pooling over
    the whole map and a dense softmax. The reference input is 49×10 MFCCs; the
    first kernel is clipped to the input so images work as well.
    """
    _check_image_shape("ds_cnn", input_shape)
    _check_range("ds_cnn", "filters", filters, 1, 1024)
    _check_range("ds_cnn", "blocks", blocks, 1, 16)
    kernel = (min(first_kernel[0], input_shape[0]), min(first_kernel[1], input_shape[1]))
    reg = regularizers.l2(MLPERF_WEIGHT_DECAY)
    inputs = layers.Input(shape=input_shape, name="input")
    x = layers.Conv2D(filters, kernel, strides=2, padding="same", kernel_regularizer=reg)(inputs)
    x = _bn(bn_momentum)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.2)(x)
    for _ in range(blocks):
        x = layers.DepthwiseConv2D(3, padding="same", depthwise_regularizer=reg)(x)
        x = _bn(bn_momentum)(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2D(filters, 1, padding="same", kernel_regularizer=reg)(x)
        x = _bn(bn_momentum)(x)
        x = layers.Activation("relu")(x)
    x = layers.Dropout(0.4)(x)
    x = layers.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]))(x)
    x = layers.Flatten()(x)
    outputs = _classifier_head(x, num_classes)
    return tf_keras.Model(inputs, outputs, name="ds_cnn")


def resnet8(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    filters: int = 16,
    bn_momentum: float = BN_MOMENTUM,
) -> Any:
    """The MLPerf Tiny image-classification ResNet-8 (three residual stacks, 16/32/64 filters).

    Stacks two and three halve the map and widen it, with a strided 1×1
    convolution on the shortcut, as in the reference; the map is average-pooled
    whole before the dense softmax.
    """
    _check_image_shape("resnet8", input_shape, 4)
    _check_range("resnet8", "filters", filters, 1, 512)
    reg = regularizers.l2(MLPERF_WEIGHT_DECAY)

    def conv(width: int, kernel: int, strides: int) -> Any:
        return layers.Conv2D(
            width,
            kernel,
            strides=strides,
            padding="same",
            kernel_initializer="he_normal",
            kernel_regularizer=reg,
        )

    inputs = layers.Input(shape=input_shape, name="input")
    x = conv(filters, 3, 1)(inputs)
    x = _bn(bn_momentum)(x)
    x = layers.Activation("relu")(x)
    for stack, width in enumerate((filters, filters * 2, filters * 4)):
        strides = 1 if stack == 0 else 2
        y = conv(width, 3, strides)(x)
        y = _bn(bn_momentum)(y)
        y = layers.Activation("relu")(y)
        y = conv(width, 3, 1)(y)
        y = _bn(bn_momentum)(y)
        if stack > 0:
            x = conv(width, 1, strides)(x)
        x = layers.Add()([x, y])
        x = layers.Activation("relu")(x)
    x = layers.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", kernel_initializer="he_normal", name="predictions"
    )(x)
    return tf_keras.Model(inputs, outputs, name="resnet8")


def autoencoder(
    input_shape: tuple[int, ...],
    num_classes: int = 0,
    *,
    hidden_units: int = 128,
    hidden_layers: int = 4,
    bottleneck: int = 8,
    bn_momentum: float = BN_MOMENTUM,
) -> Any:
    """The MLPerf Tiny anomaly-detection autoencoder: dense → BN → ReLU layers around a bottleneck.

    The input is a flat vector and the output its reconstruction; the anomaly
    score is the reconstruction's mean squared error. ``num_classes`` is
    accepted for a uniform builder signature and ignored.
    """
    if len(input_shape) != 1:
        raise TrainingError(
            f"model autoencoder takes flat vectors, got input shape {list(input_shape)}"
        )
    _check_range("autoencoder", "hidden_units", hidden_units, 1, 8192)
    _check_range("autoencoder", "hidden_layers", hidden_layers, 1, 16)
    _check_range("autoencoder", "bottleneck", bottleneck, 1, 8192)
    inputs = layers.Input(shape=input_shape, name="input")
    x = inputs
    widths = [hidden_units] * hidden_layers + [bottleneck] + [hidden_units] * hidden_layers
    for width in widths:
        x = layers.Dense(width)(x)
        x = _bn(bn_momentum)(x)
        x = layers.Activation("relu")(x)
    outputs = layers.Dense(input_shape[0], name="reconstruction")(x)
    return tf_keras.Model(inputs, outputs, name="autoencoder")


_BUILDERS: dict[str, Callable[..., Any]] = {
    "small_cnn": small_cnn,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "ds_cnn": ds_cnn,
    "resnet8": resnet8,
    "autoencoder": autoencoder,
}

#: Every model name `build_model` accepts.
MODEL_NAMES: tuple[str, ...] = tuple(sorted(_BUILDERS))

_RECONSTRUCTION_MODELS = frozenset({"autoencoder"})


def _builder(name: str) -> Callable[..., Any]:
    try:
        return _BUILDERS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r} (valid names: {', '.join(MODEL_NAMES)})"
        ) from None


def model_task(name: str) -> str:
    """``"reconstruction"`` for the autoencoder, ``"classification"`` for the others."""
    _builder(name)
    return "reconstruction" if name in _RECONSTRUCTION_MODELS else "classification"


def model_options(name: str) -> dict[str, Any]:
    """The options a model takes, with their defaults."""
    params = inspect.signature(_builder(name)).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def check_options(name: str, options: dict[str, Any]) -> None:
    """Raise `UnknownNameError` for an unknown model, or an option the model does not take."""
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UnknownNameError(
            f"model {name} has no option {unknown[0]!r} (its options: {', '.join(valid) or 'none'})"
        )


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
    """Build an untrained tf-keras model of the zoo.

    Raises `UnknownNameError` for an unknown model or option name and
    `TrainingError` for an option value or input shape the model cannot take.
    """
    builder = _builder(name)
    check_options(name, options)
    task = model_task(name)
    if task == "classification" and num_classes < 2:
        raise TrainingError(f"model {name} needs at least 2 classes, got {num_classes}")
    shape = tuple(int(d) for d in input_shape)
    if any(d < 1 for d in shape):
        raise TrainingError(f"model {name}: input shape {list(shape)} has an empty dimension")
    if math.prod(shape) > 1 << 24:
        raise TrainingError(f"model {name}: input shape {list(shape)} is too large")
    return builder(shape, num_classes, **options)
