"""Naive max and average pooling: one loop per output position, floor mode, no padding.

Read this before minicnn/layers/pooling.py, which loops over the window offsets
instead of the output positions. Host NumPy arrays; the dtype of x is kept.
"""
import numpy as np


def pooling_pair(value):
    """An int (the same on rows and columns) or a pair -> (rows, columns)."""
    return (int(value), int(value)) if np.isscalar(value) else tuple(int(side) for side in value)


def pooled_size(x, pool_size, stride):
    """(pool_h, pool_w), (step_h, step_w), (out_h, out_w) for x (N, C, H, W); stride None means the window."""
    pool_h, pool_w = pooling_pair(pool_size)
    step_h, step_w = pooling_pair(stride) if stride is not None else (pool_h, pool_w)
    out_h, out_w = (x.shape[2] - pool_h) // step_h + 1, (x.shape[3] - pool_w) // step_w + 1
    return (pool_h, pool_w), (step_h, step_w), (out_h, out_w)


def max_pool_forward(x, pool_size, stride=None):
    """The maximum of each window.

    Inputs:
    - x: (N, C, H, W).
    - pool_size: int or (ph, pw), the window.
    - stride: int, (sh, sw) or None (the window: windows side by side).

    Returns (out, cache):
    - out: (N, C, H_out, W_out), H_out = (H - ph) // sh + 1 (rows past the last whole window are dropped).
    - cache: (x.shape, winners, pool_size, stride); winners (N, C, H_out, W_out, 2) holds the (row, column)
      in x of each window's first maximum.
    """
    ### BEGIN SOLUTION
    (pool_h, pool_w), (step_h, step_w), (out_h, out_w) = pooled_size(x, pool_size, stride)
    batch, channels = x.shape[:2]
    out = np.zeros((batch, channels, out_h, out_w), dtype=x.dtype)
    winners = np.zeros((batch, channels, out_h, out_w, 2), dtype=np.int64)
    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    window = x[n, c, i * step_h:i * step_h + pool_h, j * step_w:j * step_w + pool_w]
                    # argmax returns the FIRST maximum in row-major order: with ties (zero background,
                    # ReLU zeros) exactly one input wins, as in PyTorch
                    row, col = np.unravel_index(np.argmax(window), window.shape)
                    out[n, c, i, j] = window[row, col]
                    winners[n, c, i, j] = (i * step_h + row, j * step_w + col)
    cache = (x.shape, winners, pool_size, stride)
    return out, cache
    ### END SOLUTION


def max_pool_backward(dout, cache):
    """dout (N, C, H_out, W_out) -> dx (N, C, H, W): each window's gradient goes to its first maximum only."""
    ### BEGIN SOLUTION
    x_shape, winners, _, _ = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    batch, channels, out_h, out_w = dout.shape
    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    row, col = winners[n, c, i, j]
                    # the max passes its winner through unchanged and ignores the rest;
                    # += because with overlapping windows one input can win several of them
                    dx[n, c, row, col] += dout[n, c, i, j]
    return dx
    ### END SOLUTION


def avg_pool_forward(x, pool_size, stride=None):
    """The mean of each window.

    Inputs and output shapes as max_pool_forward.
    Returns (out, cache); cache: (x.shape, pool_size, stride) (a mean's gradient does not depend on the values).
    """
    ### BEGIN SOLUTION
    (pool_h, pool_w), (step_h, step_w), (out_h, out_w) = pooled_size(x, pool_size, stride)
    batch, channels = x.shape[:2]
    out = np.zeros((batch, channels, out_h, out_w), dtype=x.dtype)
    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    window = x[n, c, i * step_h:i * step_h + pool_h, j * step_w:j * step_w + pool_w]
                    # a Python float factor keeps float32 float32
                    out[n, c, i, j] = window.sum() * (1.0 / (pool_h * pool_w))
    cache = (x.shape, pool_size, stride)
    return out, cache
    ### END SOLUTION


def avg_pool_backward(dout, cache):
    """dout (N, C, H_out, W_out) -> dx (N, C, H, W): every input of a window gets 1/(ph*pw) of its gradient."""
    ### BEGIN SOLUTION
    x_shape, pool_size, stride = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    (pool_h, pool_w), (step_h, step_w), (out_h, out_w) = pooled_size(dx, pool_size, stride)
    for n in range(dout.shape[0]):
        for c in range(dout.shape[1]):
            for i in range(out_h):
                for j in range(out_w):
                    # each of the ph*pw inputs entered the mean with weight 1/(ph*pw);
                    # += because overlapping windows share inputs
                    dx[n, c, i * step_h:i * step_h + pool_h, j * step_w:j * step_w + pool_w] += \
                        dout[n, c, i, j] * (1.0 / (pool_h * pool_w))
    return dx
    ### END SOLUTION
