"""Gradient checks on cases drawn by hypothesis: shapes, strides, paddings, windows, rates and settings.

Drawn from a seed (the assignment's for the public checks, the autograder's for the
hidden ones), so every student is checked on the same cases and a grade can be
repeated; no shrinking, so a failing case is reported as it was drawn, at once. Each case runs the student's functions inside
their minicnn.reference twin layer, in float64, through minicnn.gradcheck:
central differences for the layers and the loss, the reference rule for the
update rules (an update has no gradient to check). The visualization's saliency is checked against central
differences of the grader's own network, its fooling image by whether that network takes it for the target;
the residual block against central differences of the grader's own branches.
"""
import numpy as np

from minicnn import reference
from minicnn.assignment import cases, verdicts
from minicnn.assignment.cases import GradingFailure
from minicnn.reference import residual
from minicnn.gradcheck import (GradientReport, check_layer, check_loss_function, compare_update_rules,
                               relative_error)

EXAMPLES = 8
TOLERANCE = 1e-6   # minicnn.gradcheck's: central differences in float64 agree with a right gradient to about 1e-8


def side(st, smallest=1):
    return st.integers(smallest, 6)


def conv_case(draw, st, module):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, padding = draw(st.integers(1, 3)), draw(st.sampled_from(["valid", "same", 0, 1, 2]))
    filters, use_bias = draw(st.integers(1, 3)), draw(st.booleans())
    shape = (draw(st.integers(1, 3)), draw(side(st, 3)), draw(side(st, 3)))
    layer = reference.ReferenceConv2D(filters, kernel, stride=stride, padding=padding, use_bias=use_bias,
                                      functions=(module.conv_forward, module.conv_backward))
    return (f"Conv2D({filters}, {kernel}, stride={stride}, padding={padding!r}, use_bias={use_bias}) on input "
            f"{(2,) + shape}", check_layer(layer, input_shape=shape, seed=draw(st.integers(0, 1000))))


def pooling_case(draw, st, module):
    kind = draw(st.sampled_from(["max", "avg"]))
    pool_size = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))   # below the window: the windows overlap
    smallest = max(pool_size) if isinstance(pool_size, tuple) else pool_size
    shape = (2, draw(st.integers(1, 3)), draw(side(st, smallest)), draw(side(st, smallest)))
    layer_class = reference.ReferenceMaxPool2D if kind == "max" else reference.ReferenceAvgPool2D
    layer = layer_class(pool_size, stride, functions=(getattr(module, f"{kind}_pool_forward"),
                                                      getattr(module, f"{kind}_pool_backward")))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    # every value different, by far more than the step of the central differences: no tie can flip
    x = (rng.permutation(int(np.prod(shape))).reshape(shape) - np.prod(shape) / 2) / np.prod(shape)
    return (f"{layer_class.__name__[len('Reference'):]}({pool_size}, stride={stride}) on input {shape}",
            check_layer(layer, x=x, seed=1))


def normalization_case(draw, st, module):
    images = draw(st.booleans())   # (C, H, W) per channel, else (D,) per feature
    shape = (draw(st.integers(1, 3)), draw(side(st)), draw(side(st))) if images else (draw(st.integers(1, 5)),)
    training, convention = draw(st.booleans()), draw(st.sampled_from(["pytorch", "keras"]))
    batch = draw(st.integers(2, 4))
    layer = reference.ReferenceBatchNorm(convention=convention,
                                         functions=(module.batchnorm_forward, module.batchnorm_backward))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    layer.build(shape, rng=rng, dtype=np.float64)
    # gamma of ones would hide a missing factor gamma, running statistics of 0 and 1 a missing one of them
    channels = shape[0]
    layer.params.update(gamma=rng.standard_normal(channels), beta=rng.standard_normal(channels))
    layer.buffers["running_mean"][...] = rng.standard_normal(channels)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, channels)
    x = 2.0 * rng.standard_normal((batch,) + shape) + 1.0
    return (f"BatchNorm(convention={convention!r}), training={training}, on input {x.shape}",
            check_layer(layer, x=x, training=training, seed=2))


def dense_case(draw, st, module):
    if draw(st.booleans()):
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        layer = reference.ReferenceFlatten(functions=(module.flatten_forward, module.flatten_backward))
        return f"Flatten() on input {(2,) + shape}", check_layer(layer, input_shape=shape)
    units, use_bias = draw(st.integers(1, 5)), draw(st.booleans())
    # square as often as not: then dout @ w has dx's shape, and only the values tell it from dout @ w.T
    features = units if draw(st.booleans()) else draw(st.integers(1, 7))
    layer = reference.ReferenceDense(units, use_bias=use_bias, functions=(module.dense_forward, module.dense_backward))
    return (f"Dense({units}, use_bias={use_bias}) on input {(3, features)}",
            check_layer(layer, input_shape=(features,), batch_size=3, seed=draw(st.integers(0, 1000))))


def activations_case(draw, st, module):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    if draw(st.booleans()):
        layer, text = reference.ReferenceReLU(functions=(module.relu_forward, module.relu_backward)), "ReLU()"
    else:
        alpha = draw(st.sampled_from([0.01, 0.1, 0.2, 0.5]))
        layer = reference.ReferenceLeakyReLU(alpha, functions=(module.leaky_relu_forward, module.leaky_relu_backward))
        text = f"LeakyReLU({alpha})"
    return f"{text} on input {(2,) + shape}", check_layer(layer, input_shape=shape, seed=draw(st.integers(0, 1000)))


def dropout_case(draw, st, module):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    rate, training = draw(st.sampled_from([0.0, 0.2, 0.5, 0.8])), draw(st.booleans())
    layer = reference.ReferenceDropout(rate, functions=(module.dropout_forward, module.dropout_backward))
    return (f"Dropout({rate}), training={training}, on input {(2,) + shape}",
            check_layer(layer, input_shape=shape, training=training, seed=draw(st.integers(0, 1000))))


def loss_case(draw, st, module):
    batch, classes = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    smoothing = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3]))
    return (f"logits ({batch}, {classes}), label smoothing {smoothing}",
            check_loss_function(module.softmax_cross_entropy, batch_size=batch, classes=classes,
                                label_smoothing=smoothing, seed=draw(st.integers(0, 1000))))


def optim_case(draw, st, module):
    rule = draw(st.sampled_from(["sgd_momentum", "rmsprop", "adam"]))
    settings = {"lr": draw(st.sampled_from([0.1, 0.01, 0.001])),
                "weight_decay": draw(st.sampled_from([0.0, 0.0, 0.05]))}
    if rule == "sgd_momentum":
        settings.update(momentum=draw(st.sampled_from([0.5, 0.9, 0.0])), nesterov=draw(st.booleans()),
                        dampening=draw(st.sampled_from([0.0, 0.5, 0.1])))
        settings["nesterov"] = settings["nesterov"] and settings["momentum"] > 0   # Nesterov needs a momentum...
        settings["dampening"] = 0.0 if settings["nesterov"] else settings["dampening"]   # ...and no dampening
    elif rule == "rmsprop":
        settings.update(alpha=draw(st.sampled_from([0.9, 0.99])), momentum=draw(st.sampled_from([0.0, 0.9])),
                        centered=draw(st.booleans()))
    else:
        settings.update(beta1=draw(st.sampled_from([0.8, 0.9])), beta2=draw(st.sampled_from([0.99, 0.999])))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    text = ", ".join(f"{key}={value}" for key, value in settings.items())
    return (f"{rule}({text}) on a parameter of shape {shape}, 4 steps",
            compare_update_rules(getattr(module, rule), getattr(reference, rule), shape=shape, steps=4,
                                 seed=draw(st.integers(0, 1000)), **settings))


def per_sample_normalization_case(draw, st, module):
    images, groups = draw(st.booleans()), draw(st.integers(1, 3))
    if draw(st.booleans()):
        kind, layer = "LayerNorm()", reference.ReferenceLayerNorm(
            functions=(module.layernorm_forward, module.layernorm_backward))
        channels = draw(st.integers(1, 4))
    else:
        kind, layer = f"GroupNorm({groups})", reference.ReferenceGroupNorm(
            groups, functions=(module.groupnorm_forward, module.groupnorm_backward))
        channels = groups * draw(st.integers(1, 3))
    shape = (channels, draw(side(st)), draw(side(st))) if images else (channels,)
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    layer.build(shape, rng=rng, dtype=np.float64)
    # gamma of ones and beta of zeros would hide a missing factor gamma or a gradient of beta
    for name in ("gamma", "beta"):
        layer.params[name] = rng.standard_normal(layer.params[name].shape)
    x = 2.0 * rng.standard_normal((draw(st.integers(1, 3)),) + shape) + 1.0
    return f"{kind} on input {x.shape}", check_layer(layer, x=x, seed=3)


def visualization_case(draw, st, module):
    batch, image_shape = draw(st.integers(1, 3)), (draw(st.integers(1, 3)), draw(side(st)), draw(side(st)))
    units = tuple(draw(st.lists(st.integers(2, 6), max_size=2))) + (draw(st.integers(2, 5)),)
    step = draw(st.sampled_from([0.05, 0.1, 0.3]))
    settings, arrays = cases.visualization_case(np.random.default_rng(draw(st.integers(0, 1000))), batch,
                                                image_shape, units, step)
    got = cases.run_visualization(module, settings, cases.copied(arrays))
    sizes = " -> ".join(str(size) for size in (int(np.prod(image_shape)),) + units)
    description = (f"a network of dense layers {sizes} on images {(batch,) + image_shape}, classes y = "
                   f"{arrays['y'].tolist()}, fooling x[0] toward class {settings['target']} in steps of {step}, at "
                   f"most {settings['max_steps']}")
    problems = [cases.shape_problem("saliency_map.saliency", got["saliency_map.saliency"], (batch,) + image_shape[1:]),
                cases.shape_problem("fooling_image.fooling", got["fooling_image.fooling"], (1,) + image_shape)]
    if not any(problems):
        error = relative_error(np.asarray(got["saliency_map.saliency"], dtype=np.float64),
                               verdicts.numerical_saliency(settings, arrays))
        if not error <= TOLERANCE:
            problems.append(f"saliency_map's saliency is wrong: relative error {error:.2e} against central "
                            f"differences of the score y (tolerance {TOLERANCE:.0e})")
        judged = verdicts.fooling_problem(settings, arrays, got["fooling_image.fooling"])
        problems.append(judged and f"fooling_image's fooling is wrong: {judged}")
    return description, GradientReport({}, TOLERANCE, [problem for problem in problems if problem])


def residual_case(draw, st, module):
    images, projection = draw(st.booleans()), draw(st.booleans())
    channels = draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 3)), channels) + ((draw(side(st)), draw(side(st))) if images else ())
    body = tuple(draw(st.lists(st.integers(1, 5), max_size=2))) + (draw(st.integers(1, 5)) if projection
                                                                    else channels,)
    settings, arrays = cases.residual_case(np.random.default_rng(draw(st.integers(0, 1000))), shape, body,
                                           projection)
    got = cases.run_residual(module, settings, cases.copied(arrays))
    layers = "1x1 convolutions" if images else "dense"
    description = (f"x {shape}, body {layers} {' -> '.join(str(size) for size in (channels,) + body)}, "
                   f"{'projection' if projection else 'identity'} shortcut")
    problems = [cases.shape_problem("residual_forward.out", got["residual_forward.out"], arrays["dout"].shape),
                cases.shape_problem("residual_backward.dx", got["residual_backward.dx"], shape)]
    if not any(problems):
        branches = verdicts.grader_branches(settings, arrays)
        expected_out, _ = residual.residual_forward(arrays["x"], *branches)
        error = relative_error(np.asarray(got["residual_forward.out"], dtype=np.float64), expected_out)
        if not error <= TOLERANCE:
            problems.append(f"residual_forward's out is wrong: relative error {error:.2e} against body(x) + "
                            f"shortcut(x) (tolerance {TOLERANCE:.0e})")
        error = relative_error(np.asarray(got["residual_backward.dx"], dtype=np.float64),
                               verdicts.numerical_residual_gradient(settings, arrays))
        if not error <= TOLERANCE:
            problems.append(f"residual_backward's dx is wrong: relative error {error:.2e} against central "
                            f"differences of sum(out * dout) (tolerance {TOLERANCE:.0e})")
    return description, GradientReport({}, TOLERANCE, [problem for problem in problems if problem])


CHECKS = {"conv": conv_case, "pool": pooling_case, "batchnorm": normalization_case, "dense": dense_case,
          "relu": activations_case, "dropout": dropout_case, "softmax": loss_case, "optim": optim_case,
          "visualization": visualization_case, "layernorm": per_sample_normalization_case,
          "residual": residual_case}


def check(part_name, module, seed):
    """Run the part's check on EXAMPLES cases drawn from ``seed``: a line saying they passed, or GradingFailure
    naming the first failing case and what is wrong in it."""
    try:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as seeded
        from hypothesis import strategies as st
    except ImportError:
        raise GradingFailure("the gradient checks draw their cases with hypothesis, which is not installed: "
                             "pip install hypothesis") from None
    passed = []

    @seeded(seed)
    @settings(derandomize=False, database=None, max_examples=EXAMPLES, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=False)
    @given(st.data())
    def drawn_case(data):
        description, report = CHECKS[part_name](data.draw, st, module)
        failures = report.failures()
        if failures:
            prefix = f"{report.label}: "
            first = failures[0][len(prefix):] if failures[0].startswith(prefix) else failures[0]
            raise GradingFailure(f"on {description}: {first}")
        passed.append(description)

    drawn_case()
    return f"{len(passed)} drawn cases passed, e.g. {passed[-1]}"
