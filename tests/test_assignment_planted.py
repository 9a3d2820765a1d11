"""Each classic mistake, planted in an assignment made by `minicnn assignment make`, loses points with a line
that names it.

A planted student file is the reference module with one function written again, wrong, at its end (a later
definition replaces the earlier one), as a student's version of that function.
"""
import json
import shutil

import pytest

from minicnn import cli
from minicnn.assignment.parts import PARTS, REFERENCE_DIRECTORY

WRONG_BIAS_SHAPE = '''
def dense_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0, keepdims=True)   # (1, units): broadcasting hides it
'''

MISSING_GRADIENT = '''
def conv_backward(dout, cache):
    x, w, b, stride, padding = cache
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dw = np.zeros_like(w)
    dpadded = np.zeros_like(padded)
    _, _, kernel_h, kernel_w = w.shape
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + kernel_h), slice(j * stride, j * stride + kernel_w)
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], padded[:, :, rows, cols])
            dpadded[:, :, rows, cols] += np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
    return dpadded[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]], dw   # db forgotten
'''

BACKWARD_RETURNING_NONE = '''
def relu_backward(dout, cache):
    dx = dout * (cache > 0)   # computed, never returned
'''

FORGETTING_ONE_OVER_N = '''
def softmax_cross_entropy(logits, labels, label_smoothing=0.0):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    targets = np.full(logits.shape, label_smoothing / logits.shape[1], dtype=logits.dtype)
    targets[np.arange(len(labels)), labels] += 1.0 - label_smoothing
    loss = -float((targets * log_probabilities).sum()) / len(labels)
    return loss, np.exp(log_probabilities) - targets   # the mean's 1/N forgotten in the gradient
'''

FLIPPED_KERNEL = '''
reference_conv_forward, reference_conv_backward = conv_forward, conv_backward


def conv_forward(x, w, b, stride, padding):
    # a true convolution, the kernel flipped: forward and backward agree, so no gradient check sees it
    out, _ = reference_conv_forward(x, w[:, :, ::-1, ::-1], b, stride, padding)
    return out, (x, w, b, stride, padding)


def conv_backward(dout, cache):
    x, w, b, stride, padding = cache
    dx, dw, db = reference_conv_backward(dout, (x, w[:, :, ::-1, ::-1], b, stride, padding))
    return dx, dw[:, :, ::-1, ::-1], db
'''

EVERY_TIED_MAXIMUM = '''
def max_pool_forward(x, pool_size, stride=None):
    (pool_h, pool_w), (step_h, step_w), (out_h, out_w) = pooled_size(x, pool_size, stride)
    out = np.zeros(x.shape[:2] + (out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = x[:, :, i * step_h:i * step_h + pool_h, j * step_w:j * step_w + pool_w].max(axis=(2, 3))
    return out, (x, pool_size, stride)


def max_pool_backward(dout, cache):
    x, pool_size, stride = cache
    (pool_h, pool_w), (step_h, step_w), (out_h, out_w) = pooled_size(x, pool_size, stride)
    dx = np.zeros_like(x)
    for i in range(out_h):
        for j in range(out_w):
            rows, cols = slice(i * step_h, i * step_h + pool_h), slice(j * step_w, j * step_w + pool_w)
            window = x[:, :, rows, cols]
            winners = window == window.max(axis=(2, 3), keepdims=True)   # every tied maximum
            dx[:, :, rows, cols] += winners * dout[:, :, i, j, None, None]
    return dx
'''

BATCHNORM_WITHOUT_MEAN_TERM = '''
def batchnorm_backward(dout, cache):
    shape, training, centered, inv_std, x_hat, gamma = cache
    drows = as_rows(dout)
    dx_hat = drows * gamma
    if not training:
        return from_rows(dx_hat * inv_std, shape), (drows * x_hat).sum(axis=0), drows.sum(axis=0)
    dvariance = -0.5 * (dx_hat * centered).sum(axis=0) * inv_std ** 3
    dx = dx_hat * inv_std + dvariance * (2.0 / drows.shape[0]) * centered   # the path through the mean forgotten
    return from_rows(dx, shape), (drows * x_hat).sum(axis=0), drows.sum(axis=0)
'''

DROPOUT_NOT_RESCALED = '''
def dropout_mask(shape, rate, rng, dtype):
    return (rng.random(shape, dtype=dtype) >= rate).astype(dtype)   # no 1 / (1 - rate)
'''

ADAM_WITHOUT_BIAS_CORRECTION = '''
def adam(param, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    grad = grad + weight_decay * param
    state["mean"] = beta1 * state.get("mean", 0.0) + (1.0 - beta1) * grad
    state["square"] = beta2 * state.get("square", 0.0) + (1.0 - beta2) * grad * grad
    return param - lr * state["mean"] / (np.sqrt(state["square"]) + eps)
'''

AN_INPUT_CHANGED_IN_PLACE = '''
def relu_forward(x):
    x *= x > 0   # the caller's array is changed
    return x, x
'''

SALIENCY_WITHOUT_ABS = '''
def saliency_map(model, x, y):
    scores = model.forward(x)
    dscores = np.zeros_like(scores)
    dscores[np.arange(len(y)), y] = 1.0
    return model.backward(dscores).max(axis=1)   # the sign kept: a pixel that lowers the score looks unimportant
'''

SALIENCY_OF_THE_LOSS = '''
def saliency_map(model, x, y):
    scores = model.forward(x)
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    probabilities[np.arange(len(y)), y] -= 1.0   # the loss's gradient, not the score's
    return np.abs(model.backward(probabilities)).max(axis=1)
'''

FOOLING_BY_DESCENT = '''
def fooling_image(model, x, target, step=1.0, max_steps=100):
    fooling = x.copy()
    for _ in range(max_steps):
        scores = model.forward(fooling)
        if scores[0].argmax() == target:
            break
        dscores = np.zeros_like(scores)
        dscores[0, target] = 1.0
        gradient = model.backward(dscores)
        fooling = fooling - step * gradient / np.sqrt((gradient * gradient).sum())   # down the score, not up
    return fooling
'''

FOOLING_UNNORMALIZED = '''
def fooling_image(model, x, target, step=1.0, max_steps=100):
    fooling = x.copy()
    for _ in range(max_steps):
        scores = model.forward(fooling)
        if scores[0].argmax() == target:
            break
        dscores = np.zeros_like(scores)
        dscores[0, target] = 1.0
        fooling = fooling + step * model.backward(dscores)   # steps as long as the gradient, not of length step
    return fooling
'''

LAYERNORM_OVER_THE_BATCH = '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    table = x.reshape(x.shape[0], -1)
    x_hat, rows_cache = standardize_rows(table.T, eps)   # each feature over the batch
    x_hat = x_hat.T
    out = x_hat * gamma.reshape(1, -1) + beta.reshape(1, -1)
    return out.reshape(x.shape), (x.shape, x_hat, gamma, rows_cache)


def layernorm_backward(dout, cache):
    shape, x_hat, gamma, rows_cache = cache
    dtable = dout.reshape(shape[0], -1)
    dgamma = (dtable * x_hat).sum(axis=0).reshape(gamma.shape)
    dbeta = dtable.sum(axis=0).reshape(gamma.shape)
    dx_hat = dtable * gamma.reshape(1, -1)
    return standardize_rows_gradient(dx_hat.T, rows_cache).T.reshape(shape), dgamma, dbeta
'''

GROUPS_OF_EVERY_GROUPS_TH_CHANNEL = '''
def groupnorm_forward(x, gamma, beta, groups, eps=1e-5):
    batch, channels = x.shape[:2]
    table = x.reshape(batch, channels // groups, groups, -1).swapaxes(1, 2).reshape(batch * groups, -1)
    x_hat, rows_cache = standardize_rows(table, eps)
    x_hat = x_hat.reshape(batch, groups, channels // groups, -1).swapaxes(1, 2).reshape(batch, channels, -1)
    out = x_hat * gamma.reshape(1, -1, 1) + beta.reshape(1, -1, 1)
    return out.reshape(x.shape), (x.shape, groups, x_hat, gamma, rows_cache)
'''

STANDARDIZING_WITHOUT_THE_MEAN_TERM = '''
def standardize_rows_gradient(dx_hat, cache):
    centered, inv_std = cache
    dinv_std = (dx_hat * centered).sum(axis=1, keepdims=True)
    dvariance = dinv_std * -0.5 * inv_std ** 3
    return dx_hat * inv_std + dvariance * (2.0 / dx_hat.shape[1]) * centered   # the mean's path forgotten
'''

RESIDUAL_WITHOUT_THE_SHORTCUT_GRADIENT = '''
def residual_backward(dout, cache):
    (body_backward, body_inner), shortcut_cache = cache
    return body_backward(dout, body_inner)   # the shortcut's gradient forgotten
'''

RESIDUAL_ONLY_THE_SHORTCUT_GRADIENT = '''
def residual_backward(dout, cache):
    body_cache, shortcut_cache = cache
    if shortcut_cache is None:
        return dout.copy()   # the body's gradient forgotten
    shortcut_backward, shortcut_inner = shortcut_cache
    return shortcut_backward(dout, shortcut_inner)
'''

RESIDUAL_BRANCHES_MULTIPLIED = '''
def residual_backward(dout, cache):
    (body_backward, body_inner), shortcut_cache = cache
    dx = body_backward(dout, body_inner)
    if shortcut_cache is None:
        return dx * dout   # multiplied where the gradients add
    shortcut_backward, shortcut_inner = shortcut_cache
    return dx * shortcut_backward(dout, shortcut_inner)
'''

# (part, the planted function(s), {test: what its line must say}; a test not named may pass or fail)
PLANTED = {
    "wrong bias shape": ("dense", WRONG_BIAS_SHAPE, {
        "expected values": "dense_backward: db has shape (1, 4), expected (4,)",
        "shapes and dtypes": "dense_backward: db has shape (1, 4), expected (4,)"}),
    "missing gradient": ("conv", MISSING_GRADIENT, {
        "expected values": "conv_backward returned 2 values; it must return (dx, dw, db)",
        "shapes and dtypes": "conv_backward returned 2 values; it must return (dx, dw, db)"}),
    "backward returning None": ("relu", BACKWARD_RETURNING_NONE, {
        "expected values": "relu_backward returned None; it must return dx (is a `return` missing?)",
        "gradient check": "relu_backward returned None; it must return dx"}),
    "forgetting the 1/N of the loss": ("softmax", FORGETTING_ONE_OVER_N, {
        "expected values": "softmax_cross_entropy's dlogits is wrong on case 1 (logits (4, 10), no label smoothing)"
                           ": relative error",
        "gradient check": "dlogits (the gradient with respect to the logits) is wrong"}),
    "a convolution that flips the kernel": ("conv", FLIPPED_KERNEL, {
        "expected values": "your convolution flips the kernel"}),
    "max-pooling sending the gradient to every tied maximum": ("pool", EVERY_TIED_MAXIMUM, {
        "expected values": "your max-pooling sends a window's gradient to every tied maximum"}),
    "BatchNorm backward missing the mean term": ("batchnorm", BATCHNORM_WITHOUT_MEAN_TERM, {
        "expected values": "the path through the batch mean is missing",
        "gradient check": "dx (the gradient with respect to the input) is wrong"}),
    "dropout not rescaled": ("dropout", DROPOUT_NOT_RESCALED, {
        "expected values": "dropout_mask's mask: the values kept are not rescaled"}),
    "Adam without bias correction": ("optim", ADAM_WITHOUT_BIAS_CORRECTION, {
        "expected values": "this is Adam without the bias correction",
        "drawn settings": "the parameter after step 1 is wrong"}),
    "a saliency without the absolute value": ("visualization", SALIENCY_WITHOUT_ABS, {
        "expected values": "should be below 1e-07; the absolute value is missing: a pixel is salient whichever way",
        "gradient check": "saliency_map's saliency is wrong: relative error"}),
    "a saliency of the loss, not the score": ("visualization", SALIENCY_OF_THE_LOSS, {
        "expected values": "this is the gradient of the loss; the saliency is that of the class's score"}),
    "a fooling image made by descent": ("visualization", FOOLING_BY_DESCENT, {
        "expected values": "your steps lower the target's score; climb it",
        "gradient check": "fooling_image's fooling is wrong: the grader's network classifies your image as class"}),
    "a fooling image of unnormalized steps": ("visualization", FOOLING_UNNORMALIZED, {
        "expected values": "steps of length 0.2 can go"}),
    "layer normalization over the batch": ("layernorm", LAYERNORM_OVER_THE_BATCH, {
        "expected values": "you normalize each feature over the batch (axis 0), which is batch normalization"}),
    "group normalization of interleaved channels": ("layernorm", GROUPS_OF_EVERY_GROUPS_TH_CHANNEL, {
        "expected values": "your groups take every groups-th channel (c % groups); a group is C / groups "
                           "consecutive channels"}),
    "a per-sample standardizing without the mean term": ("layernorm", STANDARDIZING_WITHOUT_THE_MEAN_TERM, {
        "expected values": "the path through the group's mean is missing",
        "gradient check": "dx (the gradient with respect to the input) is wrong"}),
    "a residual backward without the shortcut's gradient": ("residual", RESIDUAL_WITHOUT_THE_SHORTCUT_GRADIENT, {
        "expected values": "your dx is the body's gradient alone: the shortcut's gradient is missing",
        "gradient check": "residual_backward's dx is wrong"}),
    "a residual backward of the shortcut's gradient only": ("residual", RESIDUAL_ONLY_THE_SHORTCUT_GRADIENT, {
        "expected values": "alone: the body's gradient is missing",
        "gradient check": "residual_backward's dx is wrong"}),
    "a residual backward that multiplies the branches": ("residual", RESIDUAL_BRANCHES_MULTIPLIED, {
        "expected values": "you multiply the branches' gradients; out is their sum",
        "gradient check": "residual_backward's dx is wrong"}),
    "an input changed in place": ("relu", AN_INPUT_CHANGED_IN_PLACE, {
        "shapes and dtypes": "relu_forward changed its input x in place; leave the inputs alone",
        "gradient check": "forward changed its input x in place"}),
}


@pytest.mark.parametrize("mistake", PLANTED)
def test_a_planted_mistake_loses_points_with_a_line_that_names_it(mistake, capsys, tmp_path):
    part_name, planted, lines = PLANTED[mistake]
    part = PARTS[part_name]
    folder = tmp_path / "hw"
    assert cli.main(["assignment", "make", part_name, "--out", str(folder)]) == 0
    student_file = folder / "student" / f"{part.module}.py"
    shutil.copy(REFERENCE_DIRECTORY / f"{part.module}.py", student_file)
    with open(student_file, "a", encoding="utf-8") as file:
        file.write("\n" + planted)
    status = cli.main(["assignment", "grade", str(folder), "--only", part_name, "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    with open(tmp_path / "r.json", encoding="utf-8") as file:
        tests = {test["name"]: test for test in json.load(file)["tests"]}
    assert status == 1, out
    for check, expected in lines.items():
        test = tests[f"{part_name}: {check}"]
        assert test["score"] == 0 and expected in test["output"], test
    if mistake in ("a convolution that flips the kernel", "dropout not rescaled",
                   "group normalization of interleaved channels"):
        # forward and backward agree with each other: only the expected values can see these
        assert tests[f"{part_name}: gradient check"]["score"] > 0
