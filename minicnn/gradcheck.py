"""Numerical gradient checks for any layer or model: the proof that a backward is right.

The analytic gradients from ``backward`` are compared with central
differences, (f(v + h) - f(v - h)) / 2h, of the scalar f = sum(forward(x) * dout)
for a random upstream gradient ``dout``. Everything runs in float64, where a
correct backward agrees to about 1e-8 and a wrong one is off by far more.

Use it on your own layer:

    from minicnn.gradcheck import check_layer
    report = check_layer(MyLayer(...), input_shape=(3, 8, 8))
    print(report)           # relative error of dx and of every parameter gradient
    assert report.passed
"""
import numpy as np

from minicnn import backend


ABSOLUTE_SCALE_FLOOR = 1e-3


class GradientReport:
    """Relative errors by name ("input", "W", ...), see ``relative_error``."""

    def __init__(self, errors, tolerance):
        self.errors = errors
        self.tolerance = tolerance

    @property
    def worst(self):
        return max(self.errors.values()) if self.errors else 0.0

    @property
    def passed(self):
        # each error on its own: a NaN compared with anything is False, so it can hide inside a max
        return all(error <= self.tolerance for error in self.errors.values())

    def __str__(self):
        lines = [f"{name:>16}: relative error {error:.2e}  {'ok' if error <= self.tolerance else 'FAILED'}"
                 for name, error in self.errors.items()]
        return "\n".join(lines + [f"{'passed' if self.passed else 'FAILED'} (tolerance {self.tolerance:.0e})"])

    __repr__ = __str__


def relative_error(analytic, numeric):
    """max|analytic - numeric| / max(max|analytic|, max|numeric|, 1e-3).

    The floor keeps a gradient that is truly zero (a bias right before
    BatchNorm) from being judged on the ~1e-10 rounding noise of the
    central difference, while a gradient of any real size is judged relatively.
    A NaN or infinity in either gradient is an infinite error.
    """
    if not (np.isfinite(analytic).all() and np.isfinite(numeric).all()):
        return float("inf")
    scale = max(float(np.abs(analytic).max(initial=0.0)), float(np.abs(numeric).max(initial=0.0)),
                ABSOLUTE_SCALE_FLOOR)
    return float(np.abs(analytic - numeric).max(initial=0.0)) / scale


def numerical_gradient(function, array, step=1e-6):
    """Central-difference gradient of scalar ``function()`` with respect to ``array``, perturbed in place."""
    gradient = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)
    if not np.shares_memory(flat, array):   # a copy would take the nudges, and function() would never see them
        raise ValueError("numerical_gradient perturbs the array in place: give it a C-contiguous array")
    for index in range(flat.size):
        original = flat[index].item()
        flat[index] = original + step
        plus = function()
        flat[index] = original - step
        minus = function()
        flat[index] = original
        gradient.reshape(-1)[index] = (plus - minus) / (2.0 * step)
    return gradient


def check_gradients(forward, backward, x, arrays, grads, dout, step=1e-6, tolerance=1e-6, restore=None):
    """The general check.

    - forward(x) -> output; backward(dout) -> dx, filling ``grads()``.
    - arrays: name -> parameter array (float64), perturbed in place by the check.
    - grads: callable returning name -> analytic gradient, read after backward.
    - restore: called before every forward so stateful layers (random masks,
      running statistics) see the same state each time.
    """
    restore = restore or (lambda: None)

    def objective():
        restore()
        return float((backend.to_numpy(forward(x)) * dout).sum())

    restore()
    forward(x)
    analytic_dx = backend.to_numpy(backward(backend.to_device(dout)))
    analytic = {name: backend.to_numpy(value).copy() for name, value in grads().items()}
    x_host = backend.to_numpy(x)
    errors = {"input": relative_error(analytic_dx, numerical_on(x, x_host, objective, step))}
    for name, array in arrays.items():
        errors[name] = relative_error(analytic[name], numerical_on(array, backend.to_numpy(array), objective, step))
    restore()
    return GradientReport(errors, tolerance)


def numerical_on(array, host_view, objective, step):
    """numerical_gradient on a device array: perturb a host copy and write it back each time."""
    if not backend.is_device_array(array):
        return numerical_gradient(objective, array, step)
    host = host_view.copy()

    def with_host_values():
        array[...] = backend.to_device(host)
        return objective()

    gradient = numerical_gradient(with_host_values, host, step)
    array[...] = backend.to_device(host)
    return gradient


def random_state_snapshot(layers):
    """A function that puts every layer's random generator and buffers back to their state now."""
    states = [(layer, layer.rng.bit_generator.state if getattr(layer, "rng", None) is not None else None,
               {key: value.copy() for key, value in layer.buffers.items()}) for layer in layers]

    def restore():
        for layer, rng_state, buffers in states:
            if rng_state is not None:
                layer.rng.bit_generator.state = rng_state
            for key, value in buffers.items():
                layer.buffers[key][...] = value

    return restore


def float64_input(x):
    """x as a float64, C-contiguous copy on the active backend: the check perturbs it in place through a flat
    view, which needs contiguity, and the caller's x is left alone."""
    return backend.to_device(np.array(x, dtype=np.float64, order="C"))


def check_layer(layer, input_shape=None, batch_size=2, training=True, x=None, dout=None, seed=0,
                step=1e-6, tolerance=1e-6):
    """Check ``layer``'s backward (dx and every param gradient) in float64.

    The layer is built in float64 for ``input_shape`` (per sample) unless it is
    already built; x and dout default to standard-normal draws.
    Returns a GradientReport; ``report.passed`` says whether every error is within ``tolerance``.
    """
    rng = np.random.default_rng(seed)
    if not layer.built:
        if input_shape is None and x is None:
            raise ValueError(f"'{layer.name}' is not built yet: give check_layer its per-sample input_shape, or x")
        if input_shape is None:
            input_shape = np.shape(x)[1:]
        layer.build(input_shape, rng=np.random.default_rng(seed + 1), dtype=np.float64)
    if layer.dtype != np.float64:
        raise ValueError(f"gradient checks need a float64 layer; '{layer.name}' was built as {layer.dtype}")
    if x is None:
        x = rng.standard_normal((batch_size,) + layer.input_shape)
    x = float64_input(x)
    output_shape = (x.shape[0],) + layer.output_shape
    dout = rng.standard_normal(output_shape) if dout is None else np.asarray(dout, dtype=np.float64)
    return check_gradients(lambda inputs: layer.forward(inputs, training=training), layer.backward, x,
                           dict(layer.params), lambda: layer.grads, dout, step, tolerance,
                           restore=random_state_snapshot([layer]))


def check_model(model, loss, x, labels, training=True, step=1e-6, tolerance=1e-6):
    """Check a whole float64 model plus loss end to end: dx and every parameter, named '<index>/<param>'."""
    if model.dtype != np.float64:
        raise ValueError(f"gradient checks need a float64 model, this one is {model.dtype}")
    arrays = {f"{index}/{name}": param
              for index, layer in enumerate(model.layers) for name, param in layer.params.items()}

    def grads():
        return {f"{index}/{name}": grad
                for index, layer in enumerate(model.layers) for name, grad in layer.grads.items()}

    def forward(inputs):
        # the loss as the scalar output, so dout = 1 checks d(loss)/d(everything)
        return np.array(loss.forward(model.forward(inputs, training=training), labels))

    def backward(_):
        return model.backward(loss.backward())

    x = float64_input(x)
    return check_gradients(forward, backward, x, arrays, grads, np.array(1.0), step, tolerance,
                           restore=random_state_snapshot(model.layers))
