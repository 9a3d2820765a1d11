"""Element-wise activations."""
from minicnn import backend
from minicnn.layers.base import Layer


class ReLU(Layer):
    """y = max(x, 0). Any shape. Caches the mask x > 0."""

    def forward(self, x, training=False):
        self.check_input(x)
        self.positive = x > 0
        return backend.xp.maximum(x, 0)

    def backward(self, dout):
        return dout * self.positive


class LeakyReLU(Layer):
    """y = x for x > 0, alpha * x otherwise (PyTorch's default alpha 0.01). Caches the mask x > 0."""

    def __init__(self, alpha=0.01, name=None):
        super().__init__(name)
        self.alpha = float(alpha)

    def config(self):
        return {"alpha": self.alpha, "name": self.name}

    def forward(self, x, training=False):
        self.check_input(x)
        self.positive = x > 0
        return backend.xp.where(self.positive, x, x * self.alpha)

    def backward(self, dout):
        return backend.xp.where(self.positive, dout, dout * self.alpha)
