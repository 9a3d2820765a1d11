"""Fully connected layer and the Flatten that feeds it."""
from minicnn import backend
from minicnn.runtime import threads
from minicnn.layers.base import Layer, check_initializer, empty_in_layout, initial_weight_and_bias


class Dense(Layer):
    """Dense(units, use_bias=True, init=None): y = x @ W + b.

    Params: W (in_features, units), b (units,). Input (N, D) -> (N, units).
    Reference twin: minicnn/reference/dense.py. The matrix products are the definition
    itself; the one trick is threads (minicnn.threads): each product split over the
    rows of its result (the batch for the output and dx, the input features for dW),
    written with out= into one array, with BLAS at one thread; a product too small to
    be worth a thread (threads.fewest_worth_a_thread) stays whole. Measured with
    ``python benchmarks/profile_layers.py --network report-ann`` (AMD EPYC, 2 cores,
    batch 512, its first Dense, 784 -> 256): forward 3.25 -> 1.65 ms, backward
    6.83 -> 3.35 ms; report-ann's whole step 17.3 -> 9.5 ms (1.8x).
    """

    def __init__(self, units, use_bias=True, init=None, name=None):
        super().__init__(name)
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.init = check_initializer(init)

    def config(self):
        return {"units": self.units, "use_bias": self.use_bias, "init": self.init, "name": self.name}

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"Dense '{self.name}' needs flat (D,) inputs, got per-sample shape {input_shape}: "
                             "put a Flatten() before it")
        return (self.units,)

    def create_params(self):
        weight, bias = initial_weight_and_bias((self.input_shape[0], self.units), self.units, self.init, self.rng)
        self.params["W"] = self.new_param(weight)
        if self.use_bias:
            self.params["b"] = self.new_param(bias)

    def forward(self, x, training=False):
        """x (N, D) -> (N, units). Caches x."""
        self.check_input(x)
        self.x = x
        weight = self.params["W"]
        out = backend.xp.empty((x.shape[0], self.units), dtype=x.dtype)

        def output_rows(start, stop):
            backend.xp.matmul(x[start:stop], weight, out=out[start:stop])
            if self.use_bias:
                out[start:stop] += self.params["b"]

        threads.in_parallel(x.shape[0], output_rows, minimum=threads.fewest_worth_a_thread(weight.size))
        return out

    def backward(self, dout):
        """dout (N, units) -> dx (N, D); dW = x^T dout, db = sum over the batch of dout."""
        self.check_output_gradient(dout)
        xp, weight = backend.xp, self.params["W"]
        weight_gradient = xp.empty_like(weight)
        dx = xp.empty(self.x.shape, dtype=dout.dtype)

        def gradient_rows(start, stop):   # rows start:stop of dW (input features), then of dx (the batch)
            xp.matmul(self.x[:, start:stop].T, dout, out=weight_gradient[start:stop])

        def input_gradient_rows(start, stop):
            xp.matmul(dout[start:stop], weight.T, out=dx[start:stop])

        threads.in_parallel(weight.shape[0], gradient_rows, minimum=threads.fewest_worth_a_thread(dout.size))
        self.grads["W"] = weight_gradient
        if self.use_bias:
            self.grads["b"] = dout.sum(axis=0)
        threads.in_parallel(dout.shape[0], input_gradient_rows, minimum=threads.fewest_worth_a_thread(weight.size))
        return dx


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W), in channels-first order. Caches nothing: backward reshapes to input_shape.

    Reference twin: flatten_forward / flatten_backward in minicnn/reference/dense.py."""

    def compute_output_shape(self, input_shape):
        size = 1
        for dimension in input_shape:
            size *= dimension
        return (size,)

    def forward(self, x, training=False):
        """x (N, *input_shape) -> (N, D). Keeps a one-sample view of x for its memory layout."""
        self.check_input(x)
        self.input_template = x[:1]
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        """dout (N, D) -> dx (N, *input_shape), laid out in memory as the input was (batch innermost after a
        fast convolution), so that the layer below reads its gradient in the order of its own arrays."""
        self.check_output_gradient(dout)
        dx = empty_in_layout((dout.shape[0],) + self.input_shape, like=self.input_template, dtype=dout.dtype)
        dx[...] = dout.reshape(dx.shape)
        return dx
