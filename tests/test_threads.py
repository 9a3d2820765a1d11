"""The one threading mechanism under the fast layers (minicnn.runtime.threads): pieces that change no result."""
import numpy as np
import pytest

from minicnn.runtime import threads


@pytest.fixture
def two_threads():
    threads.set_threads(2)
    try:
        with threads.step_threads():
            assert threads.active_threads() == 2
            yield
    finally:
        threads.set_threads(None)


@threads.in_pieces(axis=1)
def scaled_rows(x, scale, out, *, offset):
    """out = x * scale + offset; returns the sums over the last axis (N, C, 1), the pieces' joined along axis 1."""
    np.multiply(x, scale, out=out)
    out += offset
    seen.append(x.shape[1])
    return out.sum(axis=2, keepdims=True)


seen = []


def test_in_pieces_cuts_the_positional_arrays_and_passes_keywords_whole(two_threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 1 << 15)).astype(np.float32)
    scale = rng.standard_normal((1, 6, 1)).astype(np.float32)
    out = np.empty_like(x)
    seen.clear()
    sums = scaled_rows(x, scale, out, offset=np.float32(0.5))
    assert sorted(seen) == [3, 3]   # two pieces of the six channels, one per thread
    np.testing.assert_array_equal(out, x * scale + np.float32(0.5))
    np.testing.assert_allclose(sums, out.sum(axis=2, keepdims=True), rtol=1e-5)


def test_in_pieces_runs_whole_for_small_work_one_thread_or_inside_a_piece(two_threads):
    x = np.ones((2, 4, 8), np.float32)
    seen.clear()
    scaled_rows(x, np.ones((1, 4, 1), np.float32), np.empty_like(x), offset=0)
    with threads.whole():
        big = np.ones((4, 6, 1 << 15), np.float32)
        scaled_rows(big, np.ones((1, 6, 1), np.float32), np.empty_like(big), offset=0)
    assert seen == [4, 6]


def test_in_pieces_refuses_arrays_of_different_lengths_along_the_axis(two_threads):
    x = np.ones((4, 6, 1 << 15), np.float32)
    with pytest.raises(ValueError, match="argument 1 has 5 entries along axis 1, the first array 6"):
        scaled_rows(x, np.ones((1, 5, 1), np.float32), np.empty_like(x), offset=0)


def test_elementwise_cuts_along_the_memory_order_and_broadcasts(two_threads):
    rng = np.random.default_rng(1)
    memory = rng.standard_normal((8, 16, 16, 64)).astype(np.float32)
    x = memory.transpose(3, 0, 1, 2)            # (N, C, H, W) view, batch innermost
    bias = rng.standard_normal((1, 8, 1, 1)).astype(np.float32)
    out = threads.elementwise(np.add, x, bias)
    np.testing.assert_array_equal(out, x + bias)
    assert out.strides == x.strides             # made in x's memory layout
    mask = threads.elementwise(np.greater, x, 0)
    assert mask.dtype == bool and np.array_equal(mask, x > 0)


@pytest.mark.parametrize("split", ["rows", "columns"])
def test_matmul_gives_the_product_with_its_bias(two_threads, split):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((512, 300)).astype(np.float32)
    b = rng.standard_normal((300, 400)).astype(np.float32)
    bias = rng.standard_normal(400).astype(np.float32) if split == "rows" else None
    expected = a @ b + (0 if bias is None else bias)
    np.testing.assert_allclose(threads.matmul(a, b, add=bias, split=split), expected, rtol=1e-5, atol=1e-4)


def test_matmuls_add_the_pieces_products(two_threads):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((64, 100_000)).astype(np.float32)
    b = rng.standard_normal((100_000, 9)).astype(np.float32)
    ones = np.ones(100_000, np.float32)
    assert threads.product_pieces(a.shape[1], a.shape[0] * b.shape[1]) == 2
    product, sums = threads.matmuls(a, b, ones)
    np.testing.assert_allclose(product, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(sums, a.astype(np.float64).sum(axis=1), rtol=1e-4, atol=1e-2)
