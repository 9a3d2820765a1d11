"""Naive fully connected layer and flatten. Host NumPy arrays; the dtype of x is kept."""
import numpy as np  # noqa: F401  (for the student's code; the solution needs none)


def dense_forward(x, w, b):
    """y = x @ w + b: out[n, u] = sum over d of x[n, d] * w[d, u], plus b[u].

    Inputs: x (N, D), w (D, units), b (units,) or None.
    Returns (out, cache): out (N, units); cache (x, w, b).
    """
    ### BEGIN SOLUTION
    # every sum of the definition at once: row n of x times column u of w is out[n, u]
    out = x @ w
    if b is not None:
        # one bias per unit, the same for every sample (broadcast over the rows)
        out = out + b
    cache = (x, w, b)
    return out, cache
    ### END SOLUTION


def dense_backward(dout, cache):
    """dout (N, units) -> (dx (N, D), dw (D, units), db (units,) or None)."""
    ### BEGIN SOLUTION
    x, w, b = cache
    # out[n, u] = sum_d x[n, d] w[d, u] + b[u]: each factor's gradient is the other, summed over what it meets
    dx = dout @ w.T          # x[n, d] meets every w[d, u]
    dw = x.T @ dout          # w[d, u] meets every sample's x[n, d]
    db = None if b is None else dout.sum(axis=0)   # b[u] is added once per sample
    return dx, dw, db
    ### END SOLUTION


def flatten_forward(x):
    """(N, C, H, W) (or any (N, ...)) -> (N, C*H*W), channel by channel. Cache: x's shape."""
    ### BEGIN SOLUTION
    # channels-first: all of channel 0, then channel 1...; a reshape moves no value
    return x.reshape(x.shape[0], -1), x.shape
    ### END SOLUTION


def flatten_backward(dout, cache):
    """dout (N, C*H*W) -> dx (N, C, H, W): the same values, put back in the input's shape."""
    ### BEGIN SOLUTION
    return dout.reshape(cache)
    ### END SOLUTION
