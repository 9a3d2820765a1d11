"""The fixed small inputs of every part, and running a module's functions on them.

At make time the reference solution runs on these inputs and what it returns is
saved beside them (CS231n's ``correct_out``); at grade time, and in the notebook,
the student's functions run on the very same inputs and are compared with it.
A runner calls a module's functions the way a layer would (the forward, then the
backward on the forward's cache) and returns every array they give back, keyed
"function.what" ("conv_backward.dw"), so that each message can say which one is off.
"""
import json

import numpy as np

from minicnn.gradcheck import array_problem, raising_line, where_it_failed
from minicnn.reference import residual, visualization


class GradingFailure(Exception):
    """What the student should fix, in one line: the grader's message. ``not_implemented``: a stub's."""

    def __init__(self, line, not_implemented=False):
        super().__init__(line)
        self.not_implemented = not_implemented


def call(function, *arguments, **keywords):
    """function(...), a stub or an exception in it turned into a GradingFailure naming the function and the line."""
    try:
        return function(*arguments, **keywords)
    except NotImplementedError as error:
        raise GradingFailure(f"{function.__name__} is not implemented yet: it raises NotImplementedError "
                             f"({raising_line(error)}); write it, as its docstring says", True) from None
    except GradingFailure:
        raise
    except Exception as error:   # the student's mistake, of any kind, is one line
        raise GradingFailure(f"{function.__name__} raised {where_it_failed(error)}") from None


def run(function, names, *arguments, **keywords):
    """call(function, ...) checked to give back ``names``: a tuple of that many things (one name: one value)."""
    value = call(function, *arguments, **keywords)
    must = names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"
    if value is None:
        raise GradingFailure(f"{function.__name__} returned None; it must return {must} (is a `return` missing?)")
    if len(names) == 1:
        return value
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = f"{len(value)} values" if isinstance(value, (tuple, list)) else f"a {type(value).__name__}"
        raise GradingFailure(f"{function.__name__} returned {got}; it must return {must}")
    return tuple(value)


# ----------------------------------------------------------------------------------------------------------
# The runners: a module (the reference or the student's) on one case -> {"function.what": array}
# ----------------------------------------------------------------------------------------------------------

def run_dense(module, settings, arrays):
    if settings["layer"] == "flatten":
        out, cache = run(module.flatten_forward, ("out", "cache"), arrays["x"])
        dx = run(module.flatten_backward, ("dx",), arrays["dout"], cache)
        return {"flatten_forward.out": out, "flatten_backward.dx": dx}
    b = arrays.get("b")
    out, cache = run(module.dense_forward, ("out", "cache"), arrays["x"], arrays["w"], b)
    dx, dw, db = run(module.dense_backward, ("dx", "dw", "db"), arrays["dout"], cache)
    outputs = {"dense_forward.out": out, "dense_backward.dx": dx, "dense_backward.dw": dw}
    return outputs if b is None else {**outputs, "dense_backward.db": db}


def run_activations(module, settings, arrays):
    if settings["layer"] == "relu":
        out, cache = run(module.relu_forward, ("out", "cache"), arrays["x"])
        return {"relu_forward.out": out, "relu_backward.dx": run(module.relu_backward, ("dx",), arrays["dout"], cache)}
    out, cache = run(module.leaky_relu_forward, ("out", "cache"), arrays["x"], settings["alpha"])
    return {"leaky_relu_forward.out": out,
            "leaky_relu_backward.dx": run(module.leaky_relu_backward, ("dx",), arrays["dout"], cache)}


def run_loss(module, settings, arrays):
    loss, dlogits = run(module.softmax_cross_entropy, ("loss", "dlogits"), arrays["logits"], arrays["labels"],
                        settings["label_smoothing"])
    try:
        loss = np.array(float(loss))
    except (TypeError, ValueError):
        raise GradingFailure(f"softmax_cross_entropy returned a {type(loss).__name__} as the loss; it must be one "
                             "number, the mean over the batch (a Python float)") from None
    return {"softmax_cross_entropy.loss": loss, "softmax_cross_entropy.dlogits": dlogits}


def run_conv(module, settings, arrays):
    b = arrays.get("b")
    out, cache = run(module.conv_forward, ("out", "cache"), arrays["x"], arrays["w"], b, settings["stride"],
                     as_given(settings["padding"]))
    dx, dw, db = run(module.conv_backward, ("dx", "dw", "db"), arrays["dout"], cache)
    outputs = {"conv_forward.out": out, "conv_backward.dx": dx, "conv_backward.dw": dw}
    return outputs if b is None else {**outputs, "conv_backward.db": db}


def as_given(setting):
    """A setting as the functions are given it: a pair (or four sides) as a tuple; JSON gave back a list."""
    return tuple(setting) if isinstance(setting, list) else setting


def run_pooling(module, settings, arrays):
    kind = settings["pool"]   # "max_pool" or "avg_pool"
    forward, backward = getattr(module, f"{kind}_forward"), getattr(module, f"{kind}_backward")
    out, cache = run(forward, ("out", "cache"), arrays["x"], as_given(settings["pool_size"]),
                     as_given(settings["stride"]))
    return {f"{kind}_forward.out": out, f"{kind}_backward.dx": run(backward, ("dx",), arrays["dout"], cache)}


def run_normalization(module, settings, arrays):
    running_mean, running_var = arrays["running_mean"], arrays["running_var"]   # updated in place in training
    out, cache = run(module.batchnorm_forward, ("out", "cache"), arrays["x"], arrays["gamma"], arrays["beta"],
                     running_mean, running_var, settings["training"], momentum=settings["momentum"],
                     eps=settings["eps"], convention=settings["convention"])
    dx, dgamma, dbeta = run(module.batchnorm_backward, ("dx", "dgamma", "dbeta"), arrays["dout"], cache)
    return {"batchnorm_forward.out": out, "batchnorm_forward.running_mean": np.array(running_mean),
            "batchnorm_forward.running_var": np.array(running_var), "batchnorm_backward.dx": dx,
            "batchnorm_backward.dgamma": dgamma, "batchnorm_backward.dbeta": dbeta}


def run_dropout(module, settings, arrays):
    mask = arrays["mask"] if settings["training"] else None
    try:
        out, cache = run(module.dropout_forward, ("out", "cache"), arrays["x"], settings["rate"],
                         settings["training"], mask=mask)
    except GradingFailure as failure:
        if settings["training"] or failure.not_implemented:
            raise
        raise GradingFailure(f"dropout must be the identity in inference (training=False): return x as it is and a "
                             f"cache of None, drawing no mask (no rng is given then); instead, {failure}") from None
    return {"dropout_forward.out": out, "dropout_backward.dx": run(module.dropout_backward, ("dx",), arrays["dout"],
                                                                     cache)}


def run_optim(module, settings, arrays):
    rule = getattr(module, settings["rule"])
    param, state, outputs = arrays["param"], {}, {}
    for step, grad in enumerate(arrays["grads"], start=1):
        param = run(rule, ("the new parameter",), param, grad, state, **settings["settings"])
        # keyed by the rule the case names: a rule written under another name and aliased is the same rule
        outputs[f"{settings['rule']}.parameter after step {step}"] = param
    return outputs


def run_per_sample_normalization(module, settings, arrays):
    kind = settings["layer"]   # "layernorm" or "groupnorm"
    groups = (settings["groups"],) if kind == "groupnorm" else ()
    out, cache = run(getattr(module, f"{kind}_forward"), ("out", "cache"), arrays["x"], arrays["gamma"],
                     arrays["beta"], *groups, eps=settings["eps"])
    dx, dgamma, dbeta = run(getattr(module, f"{kind}_backward"), ("dx", "dgamma", "dbeta"), arrays["dout"], cache)
    return {f"{kind}_forward.out": out, f"{kind}_backward.dx": dx, f"{kind}_backward.dgamma": dgamma,
            f"{kind}_backward.dbeta": dbeta}


def network_weights(settings, arrays):
    """The case's network as Network takes it: [(w0, b0), (w1, b1), ...]."""
    return [(arrays[f"w{index}"], arrays[f"b{index}"]) for index in range(settings["layers"])]


def run_visualization(module, settings, arrays):
    # the network is made where the functions run (the student's process, when grading), from the case's weights
    network = run(module.Network, ("the network",), network_weights(settings, arrays))
    saliency = run(module.saliency_map, ("saliency",), network, arrays["x"], arrays["y"])
    fooling = run(module.fooling_image, ("fooling",), network, arrays["x"][:1], settings["target"],
                  step=settings["step"], max_steps=settings["max_steps"])
    return {"saliency_map.saliency": saliency, "fooling_image.fooling": fooling}


def branch_weights(settings, arrays, branch):
    """The weights of the case's ``branch`` ("body" or "shortcut") as Branch takes them: [(w0, b0), ...]."""
    return [(arrays[f"{branch}_w{index}"], arrays[f"{branch}_b{index}"]) for index in range(settings[branch])]


def run_residual(module, settings, arrays):
    # the branches are made where the functions run (the student's process, when grading), from the case's weights
    body = run(module.Branch, ("the body",), branch_weights(settings, arrays, "body"))
    shortcut = run(module.Branch, ("the shortcut",), branch_weights(settings, arrays, "shortcut")) \
        if settings["shortcut"] else None
    out, cache = run(module.residual_forward, ("out", "cache"), arrays["x"], body, shortcut)
    return {"residual_forward.out": out,
            "residual_backward.dx": run(module.residual_backward, ("dx",), arrays["dout"], cache)}


# ----------------------------------------------------------------------------------------------------------
# The fixed cases: (label, settings, arrays), drawn from a generator seeded by the assignment's seed (the
# public cases) or the autograder's (the hidden ones) and saved; the same settings, other values
# ----------------------------------------------------------------------------------------------------------

def normal(rng, *shape):
    return rng.standard_normal(shape)


def dense_cases(rng):
    return [("x (3, 5), w (5, 4), b (4,)", {"layer": "dense"},
             {"x": normal(rng, 3, 5), "w": normal(rng, 5, 4), "b": normal(rng, 4), "dout": normal(rng, 3, 4)}),
            ("x (2, 6), w (6, 3), no bias", {"layer": "dense"},
             {"x": normal(rng, 2, 6), "w": normal(rng, 6, 3), "dout": normal(rng, 2, 3)}),
            # square: w and w.T have the same shape, so only the values tell dout @ w from dout @ w.T
            ("x (3, 4), w (4, 4) square, b (4,)", {"layer": "dense"},
             {"x": normal(rng, 3, 4), "w": normal(rng, 4, 4), "b": normal(rng, 4), "dout": normal(rng, 3, 4)}),
            ("flatten x (2, 3, 2, 2)", {"layer": "flatten"}, {"x": normal(rng, 2, 3, 2, 2), "dout": normal(rng, 2, 12)})]


def activation_cases(rng):
    x = normal(rng, 2, 3, 4)
    x.reshape(-1)[::5] = 0.0   # exactly 0 where the derivative is taken as 0: x > 0, not x >= 0
    return [("x (2, 3, 4), some values exactly 0", {"layer": "relu"}, {"x": x, "dout": normal(rng, 2, 3, 4)}),
            ("x (3, 5), alpha 0.1", {"layer": "leaky_relu", "alpha": 0.1}, {"x": normal(rng, 3, 5),
                                                                             "dout": normal(rng, 3, 5)}),
            ("x (2, 3, 4), alpha 0.3, some values exactly 0", {"layer": "leaky_relu", "alpha": 0.3},
             {"x": x, "dout": normal(rng, 2, 3, 4)})]


def loss_cases(rng):
    return [("logits (4, 10), no label smoothing", {"label_smoothing": 0.0},
             {"logits": normal(rng, 4, 10), "labels": rng.integers(0, 10, 4)}),
            ("logits (3, 5), label smoothing 0.1", {"label_smoothing": 0.1},
             {"logits": normal(rng, 3, 5), "labels": rng.integers(0, 5, 3)}),
            ("logits (2, 4) of size 1000 (exp overflows without the shift)", {"label_smoothing": 0.0},
             {"logits": 1000.0 * normal(rng, 2, 4), "labels": np.array([0, 3])})]


def conv_cases(rng):
    return [("x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, padding 1", {"stride": 1, "padding": 1},
             {"x": normal(rng, 2, 3, 5, 5), "w": normal(rng, 4, 3, 3, 3), "b": normal(rng, 4),
              "dout": normal(rng, 2, 4, 5, 5)}),
            ("x (2, 2, 7, 6), w (3, 2, 3, 2), stride 2, no padding", {"stride": 2, "padding": 0},
             {"x": normal(rng, 2, 2, 7, 6), "w": normal(rng, 3, 2, 3, 2), "b": normal(rng, 3),
              "dout": normal(rng, 2, 3, 3, 3)}),
            ("x (1, 2, 4, 4), w (2, 2, 2, 2), no bias, padding (top 0, bottom 1, left 1, right 0)",
             {"stride": 1, "padding": [0, 1, 1, 0]},
             {"x": normal(rng, 1, 2, 4, 4), "w": normal(rng, 2, 2, 2, 2), "dout": normal(rng, 1, 2, 4, 4)})]


def tie_heavy(rng, *shape):
    """Values from {0, 1, 2}, zeros most often: windows full of tied maxima, as Fashion-MNIST's background gives."""
    return rng.choice([0.0, 0.0, 1.0, 2.0], size=shape)


def pooling_cases(rng):
    return [("max, x (2, 2, 4, 4) with ties, window 2", {"pool": "max_pool", "pool_size": 2, "stride": None},
             {"x": tie_heavy(rng, 2, 2, 4, 4), "dout": normal(rng, 2, 2, 2, 2)}),
            ("max, x (1, 2, 5, 6) with ties, window (2, 3), stride 1 (windows overlap)",
             {"pool": "max_pool", "pool_size": [2, 3], "stride": 1},
             {"x": tie_heavy(rng, 1, 2, 5, 6), "dout": normal(rng, 1, 2, 4, 4)}),
            ("max, x (2, 1, 5, 5), window 2 (the last row and column are dropped)",
             {"pool": "max_pool", "pool_size": 2, "stride": None},
             {"x": normal(rng, 2, 1, 5, 5), "dout": normal(rng, 2, 1, 2, 2)}),
            ("average, x (2, 2, 4, 4), window 2", {"pool": "avg_pool", "pool_size": 2, "stride": None},
             {"x": normal(rng, 2, 2, 4, 4), "dout": normal(rng, 2, 2, 2, 2)}),
            ("average, x (1, 2, 5, 5), window 3, stride 1", {"pool": "avg_pool", "pool_size": 3, "stride": 1},
             {"x": normal(rng, 1, 2, 5, 5), "dout": normal(rng, 1, 2, 3, 3)})]


def normalization_cases(rng):
    cases = []
    for label, shape, training, convention in (("x (4, 3, 2, 2), training, PyTorch's convention", (4, 3, 2, 2),
                                                True, "pytorch"),
                                               ("x (5, 4), training, Keras's convention", (5, 4), True, "keras"),
                                               ("x (3, 2, 2, 3), inference", (3, 2, 2, 3), False, "pytorch")):
        channels = shape[1]
        settings = {"training": training, "convention": convention, "eps": 1e-5 if convention == "pytorch" else 1e-3,
                    "momentum": 0.1 if convention == "pytorch" else 0.99}
        cases.append((label, settings, {"x": 2.0 * normal(rng, *shape) + 1.0, "gamma": normal(rng, channels),
                                        "beta": normal(rng, channels), "running_mean": normal(rng, channels),
                                        "running_var": rng.uniform(0.5, 2.0, channels), "dout": normal(rng, *shape)}))
    return cases


def dropout_cases(rng):
    mask = (rng.random((4, 5)) >= 0.4) * (1.0 / (1.0 - 0.4))
    return [("x (4, 5), rate 0.4, training, with the mask given", {"rate": 0.4, "training": True},
             {"x": normal(rng, 4, 5), "mask": mask, "dout": normal(rng, 4, 5)}),
            ("x (2, 3, 2), rate 0.5, inference", {"rate": 0.5, "training": False},
             {"x": normal(rng, 2, 3, 2), "dout": normal(rng, 2, 3, 2)})]


def optim_cases(rng):
    rules = [("sgd_momentum", {"lr": 0.1}), ("sgd_momentum", {"lr": 0.1, "momentum": 0.9}),
             ("sgd_momentum", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
             ("sgd_momentum", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
             ("rmsprop", {"lr": 0.01}), ("rmsprop", {"lr": 0.01, "momentum": 0.9, "centered": True}),
             ("adam", {"lr": 0.01}), ("adam", {"lr": 0.001, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1})]
    return [(f"{rule}, " + ", ".join(f"{key}={value}" for key, value in settings.items()),
             {"rule": rule, "settings": settings}, {"param": normal(rng, 3, 4), "grads": normal(rng, 3, 3, 4)})
            for rule, settings in rules]


def per_sample_normalization_cases(rng):
    cases = []
    for label, kind, shape, groups in (("layer norm, x (4, 5)", "layernorm", (4, 5), None),
                                       ("layer norm, x (2, 3, 2, 2)", "layernorm", (2, 3, 2, 2), None),
                                       ("group norm, x (2, 6, 2, 3), 3 groups of 2 channels", "groupnorm",
                                        (2, 6, 2, 3), 3),
                                       ("group norm, x (3, 4), 2 groups", "groupnorm", (3, 4), 2)):
        affine = shape[1:] if kind == "layernorm" else shape[1:2]
        settings = {"layer": kind, "eps": 1e-5, **({"groups": groups} if groups else {})}
        cases.append((label, settings, {"x": 2.0 * normal(rng, *shape) + 1.0, "gamma": normal(rng, *affine),
                                        "beta": normal(rng, *affine), "dout": normal(rng, *shape)}))
    return cases


class Counting:
    """A model that counts its backward passes: the steps fooling_image takes."""

    def __init__(self, model):
        self.model, self.backwards = model, 0

    def forward(self, x):
        return self.model.forward(x)

    def backward(self, dscores):
        self.backwards += 1
        return self.model.backward(dscores)


def visualization_case(rng, batch, image_shape, units, step, fewest_steps=1, most_steps=50):
    """(settings, arrays): a network of dense layers of ``units`` on images (batch, *image_shape), the classes
    whose saliency is asked (one of them another than the network answers, where batch allows), and a target
    for x[0] that the reference fooling_image reaches in fewest_steps to most_steps steps of length ``step``;
    max_steps is the steps it takes plus one, for rounding at the border between two classes. Drawn again
    (from ``rng``) until one is found."""
    sizes = (int(np.prod(image_shape)),) + tuple(units)
    while True:
        # weights of unit variance: scores that differ by several units, gradients of norm well above 1
        arrays = {"x": normal(rng, batch, *image_shape)}
        for index, (inputs, outputs) in enumerate(zip(sizes, sizes[1:])):
            arrays[f"w{index}"], arrays[f"b{index}"] = normal(rng, inputs, outputs), 0.1 * normal(rng, outputs)
        settings = {"layers": len(sizes) - 1, "step": step}
        network = visualization.Network(network_weights(settings, arrays))
        predicted = network.forward(arrays["x"]).argmax(axis=1)
        classes = sizes[-1]
        arrays["y"] = rng.integers(0, classes, batch)
        arrays["y"][-1] = (predicted[-1] + rng.integers(1, classes)) % classes   # a class it does not answer
        target = int((predicted[0] + rng.integers(1, classes)) % classes)
        counting = Counting(network)
        fooling = visualization.fooling_image(counting, arrays["x"][:1], target, step, most_steps)
        if network.forward(fooling)[0].argmax() == target and counting.backwards >= fewest_steps:
            return {**settings, "target": target, "max_steps": counting.backwards + 1}, arrays


def visualization_cases(rng):
    cases = []
    for label, batch, image_shape, units, step in (
            ("images (3, 3, 4, 4), dense 48 -> 8 -> ReLU -> 5", 3, (3, 4, 4), (8, 5), 0.2),
            ("images (2, 1, 5, 5), one dense layer 25 -> 4", 2, (1, 5, 5), (4,), 0.1),
            ("images (2, 2, 3, 3), dense 18 -> 6 -> ReLU -> 6 -> ReLU -> 3", 2, (2, 3, 3), (6, 6, 3), 0.2)):
        settings, arrays = visualization_case(rng, batch, image_shape, units, step, fewest_steps=2)
        # the label names the kind of case, the same for every seed; the target and max_steps are the seed's
        cases.append((f"{label}, a fooling image in steps of {step}", settings, arrays))
    return cases


def residual_case(rng, shape, body_channels, projection):
    """(settings, arrays): x of ``shape`` (N, C, ...), a body of 1x1 convolutions C -> body_channels[0] -> ...
    (ReLUs between), and a projection C -> the last of them when ``projection``, else the identity (then the
    last is C)."""
    channels = (shape[1],) + tuple(body_channels)
    arrays = {"x": normal(rng, *shape)}
    for index, (inputs, outputs) in enumerate(zip(channels, channels[1:])):
        arrays[f"body_w{index}"], arrays[f"body_b{index}"] = normal(rng, inputs, outputs), normal(rng, outputs)
    if projection:
        arrays["shortcut_w0"], arrays["shortcut_b0"] = normal(rng, channels[0], channels[-1]), normal(rng, channels[-1])
    arrays["dout"] = normal(rng, shape[0], channels[-1], *shape[2:])
    return {"body": len(channels) - 1, "shortcut": int(projection)}, arrays


def residual_cases(rng):
    return [(label, *residual_case(rng, shape, body, projection)) for label, shape, body, projection in (
        ("x (3, 5), body dense 5 -> 4 -> ReLU -> 5, identity shortcut", (3, 5), (4, 5), False),
        ("x (2, 3, 4, 4), body 1x1 convolutions 3 -> 4 -> ReLU -> 3, identity shortcut", (2, 3, 4, 4), (4, 3), False),
        ("x (2, 3, 3, 3), body 1x1 convolutions 3 -> 5 -> ReLU -> 4, projection 3 -> 4", (2, 3, 3, 3), (5, 4), True),
        ("x (4, 6), body dense 6 -> 3 -> ReLU -> 3 -> ReLU -> 2, projection 6 -> 2", (4, 6), (3, 3, 2), True))]


# part name -> (the cases, the runner)
CASES = {"dense": (dense_cases, run_dense), "relu": (activation_cases, run_activations),
         "softmax": (loss_cases, run_loss), "conv": (conv_cases, run_conv), "pool": (pooling_cases, run_pooling),
         "batchnorm": (normalization_cases, run_normalization), "dropout": (dropout_cases, run_dropout),
         "optim": (optim_cases, run_optim), "visualization": (visualization_cases, run_visualization),
         "layernorm": (per_sample_normalization_cases, run_per_sample_normalization),
         "residual": (residual_cases, run_residual)}


def copied(arrays, dtype=None):
    """Fresh copies of the case's arrays (floats in ``dtype`` when given), so one run cannot change the next."""
    return {key: value.astype(dtype) if dtype is not None and value.dtype.kind == "f" else value.copy()
            for key, value in arrays.items()}


def make_expected(part_name, reference_module, seed):
    """{npz key: array} of the part's cases and the reference solution's outputs on them, float64."""
    make_cases, runner = CASES[part_name]
    contents = {}
    for index, (label, settings, arrays) in enumerate(make_cases(np.random.default_rng(seed))):
        contents[f"{index}/label"] = np.array(label)
        contents[f"{index}/settings"] = np.array(json.dumps(settings))
        contents.update({f"{index}/input/{key}": value for key, value in arrays.items()})
        outputs = runner(reference_module, settings, copied(arrays))
        contents.update({f"{index}/output/{key}": np.asarray(value) for key, value in outputs.items()})
    return contents


def load_expected(path):
    """The cases saved by make_expected: a list of (label, settings, arrays, expected outputs)."""
    with np.load(path, allow_pickle=False) as contents:
        entries = {key: contents[key] for key in contents.files}
    cases = []
    for index in range(len([key for key in entries if key.endswith("/label")])):
        def section(name):
            prefix = f"{index}/{name}/"
            return {key[len(prefix):]: value for key, value in entries.items() if key.startswith(prefix)}
        cases.append((str(entries[f"{index}/label"]), json.loads(str(entries[f"{index}/settings"])),
                      section("input"), section("output")))
    return cases


def what(key):
    """'conv_backward.dw' -> "conv_backward's dw"."""
    function, name = key.split(".", 1)
    return f"{function}'s {name}"


def shape_problem(key, value, expected_shape, dtype=None):
    """The first thing wrong with output ``key``'s type, shape, dtype or values, in one line, or None."""
    function, name = key.split(".", 1)
    return array_problem(function, name, value, expected_shape, dtype, f"return {name}")
