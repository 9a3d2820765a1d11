"""The one table of layer cases that drives the gradient, dtype and reference tests.

Each case draws, with hypothesis, a layer and a per-sample input shape that
fits it. ``distinct`` marks layers whose input must be tie-free (max-pooling:
a tie makes the numerical gradient meaningless).
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from minicnn import backend, layers
from minicnn.layers.base import every_layer


@dataclass(frozen=True)
class LayerCase:
    name: str
    draw: object            # (hypothesis draw) -> (layer, per-sample input shape)
    distinct: bool = False  # inputs must be tie-free


def image_shape(draw, min_side=1, max_side=7, max_channels=3):
    return (draw(st.integers(1, max_channels)), draw(st.integers(min_side, max_side)),
            draw(st.integers(min_side, max_side)))


def conv2d(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same", 0, 1, 2]))
    stride = draw(st.integers(1, 3))
    shape = image_shape(draw, min_side=3)
    return layers.Conv2D(draw(st.integers(1, 4)), kernel, stride=stride, padding=padding,
                         use_bias=draw(st.booleans()), init=draw(st.sampled_from(["pytorch", "keras"]))), shape


def pool(draw, cls):
    pool_size = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))  # stride < pool: overlapping windows
    shape = image_shape(draw, min_side=max(pool_size) if isinstance(pool_size, tuple) else pool_size)
    return cls(pool_size, stride), shape


def batch_norm(draw):
    shape = draw(st.one_of(st.builds(lambda c, h, w: (c, h, w), st.integers(1, 3), st.integers(1, 4),
                                     st.integers(1, 4)), st.builds(lambda d: (d,), st.integers(1, 6))))
    return layers.BatchNorm(convention=draw(st.sampled_from(["pytorch", "keras"]))), shape


def layer_norm(draw):
    shape = draw(st.one_of(st.builds(lambda c, h, w: (c, h, w), st.integers(1, 3), st.integers(1, 4),
                                     st.integers(1, 4)), st.builds(lambda d: (d,), st.integers(2, 6))))
    if int(np.prod(shape)) < 2:   # one value per sample normalizes to 0 whatever it is: a degenerate check
        shape = (2,) + shape[1:]
    return layers.LayerNorm(eps=draw(st.sampled_from([1e-5, 1e-3]))), shape


def group_norm(draw):
    groups = draw(st.integers(1, 3))
    channels = groups * draw(st.integers(1, 2))
    shape = draw(st.one_of(st.builds(lambda h, w: (channels, h, w), st.integers(1, 4), st.integers(2, 4)),
                           st.just((channels,))))
    if channels // groups * int(np.prod(shape[1:])) < 2:
        shape = (2 * channels,) + shape[1:]
    return layers.GroupNorm(groups), shape


def residual(draw):
    """A small block: Conv -> a normalization -> activation -> Conv (possibly strided, possibly changing the
    channels), with an automatic, identity or given shortcut; now and then a block nested in the body."""
    channels, height, width = image_shape(draw, min_side=3, max_side=6)
    filters = draw(st.sampled_from([channels, channels + 1]))
    stride = draw(st.integers(1, 2))
    normalization = draw(st.sampled_from([layers.BatchNorm, layers.LayerNorm, lambda: layers.GroupNorm(1)]))
    body = [layers.Conv2D(filters, 3, stride=stride, padding=1, use_bias=False), normalization(),
            draw(st.sampled_from([layers.ReLU, lambda: layers.LeakyReLU(0.1)]))()]
    if draw(st.booleans()):
        body.append(layers.Residual([layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNorm()]))
    body.append(layers.Conv2D(filters, 3, padding=1, use_bias=False))
    shortcut = None
    if draw(st.booleans()):
        shortcut = ([] if (filters, stride) == (channels, 1) else
                    [layers.Conv2D(filters, 1, stride=stride, use_bias=False), layers.BatchNorm()])
    return layers.Residual(body, shortcut), (channels, height, width)


def any_shape(draw):
    return tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))


LAYER_CASES = [
    LayerCase("Conv2D", conv2d),
    LayerCase("MaxPool2D", lambda draw: pool(draw, layers.MaxPool2D), distinct=True),
    LayerCase("AvgPool2D", lambda draw: pool(draw, layers.AvgPool2D)),
    LayerCase("BatchNorm", batch_norm),
    LayerCase("LayerNorm", layer_norm),
    LayerCase("GroupNorm", group_norm),
    LayerCase("GlobalAvgPool2D", lambda draw: (layers.GlobalAvgPool2D(), image_shape(draw, max_side=5))),
    LayerCase("Residual", residual),
    LayerCase("Dense", lambda draw: (layers.Dense(draw(st.integers(1, 5)), use_bias=draw(st.booleans())),
                                     (draw(st.integers(1, 8)),))),
    LayerCase("Flatten", lambda draw: (layers.Flatten(), any_shape(draw))),
    LayerCase("ReLU", lambda draw: (layers.ReLU(), any_shape(draw))),
    LayerCase("LeakyReLU", lambda draw: (layers.LeakyReLU(draw(st.floats(0.01, 0.5))), any_shape(draw))),
    LayerCase("Dropout", lambda draw: (layers.Dropout(draw(st.floats(0.0, 0.9))), any_shape(draw))),
]


def draw_input(rng, shape, distinct):
    """Standard-normal input; for max-pooling a shuffled ramp, so every value differs by far more than the step."""
    if distinct:
        size = int(np.prod(shape))
        return (rng.permutation(size).reshape(shape) - size / 2) / size
    return rng.standard_normal(shape)


def draw_tie_heavy_input(rng, shape):
    """Values from {0, 1, 2}, zeros most often: windows full of tied maxima, as Fashion-MNIST's background gives."""
    return rng.choice([0.0, 0.0, 1.0, 2.0], size=shape)


def build_for_checking(layer, shape, rng):
    """Build in float64; every normalization (those inside a Residual too) gets random gamma and beta (ones
    would hide a missing factor), a BatchNorm non-trivial running statistics for inference mode."""
    layer.build(shape, rng=rng, dtype=np.float64)
    for inner in every_layer([layer]):
        if isinstance(inner, (layers.BatchNorm, layers.LayerNorm, layers.GroupNorm)):
            for key in ("gamma", "beta"):
                inner.params[key] = backend.to_device(rng.standard_normal(inner.params[key].shape))
        if isinstance(inner, layers.BatchNorm):
            channels = inner.input_shape[0]
            inner.buffers["running_mean"][...] = backend.to_device(rng.standard_normal(channels))
            inner.buffers["running_var"][...] = backend.to_device(rng.uniform(0.5, 2.0, channels))
