"""Residual: a layer that holds layers, y = body(x) + shortcut(x) (He, Zhang, Ren & Sun, 2016)."""
from collections.abc import MutableMapping

from minicnn import backend
from minicnn.layers.base import Layer, check_initializer
from minicnn.layers.conv import Conv2D
from minicnn.layers.normalization import BatchNorm
from minicnn.runtime import threads
from minicnn.runtime.fusion import execution_steps


class Residual(Layer):
    """Residual(body, shortcut=None, init=None): y = body(x) + shortcut(x).

    - body: a list of layers, run in order on x (a ResNet block's Conv2D, BatchNorm, ReLU, Conv2D, BatchNorm).
    - shortcut: what x goes through before it is added:
      - None (the default): x itself where the body keeps x's shape; where it does not, a projection made
        at build: Conv2D(F, 1, stride=s, use_bias=False) then BatchNorm(), with F the body's output channels
        and s the stride that takes x's (H, W) to the body's (ResNet's projection shortcut, "option B").
        A body whose output no such projection reaches (another size, or not an image) is refused at build.
      - a list of layers of your own, run in order on x (an empty list: x itself, shapes checked).
    - init: the weight initialisation ("pytorch" or "keras") of the layers inside that did not choose one
      (a Sequential's init reaches them through it).

    The activation after the sum (ResNet's ReLU) is the next layer of the Sequential.

    Input (N, *input_shape) -> (N, *body output shape). Backward: the upstream gradient goes down both
    branches, and dx is their sum: dx = d body / dx + d shortcut / dx.

    The layers inside are the block's: ``params``, ``grads`` and ``buffers`` are read and written through to
    them under keys "body.<index>.<name>" and "shortcut.<index>.<name>" ("body.0.W": body[0].params["W"];
    nested blocks nest the keys: "body.2.body.0.W"), so an optimizer, save/load, summary's counts and
    check_layer treat the block as one layer. A BatchNorm -> ReLU -> MaxPool2D run in the body runs fused, as
    in a Sequential (minicnn.runtime.fusion); ``fuse`` (set by the Sequential the block is in, from its own
    ``fuse``) turns it off.
    Reference twin: minicnn.reference.ReferenceResidual, the same block holding the layers' twins.
    """

    def __init__(self, body, shortcut=None, init=None, name=None):
        super().__init__(name)
        if isinstance(body, (Layer, dict)) or not list(body):
            raise ValueError(f"Residual '{self.name}' body must be a non-empty list of layers, got {body!r}")
        self.body = [self.inner_layer(entry) for entry in list(body)]
        self.chosen_shortcut = None if shortcut is None else [self.inner_layer(entry) for entry in shortcut]
        self.shortcut = self.chosen_shortcut
        self.init = check_initializer(init)
        self.fuse = True
        self.fused_blocks = {}   # the fused blocks of the body, kept with their work buffers
        self.params, self.grads, self.buffers = (NestedArrays(self, group) for group in ("params", "grads", "buffers"))

    def inner_layer(self, entry):
        """A layer of the body or the shortcut: a layer as given, or one rebuilt from {"class", "config"}."""
        if isinstance(entry, dict):
            from minicnn.layers import LAYER_CLASSES   # the layers package imports this module
            if entry.get("class") not in LAYER_CLASSES:
                raise ValueError(f"Residual '{self.name}': unknown layer class {entry.get('class')!r}")
            return LAYER_CLASSES[entry["class"]](**entry.get("config", {}))
        if not callable(getattr(entry, "forward", None)) or not callable(getattr(entry, "backward", None)):
            raise ValueError(f"Residual '{self.name}' holds layers (with forward and backward), got {entry!r}")
        return entry

    def config(self):
        def configs(layers):
            return [{"class": type(layer).__name__, "config": layer.config()} for layer in layers]
        shortcut = None if self.chosen_shortcut is None else configs(self.chosen_shortcut)
        return {"body": configs(self.body), "shortcut": shortcut, "init": self.init, "name": self.name}

    def sublayers(self):
        return self.body + (self.shortcut or [])

    def named_sublayers(self):
        """("body.0", layer), ..., ("shortcut.0", layer), ...: the key prefix of each layer inside."""
        return ([(f"body.{index}", layer) for index, layer in enumerate(self.body)]
                + [(f"shortcut.{index}", layer) for index, layer in enumerate(self.shortcut or [])])

    # Shapes: queries first (compute_output_shape builds nothing), then create_params builds the layers inside.

    def compute_output_shape(self, input_shape):
        output_shape = chained_output_shape(self.body, input_shape)
        if self.chosen_shortcut is not None:
            added = chained_output_shape(self.chosen_shortcut, input_shape)
            if added != output_shape:
                raise ValueError(f"Residual '{self.name}': the body gives {output_shape} but the shortcut gives "
                                 f"{added} for input {input_shape}; they are added, so they must match")
        elif output_shape != input_shape:
            self.projection_stride(input_shape, output_shape)   # raises if no projection reaches the body's shape
        return output_shape

    def projection_stride(self, input_shape, output_shape):
        """The stride s of a 1x1 Conv2D taking (C, H, W) to the body's (F, H_out, W_out): (H - 1) // s + 1 = H_out
        and the same for W; ValueError naming the block where there is none."""
        if len(input_shape) == len(output_shape) == 3:
            for stride in range(1, max(input_shape[1:]) + 1):
                if all((size - 1) // stride + 1 == out for size, out in zip(input_shape[1:], output_shape[1:])):
                    return stride
        raise ValueError(f"Residual '{self.name}': the body takes {input_shape} to {output_shape}, which no 1x1 "
                         "strided convolution of the input reaches; pass shortcut=[layers...] that gives "
                         f"{output_shape}")

    def projection(self, filters, stride):
        """The layers of the shortcut made where the body changes the shape: a 1x1 convolution, no bias
        (BatchNorm subtracts each channel's mean), then BatchNorm."""
        return [Conv2D(filters, 1, stride=stride, use_bias=False, name=f"{self.name}_conv"),
                BatchNorm(name=f"{self.name}_norm")]

    def create_params(self):
        for layer in self.body + (self.chosen_shortcut or []):
            if self.init is not None and getattr(layer, "init", "absent") is None:
                layer.init = self.init
        shape = self.input_shape
        for layer in self.body:
            shape = layer.build(shape, rng=self.rng, dtype=self.dtype)
        if self.chosen_shortcut is None:
            self.shortcut = []
            if shape != self.input_shape:
                self.shortcut = self.projection(shape[0], self.projection_stride(self.input_shape, shape))
                self.shortcut[0].init = self.init   # the convolution
        added = self.input_shape
        for layer in self.shortcut:
            added = layer.build(added, rng=self.rng, dtype=self.dtype)

    def forward(self, x, training=False):
        """x (N, *input_shape) -> body(x) + shortcut(x) (N, *output_shape). The layers inside keep their caches."""
        self.batch_size = self.check_input(x)
        self.steps = execution_steps(self.body, self.fuse, self.fused_blocks)   # the fused blocks stand for three
        out = x
        for step in self.steps:
            out = step.forward(out, training=training)
        added = x
        for layer in self.shortcut:
            added = layer.forward(added, training=training)
        return threads.elementwise(backend.xp.add, out, added)

    def backward(self, dout):
        """dout (N, *output_shape) -> dx (N, *input_shape): the body's dx plus the shortcut's. The layers inside
        write their grads (which this block's ``grads`` reads)."""
        self.check_output_gradient(dout)
        gradient = dout
        for step in reversed(self.steps):
            gradient = step.backward(gradient)
        added = dout
        for layer in reversed(self.shortcut):
            added = layer.backward(added)
        return threads.elementwise(backend.xp.add, gradient, added)


def chained_output_shape(layers, input_shape):
    """The output shape of ``layers`` run in order on ``input_shape``, asking each (a query: builds nothing)."""
    shape = tuple(input_shape)
    for layer in layers:
        shape = tuple(layer.compute_output_shape(shape))
    return shape


class NestedArrays(MutableMapping):
    """A block's params (or grads, or buffers): the arrays of the layers inside it, under "<prefix>.<name>"
    ("body.0.W"), read and written through to each layer's own dict, so that nothing is ever copied or stale."""

    def __init__(self, owner, group):
        self.owner, self.group = owner, group

    def groups(self):
        return [(prefix, getattr(layer, self.group)) for prefix, layer in self.owner.named_sublayers()
                if hasattr(layer, self.group)]

    def locate(self, key):
        """(the dict inside that holds ``key``, the name there); KeyError naming the block if there is none."""
        for prefix, group in self.groups():
            if key.startswith(prefix + "."):
                return group, key[len(prefix) + 1:]
        raise KeyError(f"Residual '{self.owner.name}' has no {self.group[:-1]} {key!r}")

    def __getitem__(self, key):
        group, name = self.locate(key)
        return group[name]

    def __setitem__(self, key, value):
        group, name = self.locate(key)
        group[name] = value

    def __delitem__(self, key):
        group, name = self.locate(key)
        del group[name]

    def __iter__(self):
        for prefix, group in self.groups():
            for name in list(group):
                yield f"{prefix}.{name}"

    def __len__(self):
        return sum(len(group) for _, group in self.groups())

    def __repr__(self):
        return repr(dict(self))
