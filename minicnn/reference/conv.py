"""The naive convolution: a loop over the output positions, the definition written out.

Each output position (i, j) reads one window of every image; what it computes
there is the same sum for every image and every filter, so that sum is written
once for the whole batch and all the filters (a matrix product of windows by
filters) instead of two more loops. Read this before minicnn/layers/conv.py,
which gathers every window first (im2col) and does one matrix product in all.
Host NumPy arrays; the dtype of x is kept.
"""
import numpy as np


def padding_sides(padding):
    """An int p (p on every side) or (top, bottom, left, right) -> (top, bottom, left, right)."""
    if np.isscalar(padding):
        return (int(padding),) * 4
    top, bottom, left, right = (int(side) for side in padding)
    return top, bottom, left, right


def conv_forward(x, w, b, stride, padding):
    """Cross-correlation of x with every filter, as deep-learning libraries define "convolution".

    out[n, f, i, j] = sum over c, p, q of padded_x[n, c, i*stride + p, j*stride + q] * w[f, c, p, q] + b[f]

    Inputs:
    - x: (N, C, H, W) images.
    - w: (F, C, kh, kw) filters.
    - b: (F,) biases, or None for no bias.
    - stride: int, the step between two windows, the same along rows and columns.
    - padding: int, or (top, bottom, left, right): zeros added around each image.

    Returns (out, cache):
    - out: (N, F, H_out, W_out), H_out = (H + top + bottom - kh) // stride + 1 (likewise W_out).
    - cache: (x, w, b, stride, padding), what conv_backward needs.
    """
    ### BEGIN SOLUTION
    top, bottom, left, right = padding_sides(padding)
    # zeros around the image, so that every window that reaches over the border reads zeros
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    batch, _, height, width = padded.shape
    filters, _, kernel_h, kernel_w = w.shape
    # floor: a window that would stick out past the (padded) border is not taken
    out_h = (height - kernel_h) // stride + 1
    out_w = (width - kernel_w) // stride + 1
    out = np.zeros((batch, filters, out_h, out_w), dtype=x.dtype)
    # each filter as one row of C*kh*kw weights
    filter_rows = w.reshape(filters, -1)
    for i in range(out_h):
        for j in range(out_w):
            # the window of output position (i, j) starts stride pixels further per step: (N, C, kh, kw)
            window = padded[:, :, i * stride:i * stride + kernel_h, j * stride:j * stride + kernel_w]
            # every image's window (a row) times every filter (a row): the sums of all (n, f) at once, (N, F).
            # The kernel is NOT flipped: each weight meets the pixel at its own offset
            out[:, :, i, j] = window.reshape(batch, -1) @ filter_rows.T
    if b is not None:
        # one bias per filter, added at every position of every image
        out += b.reshape(1, filters, 1, 1)
    cache = (x, w, b, stride, padding)
    return out, cache
    ### END SOLUTION


def conv_backward(dout, cache):
    """The gradients of conv_forward.

    Inputs:
    - dout: (N, F, H_out, W_out), the gradient of the loss with respect to out.
    - cache: (x, w, b, stride, padding) from conv_forward.

    Returns (dx, dw, db): dx (N, C, H, W), dw (F, C, kh, kw), db (F,) (None when b was None).
    """
    ### BEGIN SOLUTION
    x, w, b, stride, padding = cache
    top, bottom, left, right = padding_sides(padding)
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    dpadded = np.zeros_like(padded)
    batch, filters, out_h, out_w = dout.shape
    _, channels, kernel_h, kernel_w = w.shape
    filter_rows = w.reshape(filters, -1)
    dfilter_rows = np.zeros_like(filter_rows)
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * stride, i * stride + kernel_h)
            cols = slice(j * stride, j * stride + kernel_w)
            window_rows = padded[:, :, rows, cols].reshape(batch, -1)
            dout_here = dout[:, :, i, j]   # (N, F)
            # out[:, :, i, j] = window_rows @ filter_rows.T: each factor's gradient is dout times the other one.
            # Every position used the same filters, so their gradient sums over the positions (+=)
            dfilter_rows += dout_here.T @ window_rows
            # windows overlap: a pixel in several windows sums what each sends back (+=)
            dpadded[:, :, rows, cols] += (dout_here @ filter_rows).reshape(batch, channels, kernel_h, kernel_w)
    # the padding is a constant, not an input: its gradient is dropped
    dx = dpadded[:, :, top:top + x.shape[2], left:left + x.shape[3]]
    dw = dfilter_rows.reshape(w.shape)
    # every output position adds b[f] once
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db
    ### END SOLUTION
