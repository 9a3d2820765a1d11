"""Naive inverted dropout. Any shape; the dtype of x is kept."""
import numpy as np  # noqa: F401  (for the student's code; the solution needs none)


def dropout_mask(shape, rate, rng, dtype):
    """The mask the fast Dropout draws: 0 with probability ``rate``, else 1 / (1 - rate), from numpy Generator rng."""
    ### BEGIN SOLUTION
    keep = rng.random(shape, dtype=dtype) >= rate
    # scaling the survivors now keeps the expected value of every output equal to its input, so inference
    # needs no rescaling (a multiply by the reciprocal, as the fast layer does, to give the very same numbers)
    return keep.astype(dtype) * (1.0 / (1.0 - rate))
    ### END SOLUTION


def dropout_forward(x, rate, training, mask=None, rng=None):
    """Inverted dropout.

    Inputs:
    - x: any shape.
    - rate: the probability of dropping a value, in [0, 1).
    - training: False (or rate 0) makes it the identity.
    - mask: x's shape, values 0 or 1/(1 - rate), to use as given; or None to draw it with
      dropout_mask from ``rng``, a numpy Generator (so that a test can repeat the draw).

    Returns (out, cache): out x's shape; cache: the mask (None when nothing was dropped).
    """
    ### BEGIN SOLUTION
    if not training or rate == 0.0:
        # inference uses every value as it is: the training outputs were already scaled up
        return x, None
    if mask is None:
        mask = dropout_mask(x.shape, rate, rng, x.dtype)
    return x * mask, mask
    ### END SOLUTION


def dropout_backward(dout, cache):
    """dout -> dx: a dropped value passed nothing forward, so it gets nothing back; a kept one is scaled alike."""
    ### BEGIN SOLUTION
    mask = cache
    return dout if mask is None else dout * mask
    ### END SOLUTION
