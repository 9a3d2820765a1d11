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
    """y = x for x > 0, alpha * x otherwise (PyTorch's default alpha 0.01). Caches the slope, 1 or alpha."""

    def __init__(self, alpha=0.01, name=None):
        super().__init__(name)
        self.alpha = float(alpha)

    def config(self):
        return {"alpha": self.alpha, "name": self.name}

    def forward(self, x, training=False):
        """x: any shape -> y: the same shape. Caches dy/dx (1 or alpha, x's dtype) for backward."""
        self.check_input(x)
        one, alpha = x.dtype.type(1), x.dtype.type(self.alpha)   # scalars of x's dtype keep the slope float32
        self.slope = backend.xp.where(x > 0, one, alpha)
        return x * self.slope

    def backward(self, dout):
        """dout: the output's shape -> dx: the same shape; one multiply by the cached slope."""
        return dout * self.slope
