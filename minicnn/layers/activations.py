"""Element-wise activations."""
from minicnn import backend, threads
from minicnn.layers.base import Layer, empty_in_layout, flat_views

# a thread's share of an element-wise pass gets at least this many values: below it, the thread costs more
MINIMUM_VALUES = 1 << 16


def elementwise(body, *arrays):
    """body(*pieces) on matching ranges of ``arrays`` (same shape and layout), split over the active threads;
    on the whole arrays at once when they cannot be cut into matching 1-D ranges (or one thread is active)."""
    views = flat_views(*arrays) if threads.active_threads() > 1 else None
    if views is None:
        body(*arrays)
        return
    threads.in_parallel(views[0].size, lambda start, stop: body(*(view[start:stop] for view in views)),
                        minimum=MINIMUM_VALUES)


class ReLU(Layer):
    """y = max(x, 0). Any shape; y and dx keep x's memory layout. Caches the mask x > 0.

    Reference twin: minicnn/reference/activations.py. Tricks: the backward is a
    multiply by the boolean mask (the scatter-by-mask of MaxPool2D, 8.6x against a
    masked add there); both passes cut into ranges of the arrays' common memory
    order on the step's threads (see minicnn.threads for the measured gain).
    """

    def forward(self, x, training=False):
        self.check_input(x)
        xp = backend.xp
        out = empty_in_layout(x.shape, like=x)
        self.positive = empty_in_layout(x.shape, like=x, dtype=bool)

        def relu(x_piece, out_piece, positive_piece):
            xp.greater(x_piece, 0, out=positive_piece)
            xp.maximum(x_piece, 0, out=out_piece)

        elementwise(relu, x, out, self.positive)
        return out

    def backward(self, dout):
        """dout -> dx = dout where x > 0, else 0: a multiply by the boolean mask (faster than a masked copy)."""
        self.check_output_gradient(dout)
        xp = backend.xp
        dx = empty_in_layout(dout.shape, like=self.positive, dtype=dout.dtype)
        elementwise(lambda gradient, positive, out: xp.multiply(gradient, positive, out=out), dout, self.positive, dx)
        return dx


class LeakyReLU(Layer):
    """y = x for x > 0, alpha * x otherwise (PyTorch's default alpha 0.01). Caches the slope, 1 or alpha.

    Reference twin: minicnn/reference/activations.py. Tricks: the backward is one
    multiply by the cached slope; the passes run on the step's threads as ReLU's do.
    """

    def __init__(self, alpha=0.01, name=None):
        super().__init__(name)
        self.alpha = float(alpha)

    def config(self):
        return {"alpha": self.alpha, "name": self.name}

    def forward(self, x, training=False):
        """x: any shape -> y: the same shape and layout. Caches dy/dx (1 or alpha, x's dtype) for backward."""
        self.check_input(x)
        xp = backend.xp
        one, alpha = x.dtype.type(1), x.dtype.type(self.alpha)   # scalars of x's dtype keep the slope float32
        self.slope = empty_in_layout(x.shape, like=x)
        out = empty_in_layout(x.shape, like=x)

        def leaky(x_piece, slope_piece, out_piece):
            slope_piece[...] = xp.where(x_piece > 0, one, alpha)
            xp.multiply(x_piece, slope_piece, out=out_piece)

        elementwise(leaky, x, self.slope, out)
        return out

    def backward(self, dout):
        """dout: the output's shape -> dx: the same shape; one multiply by the cached slope."""
        self.check_output_gradient(dout)
        xp = backend.xp
        dx = empty_in_layout(dout.shape, like=self.slope, dtype=dout.dtype)
        elementwise(lambda gradient, slope, out: xp.multiply(gradient, slope, out=out), dout, self.slope, dx)
        return dx
