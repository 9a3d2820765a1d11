"""Naive layer and group normalization (CS231n's layernorm and spatial_groupnorm), the backward staged one
node of the computation graph per line.

Read this before minicnn/layers/per_sample_normalization.py. Both normalize each sample on its own: the
helpers below turn the input into a table with one row per group of one sample (layer normalization: one
row per sample, all its features; group normalization: one row per group of channels of one sample), so
that the standardizing is the same few lines for both, each row with its own mean and variance. It is
batch normalization turned on its side: there the statistics run down the columns, here along the rows.
Host NumPy arrays; the dtype of x is kept.
"""
import numpy as np


def standardize_rows(table, eps):
    """Each row of ``table`` (R, K) standardized with its own mean and biased variance.

    Returns (x_hat, cache): x_hat (R, K); cache (centered, inv_std) with inv_std (R, 1).
    """
    ### BEGIN SOLUTION
    count = table.shape[1]
    mean = table.sum(axis=1, keepdims=True) * (1.0 / count)
    centered = table - mean
    variance = (centered * centered).sum(axis=1, keepdims=True) * (1.0 / count)
    inv_std = 1.0 / np.sqrt(variance + eps)
    return centered * inv_std, (centered, inv_std)
    ### END SOLUTION


def standardize_rows_gradient(dx_hat, cache):
    """d(loss)/d(table) (R, K) from d(loss)/d(x_hat) (R, K), one line per node of standardize_rows' graph:
    mean -> centered = table - mean -> variance = mean(centered^2) -> inv_std = 1 / sqrt(variance + eps)
    -> x_hat = centered * inv_std."""
    ### BEGIN SOLUTION
    centered, inv_std = cache
    count = dx_hat.shape[1]
    # x_hat = centered * inv_std: inv_std (R, 1) was broadcast along each row, so its gradient sums the row
    dinv_std = (dx_hat * centered).sum(axis=1, keepdims=True)
    dcentered = dx_hat * inv_std
    # inv_std = (variance + eps) ** -0.5
    dvariance = dinv_std * -0.5 * inv_std ** 3
    # variance = sum(centered^2) / K
    dcentered += dvariance * (2.0 / count) * centered
    # centered = table - mean: the table directly, and through the mean, which every value of the row subtracted
    dmean = -dcentered.sum(axis=1, keepdims=True)
    # mean = sum(table) / K: each value of the row gets 1/K of it
    return dcentered + dmean * (1.0 / count)
    ### END SOLUTION


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, mean and var over all the features of each sample.

    Inputs:
    - x: (N, D) or (N, C, H, W): each sample's D = C*H*W values are one group.
    - gamma, beta: shaped like one sample, (D,) or (C, H, W): a scale and shift per feature.
    - eps: added to the variance.

    Returns (out, cache):
    - out: x's shape.
    - cache: (x.shape, x_hat (N, D), gamma, the standardize_rows cache).
    """
    ### BEGIN SOLUTION
    table = x.reshape(x.shape[0], -1)                  # one row per sample
    x_hat, rows_cache = standardize_rows(table, eps)
    out = x_hat * gamma.reshape(1, -1) + beta.reshape(1, -1)
    cache = (x.shape, x_hat, gamma, rows_cache)
    return out.reshape(x.shape), cache
    ### END SOLUTION


def layernorm_backward(dout, cache):
    """The gradients of layernorm_forward.

    Inputs: dout (x's shape); cache from layernorm_forward.
    Returns (dx, dgamma, dbeta): dx x's shape, dgamma and dbeta gamma's shape.
    """
    ### BEGIN SOLUTION
    shape, x_hat, gamma, rows_cache = cache
    dtable = dout.reshape(shape[0], -1)
    # out = gamma * x_hat + beta, gamma and beta broadcast over the batch: their gradients sum the samples
    dgamma = (dtable * x_hat).sum(axis=0).reshape(gamma.shape)
    dbeta = dtable.sum(axis=0).reshape(gamma.shape)
    dx_hat = dtable * gamma.reshape(1, -1)
    return standardize_rows_gradient(dx_hat, rows_cache).reshape(shape), dgamma, dbeta
    ### END SOLUTION


def groupnorm_forward(x, gamma, beta, groups, eps=1e-5):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, mean and var over each group of channels of each sample
    (CS231n's spatial_groupnorm_forward).

    Inputs:
    - x: (N, C, H, W) or (N, C); the C channels are cut into ``groups`` groups of C / groups consecutive
      channels, and group g of sample n is its K = (C / groups) * H * W values.
    - gamma, beta: (C,), a scale and shift per channel.
    - groups: how many groups; it divides C.
    - eps: added to the variance.

    Returns (out, cache):
    - out: x's shape.
    - cache: (x.shape, groups, x_hat (N, C, H*W), gamma, the standardize_rows cache).
    """
    ### BEGIN SOLUTION
    batch, channels = x.shape[:2]
    table = x.reshape(batch * groups, -1)              # one row per group of one sample
    x_hat, rows_cache = standardize_rows(table, eps)
    x_hat = x_hat.reshape(batch, channels, -1)         # one row per channel again, for its gamma and beta
    out = x_hat * gamma.reshape(1, -1, 1) + beta.reshape(1, -1, 1)
    cache = (x.shape, groups, x_hat, gamma, rows_cache)
    return out.reshape(x.shape), cache
    ### END SOLUTION


def groupnorm_backward(dout, cache):
    """The gradients of groupnorm_forward (CS231n's spatial_groupnorm_backward).

    Inputs: dout (x's shape); cache from groupnorm_forward.
    Returns (dx, dgamma, dbeta): dx x's shape, dgamma and dbeta (C,).
    """
    ### BEGIN SOLUTION
    shape, groups, x_hat, gamma, rows_cache = cache
    batch, channels = shape[:2]
    dchannels = dout.reshape(batch, channels, -1)
    # gamma and beta were broadcast over the samples and the positions of their channel
    dgamma = (dchannels * x_hat).sum(axis=(0, 2))
    dbeta = dchannels.sum(axis=(0, 2))
    dx_hat = dchannels * gamma.reshape(1, -1, 1)
    dtable = standardize_rows_gradient(dx_hat.reshape(batch * groups, -1), rows_cache)
    return dtable.reshape(shape), dgamma, dbeta
    ### END SOLUTION
