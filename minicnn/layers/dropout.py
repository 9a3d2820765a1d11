"""Inverted dropout."""
import numpy as np

from minicnn import backend
from minicnn.layers.base import Layer
from minicnn.runtime.layout import logical_view, memory_order


class Dropout(Layer):
    """Dropout(rate): in training, zero each value with probability ``rate`` and
    scale the survivors by 1 / (1 - rate), so inference needs no rescaling.
    Identity when not training. Any shape.

    The mask is drawn on the host from the layer's numpy Generator (set by
    build), so a run on numpy and one on cupy drop the same values; its random
    numbers fill x's memory order, so the mask, the output and the gradient are
    laid out as x is.
    Reference twin: minicnn/reference/dropout.py.
    """

    def __init__(self, rate, name=None):
        super().__init__(name)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate is the probability of dropping and must lie in [0, 1), got {rate}")
        self.rate = float(rate)

    def config(self):
        return {"rate": self.rate, "name": self.name}

    def forward(self, x, training=False):
        """x -> x * mask; caches ``mask`` (same shape as x, 0 or 1/(1-rate)) in training."""
        self.batch_size = self.check_input(x)
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        # drawn in x's memory order (batch innermost after a fast convolution), so that x * mask runs over
        # both in one long stride and the output keeps x's layout, as the element-wise passes after it want
        order = memory_order(x)
        draws = self.rng.random(tuple(x.shape[axis] for axis in order), dtype=x.dtype)
        mask = np.multiply(draws >= self.rate, x.dtype.type(1.0 / (1.0 - self.rate)))
        self.mask = logical_view(backend.to_device(mask), order)
        return x * self.mask

    def backward(self, dout):
        """dout -> dx = dout * mask (dout itself when the forward dropped nothing)."""
        self.check_output_gradient(dout)
        return dout if self.mask is None else dout * self.mask
