"""The naive residual block (He et al., 2016): out = body(x) + shortcut(x), and its backward.

Each branch is any function of x, so the block is written once over two given branches. A branch is a
callable ``branch_forward(x) -> (out, cache)`` whose ``cache`` is a pair ``(backward, inner_cache)``,
with ``backward(dout, inner_cache) -> dx``: what the block needs to send a gradient back through it is in
the cache the branch returned. ``Branch`` below is such a callable, made of given weights; a minicnn
Residual (minicnn/layers/residual.py) computes the same with layers as its branches.
Host NumPy arrays; the dtype of x is kept.
"""
import numpy as np


class Branch:
    """A branch given: 1x1 convolutions (dense layers on (N, D) inputs), a ReLU between each two.

    Branch(weights): ``weights`` a list of (w, b) pairs, w (C_in, C_out) and b (C_out,), mixing the
    channels, axis 1 of x, at every position: on x (N, C, H, W) a 1x1 convolution, on x (N, D) a dense layer.
    - branch(x): x (N, C, ...) -> (out (N, C_out, ...), (branch.backward, inputs)), inputs each layer's input.
    - branch.backward(dout, inputs) -> dx, x's shape: the gradient of sum(out * dout) with respect to x.
    """

    def __init__(self, weights):
        self.weights = [(w, b) for w, b in weights]

    def __call__(self, x):
        h, inputs = np.moveaxis(x, 1, -1), []   # channels last: the channel mixing is one matrix product
        for index, (w, b) in enumerate(self.weights):
            if index > 0:
                h = np.maximum(h, 0)
            inputs.append(h)
            h = h @ w + b
        return np.moveaxis(h, -1, 1), (self.backward, inputs)

    def backward(self, dout, inputs):
        dh = np.moveaxis(dout, 1, -1)
        for index in reversed(range(len(self.weights))):
            w, _ = self.weights[index]
            dh = dh @ w.T
            if index > 0:
                # this layer's input is a ReLU's output: positive exactly where the ReLU let its input through
                dh = dh * (inputs[index] > 0)
        return np.moveaxis(dh, -1, 1)


def residual_forward(x, body_forward, shortcut_forward=None):
    """The residual block's forward: out = body(x) + shortcut(x).

    Inputs:
    - x: (N, C, ...) inputs.
    - body_forward: the body, a branch: body_forward(x) -> (body_out, body_cache), body_out (N, F, ...) and
      body_cache a pair (body_backward, inner_cache), body_backward(dout, inner_cache) -> dx (x's shape).
    - shortcut_forward: the shortcut, a branch of the same form whose out is body_out's shape (a projection),
      or None for the identity (out = x; then F = C).

    Returns (out, cache): out (N, F, ...), body_out's shape and x's dtype; cache (body_cache,
    shortcut_cache), shortcut_cache None for the identity.
    """
    ### BEGIN SOLUTION
    body_out, body_cache = body_forward(x)
    if shortcut_forward is None:
        shortcut_out, shortcut_cache = x, None
    else:
        shortcut_out, shortcut_cache = shortcut_forward(x)
    # both branches see the same x, and their outputs add: y = F(x) + x, the identity shortcut's y
    out = body_out + shortcut_out
    return out, (body_cache, shortcut_cache)
    ### END SOLUTION


def residual_backward(dout, cache):
    """The residual block's backward: dx = d body / dx + d shortcut / dx, each branch given dout.

    Inputs:
    - dout: (N, F, ...) upstream gradient, out's shape.
    - cache: residual_forward's (body_cache, shortcut_cache); each branch cache a pair (backward, inner_cache),
      the shortcut's None for the identity.

    Returns dx (N, C, ...), x's shape and dtype.
    """
    ### BEGIN SOLUTION
    (body_backward, body_inner), shortcut_cache = cache
    # out is a sum, so each branch gets all of dout; x feeds both, so their gradients add
    dx = body_backward(dout, body_inner)
    if shortcut_cache is None:
        return dx + dout   # the identity's gradient is dout itself: the path that keeps deep networks trainable
    shortcut_backward, shortcut_inner = shortcut_cache
    return dx + shortcut_backward(dout, shortcut_inner)
    ### END SOLUTION
