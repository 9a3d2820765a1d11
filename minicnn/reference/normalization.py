"""Naive batch normalization, with the backward staged one node of the computation graph per line.

Read this before minicnn/layers/normalization.py, which folds the stages into
the compact formula and fuses the passes. Per channel on (N, C, H, W), per
feature on (N, D): the helpers below turn either into rows (M, C), one column per
channel, so the functions only ever see a 2-D table. Host NumPy arrays; the dtype
of x is kept.
"""
import numpy as np


def as_rows(x):
    """(N, C, H, W) -> (N*H*W, C), or (N, D) unchanged: one column per channel, one row per value of it."""
    return x if x.ndim == 2 else x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def from_rows(rows, shape):
    """The inverse of as_rows, back to ``shape``."""
    if len(shape) == 2:
        return rows
    batch, channels, height, width = shape
    return rows.reshape(batch, height, width, channels).transpose(0, 3, 1, 2)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5,
                      convention="pytorch"):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel.

    Inputs:
    - x: (N, C, H, W) or (N, D); M = N*H*W (or N) values per channel.
    - gamma, beta: (C,) scale and shift.
    - running_mean, running_var: (C,), updated IN PLACE in training; used instead of the batch's in inference.
    - training: True uses the batch mean and (biased) variance; False the running ones.
    - momentum, eps, convention: "pytorch" (momentum = weight of the new batch statistic, running variance
      unbiased, times M / (M - 1)) or "keras" (momentum = weight kept of the old value, biased variance).

    Returns (out, cache):
    - out: x's shape.
    - cache: (x.shape, training, centered, inv_std, x_hat, gamma), with centered and x_hat as (M, C) rows
      and inv_std (C,).
    """
    ### BEGIN SOLUTION
    rows = as_rows(x)
    count = rows.shape[0]
    if training:
        # the statistics of this batch: the mean and the biased variance (divides by M)
        mean = rows.sum(axis=0) * (1.0 / count)
        centered = rows - mean
        variance = (centered * centered).sum(axis=0) * (1.0 / count)
        # the running statistics drift towards the batch ones; inference will use them
        new_weight = momentum if convention == "pytorch" else 1.0 - momentum
        # PyTorch stores the unbiased variance; Keras the biased one
        stored_variance = variance * (count / (count - 1)) if convention == "pytorch" else variance
        running_mean[...] = running_mean * (1.0 - new_weight) + new_weight * mean
        running_var[...] = running_var * (1.0 - new_weight) + new_weight * stored_variance
    else:
        # inference: constants learned in training, so one image's output does not depend on the others
        centered = rows - running_mean
        variance = running_var
    inv_std = 1.0 / np.sqrt(variance + eps)
    x_hat = centered * inv_std
    out = from_rows(x_hat * gamma + beta, x.shape)
    cache = (x.shape, training, centered, inv_std, x_hat, gamma)
    return out, cache
    ### END SOLUTION


def batchnorm_backward(dout, cache):
    """The gradients of batchnorm_forward, one line per node of its graph.

    Training graph: mean -> centered = x - mean -> variance = mean(centered^2) -> std = sqrt(variance + eps)
    -> inv_std = 1 / std -> x_hat = centered * inv_std -> out = gamma * x_hat + beta.

    Inputs: dout (x's shape); cache from batchnorm_forward.
    Returns (dx, dgamma, dbeta): dx x's shape, dgamma and dbeta (C,).
    """
    ### BEGIN SOLUTION
    shape, training, centered, inv_std, x_hat, gamma = cache
    drows = as_rows(dout)
    count = drows.shape[0]
    # out = gamma * x_hat + beta, summed over the M values of each channel
    dbeta = drows.sum(axis=0)
    dgamma = (drows * x_hat).sum(axis=0)
    dx_hat = drows * gamma
    if not training:
        # the running statistics are constants: only the direct path x -> x_hat remains
        return from_rows(dx_hat * inv_std, shape), dgamma, dbeta
    # x_hat = centered * inv_std: a product, and inv_std (C,) was broadcast over the M rows, so its gradient sums
    dinv_std = (dx_hat * centered).sum(axis=0)
    dcentered = dx_hat * inv_std
    # inv_std = 1 / std
    std = 1.0 / inv_std
    dstd = -dinv_std / (std * std)
    # std = sqrt(variance + eps)
    dvariance = dstd * 0.5 * inv_std
    # variance = sum(centered^2) / M: each centered value gets 2 * centered / M of it
    dcentered += dvariance * (2.0 / count) * centered
    # centered = x - mean: x directly, and through the mean, which every row subtracted
    dmean = -dcentered.sum(axis=0)
    # mean = sum(x) / M: each x gets 1/M of it
    drows_x = dcentered + dmean * (1.0 / count)
    return from_rows(drows_x, shape), dgamma, dbeta
    ### END SOLUTION
