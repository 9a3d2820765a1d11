"""Batch augmentation: exact checks where the answer is known, properties elsewhere."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import backend
from minicnn.data import (Augmenter, affine_transform, horizontal_flip, pad_crop, random_affine,
                          random_erasing)

FULL_AUGMENTER = dict(rotation_range=20, width_shift_range=0.1, height_shift_range=2, zoom_range=0.15,
                      horizontal_flip=True, pad_crop=2, random_erasing=0.5)


def images(shape=(6, 2, 9, 9), dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def rng(seed=0):
    return np.random.default_rng(seed)


STEPS = {
    "affine": lambda x, generator: random_affine(x, generator, 30, 0.2, 0.2, 0.2),
    "affine nearest": lambda x, generator: random_affine(x, generator, 30, 0.2, 0.2, 0.2, "nearest"),
    "pad_crop": lambda x, generator: pad_crop(x, generator, 3),
    "flip": lambda x, generator: horizontal_flip(x, generator),
    "erasing": lambda x, generator: random_erasing(x, generator, p=1.0),
    "erasing random": lambda x, generator: random_erasing(x, generator, p=1.0, value="random"),
    "augmenter": lambda x, generator: Augmenter(**FULL_AUGMENTER)(x, generator),
}


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_step_keeps_shape_and_dtype(step, dtype):
    x = images(dtype=dtype)
    out = STEPS[step](x, rng())
    assert out.shape == x.shape and out.dtype == dtype


@pytest.mark.parametrize("step", STEPS)
def test_every_step_is_reproducible_and_leaves_its_input_alone(step):
    x = images()
    before = x.copy()
    first = STEPS[step](x, rng(5))
    np.testing.assert_array_equal(first, STEPS[step](x, rng(5)))
    assert not np.array_equal(first, STEPS[step](x, rng(6)))
    np.testing.assert_array_equal(x, before)


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 12), st.integers(1, 12)),
       seed=st.integers(0, 1000))
def test_augmenter_on_any_shape_keeps_float32(shape, seed):
    out = Augmenter(**FULL_AUGMENTER, erasing_value="random")(images(shape), rng(seed))
    assert out.shape == shape and out.dtype == np.float32 and np.all(np.isfinite(out))


def test_identity_augmenter_returns_its_input():
    x = images()
    assert Augmenter()(x, rng()) is x
    assert Augmenter(zoom_range=[1.0, 1.0])(x, rng()) is x


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_identity_affine_transform_is_exact(interpolation):
    x = images()
    np.testing.assert_array_equal(affine_transform(x, interpolation=interpolation), x)


def test_augmenter_seed_makes_runs_identical():
    x = images()
    first = Augmenter(**FULL_AUGMENTER, seed=11)
    second = Augmenter(**FULL_AUGMENTER, seed=11)
    np.testing.assert_array_equal(first(x), second(x))
    np.testing.assert_array_equal(first(x), second(x))  # and they stay in step


def test_config_is_json_ready_and_rebuilds_the_augmenter():
    augmenter = Augmenter(**FULL_AUGMENTER, seed=3)
    config = json.loads(json.dumps(augmenter.config()))
    assert config == augmenter.config()
    for setting, value in FULL_AUGMENTER.items():
        assert config[setting] == value
    x = images()
    np.testing.assert_array_equal(Augmenter(**config)(x), Augmenter(**FULL_AUGMENTER, seed=3)(x))


@pytest.mark.parametrize("bad", [dict(rotation_range=-1), dict(pad_crop=-2), dict(random_erasing=1.5),
                                 dict(zoom_range=1.0), dict(zoom_range=[1.2, 0.8]),
                                 dict(interpolation="cubic"), dict(erasing_value="noise")])
def test_augmenter_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        Augmenter(**bad)


@pytest.mark.parametrize("x", [np.zeros((2, 9, 9), np.float32), np.zeros((2, 1, 9, 9), np.uint8)])
def test_non_float_or_non_4d_input_is_rejected(x):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Augmenter(horizontal_flip=True)(x, rng())


def test_flip_is_exactly_the_mirror():
    x = images()
    np.testing.assert_array_equal(horizontal_flip(x, rng(), p=1.0), x[..., ::-1])
    np.testing.assert_array_equal(horizontal_flip(x, rng(), p=0.0), x)
    out = horizontal_flip(images((200, 1, 5, 5)), rng(), p=0.5)
    flipped = [np.array_equal(out[n], images((200, 1, 5, 5))[n, :, :, ::-1]) for n in range(200)]
    assert 70 < sum(flipped) < 130


def test_pad_crop_with_zero_padding_is_identity():
    x = images()
    np.testing.assert_array_equal(pad_crop(x, rng(), 0), x)


def test_pad_crop_equals_one_crop_of_the_zero_padded_image():
    x, padding = images((20, 2, 7, 8)), 2
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = pad_crop(x, rng(), padding)
    offsets_seen = set()
    for n in range(len(x)):
        matches = [(top, left) for top in range(2 * padding + 1) for left in range(2 * padding + 1)
                   if np.array_equal(out[n], padded[n, :, top:top + 7, left:left + 8])]
        assert matches, f"sample {n} is not a crop of its padded image"
        offsets_seen.update(matches)
    assert len(offsets_seen) > 5


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("quarter_turns", [1, 2, 3, -1])
def test_rotation_by_quarter_turns_equals_rot90(interpolation, quarter_turns):
    x = images((3, 2, 8, 8))  # even size: the centre lies between pixels
    out = affine_transform(x, rotation_degrees=90.0 * quarter_turns, interpolation=interpolation)
    np.testing.assert_allclose(out, np.rot90(x, quarter_turns, axes=(2, 3)), atol=1e-6)


def test_rotation_by_half_turn_of_a_non_square_image_reverses_both_axes():
    x = images((2, 1, 5, 8))
    out = affine_transform(x, rotation_degrees=180.0, interpolation="nearest")
    np.testing.assert_array_equal(out, x[:, :, ::-1, ::-1])


def test_rotation_angles_are_per_sample():
    x = images((2, 1, 6, 6))
    out = affine_transform(x, rotation_degrees=np.array([90.0, 0.0]), interpolation="nearest")
    np.testing.assert_array_equal(out[0], np.rot90(x[0], 1, axes=(1, 2)))
    np.testing.assert_array_equal(out[1], x[1])


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_whole_pixel_shift_moves_content_and_fills_zero(interpolation):
    x = images((2, 1, 6, 7))
    out = affine_transform(x, shift_rows=2, shift_cols=-3, interpolation=interpolation)
    expected = np.zeros_like(x)
    expected[:, :, 2:, :4] = x[:, :, :4, 3:]
    np.testing.assert_array_equal(out, expected)


def test_half_pixel_shift_averages_neighbours_with_bilinear():
    x = images((1, 1, 4, 4), dtype=np.float64)
    out = affine_transform(x, shift_cols=0.5, interpolation="bilinear")
    np.testing.assert_allclose(out[..., 1:], (x[..., :-1] + x[..., 1:]) / 2)
    np.testing.assert_allclose(out[..., 0], x[..., 0] / 2)  # half of the value, half the zero fill


def test_zoom_follows_the_keras_convention():
    ones = np.ones((1, 1, 20, 20), np.float32)
    enlarged = affine_transform(ones, zoom_rows=0.5, zoom_cols=0.5, interpolation="nearest")
    np.testing.assert_array_equal(enlarged, ones)  # every output point reads from inside
    shrunk = affine_transform(ones, zoom_rows=2.0, zoom_cols=2.0, interpolation="nearest")
    assert shrunk.sum() == 10 * 10  # the content fills the middle half of each axis
    np.testing.assert_array_equal(shrunk[0, 0, 5:15, 5:15], 1.0)


def test_random_shift_stays_within_its_range():
    ones = np.ones((50, 1, 10, 10), np.float32)
    out = random_affine(ones, rng(), width_shift_range=0.2, interpolation="nearest")
    zero_columns = (out[:, 0] == 0).all(axis=1).sum(axis=1)  # shifted-in empty columns per image
    assert zero_columns.max() <= 2 and zero_columns.max() > 0
    # A width shift moves every row the same way, and never the image up or down.
    np.testing.assert_array_equal(out[:, 0], np.broadcast_to(out[:, 0, :1], out[:, 0].shape))


def erased_boxes(out):
    """For images that were all ones: the zeroed area of each (N,) and whether it is a rectangle."""
    zero = out[:, 0] == 0
    areas = zero.sum(axis=(1, 2))
    rows, cols = zero.any(axis=2).sum(axis=1), zero.any(axis=1).sum(axis=1)
    return areas, areas == rows * cols


def test_random_erasing_erases_one_rectangle_of_the_allowed_area():
    height = width = 32
    ones = np.ones((300, 3, height, width), np.float32)
    out = random_erasing(ones, rng(), p=1.0, area_range=(0.05, 0.3))
    areas, is_rectangle = erased_boxes(out)
    assert is_rectangle.all()
    assert (out == 0).all(axis=1).sum() == (out == 0).any(axis=1).sum(), "all channels erased together"
    # Rounding height and width to whole pixels moves the area by at most about half a row and column.
    slack = 0.5 * (height + width) + 0.25
    erased = areas > 0
    assert erased.mean() > 0.95
    assert (areas[erased] >= 0.05 * height * width - slack).all()
    assert (areas[erased] <= 0.3 * height * width + slack).all()


def test_random_erasing_probability_and_fill():
    ones = np.ones((400, 1, 16, 16), np.float32)
    assert (random_erasing(ones, rng(), p=0.0) == 1).all()
    areas, _ = erased_boxes(random_erasing(ones, rng(), p=0.5))
    assert 0.4 < (areas > 0).mean() < 0.6
    noisy = random_erasing(ones, rng(), p=1.0, value="random")
    changed = noisy != 1
    assert changed.any() and (noisy[changed] >= 0).all() and (noisy[changed] < 1).all()
    assert (random_erasing(ones, rng(), p=1.0, value=0.5) != 1).sum() == \
        (random_erasing(ones, rng(), p=1.0, value=0.0) == 0).sum()


@pytest.mark.skipif("cupy" not in backend.available_backends(), reason="needs CuPy and a GPU")
def test_cupy_gives_the_numpy_result():
    x = images((16, 1, 28, 28))
    on_host = Augmenter(**FULL_AUGMENTER, erasing_value="random")(x, rng(9))
    previous = backend.name
    backend.set_backend("cupy")
    try:
        on_device = Augmenter(**FULL_AUGMENTER, erasing_value="random")(backend.to_device(x), rng(9))
        assert on_device.dtype == np.float32
        np.testing.assert_allclose(backend.to_numpy(on_device), on_host, atol=1e-5)
    finally:
        backend.set_backend(previous)
