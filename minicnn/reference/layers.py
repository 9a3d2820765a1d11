"""Layers made of a pair of reference-style functions, so that the naive functions (or a student's) run
inside any Sequential or zoo network, and a test can put a twin beside every fast layer.

    layer = ReferenceConv2D(8, 3, padding="same")                 # the fast Conv2D's constructor and params
    layer = ReferenceConv2D(8, 3, functions=(my_conv_forward, my_conv_backward))   # a student's functions
    model.layers[0] = reference_twin(model.layers[0])            # the same weights, computed by the loops
"""
import inspect

import numpy as np

from minicnn import backend, layers
from minicnn.gradcheck import LayerContractError
from minicnn.reference import (activations, conv, dense, dropout, global_pooling, loss, normalization, optim,
                               per_sample_normalization, pooling)


class FunctionLayer(layers.Layer):
    """FunctionLayer(forward_function, backward_function, param_names=(), buffer_names=(), settings=None).

    - forward_function(x, *arrays, **settings) -> (out, cache), where arrays are the params named by
      ``param_names`` (None for one the layer does not have, like b without a bias), then the buffers named
      by ``buffer_names`` (which the function may update in place: BatchNorm's running statistics).
    - backward_function(dout, cache) -> dx when there are no param_names, else (dx, one gradient per
      param name, in that order; None where the param is None).

    The functions see host NumPy arrays (on cupy the layer copies to and from the device); ``grads`` is
    filled from what backward_function returns. On its own it is a shape-preserving layer without params;
    the Reference* classes below give it the fast layers' constructors, shapes and params.
    """

    forward_function = None
    backward_function = None
    param_names = ()
    buffer_names = ()

    def __init__(self, forward_function, backward_function, param_names=(), buffer_names=(), settings=None,
                 name=None):
        super().__init__(name or getattr(forward_function, "__name__", None))
        self.forward_function, self.backward_function = forward_function, backward_function
        self.param_names, self.buffer_names = tuple(param_names), tuple(buffer_names)
        self.settings = dict(settings or {})

    def function_settings(self, training):
        """The keyword arguments of forward_function."""
        return dict(self.settings)

    def forward(self, x, training=False):
        """x -> forward_function(x, *arrays, **settings)[0]; caches the function's cache."""
        self.check_input(x)
        arrays = [None if self.params.get(key) is None else backend.to_numpy(self.params[key])
                  for key in self.param_names]
        buffers = [backend.to_numpy(self.buffers[key]) for key in self.buffer_names]
        result = self.forward_function(backend.to_numpy(x), *arrays, *buffers, **self.function_settings(training))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise LayerContractError(f"{function_name(self.forward_function)} must return (out, cache), "
                                     f"got {describe(result)}")
        for key, host in zip(self.buffer_names, buffers):
            if backend.is_device_array(self.buffers[key]):   # on numpy the function updated the buffer itself
                self.buffers[key][...] = backend.to_device(host)
        out, self.cache = result
        return backend.to_device(out) if out is not None else None

    def backward(self, dout):
        """dout -> dx; writes grads from backward_function's (dx, *param gradients)."""
        result = self.backward_function(backend.to_numpy(dout), self.cache)
        if not self.param_names:
            return None if result is None else backend.to_device(result)
        expected = 1 + len(self.param_names)
        if not (isinstance(result, tuple) and len(result) == expected):
            names = ", ".join(["dx"] + [f"d{key}" for key in self.param_names])
            raise LayerContractError(f"{function_name(self.backward_function)} must return ({names}), "
                                     f"got {describe(result)}")
        for key, gradient in zip(self.param_names, result[1:]):
            if key in self.params:
                if gradient is None:
                    raise LayerContractError(f"{function_name(self.backward_function)} returned None for d{key}; "
                                             f"return the gradient of {key}")
                self.grads[key] = backend.to_device(gradient)
        return None if result[0] is None else backend.to_device(result[0])


def function_name(function):
    return getattr(function, "__name__", repr(function))


def describe(value):
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return "None" if value is None else type(value).__name__


class ReferenceLayer(FunctionLayer):
    """A fast layer's twin: the fast class's constructor (plus functions=(forward, backward) to use
    other functions than the reference ones), build, shapes, params and config; the functions' forward
    and backward."""

    def __init__(self, *arguments, functions=None, **keywords):
        super(FunctionLayer, self).__init__(*arguments, **keywords)   # the fast class's constructor
        self.settings = {}
        if functions is not None:
            self.forward_function, self.backward_function = functions


class ReferenceConv2D(ReferenceLayer, layers.Conv2D):
    forward_function, backward_function = staticmethod(conv.conv_forward), staticmethod(conv.conv_backward)
    param_names = ("W", "b")

    def function_settings(self, training):
        return {"stride": self.stride, "padding": self.pads}   # pads: (top, bottom, left, right), set by build


class ReferencePoolSettings:
    def function_settings(self, training):
        return {"pool_size": self.pool_size, "stride": (self.step_h, self.step_w)}


class ReferenceMaxPool2D(ReferencePoolSettings, ReferenceLayer, layers.MaxPool2D):
    forward_function = staticmethod(pooling.max_pool_forward)
    backward_function = staticmethod(pooling.max_pool_backward)


class ReferenceAvgPool2D(ReferencePoolSettings, ReferenceLayer, layers.AvgPool2D):
    forward_function = staticmethod(pooling.avg_pool_forward)
    backward_function = staticmethod(pooling.avg_pool_backward)


class ReferenceBatchNorm(ReferenceLayer, layers.BatchNorm):
    forward_function = staticmethod(normalization.batchnorm_forward)
    backward_function = staticmethod(normalization.batchnorm_backward)
    param_names = ("gamma", "beta")
    buffer_names = ("running_mean", "running_var")

    def function_settings(self, training):
        return {"training": training, "momentum": self.momentum, "eps": self.eps, "convention": self.convention}


class ReferenceDense(ReferenceLayer, layers.Dense):
    forward_function, backward_function = staticmethod(dense.dense_forward), staticmethod(dense.dense_backward)
    param_names = ("W", "b")


class ReferenceFlatten(ReferenceLayer, layers.Flatten):
    forward_function = staticmethod(dense.flatten_forward)
    backward_function = staticmethod(dense.flatten_backward)


class ReferenceReLU(ReferenceLayer, layers.ReLU):
    forward_function = staticmethod(activations.relu_forward)
    backward_function = staticmethod(activations.relu_backward)


class ReferenceLeakyReLU(ReferenceLayer, layers.LeakyReLU):
    forward_function = staticmethod(activations.leaky_relu_forward)
    backward_function = staticmethod(activations.leaky_relu_backward)

    def function_settings(self, training):
        return {"alpha": self.alpha}


class ReferenceDropout(ReferenceLayer, layers.Dropout):
    forward_function = staticmethod(dropout.dropout_forward)
    backward_function = staticmethod(dropout.dropout_backward)

    def function_settings(self, training):
        return {"rate": self.rate, "training": training, "rng": self.rng}   # the Generator build gave the layer


class ReferenceGlobalAvgPool2D(ReferenceLayer, layers.GlobalAvgPool2D):
    forward_function = staticmethod(global_pooling.global_avg_pool_forward)
    backward_function = staticmethod(global_pooling.global_avg_pool_backward)


class ReferenceLayerNorm(ReferenceLayer, layers.LayerNorm):
    forward_function = staticmethod(per_sample_normalization.layernorm_forward)
    backward_function = staticmethod(per_sample_normalization.layernorm_backward)
    param_names = ("gamma", "beta")

    def function_settings(self, training):
        return {"eps": self.eps}


class ReferenceGroupNorm(ReferenceLayer, layers.GroupNorm):
    forward_function = staticmethod(per_sample_normalization.groupnorm_forward)
    backward_function = staticmethod(per_sample_normalization.groupnorm_backward)
    param_names = ("gamma", "beta")

    def function_settings(self, training):
        return {"groups": self.groups, "eps": self.eps}


class ReferenceResidual(layers.Residual):
    """A Residual's twin: the same block (its addition is one line either way) holding the twins of its
    layers, the projection shortcut it makes included, and never fused."""

    def __init__(self, body, shortcut=None, init=None, name=None, functions=None):
        if functions is not None:
            raise ValueError("a Residual's twin runs the twins of its layers: it takes no functions of its own")
        super().__init__(body, shortcut, init=init, name=name)

    def inner_layer(self, entry):
        return reference_twin(super().inner_layer(entry))

    def projection(self, filters, stride):
        return [reference_twin(layer) for layer in super().projection(filters, stride)]

    def forward(self, x, training=False):
        self.fuse = False
        return super().forward(x, training)


REFERENCE_CLASSES = {cls.__name__[len("Reference"):]: cls for cls in
                     (ReferenceConv2D, ReferenceMaxPool2D, ReferenceAvgPool2D, ReferenceGlobalAvgPool2D,
                      ReferenceBatchNorm, ReferenceLayerNorm, ReferenceGroupNorm, ReferenceDense, ReferenceFlatten,
                      ReferenceReLU, ReferenceLeakyReLU, ReferenceDropout, ReferenceResidual)}


def reference_twin(layer, functions=None):
    """A Reference* layer with ``layer``'s settings, built like it, holding copies of its params and buffers
    (and its random generator's state), so that both compute the same thing from here on.
    ``functions=(forward, backward)`` puts other functions (a student's) in the twin."""
    twin_class = REFERENCE_CLASSES.get(type(layer).__name__)
    if twin_class is None:
        raise ValueError(f"no reference twin for {type(layer).__name__}; there are twins of "
                         f"{', '.join(REFERENCE_CLASSES)}")
    twin = twin_class(**layer.config(), functions=functions)
    if layer.built:
        rng = np.random.default_rng()
        rng.bit_generator.state = layer.rng.bit_generator.state
        twin.build(layer.input_shape, rng=rng, dtype=layer.dtype)
        for mine, theirs in ((twin.params, layer.params), (twin.buffers, layer.buffers)):
            for key, value in theirs.items():
                mine[key] = value.copy()
    return twin


class ReferenceSoftmaxCrossEntropy:
    """The loss object over loss.softmax_cross_entropy, with SoftmaxCrossEntropy's interface:
    forward(logits, labels) -> float, forward_array (the loss as a 0-d array on the active backend, which
    minicnn.train.fit sums), labels (on the device, for fit's count of correct predictions), backward() -> dlogits."""

    def __init__(self, label_smoothing=0.0, function=None):
        self.label_smoothing = float(label_smoothing)
        self.function = function or loss.softmax_cross_entropy

    def forward(self, logits, labels):
        return float(self.forward_array(logits, labels))

    def forward_array(self, logits, labels):
        loss_value, dlogits = self.function(backend.to_numpy(logits), backend.to_numpy(labels), self.label_smoothing)
        self.dlogits = backend.to_device(dlogits)
        self.labels = backend.to_device(backend.to_numpy(labels))
        return backend.xp.asarray(loss_value, dtype=logits.dtype)

    def backward(self):
        return self.dlogits


class ReferenceOptimizer:
    """ReferenceOptimizer(model, rule, **settings): ``step()`` applies rule(param, grad, state, **settings)
    (optim.sgd_momentum, optim.rmsprop, optim.adam, or a student's) to every parameter of the model, in place,
    with one state dict per parameter, keyed "<layer index>/<param name>" as minicnn.optim keys them."""

    RULES = {"SGD": optim.sgd_momentum, "RMSprop": optim.rmsprop, "Adam": optim.adam}

    def __init__(self, model, rule, **settings):
        self.model, self.rule, self.settings = model, rule, settings
        self.state = {}
        # minicnn.train.fit logs every epoch's learning rate: the one given, else the rule's default
        default = inspect.signature(rule).parameters.get("lr")
        self.lr = settings.get("lr", None if default is None else default.default)

    def step(self):
        for index, layer in enumerate(self.model.layers):
            for name, param in layer.params.items():
                state = self.state.setdefault(f"{index}/{name}", {})
                new = self.rule(backend.to_numpy(param), backend.to_numpy(layer.grads[name]), state, **self.settings)
                param[...] = backend.to_device(new)
