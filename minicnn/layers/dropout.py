"""Inverted dropout."""
from minicnn import backend
from minicnn.layers.base import Layer


class Dropout(Layer):
    """Dropout(rate): in training, zero each value with probability ``rate`` and
    scale the survivors by 1 / (1 - rate), so inference needs no rescaling.
    Identity when not training. Any shape.

    The mask is drawn on the host from the layer's numpy Generator (set by
    build), so a run on numpy and one on cupy drop the same values.
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
        self.check_input(x)
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        mask = (self.rng.random(x.shape, dtype=x.dtype) >= self.rate).astype(x.dtype)
        mask *= 1.0 / (1.0 - self.rate)
        self.mask = backend.to_device(mask)
        return x * self.mask

    def backward(self, dout):
        self.check_output_gradient(dout)
        return dout if self.mask is None else dout * self.mask
