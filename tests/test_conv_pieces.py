"""Conv2D in pieces of the output rows gives the numbers of the whole batch in one piece and of the
reference twin, on hypothesis-drawn shapes, strides and paddings, in float64, on one thread and on two."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import layers
from minicnn.layers import conv
from minicnn.reference.conv import conv_backward, conv_forward
from minicnn.runtime import threads


def run_conv(layer, x, dout, step_threads):
    """(out, dx, dW, db) of one forward and backward, within a step's threads or not."""
    if step_threads:
        with threads.step_threads():
            out, dx = layer.forward(x, training=True).copy(), None
            dx = layer.backward(dout)
    else:
        out = layer.forward(x, training=True).copy()
        dx = layer.backward(dout)
    return out, dx, layer.grads["W"], layer.grads["b"]


@settings(max_examples=20)
@given(data=st.data(), piece_bytes=st.sampled_from([1, 600, 5000]), step_threads=st.booleans())
def test_pieces_of_the_output_rows_give_the_reference_numbers(data, piece_bytes, step_threads, monkeypatch):
    draw = data.draw
    channels, filters, batch = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    kernel, stride = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same", 0, 1, 2]))
    height, width = draw(st.integers(kernel, 11)), draw(st.integers(kernel, 11))
    layer = layers.Conv2D(filters, kernel, stride=stride, padding=padding)
    layer.build((channels, height, width), rng=np.random.default_rng(0), dtype=np.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, channels, height, width))
    dout = rng.standard_normal((batch,) + layer.output_shape)
    monkeypatch.setattr(conv, "PIECE_BYTES", piece_bytes)
    out, dx, dW, db = run_conv(layer, x, dout, step_threads)
    assert len(layer.pieces) > 1 or layer.output_shape[1] == 1 or piece_bytes == 5000
    monkeypatch.setattr(conv, "PIECE_BYTES", 1 << 40)
    whole = run_conv(layer, x, dout, step_threads)
    assert len(layer.pieces) == 1
    expected_out, cache = conv_forward(x, layer.params["W"], layer.params["b"], stride, layer.pads)
    expected_dx, expected_dW, expected_db = conv_backward(dout, cache)
    for got, same, expected in zip((out, dx, dW, db), whole, (expected_out, expected_dx, expected_dW, expected_db)):
        np.testing.assert_allclose(got, same, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pieces_keep_the_dtype(dtype, monkeypatch):
    monkeypatch.setattr(conv, "PIECE_BYTES", 1)
    layer = layers.Conv2D(3, 3, padding="same")
    layer.build((2, 6, 5), rng=np.random.default_rng(0), dtype=dtype)
    x = np.random.default_rng(1).standard_normal((4, 2, 6, 5)).astype(dtype)
    out = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(out))
    assert len(layer.pieces) == 6
    assert out.dtype == dx.dtype == layer.grads["W"].dtype == layer.grads["b"].dtype == dtype
