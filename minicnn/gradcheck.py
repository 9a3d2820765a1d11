"""Numerical gradient checks for any layer or model: the proof that a backward is right.

The analytic gradients from ``backward`` are compared with central
differences, (f(v + h) - f(v - h)) / 2h, of the scalar f = sum(forward(x) * dout)
for a random upstream gradient ``dout``. Everything runs in float64, where a
correct backward agrees to about 1e-8 and a wrong one is off by far more.

Use it on your own layer:

    from minicnn.gradcheck import check_layer
    report = check_layer(MyLayer(...), input_shape=(3, 8, 8))
    print(report)           # relative error of dx and of every parameter gradient
    assert report.passed, report.failures()   # one line per mistake, each naming the layer

A mistake that is not a wrong number (a wrong shape, a missing gradient, None
returned, a stub, NaN, an input changed in place) is found by one watched
forward and backward first and reported in words (``report.problems``), never as
a traceback from in here. ``compare_with_reference`` (a layer beside its naive
twin from minicnn.reference), ``check_loss_function`` and ``compare_update_rules``
catch what a gradient check cannot: a forward and backward wrong together.
"""
import os
import traceback

import numpy as np

from minicnn import backend


ABSOLUTE_SCALE_FLOOR = 1e-3


class GradientReport:
    """Relative errors by name ("input", "W", ...), see ``relative_error``, and ``problems``: one line each for
    what stopped the check before any number could be compared (a wrong shape, a missing gradient, None
    returned, a stub, a NaN, an input changed in place), written for the person who wrote the layer.

    ``label`` names what was checked ("Dense 'dense'"); ``against`` what the numbers were compared with.
    ``failures()`` is the list of one-line messages a grader shows (empty when ``passed``).
    """

    def __init__(self, errors, tolerance, problems=(), label=None, against="central differences"):
        self.errors = errors
        self.tolerance = tolerance
        self.problems = list(problems)
        self.label = label
        self.against = against

    @property
    def worst(self):
        return max(self.errors.values()) if self.errors else (float("inf") if self.problems else 0.0)

    @property
    def passed(self):
        # each error on its own: a NaN compared with anything is False, so it can hide inside a max
        return not self.problems and all(error <= self.tolerance for error in self.errors.values())

    def failures(self):
        """One line per mistake: the problems, then every value off by more than the tolerance."""
        label = self.label or "the layer"
        wrong = [f"{label}: {describe_value(name)} is wrong: relative error {error:.2e} against {self.against} "
                 f"(tolerance {self.tolerance:.0e})"
                 for name, error in self.errors.items() if not error <= self.tolerance]
        return self.problems + wrong

    def __str__(self):
        lines = [f"{self.label}:"] if self.label else []
        lines += [f"FAILED: {problem}" for problem in self.problems]
        lines += [f"{name:>16}: relative error {error:.2e}  {'ok' if error <= self.tolerance else 'FAILED'}"
                  for name, error in self.errors.items()]
        return "\n".join(lines + [f"{'passed' if self.passed else 'FAILED'} (tolerance {self.tolerance:.0e})"])

    __repr__ = __str__


def describe_value(name):
    """How failures() names an entry of ``errors``."""
    if name == "input":
        return "dx (the gradient with respect to the input)"
    if name == "logits":
        return "dlogits (the gradient with respect to the logits)"
    if name == "output":
        return "the forward output"
    if name.startswith("step "):
        return f"the parameter after {name}"
    return f"grads[{name!r}]" if "/" not in name else f"the gradient of {name}"


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


class LayerContractError(ValueError):
    """A layer broke the contract in a way its own code can say in words (minicnn.reference.FunctionLayer:
    "conv_backward must return (dx, dW, db), got None"); the checker shows the message as it is."""


def where_it_failed(error):
    """'TypeError: message (at file.py:12 in backward)': an exception and the line of the caller's code that
    raised it (the deepest frame outside this checker and outside NumPy, so the line is one the reader wrote)."""
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    where = raising_line(error)
    return f"{message} ({where})" if where else message


def raising_line(error):
    """'at file.py:12 in backward', see where_it_failed; '' without a traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    outside = [frame for frame in frames if os.path.abspath(frame.filename) != os.path.abspath(__file__)
               and os.sep + "numpy" + os.sep not in frame.filename]
    if not (outside or frames):
        return ""
    frame = (outside or frames)[-1]
    return f"at {frame.filename}:{frame.lineno} in {frame.name}"


def guarded_call(label, what, function, *arguments, **keywords):
    """(function(...), None), or (None, a one-line problem naming ``label`` and ``what`` raised)."""
    try:
        return function(*arguments, **keywords), None
    except LayerContractError as error:
        return None, f"{label}: {error}"
    except NotImplementedError as error:
        return None, f"{label}: {what} is not written yet: it raises NotImplementedError ({raising_line(error)})"
    except Exception as error:   # a student's mistake of any kind is a line in the report, not a traceback
        return None, f"{label}: {what} raised {where_it_failed(error)}"


def shape_text(shape):
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def array_problem(label, what, value, expected_shape, expected_dtype, fix):
    """The first thing wrong with ``value`` as ``what`` (an array of expected_shape and dtype), or None."""
    if value is None:
        return f"{label}: {what} is None; {fix}, shape {shape_text(expected_shape)}"
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        return f"{label}: {what} is a {type(value).__name__}, not an array; {fix}, shape {shape_text(expected_shape)}"
    if tuple(value.shape) != tuple(expected_shape):
        return f"{label}: {what} has shape {shape_text(value.shape)}, expected {shape_text(expected_shape)}"
    if expected_dtype is not None and value.dtype != expected_dtype:
        return (f"{label}: {what} is {value.dtype}, expected {np.dtype(expected_dtype)} like the input: "
                "keep the dtype you are given (allocate with dtype=x.dtype)")
    if value.dtype.kind in "fc" and not bool(np.isfinite(backend.to_numpy(value)).all()):
        return f"{label}: {what} holds NaN or infinite values; look for a division by zero or a log of 0"
    return None


def first_run_problems(label, forward, backward, x, arrays, grads, dout, restore):
    """One forward and backward, watched: the problems (one line each) that make comparing numbers pointless."""
    restore()
    x_before = backend.to_numpy(x).copy()
    out, problem = guarded_call(label, "forward", forward, x)
    if problem:
        return [problem]
    expected_dtype = x.dtype if np.ndim(dout) else None   # a model's loss is a float, not an array of x's dtype
    problems = [array_problem(label, "forward's output", out, np.shape(dout), expected_dtype,
                              "return the output array")]
    if not np.array_equal(backend.to_numpy(x), x_before, equal_nan=True):
        problems.append(f"{label}: forward changed its input x in place; leave x alone and write the result into a "
                        "new array (no x += ..., x[...] = ..., out=x)")
    if any(problems):
        return [problem for problem in problems if problem]
    dx, problem = guarded_call(label, "backward", backward, backend.to_device(dout))
    if problem:
        return [problem]
    problems = [array_problem(label, "backward's return value dx", dx, x.shape, x.dtype,
                              "return dx, the gradient with respect to the input")]
    written, problem = guarded_call(label, "reading grads", grads)
    if problem:
        return [problem]
    for name, param in arrays.items():
        if name not in written:
            problems.append(f"{label}: backward did not write grads[{name!r}]; set it to the gradient of "
                            f"params[{name!r}], shape {shape_text(param.shape)}")
        else:
            problems.append(array_problem(label, f"grads[{name!r}]", written[name], param.shape, param.dtype,
                                          f"set it to the gradient of params[{name!r}]"))
    return [problem for problem in problems if problem]


def check_gradients(forward, backward, x, arrays, grads, dout, step=1e-6, tolerance=1e-6, restore=None,
                    label="the layer"):
    """The general check.

    - forward(x) -> output; backward(dout) -> dx, filling ``grads()``.
    - arrays: name -> parameter array (float64), perturbed in place by the check.
    - grads: callable returning name -> analytic gradient, read after backward.
    - restore: called before every forward so stateful layers (random masks,
      running statistics) see the same state each time.
    - label: how the problems name what is checked ("Dense 'dense'").
    A first watched forward and backward turns every mistake that is not a wrong number (see
    first_run_problems) into ``report.problems``, without comparing any numbers.
    """
    restore = restore or (lambda: None)
    problems = first_run_problems(label, forward, backward, x, arrays, grads, dout, restore)
    if problems:
        restore()
        return GradientReport({}, tolerance, problems, label)

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
    return GradientReport(errors, tolerance, label=label)


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
               {key: value.copy() for key, value in getattr(layer, "buffers", {}).items()}) for layer in layers]

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


def layer_label(layer):
    """"Dense 'dense'": the class and the name, how every message names the layer."""
    name = getattr(layer, "name", None)
    return f"{type(layer).__name__} '{name}'" if name and name != type(layer).__name__ else type(layer).__name__


def check_layer(layer, input_shape=None, batch_size=2, training=True, x=None, dout=None, seed=0,
                step=1e-6, tolerance=1e-6):
    """Check ``layer``'s backward (dx and every param gradient) in float64.

    The layer is built in float64 for ``input_shape`` (per sample) unless it is
    already built; x and dout default to standard-normal draws. Any object with
    forward(x, training) and backward(dout) is checked (build, params and grads are
    used where it has them); subclassing minicnn.layers.Layer gives it all of them.
    Returns a GradientReport; ``report.passed`` says whether every error is within
    ``tolerance`` and nothing went wrong before (``report.problems``: one line per mistake).
    ValueError for a check that cannot be set up (no shape to build on, a float32 layer).
    """
    label = layer_label(layer)
    if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))):
        raise ValueError(f"{label} is not a layer: it needs forward(x, training) and backward(dout); "
                         "subclass minicnn.layers.Layer and write those two")
    rng = np.random.default_rng(seed)
    if not getattr(layer, "built", False) and callable(getattr(layer, "build", None)):
        if input_shape is None and x is None:
            raise ValueError(f"{label} is not built yet: give check_layer its per-sample input_shape, or x")
        if input_shape is None:
            input_shape = np.shape(x)[1:]
        layer.build(input_shape, rng=np.random.default_rng(seed + 1), dtype=np.float64)
    params = dict(getattr(layer, "params", None) or {})
    dtype = getattr(layer, "dtype", None)
    wrong = [f"params[{name!r}] is {value.dtype}" for name, value in params.items() if value.dtype != np.float64]
    if (dtype is not None and dtype != np.float64) or wrong:
        raise ValueError(f"gradient checks need a float64 layer; {label} was built as "
                         f"{dtype if dtype is not None else ', '.join(wrong)}")
    input_shape = tuple(getattr(layer, "input_shape", None) or input_shape or np.shape(x)[1:])
    if x is None:
        x = rng.standard_normal((batch_size,) + input_shape)
    x = float64_input(x)
    restore = random_state_snapshot([layer])
    output_shape = getattr(layer, "output_shape", None)
    if output_shape is None:   # a layer without build: its output shape is what its forward gives
        out, problem = guarded_call(label, "forward", layer.forward, x.copy(), training=training)
        restore()
        if problem or getattr(out, "shape", None) is None:
            return GradientReport({}, tolerance, label=label, problems=[problem or f"{label}: forward returned "
                                                  f"{type(out).__name__}, not an array; return the output array"])
        output_shape = tuple(out.shape[1:])
    output_shape = (x.shape[0],) + tuple(output_shape)
    dout = rng.standard_normal(output_shape) if dout is None else np.asarray(dout, dtype=np.float64)
    return check_gradients(lambda inputs: layer.forward(inputs, training=training), layer.backward, x,
                           params, lambda: getattr(layer, "grads", {}), dout, step, tolerance, restore=restore,
                           label=label)


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
                           restore=random_state_snapshot(model.layers), label=f"model '{model.name}'")


def build_float64(layer, input_shape, seed):
    """Build ``layer`` in float64 for ``input_shape`` unless it is built; ValueError for a float32 one."""
    if not layer.built:
        layer.build(input_shape, rng=np.random.default_rng(seed), dtype=np.float64)
    if layer.dtype != np.float64:
        raise ValueError(f"comparisons run in float64; {layer_label(layer)} was built as {layer.dtype}")


def compare_with_reference(layer, reference, input_shape=None, x=None, dout=None, training=True, seed=0,
                           tolerance=1e-8):
    """Run ``layer`` and ``reference`` (its twin: minicnn.reference.reference_twin) on the same input and
    upstream gradient in float64, and compare what they compute.

    ``reference`` gets a copy of ``layer``'s params and buffers, and a generator in the same state, first.
    Returns a GradientReport whose errors are relative differences (see relative_error) of "output",
    "input" (dx), every parameter gradient and every buffer after the forward; ``problems`` are the
    one-line mistakes of ``layer`` (a wrong shape, None, a stub...) that first_run_problems finds.
    Catches what a gradient check cannot: a forward and backward consistently wrong (a flipped kernel,
    dropout not rescaled), or every tied maximum of a window given the gradient (pass a tie-heavy x).
    """
    label = layer_label(layer)
    rng = np.random.default_rng(seed)
    if input_shape is None and x is None and not layer.built:
        raise ValueError(f"{label} is not built yet: give compare_with_reference its input_shape, or x")
    input_shape = tuple(input_shape) if input_shape is not None else (
        layer.input_shape if layer.built else tuple(np.shape(x)[1:]))
    build_float64(layer, input_shape, seed + 1)
    build_float64(reference, layer.input_shape, seed + 1)
    for mine, theirs in ((reference.params, layer.params), (reference.buffers, layer.buffers)):
        for key, value in theirs.items():
            mine[key] = value.copy()
    if getattr(layer, "rng", None) is not None:
        reference.rng.bit_generator.state = layer.rng.bit_generator.state
    x = float64_input(rng.standard_normal((2,) + layer.input_shape) if x is None else x)
    dout = rng.standard_normal((x.shape[0],) + layer.output_shape) if dout is None else np.asarray(dout, np.float64)
    restore = random_state_snapshot([layer])
    problems = first_run_problems(label, lambda inputs: layer.forward(inputs, training=training), layer.backward,
                                  x, dict(layer.params), lambda: layer.grads, dout, restore)
    if problems:
        return GradientReport({}, tolerance, problems, label)
    restore()
    results = []
    for which in (layer, reference):
        out = backend.to_numpy(which.forward(x.copy(), training=training))
        dx = backend.to_numpy(which.backward(backend.to_device(dout)))
        results.append({"output": out, "input": dx,
                        **{name: backend.to_numpy(grad) for name, grad in which.grads.items()},
                        **{name: backend.to_numpy(value) for name, value in which.buffers.items()}})
    errors = {name: relative_error(results[0][name], expected) for name, expected in results[1].items()}
    return GradientReport(errors, tolerance, label=label, against=f"the reference {type(reference).__name__}")


def compare_update_rules(rule, reference_rule, shape=(3, 4), steps=3, seed=0, tolerance=1e-10, **settings):
    """Apply ``rule`` and ``reference_rule`` (update rules ``rule(param, grad, state, **settings) -> new_param``,
    see minicnn.reference.optim) for ``steps`` steps to the same float64 parameter and gradients.

    Returns a GradientReport with the relative difference of the parameter after each step ("step 1", ...);
    ``problems``: a rule that raises or returns something other than an array of the parameter's shape.
    """
    label = f"update rule {getattr(rule, '__name__', repr(rule))}"
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(shape)
    expected, state, expected_state = param.copy(), {}, {}
    errors = {}
    for step in range(1, steps + 1):
        grad = rng.standard_normal(shape)
        new, problem = guarded_call(label, f"step {step}", rule, param.copy(), grad.copy(), state, **settings)
        problem = problem or array_problem(label, f"the parameter it returned at step {step}", new, shape,
                                           np.float64, "return the updated parameter")
        if problem:
            return GradientReport(errors, tolerance, [problem], label)
        expected = reference_rule(expected, grad, expected_state, **settings)
        errors[f"step {step}"] = relative_error(new, expected)
        param = new
    return GradientReport(errors, tolerance, label=label,
                          against=f"the reference {getattr(reference_rule, '__name__', 'rule')}")


def check_loss_function(loss_function, batch_size=3, classes=4, label_smoothing=None, seed=0, step=1e-6,
                        tolerance=1e-6):
    """Check a loss written in the reference style, ``loss_function(logits, labels) -> (loss, dlogits)``
    (minicnn.reference.softmax_cross_entropy), against central differences of its loss, in float64.

    ``label_smoothing``, when given, is passed on as a third argument. Returns a GradientReport ("input" is
    dlogits) whose problems name the function: a stub, a dlogits of the wrong shape, None...
    """
    label = f"loss {getattr(loss_function, '__name__', repr(loss_function))}"
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((batch_size, classes))
    labels = rng.integers(0, classes, batch_size)
    extra = () if label_smoothing is None else (label_smoothing,)
    gradient = {}

    def forward(z):
        result = loss_function(backend.to_numpy(z), labels, *extra)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ValueError(f"it must return (loss, dlogits), got {type(result).__name__}")
        gradient["dlogits"] = result[1]
        return np.array(float(result[0]))

    report = check_gradients(forward, lambda _: gradient["dlogits"], backend.to_device(logits), {}, lambda: {},
                             np.array(1.0), step, tolerance, label=label)
    report.errors = {"logits" if name == "input" else name: error for name, error in report.errors.items()}
    return report
