"""Train/validation splits, mini-batches and image preparation."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.data import iterate_batches, prepare_images, train_val_split


def fashion_like_labels(seed=0):
    """60,000 labels, 6,000 per class, shuffled, like Fashion-MNIST's training set."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(10), 6000))


def test_fashion_mnist_sized_split_is_exact_and_balanced():
    y = fashion_like_labels()
    x = np.arange(len(y))
    (x_train, y_train), (x_val, y_val) = train_val_split(x, y, val_fraction=0.2, seed=0)
    assert len(x_val) == 12000 and len(x_train) == 48000
    assert np.bincount(y_val).tolist() == [1200] * 10
    assert np.bincount(y_train).tolist() == [4800] * 10
    np.testing.assert_array_equal(y[x_val], y_val)  # rows stay paired with their labels


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 60), min_size=1, max_size=6),
       val_fraction=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1), stratify=st.booleans())
def test_split_sizes_and_class_shares(counts, val_fraction, seed, stratify):
    y = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    num_val = round(val_fraction * len(y))
    if not 0 < num_val < len(y):
        with pytest.raises(ValueError):
            train_val_split(np.arange(len(y)), y, val_fraction, seed, stratify)
        return
    (x_train, y_train), (x_val, y_val) = train_val_split(np.arange(len(y)), y, val_fraction, seed, stratify)
    assert len(x_val) == num_val
    assert sorted(np.concatenate([x_train, x_val]).tolist()) == list(range(len(y)))
    if stratify:
        val_counts = np.bincount(y_val, minlength=len(counts))
        assert np.all(np.abs(val_counts - np.array(counts) * num_val / len(y)) < 1)


def test_split_is_seeded():
    y = fashion_like_labels()[:1000]
    x = np.arange(len(y))
    first = train_val_split(x, y, seed=3)[1][0]
    np.testing.assert_array_equal(first, train_val_split(x, y, seed=3)[1][0])
    assert not np.array_equal(first, train_val_split(x, y, seed=4)[1][0])


def test_split_works_on_images():
    x = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    y = np.arange(50) % 5
    (x_train, y_train), (x_val, y_val) = train_val_split(x, y, val_fraction=0.2)
    assert x_train.shape == (40, 28, 28) and x_val.shape == (10, 28, 28)
    assert np.bincount(y_val).tolist() == [2] * 5


@pytest.mark.parametrize("val_fraction", [0.0, 1.0, -0.1, 0.001])
def test_split_rejects_fractions_that_leave_a_side_empty(val_fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(np.arange(100), np.arange(100) % 10, val_fraction)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="x has 99 samples but y has 100"):
        train_val_split(np.arange(99), np.arange(100) % 10)


@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_cover_every_sample_once(drop_last):
    x, y = np.arange(103) * 10, np.arange(103)
    batches = list(iterate_batches(x, y, 10, rng=np.random.default_rng(0), drop_last=drop_last))
    sizes = [len(batch_y) for _, batch_y in batches]
    assert sizes == ([10] * 10 if drop_last else [10] * 10 + [3])
    seen = np.concatenate([batch_y for _, batch_y in batches])
    assert len(set(seen.tolist())) == len(seen)
    for batch_x, batch_y in batches:
        np.testing.assert_array_equal(batch_x, batch_y * 10)
    if not drop_last:
        assert sorted(seen.tolist()) == list(range(103))


def test_batches_are_shuffled_reproducibly_or_kept_in_order():
    x = y = np.arange(50)
    def order(**options):
        return np.concatenate([batch_y for _, batch_y in iterate_batches(x, y, 8, **options)])
    np.testing.assert_array_equal(order(shuffle=False), x)
    shuffled = order(rng=np.random.default_rng(7))
    assert not np.array_equal(shuffled, x)
    np.testing.assert_array_equal(shuffled, order(rng=np.random.default_rng(7)))
    np.testing.assert_array_equal(shuffled, order(rng=7))


def test_batches_reject_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(np.arange(5), np.arange(5), 0))
    with pytest.raises(ValueError, match="samples"):
        next(iterate_batches(np.arange(5), np.arange(4), 2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_prepare_images_scales_to_unit_range(dtype):
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    images = prepare_images(x, dtype=dtype)
    assert images.shape == (1, 1, 2, 2) and images.dtype == dtype
    np.testing.assert_allclose(images[0, 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_prepare_images_standardizes(dtype):
    x = np.array([[[0, 255]]], dtype=np.uint8)
    images = prepare_images(x, dtype=dtype, standardize=True)
    assert images.dtype == dtype
    np.testing.assert_allclose(images.ravel(), [-0.2860 / 0.3530, (1 - 0.2860) / 0.3530], rtol=1e-6)


def test_prepare_images_keeps_a_channel_axis_and_rejects_other_shapes():
    assert prepare_images(np.zeros((2, 3, 5, 5), np.uint8)).shape == (2, 3, 5, 5)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        prepare_images(np.zeros((5, 5), np.uint8))
