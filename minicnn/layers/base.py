"""The Layer contract every layer follows.

A layer is built once for a per-sample input shape (no batch axis); building
creates its parameters. ``forward`` caches on the layer what ``backward``
needs, and ``backward`` writes (never accumulates) the parameter gradients
into ``grads`` and returns the gradient with respect to the input.
"""
import re

import numpy as np

from minicnn import backend
from minicnn.runtime.work_buffers import WorkBuffers

INITIALIZERS = ("pytorch", "keras")


def snake_case(class_name):
    """'MaxPool2D' -> 'max_pool2d', 'LeakyReLU' -> 'leaky_re_lu': default layer names, Keras style."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", class_name).lower()


def check_initializer(init):
    if init is not None and init not in INITIALIZERS:
        raise ValueError(f"unknown init {init!r}: choose one of {INITIALIZERS}")
    return init


class Layer:
    """Base class: no parameters, shape-preserving.

    To write a layer, subclass Layer and override:
    - create_params(self): fill self.params (and self.buffers); self.input_shape, self.dtype and
      self.rng are set when build calls it (skip it for a layer without parameters);
    - compute_output_shape(self, input_shape) -> output_shape, if the layer changes the shape
      (a query: it raises ValueError for a shape it cannot take, and sets nothing);
    - forward(self, x, training=False) -> y, caching on self what backward needs;
    - backward(self, dout) -> dx, writing self.grads[name] (shaped like self.params[name]).
    build(input_shape, rng, dtype) is Layer's own: Sequential and check_layer call it, and it calls
    the two methods above. A subclass that overrides build is refused with a message saying so.

    ``skip_input_gradient``: set by Sequential on its first layer during
    training, where nobody needs the gradient with respect to the images;
    a layer may then return None from backward instead of computing dx.

    Attributes:
    - params: dict name -> array, trainable.
    - grads: dict name -> array, same keys and shapes, written by backward.
    - buffers: dict name -> array, state that is saved but not trained.
    - work_buffers: arrays reused from one batch to the next (minicnn.runtime.work_buffers).
    - input_shape, output_shape: per-sample shapes, set by build.
    - dtype: the float dtype of the parameters, set by build.
    - batch_size: the last forward's batch, which backward's gradient must have.
    """

    skip_input_gradient = False

    def __init_subclass__(cls, **settings):
        super().__init_subclass__(**settings)
        if "build" in vars(cls):
            raise TypeError(
                f"{cls.__name__} overrides build(), which Layer runs itself (it records input_shape, dtype and "
                "rng, then calls your methods): override create_params(self) to make the parameters "
                "(self.input_shape is set there), and compute_output_shape(self, input_shape) if the layer "
                "changes the shape")

    def __init__(self, name=None):
        self.name = name or snake_case(type(self).__name__)
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.work_buffers = WorkBuffers()
        self.batch_size = None
        self.input_shape = None
        self.output_shape = None
        self.dtype = None
        self.built = False

    def build(self, input_shape, rng=None, dtype=np.float32):
        """Create the parameters for per-sample ``input_shape``; return the output shape.

        ``rng`` is a numpy Generator (host) for the initial weights, so numpy
        and cupy runs start from identical numbers.
        """
        self.input_shape = tuple(int(size) for size in input_shape)
        self.dtype = np.dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.create_params()
        self.built = True
        return self.output_shape

    def compute_output_shape(self, input_shape):
        """The per-sample output shape for ``input_shape``; ValueError naming the layer if it does not fit."""
        return input_shape

    def create_params(self):
        """Fill ``params`` (and ``buffers``); called by build once shapes are known."""

    def config(self):
        """Constructor arguments as JSON-able values, to rebuild the layer from a file."""
        return {"name": self.name}

    def check_input(self, x):
        """x's batch size N; a ValueError naming this layer if ``x`` is not (N, *input_shape)."""
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}' is not built: call build(input_shape) first")
        if tuple(x.shape[1:]) != self.input_shape or x.ndim != len(self.input_shape) + 1:
            expected = ("N",) + self.input_shape
            raise ValueError(
                f"{type(self).__name__} '{self.name}' expected input of shape "
                f"({', '.join(map(str, expected))}), got {tuple(x.shape)}"
            )
        return x.shape[0]

    def check_output_gradient(self, dout, batch_size=None):
        """A ValueError naming this layer unless ``dout`` is (batch_size, *output_shape): the shape of the
        output of the last forward, whose batch is ``self.batch_size`` unless given."""
        batch = self.batch_size if batch_size is None else batch_size
        if batch is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': backward before any forward; "
                             "run forward(x, training=True) first")
        if dout.shape != (batch,) + self.output_shape:
            expected = (batch,) + self.output_shape
            raise ValueError(f"{type(self).__name__} '{self.name}' backward expected dout of shape {expected} "
                             f"(the last forward's output), got {tuple(dout.shape)}")

    def new_param(self, host_array):
        """A parameter on the active backend in the layer's dtype."""
        return backend.to_device(np.asarray(host_array, dtype=self.dtype))

    def count_params(self):
        """(trainable, non_trainable) numbers of values, Keras's way."""
        trainable = sum(int(np.prod(value.shape)) for value in self.params.values())
        non_trainable = sum(int(np.prod(value.shape)) for value in self.buffers.values())
        return trainable, non_trainable

    def sublayers(self):
        """The layers this layer holds and runs (a Residual's body and shortcut); none for most layers."""
        return []

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.config().items() if key != "name")
        return f"{type(self).__name__}({arguments})"


def every_layer(layers):
    """Each of ``layers`` and, right after it, every layer it holds, depth first (a Residual's body, then its
    shortcut): how the model reaches the layers inside a block."""
    for layer in layers:
        yield layer
        sublayers = getattr(layer, "sublayers", None)
        yield from every_layer(sublayers() if callable(sublayers) else [])


def is_positive_whole_number(value):
    """Whether ``value`` is an int (Python's or NumPy's) of at least 1: 2.5 and "3" are not."""
    return isinstance(value, (int, np.integer)) and value >= 1


def positive_pair(value, description):
    """(h, w) from an int or a pair of ints, each at least 1; ValueError naming ``description`` otherwise."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(is_positive_whole_number(side) for side in pair):
        raise ValueError(f"{description} must be a whole number >= 1 or a pair of them, got {value!r}")
    return tuple(int(side) for side in pair)


def window_slices(window, strides, output_size):
    """For each offset (i, j) of a (kh, kw) window: (i, j, rows, cols), the strided slices of the input that
    this offset of every window covers, for (stride_h, stride_w) and (H_out, W_out) output positions.

    Convolution and pooling loop over the kh*kw offsets, not over the H_out*W_out
    positions: each offset is then one vectorized strided read or add.
    """
    (step_h, step_w), (out_h, out_w) = strides, output_size
    for i in range(window[0]):
        for j in range(window[1]):
            yield i, j, slice(i, i + step_h * (out_h - 1) + 1, step_h), slice(j, j + step_w * (out_w - 1) + 1, step_w)


def fan_in_and_out(weight_shape):
    """Fans as PyTorch and Keras count them.

    Dense W (in, out): fan_in = in, fan_out = out.
    Conv W (filters, channels, kh, kw): fan_in = channels*kh*kw, fan_out = filters*kh*kw.
    """
    if len(weight_shape) == 2:
        return weight_shape[0], weight_shape[1]
    receptive_field = int(np.prod(weight_shape[2:]))
    return weight_shape[1] * receptive_field, weight_shape[0] * receptive_field


def initial_weight_and_bias(weight_shape, bias_size, init, rng):
    """Host arrays (float64) for W and b.

    - "pytorch": W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which is what
      PyTorch's kaiming_uniform_(a=sqrt(5)) default works out to.
    - "keras": W ~ Glorot-uniform U(-sqrt(6/(fan_in+fan_out)), +...), b = 0.
    """
    fan_in, fan_out = fan_in_and_out(weight_shape)
    if init == "keras":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=weight_shape), np.zeros(bias_size)
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=weight_shape), rng.uniform(-bound, bound, size=bias_size)
