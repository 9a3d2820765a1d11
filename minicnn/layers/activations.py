"""Element-wise activations."""
from minicnn import backend
from minicnn.layers.base import Layer
from minicnn.runtime import threads
from minicnn.runtime.layout import empty_in_layout


class Activation(Layer):
    """An element-wise y = f(x) of any shape: ``function`` is f, ``derivative`` is f'.

    forward caches f'(x) when training (x itself in inference; a backward after it makes
    f'(x) then); backward: dx = dout * f'(x), one multiply. Outputs and gradients keep x's
    memory layout, and every pass runs on the step's threads (threads.elementwise).
    ``function`` and ``derivative`` keep nothing on the layer: the fused block
    (minicnn.runtime.fusion) calls them on its pooled values.
    """

    def forward(self, x, training=False):
        """x: any shape -> y = f(x): the same shape and layout."""
        self.batch_size = self.check_input(x)
        self.x, self.slope = (None, self.derivative(x)) if training else (x, None)
        return self.function(x)

    def backward(self, dout):
        """dout: the output's shape -> dx = dout * f'(x)."""
        self.check_output_gradient(dout)
        slope = self.slope if self.slope is not None else self.derivative(self.x)
        return threads.elementwise(backend.xp.multiply, dout, slope,
                                   out=empty_in_layout(dout.shape, like=slope, dtype=dout.dtype))


class ReLU(Activation):
    """y = max(x, 0); f'(x) = [x > 0], kept as booleans.

    Reference twin: minicnn/reference/activations.py. The trick: the backward multiplies
    dout by the boolean mask (the scatter-by-mask of MaxPool2D), not a masked copy.
    """

    def function(self, x):
        return threads.elementwise(backend.xp.maximum, x, 0)

    def derivative(self, x):
        return threads.elementwise(backend.xp.greater, x, 0)


class LeakyReLU(Activation):
    """y = x for x > 0, alpha * x otherwise (PyTorch's default alpha 0.01); f'(x) = 1 or alpha, in x's dtype.

    Reference twin: minicnn/reference/activations.py. The tricks:
    - y = max(x, alpha x) (min for alpha > 1): two passes, no mask.
    - f'(x) as max(x > 0, alpha), exact for 0 <= alpha <= 1, rather than
      ``where(x > 0, 1, alpha)``, whose scalar arguments NumPy broadcasts slowly (other
      alphas take the ``where``).
    """

    def __init__(self, alpha=0.01, name=None):
        super().__init__(name)
        self.alpha = float(alpha)

    def config(self):
        return {"alpha": self.alpha, "name": self.name}

    def function(self, x):
        xp = backend.xp
        scaled = threads.elementwise(xp.multiply, x, x.dtype.type(self.alpha))   # alpha in x's dtype: float32 stays
        return threads.elementwise(xp.maximum if self.alpha <= 1.0 else xp.minimum, x, scaled, out=scaled)

    def derivative(self, x):
        xp = backend.xp
        alpha = x.dtype.type(self.alpha)
        positive = threads.elementwise(xp.greater, x, 0)
        if 0.0 <= self.alpha <= 1.0:
            return threads.elementwise(xp.maximum, positive, alpha, out=empty_in_layout(x.shape, like=x))
        slope = empty_in_layout(x.shape, like=x)
        slope[...] = xp.where(positive, x.dtype.type(1), alpha)
        return slope
