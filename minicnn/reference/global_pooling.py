"""Naive global average pooling: one loop over the positions of each channel.

Read this before GlobalAvgPool2D in minicnn/layers/pooling.py, which takes all the means in one matrix
product. Host NumPy arrays; the dtype of x is kept.
"""
import numpy as np


def global_avg_pool_forward(x):
    """The mean of each channel of each image over all its positions.

    Inputs:
    - x: (N, C, H, W).

    Returns (out, cache):
    - out: (N, C).
    - cache: x.shape (a mean's gradient does not depend on the values).
    """
    ### BEGIN SOLUTION
    batch, channels, height, width = x.shape
    total = np.zeros((batch, channels), dtype=x.dtype)
    for i in range(height):
        for j in range(width):
            total += x[:, :, i, j]
    out = total * (1.0 / (height * width))
    return out, x.shape
    ### END SOLUTION


def global_avg_pool_backward(dout, cache):
    """dout (N, C) -> dx (N, C, H, W): every position of a channel took 1 / (H W) of the mean, so it gets
    1 / (H W) of the channel's gradient."""
    ### BEGIN SOLUTION
    batch, channels, height, width = cache
    dx = np.zeros(cache, dtype=dout.dtype)
    for i in range(height):
        for j in range(width):
            dx[:, :, i, j] = dout * (1.0 / (height * width))
    return dx
    ### END SOLUTION
