"""Datasets for training and calibration, split the same way every time.

Four sources, all returned as float32 arrays in the scaling the model sees
(``[0, 1]`` for images) with stratified train/validation/test splits fixed by
the seed:

* ``digits``: scikit-learn's bundled 8×8 handwritten digits (1797 images,
  pixel values 0..16 divided by 16), resized bilinearly to the input size;
  grey, or replicated to 3 channels.
* ``shapes``: a procedurally generated RGB set of six shape classes (1000 each),
  rotated, scaled and placed at random, lighter than a tinted background by a
  random and sometimes small margin, with pixel noise and clutter lines and dots.
  Hard enough that a float model stays clearly below 100 % (60 % for small_cnn
  and 81 % for resnet8 at 32×32, trained with augmentation until early stopping
  ends it), so quantization losses show; some shapes are barely visible in the
  noise. Deterministic by seed.
* an image folder: one sub-folder per class (the folder names are the labels),
  any format PIL reads, squashed to the input size, pixel / 255.
* an ``.npz`` file with ``x`` (N×H×W, N×H×W×C or N×D) and integer or string
  ``y``, optionally ``labels``; uint8 ``x`` is divided by 255, floats are used
  as stored. N×D vectors suit the autoencoder only and are not resized.

Channel conversion: grey → RGB replicates the plane; RGB → grey uses the
ITU-R BT.601 luma weights. For the autoencoder `Dataset.flattened` turns each
H×W×C image into a vector of H·W·C values in row-major (height, width,
channel) order: digits at 8×8×1 give 64 values, at 32×32×1 give 1024.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy.errors import DatasetError, UnknownNameError

__all__ = [
    "DATASET_NAMES",
    "IMAGE_EXTENSIONS",
    "SHAPES_CLASSES",
    "SHAPES_PER_CLASS",
    "TEST_FRACTION",
    "VAL_FRACTION",
    "Dataset",
    "dataset_reference",
    "load_dataset",
]

#: Built-in dataset names; anything else is taken as a path.
DATASET_NAMES: tuple[str, ...] = ("digits", "shapes")
#: Share of every class held out for the final test.
TEST_FRACTION = 0.2
#: Share of every class held out for validation (early stopping).
VAL_FRACTION = 0.15
#: Classes of the ``shapes`` dataset, in label order.
SHAPES_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "star")
#: Images generated per ``shapes`` class.
SHAPES_PER_CLASS = 1000
#: Shape circumradius range, as a share of the canvas side.
SHAPES_RADIUS = (0.15, 0.42)
#: Range of the brightness difference between a shape and its background (0..1).
SHAPES_CONTRAST = (0.1, 0.5)
#: Range of the background grey level.
SHAPES_LEVEL = (0.05, 0.4)
#: Largest per-channel colour tint of background and shape around their grey level.
SHAPES_TINT = 0.15
#: Clutter marks (lines and dots) per image: at least, at most.
SHAPES_CLUTTER = (1, 3)
#: Standard deviation of the Gaussian pixel noise added at the final size.
SHAPES_NOISE = 0.15
#: Side of the canvas ``shapes`` are drawn on before resizing, so content does not depend
#: on the input size.
SHAPES_CANVAS = 64
#: File suffixes read from an image folder.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
)
#: Smallest and largest accepted square input size.
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 4, 1024
#: ITU-R BT.601 luma weights for RGB → grey.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class Dataset:
    """Train/validation/test arrays ready for a model, with how they were made."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: list[str]
    input_shape: tuple[int, ...]
    preprocessing: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int | None:
        """Channels of an image dataset; None for vectors."""
        return self.input_shape[-1] if len(self.input_shape) == 3 else None

    def flattened(self) -> Dataset:
        """The same data with every sample as a flat row-major vector (for the autoencoder)."""
        if len(self.input_shape) == 1:
            return self
        size = math.prod(self.input_shape)

        def flat(x: np.ndarray) -> np.ndarray:
            return x.reshape(len(x), size)

        preprocessing = dict(self.preprocessing)
        preprocessing["flatten"] = (
            f"{'×'.join(str(d) for d in self.input_shape)} → {size} values, "
            "row-major (height, width, channel)"
        )
        return dataclasses.replace(
            self,
            x_train=flat(self.x_train),
            x_val=flat(self.x_val),
            x_test=flat(self.x_test),
            input_shape=(size,),
            preprocessing=preprocessing,
        )


def dataset_reference(name_or_path: str | Path) -> str:
    """How a dataset is recorded for later stages: its name, or the absolute path."""
    text = str(name_or_path)
    if text in DATASET_NAMES:
        return text
    return str(Path(text).expanduser().resolve())


def _split(
    x: np.ndarray, y: np.ndarray, seed: int, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/val/test split: the same seed always gives the same split."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    if counts.min() < 3:
        raise DatasetError(
            f"dataset {source}: class {int(counts.argmin())} has {int(counts.min())} sample(s); "
            "every class needs at least 3 to be split into train, validation and test"
        )
    index = np.arange(len(y))
    try:
        rest, test = train_test_split(index, test_size=TEST_FRACTION, stratify=y, random_state=seed)
        val_share = VAL_FRACTION / (1.0 - TEST_FRACTION)
        train, val = train_test_split(
            rest, test_size=val_share, stratify=y[rest], random_state=seed
        )
    except ValueError as exc:
        raise DatasetError(f"dataset {source} cannot be split: {exc}") from exc
    train, val, test = np.sort(train), np.sort(val), np.sort(test)
    return x[train], y[train], x[val], y[val], x[test], y[test]


def _resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float images N×H×W×C to N×h×w×C (PIL, one plane at a time)."""
    from PIL import Image

    height, width = size
    if images.shape[1:3] == (height, width):
        return images.astype(np.float32, copy=False)
    out = np.empty((len(images), height, width, images.shape[3]), dtype=np.float32)
    for i, image in enumerate(images):
        for c in range(images.shape[3]):
            plane = Image.fromarray(
                np.ascontiguousarray(image[:, :, c], dtype=np.float32), mode="F"
            )
            out[i, :, :, c] = np.asarray(plane.resize((width, height), Image.Resampling.BILINEAR))
    return out


def _convert_channels(images: np.ndarray, channels: int) -> tuple[np.ndarray, str]:
    native = images.shape[3]
    if native == channels:
        return images, "none"
    if native == 1 and channels == 3:
        return np.repeat(images, 3, axis=3), "grey replicated to 3 channels"
    if native == 3 and channels == 1:
        return (images @ _LUMA)[..., None].astype(np.float32), "RGB to grey (BT.601 luma)"
    raise DatasetError(f"cannot convert {native}-channel images to {channels} channels")


def _size_tuple(input_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(input_size, int):
        size = (input_size, input_size)
    else:
        size = (int(input_size[0]), int(input_size[1]))
    for side in size:
        if not MIN_INPUT_SIZE <= side <= MAX_INPUT_SIZE:
            raise DatasetError(f"input size {side} is outside [{MIN_INPUT_SIZE}, {MAX_INPUT_SIZE}]")
    return size


def _images_dataset(
    name: str,
    images: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    input_size: int | tuple[int, int],
    channels: int | None,
    seed: int,
    preprocessing: dict[str, Any],
) -> Dataset:
    """Resize, convert channels and split images given as float N×H×W×C in model scaling."""
    size = _size_tuple(input_size)
    native = images.shape[3]
    want = native if channels is None else channels
    if want not in (1, 3):
        raise DatasetError(f"channels must be 1 or 3, got {want}")
    source_size = images.shape[1:3]
    images = _resize(images, size)
    images, conversion = _convert_channels(images, want)
    preprocessing = {
        **preprocessing,
        "resize": f"bilinear {source_size[0]}×{source_size[1]} → {size[0]}×{size[1]}",
        "native_channels": int(native),
        "channels": int(want),
        "channel_conversion": conversion,
    }
    return _finish(name, images.astype(np.float32), y, labels, seed, preprocessing)


def _finish(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    seed: int,
    preprocessing: dict[str, Any],
) -> Dataset:
    parts = _split(x, y.astype(np.int64), seed, name)
    preprocessing = {
        **preprocessing,
        "split": {
            "train": len(parts[1]),
            "val": len(parts[3]),
            "test": len(parts[5]),
            "test_fraction": TEST_FRACTION,
            "val_fraction": VAL_FRACTION,
            "stratified": True,
            "seed": seed,
        },
    }
    return Dataset(
        name, *parts, labels=labels, input_shape=tuple(x.shape[1:]), preprocessing=preprocessing
    )


def _digits(input_size: int | tuple[int, int], channels: int | None, seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[..., None]
    return _images_dataset(
        "digits",
        images,
        bunch.target,
        [str(v) for v in bunch.target_names],
        input_size,
        channels,
        seed,
        {
            "source": "sklearn.datasets.load_digits",
            "scaling": "pixel / 16 → [0, 1]",
            "input_range": [0.0, 1.0],
        },
    )


def _shape_points(
    kind: str, cx: float, cy: float, r: float, angle: float
) -> list[tuple[float, float]]:
    """Outline of a polygonal shape centred at (cx, cy) with circumradius r."""
    if kind == "square":
        corners = [(math.pi / 4 + k * math.pi / 2, r) for k in range(4)]
    elif kind == "triangle":
        corners = [(k * 2 * math.pi / 3, r) for k in range(3)]
    elif kind == "star":
        corners = [(k * math.pi / 5, r if k % 2 == 0 else r * 0.42) for k in range(10)]
    elif kind == "cross":
        arm = 0.32
        unit = [
            (arm, 1), (arm, arm), (1, arm), (1, -arm), (arm, -arm), (arm, -1),
            (-arm, -1), (-arm, -arm), (-1, -arm), (-1, arm), (-arm, arm), (-arm, 1),
        ]  # fmt: skip
        corners = [(math.atan2(v, u), r * math.hypot(u, v) / math.sqrt(2)) for u, v in unit]
    else:
        raise ValueError(kind)
    return [(cx + rad * math.cos(a + angle), cy + rad * math.sin(a + angle)) for a, rad in corners]


def _draw_shape(rng: np.random.Generator, kind: str) -> np.ndarray:
    """One RGB ``shapes`` image on the canvas, values in [0, 1]."""
    from PIL import Image, ImageDraw

    n = SHAPES_CANVAS
    # Brightness carries the shape (it is lighter or darker than the background by a
    # random, sometimes small, amount); hue varies by a random tint on both.
    level = rng.uniform(*SHAPES_LEVEL)
    background = np.clip(level + rng.uniform(-SHAPES_TINT, SHAPES_TINT, 3), 0.0, 1.0)
    contrast = rng.uniform(*SHAPES_CONTRAST)
    shape_level = level + contrast if level < 0.5 else level - contrast
    colour = np.clip(shape_level + rng.uniform(-SHAPES_TINT, SHAPES_TINT, 3), 0.0, 1.0)
    image = Image.new("RGB", (n, n), tuple(int(v * 255) for v in background))
    draw = ImageDraw.Draw(image)
    r = float(rng.uniform(*SHAPES_RADIUS) * n)
    cx, cy = (float(v) for v in rng.uniform(0.15 * n, 0.85 * n, 2))
    angle = float(rng.uniform(0, 2 * math.pi))
    fill = tuple(int(v * 255) for v in colour)
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif kind == "ring":
        width = max(1, int(r * rng.uniform(0.2, 0.4)))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fill, width=width)
    else:
        draw.polygon(_shape_points(kind, cx, cy, r, angle), fill=fill)
    for _ in range(int(rng.integers(SHAPES_CLUTTER[0], SHAPES_CLUTTER[1] + 1))):
        clutter = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            x0, y0, x1, y1 = (float(v) for v in rng.uniform(0, n, 4))
            draw.line((x0, y0, x1, y1), fill=clutter, width=int(rng.integers(1, 3)))
        else:
            px, py = (float(v) for v in rng.uniform(0, n, 2))
            pr = float(rng.uniform(1, 3))
            draw.ellipse((px - pr, py - pr, px + pr, py + pr), fill=clutter)
    return np.asarray(image, dtype=np.float32) / 255.0


def _shapes(input_size: int | tuple[int, int], channels: int | None, seed: int) -> Dataset:
    size = _size_tuple(input_size)
    rng = np.random.default_rng([seed, 0x5A4E5])
    kinds = np.repeat(np.arange(len(SHAPES_CLASSES)), SHAPES_PER_CLASS)
    rng.shuffle(kinds)
    canvas = np.stack([_draw_shape(rng, SHAPES_CLASSES[k]) for k in kinds])
    images = _resize(canvas, size)
    # Noise is added at the final size so the task is as hard at 16×16 as at 64×64.
    noisy = images + rng.normal(0.0, SHAPES_NOISE, images.shape)
    images = np.clip(noisy, 0.0, 1.0).astype(np.float32)
    dataset = _images_dataset(
        "shapes",
        images,
        kinds,
        list(SHAPES_CLASSES),
        size,
        channels,
        seed,
        {
            "source": (
                f"edgedeploy procedural shapes, {SHAPES_PER_CLASS} per class drawn on "
                f"{SHAPES_CANVAS}×{SHAPES_CANVAS}, resized, Gaussian noise σ={SHAPES_NOISE}, seed {seed}"
            ),
            "scaling": "RGB / 255 → [0, 1]",
            "input_range": [0.0, 1.0],
        },
    )
    dataset.preprocessing["resize"] = (
        f"bilinear {SHAPES_CANVAS}×{SHAPES_CANVAS} → {size[0]}×{size[1]}"
    )
    return dataset


def _image_folder(
    root: Path, input_size: int | tuple[int, int], channels: int | None, seed: int
) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    size = _size_tuple(input_size)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(
            f"image folder {root} needs one sub-folder per class and at least 2 classes, "
            f"found {len(classes)}"
        )
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        found = sorted(
            p for p in (root / name).iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )  # fmt: skip
        if not found:
            raise DatasetError(f"class folder {root / name} holds no images")
        files.extend((p, label) for p in found)
    pictures = []
    grey = True
    for path, _ in files:
        try:
            with Image.open(path) as picture:
                picture.load()
                grey = grey and picture.mode in ("1", "L", "LA", "I", "I;16", "F")
                pictures.append(picture.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(f"cannot read image {path}: {exc}") from exc
    native = 1 if grey else 3
    want = native if channels is None else channels
    mode = "L" if want == 1 else "RGB"
    height, width = size
    images = (
        np.stack(
            [
                np.asarray(
                    p.convert(mode).resize((width, height), Image.Resampling.BILINEAR), np.float32
                )
                for p in pictures
            ]
        ).reshape(len(pictures), height, width, want)
        / 255.0
    )
    y = np.array([label for _, label in files])
    return _finish(
        str(root),
        images.astype(np.float32),
        y,
        classes,
        seed,
        {
            "source": f"image folder {root} ({len(files)} images)",
            "scaling": "pixel / 255 → [0, 1]",
            "input_range": [0.0, 1.0],
            "resize": f"bilinear, each image squashed to {height}×{width}",
            "native_channels": native,
            "channels": want,
            "channel_conversion": "none" if want == native else f"PIL convert to {mode}",
        },
    )


def _npz(path: Path, input_size: int | tuple[int, int], channels: int | None, seed: int) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"dataset {path} is not a readable .npz archive ({exc})") from exc
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise DatasetError(f"dataset {path} has no array {missing[0]!r} (it needs x and y)")
    x, y = arrays["x"], arrays["y"]
    if y.ndim != 1 or len(y) != len(x):
        raise DatasetError(
            f"dataset {path}: y must be one label per sample ({len(x)}), got shape {list(y.shape)}"
        )
    if x.ndim not in (2, 3, 4) or len(x) == 0:
        raise DatasetError(
            f"dataset {path}: x must be N×D, N×H×W or N×H×W×C, got shape {list(x.shape)}"
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DatasetError(f"dataset {path}: x has non-numeric dtype {x.dtype}")
    values, y_index = np.unique(y, return_inverse=True)
    if "labels" in arrays:
        names = [str(v) for v in arrays["labels"].tolist()]
        if np.issubdtype(y.dtype, np.integer) and values.min() >= 0 and values.max() < len(names):
            y_index, labels = y.astype(np.int64), names
            if np.bincount(y_index, minlength=len(labels)).min() == 0:
                raise DatasetError(f"dataset {path}: some labels have no samples")
        else:
            raise DatasetError(
                f"dataset {path}: y must hold integer indices into labels (0..{len(names) - 1})"
            )
    else:
        labels = [str(v) for v in values.tolist()]
    if x.dtype == np.uint8:
        data, scaling = x.astype(np.float32) / 255.0, "uint8 / 255 → [0, 1]"
    else:
        data, scaling = x.astype(np.float32), "as stored"
    if not np.isfinite(data).all():
        raise DatasetError(f"dataset {path}: x holds NaN or infinite values")
    base = {"source": f"npz {path}", "scaling": scaling}
    if x.ndim == 2:
        return _finish(str(path), data, y_index, labels, seed, {**base, "vectors": True})
    if x.ndim == 3:
        data = data[..., None]
    if data.shape[3] not in (1, 3):
        raise DatasetError(f"dataset {path}: images must have 1 or 3 channels, got {data.shape[3]}")
    return _images_dataset(str(path), data, y_index, labels, input_size, channels, seed, base)


def load_dataset(
    name_or_path: str | Path,
    input_size: int | tuple[int, int] = 32,
    channels: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a built-in dataset by name, an image folder or an ``.npz`` file, split by ``seed``.

    ``channels=None`` keeps the dataset's own (1 for digits, 3 for shapes).
    Raises `UnknownNameError` for a bare name that is neither built in nor an
    existing path, and `DatasetError` for a missing path or unusable data.
    """
    text = str(name_or_path)
    if not isinstance(seed, int) or seed < 0:
        raise DatasetError(f"seed must be a non-negative integer, got {seed!r}")
    if text == "digits":
        return _digits(input_size, channels, seed)
    if text == "shapes":
        return _shapes(input_size, channels, seed)
    path = Path(text).expanduser()
    if path.is_dir():
        return _image_folder(path, input_size, channels, seed)
    if path.is_file() and path.suffix.lower() == ".npz":
        return _npz(path, input_size, channels, seed)
    if path.exists():
        raise DatasetError(f"dataset {text} is neither an image folder nor an .npz file")
    if path.suffix or len(path.parts) > 1:
        raise DatasetError(f"dataset path {text} does not exist")
    raise UnknownNameError(
        f"unknown dataset {text!r} (built-in: {', '.join(DATASET_NAMES)}; "
        "or give an image folder or an .npz file)"
    )
