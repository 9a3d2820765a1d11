"""Winograd's convolution (minicnn/layers/winograd.py) gives Conv2D's numbers: against im2col and against
its reference twin on hypothesis-drawn shapes and paddings in float64, to float32 rounding in float32, with
gradients that pass the central-difference check; "auto" picks it only where it applies."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import backend, layers
from minicnn.gradcheck import check_layer
from minicnn.reference.conv import conv_backward, conv_forward
from minicnn.reference.winograd import winograd_backward, winograd_forward
from minicnn.runtime import threads

ALGORITHMS = ["winograd2", "winograd4"]


def forward_backward(layer, x, dout, step_threads=True):
    """(out, dx, dW, db) of one training forward and backward, within a step's threads."""
    with threads.step_threads() if step_threads else threads.whole():
        out = layer.forward(x, training=True).copy()
        dx = layer.backward(dout)
    return out, dx, layer.grads["W"], layer.grads.get("b")


def draw_case(draw, dtype):
    channels, filters, batch = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same", 0, 1, 2]))
    height, width = draw(st.integers(3, 12)), draw(st.integers(3, 12))
    layer = layers.Conv2D(filters, 3, padding=padding, use_bias=draw(st.booleans()))
    layer.build((channels, height, width), rng=np.random.default_rng(draw(st.integers(0, 99))), dtype=dtype)
    if layer.use_bias:
        layer.params["b"][...] = np.random.default_rng(1).standard_normal(filters)
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    dout = rng.standard_normal((batch,) + layer.output_shape).astype(dtype)
    return layer, x, dout


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=30)
@given(data=st.data(), step_threads=st.booleans())
def test_winograd_equals_im2col_and_its_reference_twin_in_float64(algorithm, data, step_threads):
    layer, x, dout = draw_case(data.draw, np.float64)
    layer.algorithm = "im2col"
    expected = forward_backward(layer, x, dout, step_threads)
    layer.algorithm = algorithm
    got = forward_backward(layer, x, dout, step_threads)
    assert layer.winograd is not None and layer.winograd.m == int(algorithm[-1])
    out, cache = winograd_forward(x, layer.params["W"], layer.params.get("b"), layer.pads, m=layer.winograd.m)
    twin = (out,) + winograd_backward(dout, cache)
    for name, fast, im2col, reference in zip(("out", "dx", "dW", "db"), got, expected, twin):
        if im2col is None:
            assert fast is None and reference is None
            continue
        np.testing.assert_allclose(fast, im2col, rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(reference, im2col, rtol=1e-12, atol=1e-12, err_msg=name)


def test_the_reference_twin_equals_the_naive_convolution():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    dout = rng.standard_normal((2, 4, 9, 7))
    for m in (2, 4):
        out, cache = winograd_forward(x, w, b, 1, m=m)
        expected, expected_cache = conv_forward(x, w, b, 1, 1)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
        for got, want in zip(winograd_backward(dout, cache), conv_backward(dout, expected_cache)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm, tolerance", [("winograd2", 2e-6), ("winograd4", 2e-5)])
def test_float32_stays_float32_and_near_im2col(algorithm, tolerance):
    """On the shapes of band-cnn's second convolution: float32 in, float32 out, within float32 rounding
    of the products' sums (relative to the largest value)."""
    layer = layers.Conv2D(64, 3)
    layer.build((64, 26, 26), rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.random((4, 64, 26, 26), dtype=np.float32)
    dout = rng.standard_normal((4,) + layer.output_shape).astype(np.float32)
    layer.algorithm = "im2col"
    expected = forward_backward(layer, x, dout)
    layer.algorithm = algorithm
    got = forward_backward(layer, x, dout)
    for fast, im2col in zip(got, expected):
        assert fast.dtype == np.float32
        assert np.abs(fast - im2col).max() <= tolerance * np.abs(im2col).max()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=10)
@given(data=st.data())
def test_winograd_gradients_pass_the_numerical_check(algorithm, data):
    layer, x, dout = draw_case(data.draw, np.float64)
    layer.algorithm = algorithm
    report = check_layer(layer, x=x, dout=dout, training=True)
    assert report.passed, str(report)


def test_auto_picks_winograd_for_wide_stride_1_3x3_convolutions_only(backend_name):
    cases = [(layers.Conv2D(8, 3, padding="same"), (32, 8, 9), True),
             (layers.Conv2D(8, 3, padding="same"), (1, 8, 9), False),   # too few input channels
             (layers.Conv2D(8, 3, padding="same"), (32, 7, 9), False),  # too small an output
             (layers.Conv2D(8, 3, stride=2), (32, 7, 7), False),
             (layers.Conv2D(8, 5), (32, 7, 7), False)]
    for layer, shape, expected in cases:
        layer.build(shape, rng=np.random.default_rng(0))
        layer.forward(backend.xp.zeros((2,) + shape, dtype=np.float32))
        assert (layer.winograd is not None) == (expected and backend_name == "numpy"), (layer, shape)


def test_asking_winograd_of_a_convolution_it_cannot_run_names_the_layer():
    layer = layers.Conv2D(4, 3, stride=2, name="strided")
    layer.build((2, 7, 7))
    layer.algorithm = "winograd4"
    with pytest.raises(ValueError, match="Conv2D 'strided': winograd4 needs a 3x3 kernel and stride 1"):
        layer.forward(np.zeros((1, 2, 7, 7), dtype=np.float32))
