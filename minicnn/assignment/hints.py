"""What a wrong value most likely comes from: the classic mistakes, each recognised by what it computes.

A hint runs only after a value of the fixed cases was found wrong; it gets the case
(settings and inputs), which value ("conv_forward.out"), the student's value and the
expected one, and returns one sentence naming the mistake, or "" when it does not
recognise it. Each is a test of a consequence the mistake has and a right answer
has not (a flipped kernel gives the flipped-kernel output, a forgotten 1/N gives N
times the right gradient...).
"""
import numpy as np

from minicnn.assignment import verdicts
from minicnn.gradcheck import relative_error
from minicnn.reference import conv, normalization, per_sample_normalization

CLOSE = 1e-7


def conv_hint(settings, arrays, key, got, expected):
    if key != "conv_forward.out":
        return ""
    padding = settings["padding"] if np.isscalar(settings["padding"]) else tuple(settings["padding"])
    flipped, _ = conv.conv_forward(arrays["x"], arrays["w"][:, :, ::-1, ::-1], arrays.get("b"), settings["stride"],
                                   padding)
    if relative_error(got, flipped) < CLOSE:
        return ("your convolution flips the kernel: in deep learning a convolution is a cross-correlation, "
                "each weight w[f, c, p, q] meets the pixel at offset (p, q) of the window, unflipped")
    return ""


def pooling_hint(settings, arrays, key, got, expected):
    if key == "max_pool_backward.dx" and np.abs(got).sum() > np.abs(expected).sum() * (1 + CLOSE):
        return ("your max-pooling sends a window's gradient to every tied maximum: only one input is the "
                "window's output, so only the first maximum (np.argmax's) gets the gradient")
    return ""


def loss_hint(settings, arrays, key, got, expected):
    batch = len(arrays["labels"])
    name = "loss" if key.endswith(".loss") else "dlogits"
    if batch > 1 and relative_error(got, expected * batch) < CLOSE:
        return (f"your {name} is N = {batch} times too large: the loss is the mean over the batch, so it and its "
                "gradient carry a factor 1/N")
    return ""


def normalization_hint(settings, arrays, key, got, expected):
    if key != "batchnorm_backward.dx" or not settings["training"]:
        return ""
    # the mean is subtracted, so moving every value of a channel alike changes nothing: dx sums to 0 per channel
    sums = np.abs(normalization.as_rows(got).sum(axis=0)).max()
    if sums > 1e-6 * max(np.abs(got).max(), 1e-3):
        return ("your dx does not sum to zero over each channel, and the right one must (out does not change "
                "when every value of a channel moves alike): the path through the batch mean is missing")
    return ""


def activations_hint(settings, arrays, key, got, expected):
    if not key.endswith("_backward.dx"):
        return ""
    at_zero = arrays["x"] == 0
    if at_zero.any() and np.allclose(got[~at_zero], expected[~at_zero], rtol=CLOSE, atol=0):
        if settings["layer"] == "leaky_relu":
            return ("it is wrong only where x is exactly 0, where the derivative is taken as alpha: the slope is 1 "
                    "where x > 0 and alpha everywhere else, 0 included (x > 0, not x >= 0)")
        return "it is wrong only where x is exactly 0, where the derivative is taken as 0 (x > 0, not x >= 0)"
    return ""


def dense_hint(settings, arrays, key, got, expected):
    if key == "dense_backward.dx" and relative_error(got, arrays["dout"] @ arrays["w"]) < CLOSE:
        return ("your dx multiplies dout by w where it needs w's transpose: dx = dout @ w.T (w is (D, units); "
                "when D equals units the shapes agree either way, and only the values tell)")
    return ""


def dropout_hint(settings, arrays, key, got, expected):
    if not settings["training"]:
        return ("dropout must be the identity in inference (training=False): out = x and dx = dout, nothing "
                "dropped and nothing rescaled")
    return ""


def sgd_hint(options, arrays, key, got):
    """Two mistakes of SGD's dampening, each recomputed: ignored, or applied to the first step too."""
    if not options.get("momentum") or not options.get("dampening"):
        return ""
    step = int(key.rsplit(" ", 1)[1])
    for mistake, damp_first in (("dampening is ignored: the velocity adds (1 - dampening) * grad, not grad", None),
                                ("the first step is damped too: PyTorch starts the velocity at the first gradient, "
                                 "undamped, and applies (1 - dampening) from the second step on", True)):
        param, velocity = arrays["param"], None
        for grad in arrays["grads"][:step]:
            grad = grad + options.get("weight_decay", 0.0) * param
            damping = 1.0 if damp_first is None else 1.0 - options["dampening"]
            if velocity is None:
                velocity = damping * grad if damp_first else grad
            else:
                velocity = options["momentum"] * velocity + damping * grad
            param = param - options["lr"] * (grad + options["momentum"] * velocity if options.get("nesterov")
                                             else velocity)
        if relative_error(got, param) < CLOSE:
            return mistake
    return ""


def optim_hint(settings, arrays, key, got, expected):
    if settings["rule"] == "sgd_momentum":
        return sgd_hint(settings["settings"], arrays, key, got)
    if settings["rule"] != "adam":
        return ""
    options = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, **settings["settings"]}
    param, mean, square = arrays["param"], 0.0, 0.0
    step = int(key.rsplit(" ", 1)[1])
    for grad in arrays["grads"][:step]:
        grad = grad + options["weight_decay"] * param
        mean = options["beta1"] * mean + (1 - options["beta1"]) * grad
        square = options["beta2"] * square + (1 - options["beta2"]) * grad * grad
        param = param - options["lr"] * mean / (np.sqrt(square) + options["eps"])
    if relative_error(got, param) < CLOSE:
        return ("this is Adam without the bias correction: m and v start at 0, so divide them by "
                "(1 - beta1^t) and (1 - beta2^t)")
    return ""


def per_sample_normalization_hint(settings, arrays, key, got, expected):
    kind, x, eps = settings["layer"], arrays["x"], settings["eps"]
    batch, channels = x.shape[:2]
    groups = settings.get("groups", 1)
    if key.endswith("_backward.dx"):
        # the mean is subtracted, so moving every value of a group alike changes nothing: dx sums to 0 per group
        sums = np.abs(got.reshape(batch * groups, -1).sum(axis=1)).max()
        if sums > 1e-6 * max(np.abs(got).max(), 1e-3):
            return ("your dx does not sum to zero over each group of one sample, and the right one must (out does "
                    "not change when every value of a group moves alike): the path through the group's mean is missing")
        return ""
    if not key.endswith("_forward.out"):
        return ""
    if kind == "layernorm":
        # normalized down the batch, each feature over the samples: batch normalization, not layer normalization
        table = x.reshape(batch, -1)
        down = (table - table.mean(axis=0)) / np.sqrt(table.var(axis=0) + eps)
        mistaken = down.reshape(x.shape) * arrays["gamma"] + arrays["beta"]
        if relative_error(got, mistaken) < CLOSE:
            return ("you normalize each feature over the batch (axis 0), which is batch normalization; layer "
                    "normalization takes the mean and variance of each sample over its own features (axis 1)")
        return ""
    affine = (1, channels) + (1,) * (x.ndim - 2)
    for table, mistake in (
            (np.moveaxis(x.reshape(batch, channels // groups, groups, -1), 2, 1).reshape(batch * groups, -1),
             "your groups take every groups-th channel (c % groups); a group is C / groups consecutive channels, "
             "x.reshape(N * groups, -1) for (N, C, H, W) in channels-first order"),
            (x.reshape(groups, -1), "your groups mix the samples (x.reshape(groups, -1)): each sample has its own "
                                    "groups, x.reshape(N * groups, -1)")):
        x_hat, _ = per_sample_normalization.standardize_rows(table, eps)
        if table.shape[0] == groups:
            x_hat = x_hat.reshape(x.shape)
        else:
            x_hat = np.moveaxis(x_hat.reshape(batch, groups, channels // groups, -1), 1, 2).reshape(x.shape)
        if relative_error(got, x_hat * arrays["gamma"].reshape(affine) + arrays["beta"].reshape(affine)) < CLOSE:
            return mistake
    return ""


def visualization_hint(settings, arrays, key, got, expected):
    if key != "saliency_map.saliency":
        return ""
    network, labels = verdicts.grader_network(settings, arrays), arrays["y"]
    x = np.asarray(arrays["x"], dtype=np.float64)
    scores = network.forward(x)
    rows = np.arange(len(x))

    def input_gradient(dscores):
        network.forward(x)
        return network.backward(dscores)

    one_hot = np.zeros_like(scores)
    one_hot[rows, labels] = 1.0
    predicted = np.zeros_like(scores)
    predicted[rows, scores.argmax(axis=1)] = 1.0
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    gradient = input_gradient(one_hot)
    mistakes = (
        (gradient.max(axis=1), "the absolute value is missing: a pixel is salient whichever way it moves the "
                               "score, so take np.abs of the gradient before the largest over the channels"),
        (np.abs(gradient).sum(axis=1), "you add the channels; the saliency is the largest |gradient| over them"),
        (np.abs(gradient).mean(axis=1), "you average the channels; the saliency is the largest |gradient| over them"),
        (np.abs(input_gradient(predicted)).max(axis=1),
         "this is the saliency of the predicted class; the map explains the score of class y[n], which may be another"),
        (np.abs(input_gradient(probabilities - one_hot)).max(axis=1),
         "this is the gradient of the loss; the saliency is that of the class's score (its logit): backward of "
         "one-hot rows, no softmax"),
        (np.abs(input_gradient(probabilities[rows, labels][:, None] * (one_hot - probabilities))).max(axis=1),
         "this is the gradient of the class's probability; the saliency is that of its score (its logit): backward "
         "of one-hot rows, no softmax"))
    for value, mistake in mistakes:
        if value.shape == got.shape and relative_error(got, value) < CLOSE:
            return mistake
    return ""


def residual_hint(settings, arrays, key, got, expected):
    body, shortcut = verdicts.grader_branches(settings, arrays)
    x, dout = np.asarray(arrays["x"], dtype=np.float64), np.asarray(arrays["dout"], dtype=np.float64)
    body_out, (body_backward, body_inputs) = body(x)
    if shortcut is None:
        shortcut_out, shortcut_gradient, name = x, dout, "dout (the identity's gradient)"
    else:
        shortcut_out, (shortcut_backward, shortcut_inputs) = shortcut(x)
        shortcut_gradient, name = shortcut_backward(dout, shortcut_inputs), "the projection's gradient"
    if key == "residual_forward.out":
        mistakes = ((body_out, "your out is the body's alone: the block adds the shortcut, out = body(x) + "
                               "shortcut(x) (x itself when the shortcut is None)"),
                    (shortcut_out, "your out is the shortcut's alone: the block adds the body's, out = body(x) + "
                                   "shortcut(x)"),
                    (body_out * shortcut_out, "you multiply the branches; the block adds them, out = body(x) + "
                                              "shortcut(x)"))
    elif key == "residual_backward.dx":
        body_gradient = body_backward(dout, body_inputs)
        mistakes = ((body_gradient, f"your dx is the body's gradient alone: the shortcut's gradient is missing, "
                                    f"add {name}"),
                    (shortcut_gradient, f"your dx is {name} alone: the body's gradient is missing, add "
                                        "body_backward(dout, its cache)"),
                    (body_gradient * shortcut_gradient, "you multiply the branches' gradients; out is their sum, "
                                                        "so dx is the sum of the two gradients"))
    else:
        return ""
    for value, mistake in mistakes:
        if value.shape == got.shape and relative_error(got, value) < CLOSE:
            return mistake
    return ""


HINTS = {"conv": conv_hint, "pool": pooling_hint, "softmax": loss_hint, "batchnorm": normalization_hint,
         "relu": activations_hint, "optim": optim_hint, "dense": dense_hint, "dropout": dropout_hint,
         "visualization": visualization_hint, "layernorm": per_sample_normalization_hint,
         "residual": residual_hint}


def hint(part_name, settings, arrays, key, got, expected):
    """The sentence naming the likely mistake, or ""; a hint that cannot run on the student's value says nothing."""
    diagnose = HINTS.get(part_name)
    if diagnose is None:
        return ""
    try:
        return diagnose(settings, arrays, key, np.asarray(got, dtype=np.float64), np.asarray(expected))
    except (ValueError, TypeError, IndexError):
        return ""
