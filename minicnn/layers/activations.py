"""Element-wise activations."""
from minicnn import backend
from minicnn.runtime import threads
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
        """x: any shape -> y: the same shape and layout. Caches the mask x > 0 when training; in inference
        only x itself (one pass instead of two; a backward after it makes the mask then)."""
        self.check_input(x)
        xp = backend.xp
        out = empty_in_layout(x.shape, like=x)
        if not training:
            self.x, self.positive = x, None
            elementwise(lambda x_piece, out_piece: xp.maximum(x_piece, 0, out=out_piece), x, out)
            return out
        self.x, self.positive = None, empty_in_layout(x.shape, like=x, dtype=bool)

        def relu(x_piece, out_piece, positive_piece):
            xp.greater(x_piece, 0, out=positive_piece)
            xp.maximum(x_piece, 0, out=out_piece)

        elementwise(relu, x, out, self.positive)
        return out

    def backward(self, dout):
        """dout -> dx = dout where x > 0, else 0: a multiply by the boolean mask (faster than a masked copy)."""
        self.check_output_gradient(dout)
        xp = backend.xp
        positive = self.positive if self.positive is not None else self.x > 0
        dx = empty_in_layout(dout.shape, like=positive, dtype=dout.dtype)
        elementwise(lambda gradient, positive, out: xp.multiply(gradient, positive, out=out), dout, positive, dx)
        return dx


class LeakyReLU(Layer):
    """y = x for x > 0, alpha * x otherwise (PyTorch's default alpha 0.01). Caches the slope, 1 or alpha.

    Reference twin: minicnn/reference/activations.py. Tricks, measured on 692,224 values
    (saraswat-cnn's first activation at batch 64; AMD EPYC, one thread):
    - The slope, 1 where x > 0 else alpha, as max(x > 0, alpha): exact for 0 <= alpha <= 1,
      and 1.0 ms for the whole forward against 5.0 ms with ``where(x > 0, 1, alpha)``, whose
      scalar arguments NumPy broadcasts slowly. Other alphas take the ``where``.
    - Inference needs no slope: y = max(x, alpha x) (min for alpha > 1), 0.28 ms.
    - The backward is one multiply by the slope (0.17 ms; a masked copy took 5.7 ms).
    - The passes run on the step's threads, as ReLU's do.
    """

    def __init__(self, alpha=0.01, name=None):
        super().__init__(name)
        self.alpha = float(alpha)

    def config(self):
        return {"alpha": self.alpha, "name": self.name}

    def slope_into(self, x, slope):
        xp = backend.xp
        alpha = x.dtype.type(self.alpha)   # a scalar of x's dtype keeps the slope float32
        if 0.0 <= self.alpha <= 1.0:
            xp.maximum(x > 0, alpha, out=slope)
        else:
            slope[...] = xp.where(x > 0, x.dtype.type(1), alpha)

    def forward(self, x, training=False):
        """x: any shape -> y: the same shape and layout. Caches dy/dx (1 or alpha, x's dtype) when
        training; in inference only x itself (a backward after it makes the slope then)."""
        self.check_input(x)
        xp = backend.xp
        alpha = x.dtype.type(self.alpha)
        out = empty_in_layout(x.shape, like=x)
        if not training:
            self.x, self.slope = x, None
            bound = xp.maximum if self.alpha <= 1.0 else xp.minimum

            def leaky_inference(x_piece, out_piece):
                xp.multiply(x_piece, alpha, out=out_piece)
                bound(x_piece, out_piece, out=out_piece)

            elementwise(leaky_inference, x, out)
            return out
        self.x, self.slope = None, empty_in_layout(x.shape, like=x)

        def leaky(x_piece, slope_piece, out_piece):
            self.slope_into(x_piece, slope_piece)
            xp.multiply(x_piece, slope_piece, out=out_piece)

        elementwise(leaky, x, self.slope, out)
        return out

    def backward(self, dout):
        """dout: the output's shape -> dx: the same shape; one multiply by the cached slope."""
        self.check_output_gradient(dout)
        xp = backend.xp
        slope = self.slope
        if slope is None:   # after an inference forward
            slope = empty_in_layout(self.x.shape, like=self.x)
            self.slope_into(self.x, slope)
        dx = empty_in_layout(dout.shape, like=slope, dtype=dout.dtype)
        elementwise(lambda gradient, slope, out: xp.multiply(gradient, slope, out=out), dout, slope, dx)
        return dx
