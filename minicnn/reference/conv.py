"""The naive convolution: four loops over the output, the definition written out.

Read this before minicnn/layers/conv.py, which computes the same numbers with
im2col and one matrix product. Host NumPy arrays; the dtype of x is kept.
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
    for n in range(batch):
        for f in range(filters):
            for i in range(out_h):
                for j in range(out_w):
                    # the window of output position (i, j) starts stride pixels further per step
                    window = padded[n, :, i * stride:i * stride + kernel_h, j * stride:j * stride + kernel_w]
                    # the kernel is NOT flipped: each weight meets the pixel at its own offset
                    out[n, f, i, j] = np.sum(window * w[f])
                    if b is not None:
                        out[n, f, i, j] += b[f]
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
    dw = np.zeros_like(w)
    _, filters, out_h, out_w = dout.shape
    _, _, kernel_h, kernel_w = w.shape
    for n in range(dout.shape[0]):
        for f in range(filters):
            for i in range(out_h):
                for j in range(out_w):
                    rows = slice(i * stride, i * stride + kernel_h)
                    cols = slice(j * stride, j * stride + kernel_w)
                    # out[n, f, i, j] = sum(window * w[f]) + b[f]: each factor's gradient is the other one
                    dw[f] += dout[n, f, i, j] * padded[n, :, rows, cols]
                    # windows overlap: a pixel in several windows sums what each sends back (+=)
                    dpadded[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    # the padding is a constant, not an input: its gradient is dropped
    dx = dpadded[:, :, top:top + x.shape[2], left:left + x.shape[3]]
    # every output position adds b[f] once
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db
    ### END SOLUTION
