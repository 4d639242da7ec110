"""Datasets: deterministic, stratified splits in the model's scaling, clear errors otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from edgedeploy.errors import DatasetError, UnknownNameError
from edgedeploy.training.datasets import (
    SHAPES_CLASSES,
    SHAPES_PER_CLASS,
    TEST_FRACTION,
    VAL_FRACTION,
    load_dataset,
)

DIGITS_SAMPLES = 1797


def _all_splits(data):
    return (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test)


def test_digits_splits_cover_every_sample_once_in_the_stated_shares():
    data = load_dataset("digits", input_size=16, seed=0)
    sizes = [len(data.y_train), len(data.y_val), len(data.y_test)]
    assert sum(sizes) == DIGITS_SAMPLES
    assert len(data.y_test) == pytest.approx(DIGITS_SAMPLES * TEST_FRACTION, abs=1)
    assert len(data.y_val) == pytest.approx(DIGITS_SAMPLES * VAL_FRACTION, abs=2)
    # Every sample lands in exactly one split: the pooled images are the original set.
    from sklearn.datasets import load_digits

    pooled = np.concatenate([data.x_train, data.x_val, data.x_test])
    assert pooled.shape == (DIGITS_SAMPLES, 16, 16, 1)
    original = load_dataset("digits", input_size=8, seed=0)
    pooled8 = np.concatenate([original.x_train, original.x_val, original.x_test])
    reference = load_digits().images.astype(np.float32) / 16.0
    assert sorted(map(bytes, pooled8.reshape(DIGITS_SAMPLES, -1))) == sorted(
        map(bytes, reference.reshape(DIGITS_SAMPLES, -1))
    )


def test_splits_are_stratified():
    data = load_dataset("digits", input_size=8, seed=3)
    overall = np.bincount(np.concatenate([data.y_train, data.y_val, data.y_test])) / DIGITS_SAMPLES
    for y in (data.y_train, data.y_val, data.y_test):
        share = np.bincount(y, minlength=10) / len(y)
        assert np.abs(share - overall).max() < 0.01


def test_same_seed_same_split_other_seed_other_split():
    first = load_dataset("digits", input_size=8, seed=0)
    again = load_dataset("digits", input_size=8, seed=0)
    other = load_dataset("digits", input_size=8, seed=1)
    for a, b in zip(_all_splits(first), _all_splits(again), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.y_test, other.y_test)


def test_digits_scaling_resize_and_channels():
    grey = load_dataset("digits", input_size=32, seed=0)
    assert grey.input_shape == (32, 32, 1)
    assert grey.x_train.dtype == np.float32
    assert grey.x_train.min() >= 0.0 and grey.x_train.max() <= 1.0
    assert grey.labels == [str(d) for d in range(10)]
    rgb = load_dataset("digits", input_size=32, channels=3, seed=0)
    assert rgb.input_shape == (32, 32, 3)
    np.testing.assert_array_equal(rgb.x_test[..., 0], grey.x_test[..., 0])
    np.testing.assert_array_equal(rgb.x_test[..., 2], grey.x_test[..., 0])
    assert "replicated" in rgb.preprocessing["channel_conversion"]


def test_flattened_digits_are_row_major_vectors():
    data = load_dataset("digits", input_size=8, seed=0)
    flat = data.flattened()
    assert flat.input_shape == (64,)
    np.testing.assert_array_equal(flat.x_test[5], data.x_test[5].reshape(-1))
    np.testing.assert_array_equal(flat.y_test, data.y_test)
    assert "64 values" in flat.preprocessing["flatten"]


def test_shapes_is_deterministic_balanced_and_varied():
    first = load_dataset("shapes", input_size=24, seed=0)
    again = load_dataset("shapes", input_size=24, seed=0)
    other = load_dataset("shapes", input_size=24, seed=1)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_train[:10], other.x_train[:10])
    assert first.labels == list(SHAPES_CLASSES)
    assert first.input_shape == (24, 24, 3)
    counts = np.bincount(np.concatenate([first.y_train, first.y_val, first.y_test]))
    assert counts.tolist() == [SHAPES_PER_CLASS] * len(SHAPES_CLASSES)
    # Colours and backgrounds vary: per-image mean colours spread over the range.
    means = first.x_train.mean(axis=(1, 2))
    assert means.std(axis=0).min() > 0.08
    grey = load_dataset("shapes", input_size=24, channels=1, seed=0)
    expected = first.x_test @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(grey.x_test[..., 0], expected, atol=1e-6)


def _write_folder(root, sizes=((10, 12), (30, 20)), mode="RGB"):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            h, w = sizes[i % 2]
            shape = (h, w, 3) if mode == "RGB" else (h, w)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
                root / label / f"{i}.png"
            )
    (root / "dog" / "notes.txt").write_text("not an image")


def test_image_folder_classes_are_sub_folders(tmp_path):
    _write_folder(tmp_path / "pets")
    data = load_dataset(tmp_path / "pets", input_size=16, seed=0)
    assert data.labels == ["cat", "dog"]
    assert data.input_shape == (16, 16, 3)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 12
    assert data.x_train.max() <= 1.0
    grey = load_dataset(tmp_path / "pets", input_size=16, channels=1, seed=0)
    assert grey.input_shape == (16, 16, 1)


def test_grey_image_folder_is_one_channel(tmp_path):
    _write_folder(tmp_path / "grey", mode="L")
    assert load_dataset(tmp_path / "grey", input_size=8, seed=0).input_shape == (8, 8, 1)


def test_npz_images_labels_and_scaling(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 10, 10), dtype=np.uint8)
    y = np.repeat(np.arange(3), 10)
    np.savez(tmp_path / "d.npz", x=x, y=y, labels=np.array(["a", "b", "c"]))
    data = load_dataset(tmp_path / "d.npz", input_size=10, seed=0)
    assert data.labels == ["a", "b", "c"]
    assert data.input_shape == (10, 10, 1)
    pooled = np.sort(np.concatenate([data.x_train, data.x_val, data.x_test]).ravel())
    np.testing.assert_allclose(pooled, np.sort(x.ravel() / 255.0), atol=1e-7)


def test_npz_vectors_and_string_labels(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 640)).astype(np.float32)
    y = np.array(["normal", "anomaly"] * 20)
    np.savez(tmp_path / "v.npz", x=x, y=y)
    data = load_dataset(tmp_path / "v.npz", seed=0)
    assert data.input_shape == (640,)
    assert data.labels == ["anomaly", "normal"]


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: "mnist", UnknownNameError, "unknown dataset 'mnist'.*digits"),
        (lambda p: str(p / "missing.npz"), DatasetError, "does not exist"),
        (lambda p: str(p / "empty"), DatasetError, "at least 2 classes"),
        (lambda p: str(p / "no_y.npz"), DatasetError, "no array 'y'"),
        (lambda p: str(p / "bad.npz"), DatasetError, "not a readable .npz"),
        (lambda p: str(p / "tiny.npz"), DatasetError, "at least 3"),
    ],
)
def test_bad_datasets_are_one_line_errors(tmp_path, make, error, message):
    (tmp_path / "empty").mkdir()
    np.savez(tmp_path / "no_y.npz", x=np.zeros((4, 8, 8)))
    (tmp_path / "bad.npz").write_bytes(b"not a zip archive")
    np.savez(tmp_path / "tiny.npz", x=np.zeros((6, 8, 8)), y=np.array([0, 0, 0, 0, 0, 1]))
    with pytest.raises(error, match=message) as caught:
        load_dataset(make(tmp_path), input_size=8, seed=0)
    assert "\n" not in str(caught.value)


def test_input_size_and_channels_are_checked():
    with pytest.raises(DatasetError, match="input size 2"):
        load_dataset("digits", input_size=2)
    with pytest.raises(DatasetError, match="channels must be 1 or 3"):
        load_dataset("digits", input_size=8, channels=4)
