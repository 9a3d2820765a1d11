"""Naive max and average pooling: one loop per output position, floor mode, no padding.

Each output position (i, j) is one window per image and channel; what is done
there is written once for the whole batch and every channel. Read this before
minicnn/layers/pooling.py, which loops over the window offsets instead of the
output positions. Host NumPy arrays; the dtype of x is kept.
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
    - cache: (x.shape, winners, pool_size, stride); winners (N, C, H_out, W_out) holds where in its window
      each window's first maximum is, counted row by row (0 .. ph*pw - 1).
    """
    ### BEGIN SOLUTION
    (pool_h, pool_w), (step_h, step_w), (out_h, out_w) = pooled_size(x, pool_size, stride)
    batch, channels = x.shape[:2]
    out = np.zeros((batch, channels, out_h, out_w), dtype=x.dtype)
    winners = np.zeros((batch, channels, out_h, out_w), dtype=np.int64)
    for i in range(out_h):
        for j in range(out_w):
            # the window of output position (i, j) in every image and channel, each flattened row by row
            window = x[:, :, i * step_h:i * step_h + pool_h, j * step_w:j * step_w + pool_w]
            window = window.reshape(batch, channels, pool_h * pool_w)
            # argmax returns the FIRST maximum in row-major order: with ties (zero background,
            # ReLU zeros) exactly one input wins, as in PyTorch
            winners[:, :, i, j] = window.argmax(axis=2)
            out[:, :, i, j] = window.max(axis=2)
    cache = (x.shape, winners, pool_size, stride)
    return out, cache
    ### END SOLUTION


def max_pool_backward(dout, cache):
    """dout (N, C, H_out, W_out) -> dx (N, C, H, W): each window's gradient goes to its first maximum only."""
    ### BEGIN SOLUTION
    x_shape, winners, pool_size, stride = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    (pool_h, pool_w), (step_h, step_w), (out_h, out_w) = pooled_size(dx, pool_size, stride)
    batch, channels = x_shape[:2]
    for i in range(out_h):
        for j in range(out_w):
            # the max passes its winner's gradient through unchanged and gives the rest of the window nothing
            window_gradient = np.zeros((batch, channels, pool_h * pool_w), dtype=dout.dtype)
            np.put_along_axis(window_gradient, winners[:, :, i, j, None], dout[:, :, i, j, None], axis=2)
            # += because with overlapping windows one input can win several of them
            dx[:, :, i * step_h:i * step_h + pool_h, j * step_w:j * step_w + pool_w] += \
                window_gradient.reshape(batch, channels, pool_h, pool_w)
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
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * step_h:i * step_h + pool_h, j * step_w:j * step_w + pool_w]
            # a Python float factor keeps float32 float32
            out[:, :, i, j] = window.sum(axis=(2, 3)) * (1.0 / (pool_h * pool_w))
    cache = (x.shape, pool_size, stride)
    return out, cache
    ### END SOLUTION


def avg_pool_backward(dout, cache):
    """dout (N, C, H_out, W_out) -> dx (N, C, H, W): every input of a window gets 1/(ph*pw) of its gradient."""
    ### BEGIN SOLUTION
    x_shape, pool_size, stride = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    (pool_h, pool_w), (step_h, step_w), (out_h, out_w) = pooled_size(dx, pool_size, stride)
    for i in range(out_h):
        for j in range(out_w):
            # each of the ph*pw inputs entered the mean with weight 1/(ph*pw);
            # += because overlapping windows share inputs
            dx[:, :, i * step_h:i * step_h + pool_h, j * step_w:j * step_w + pool_w] += \
                dout[:, :, i, j, None, None] * (1.0 / (pool_h * pool_w))
    return dx
    ### END SOLUTION
