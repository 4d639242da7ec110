"""Training-time augmentation: the spec, the batches it gives, and its record for QAT."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.toolhelpers import require_module

require_module("tf_keras")

from edgedeploy.errors import TrainingError  # noqa: E402
from edgedeploy.training import (  # noqa: E402
    DEFAULT_AUGMENTATION,
    Augmentation,
    TrainConfig,
    augmented_batches,
    load_dataset,
    load_trained,
    parse_augmentation,
    train,
)

TINY = {"conv_layers": 1, "dense_layers": 0, "filters": 4}


def test_spec_defaults_and_overrides():
    assert parse_augmentation("default") == DEFAULT_AUGMENTATION
    assert parse_augmentation("") == DEFAULT_AUGMENTATION
    aug = parse_augmentation("shift=0.2, rotate=5,flip")
    assert aug == Augmentation(shift=0.2, zoom=DEFAULT_AUGMENTATION.zoom, rotate=5.0, flip=True)
    assert Augmentation.from_dict(aug.to_dict()) == aug


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("shift=0.9", "shift must be in"),
        ("rotate=-1", "rotate must be in"),
        ("zoom=abc", "zoom is not a number"),
        ("blur=2", "bad augmentation 'blur=2'"),
        ("shift", "bad augmentation 'shift'"),
        ("zoom=nan", "zoom must be in"),
    ],
)
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(TrainingError, match=message) as caught:
        parse_augmentation(spec)
    assert "\n" not in str(caught.value)


def _first_batch(x, y, aug, seed):
    images, labels = next(iter(augmented_batches(x, y, aug, batch_size=64, seed=seed)))
    return images.numpy(), labels.numpy()


def test_batches_move_the_images_but_keep_labels_and_range():
    data = load_dataset("digits", input_size=32, seed=0)
    x, y = data.x_train[:64], data.y_train[:64]
    images, labels = _first_batch(x, y, DEFAULT_AUGMENTATION, seed=1)
    assert images.shape == x.shape and images.dtype == np.float32
    assert images.min() >= x.min() and images.max() <= x.max()
    assert sorted(labels.tolist()) == sorted(y.tolist())
    # Every image is changed (shift, zoom and rotation are continuous draws), yet stays close.
    flat_x, flat_a = x.reshape(len(x), -1), images.reshape(len(x), -1)
    unchanged = sum(any(np.array_equal(a, b) for b in flat_x) for a in flat_a)
    assert unchanged == 0
    mean_ink = np.mean(flat_x.sum(axis=1))
    assert abs(np.mean(flat_a.sum(axis=1)) - mean_ink) < 0.25 * mean_ink


def test_same_seed_same_batches_other_seed_other_batches():
    data = load_dataset("digits", input_size=16, seed=0)
    x, y = data.x_train[:64], data.y_train[:64]
    a, _ = _first_batch(x, y, DEFAULT_AUGMENTATION, seed=3)
    b, _ = _first_batch(x, y, DEFAULT_AUGMENTATION, seed=3)
    c, _ = _first_batch(x, y, DEFAULT_AUGMENTATION, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_flat_vectors_cannot_be_augmented():
    x = np.zeros((8, 64), np.float32)
    with pytest.raises(TrainingError, match="applies to images"):
        augmented_batches(x, np.zeros(8, np.int64), DEFAULT_AUGMENTATION, 4, 0)


def _tiny(out, augmentation=None) -> TrainConfig:
    """Two epochs of a one-convolution small_cnn on 8×8 digits: seconds, enough to compare runs."""
    return TrainConfig(
        model="small_cnn",
        dataset="digits",
        out=out,
        input_size=8,
        epochs=2,
        model_options=TINY,
        augmentation=augmentation,
    )


def test_training_records_its_augmentation_for_later_stages(tmp_path):
    aug = parse_augmentation("shift=0.15,rotate=10")
    first = train(_tiny(tmp_path / "a", aug))
    second = train(_tiny(tmp_path / "b", aug))
    assert first.history == second.history  # seeded augmentation repeats
    pre = json.loads((tmp_path / "a" / "preprocessing.json").read_text())
    assert pre["augmentation"] == aug.to_dict()
    assert load_trained(tmp_path / "a").augmentation == aug
    plain = train(_tiny(tmp_path / "plain"))
    assert load_trained(tmp_path / "plain").augmentation is None
    assert plain.history != first.history


def test_autoencoder_on_flat_vectors_refuses_augmentation_and_writes_nothing(tmp_path):
    config = TrainConfig(
        model="autoencoder",
        dataset="digits",
        out=tmp_path / "ae",
        input_size=8,
        epochs=1,
        augmentation=DEFAULT_AUGMENTATION,
    )
    with pytest.raises(TrainingError, match="applies to images"):
        train(config)
    assert list(tmp_path.iterdir()) == []
