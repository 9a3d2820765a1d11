"""Naive element-wise activations. Any shape; the dtype of x is kept."""
import numpy as np


def relu_forward(x):
    """y = max(x, 0). x: any shape. Returns (out, cache): out x's shape; cache: x."""
    ### BEGIN SOLUTION
    # np.maximum with a Python 0 keeps x's dtype
    return np.maximum(x, 0), x
    ### END SOLUTION


def relu_backward(dout, cache):
    """dout (x's shape) -> dx (x's shape): the gradient passes where x > 0 (the derivative at 0 is taken as 0)."""
    ### BEGIN SOLUTION
    x = cache
    return dout * (x > 0)
    ### END SOLUTION


def leaky_relu_forward(x, alpha):
    """y = x where x > 0, alpha * x elsewhere. x: any shape. Returns (out, cache): out x's shape; cache: (x, alpha)."""
    ### BEGIN SOLUTION
    # alpha as a scalar of x's dtype, so float32 stays float32
    slope = np.where(x > 0, x.dtype.type(1), x.dtype.type(alpha))
    return x * slope, (x, alpha)
    ### END SOLUTION


def leaky_relu_backward(dout, cache):
    """dout (x's shape) -> dx (x's shape): times 1 where x > 0, times alpha elsewhere (at exactly 0 too)."""
    ### BEGIN SOLUTION
    x, alpha = cache
    return dout * np.where(x > 0, x.dtype.type(1), x.dtype.type(alpha))
    ### END SOLUTION
