"""Fully connected layer and the Flatten that feeds it."""
from minicnn.layers.base import Layer, check_initializer, initial_weight_and_bias
from minicnn.runtime import threads
from minicnn.runtime.layout import empty_in_layout


class Dense(Layer):
    """Dense(units, use_bias=True, init=None): y = x @ W + b.

    Params: W (D, units), b (units,). Input (N, D) -> (N, units).
    backward: dW = x.T @ dout, db = sum of dout over the batch, dx = dout @ W.T.
    Reference twin: minicnn/reference/dense.py. The matrix products are the definition
    itself; the one trick is threads (minicnn.runtime.threads.matmul): each product split
    over the rows of its result (the batch for y and dx, the input features for dW), with
    BLAS at one thread; a product too small to be worth a thread stays whole.
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
        self.batch_size = self.check_input(x)
        self.x = x
        return threads.matmul(x, self.params["W"], add=self.params.get("b"), split="rows")

    def backward(self, dout):
        """dout (N, units) -> dx (N, D); writes grads W and b."""
        self.check_output_gradient(dout)
        self.grads["W"] = threads.matmul(self.x.T, dout, split="rows")
        if self.use_bias:
            self.grads["b"] = dout.sum(axis=0)
        return threads.matmul(dout, self.params["W"].T, split="rows")


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
        self.batch_size = self.check_input(x)
        self.input_template = x[:1]
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        """dout (N, D) -> dx (N, *input_shape), laid out in memory as the input was (batch innermost after a
        fast convolution), so that the layer below reads its gradient in the order of its own arrays."""
        self.check_output_gradient(dout)
        dx = empty_in_layout((dout.shape[0],) + self.input_shape, like=self.input_template, dtype=dout.dtype)
        dx[...] = dout.reshape(dx.shape)
        return dx
