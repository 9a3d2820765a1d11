"""The checker a student is graded by: every mistake is one line naming the layer and what to fix.

Each layer below is a mistake a student makes (or made, trying the checker): the checker must fail it with
one line, never a traceback from inside gradcheck.py, and pass the right version.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from layer_cases import draw_tie_heavy_input
from minicnn import cli, layers, reference
from minicnn.gradcheck import (check_layer, check_loss_function, compare_update_rules, compare_with_reference,
                               where_it_failed)


class DenseWithRowBias(layers.Dense):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["b"] = dout.sum(axis=0, keepdims=True)   # (1, units): broadcasting hid it, optimizer.step crashed
        return dx


class DenseWithShortDx(layers.Dense):
    def backward(self, dout):
        return super().backward(dout)[:, :-1]


class DenseWithoutWeightGradient(layers.Dense):
    def backward(self, dout):
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T


class ReLUReturningNone(layers.ReLU):
    def forward(self, x, training=False):
        self.seen = x
        return super().forward(x, training)

    def backward(self, dout):
        self.dx = dout * (self.seen > 0)   # computed, never returned


class StubReLU(layers.ReLU):
    def backward(self, dout):
        raise NotImplementedError


class NaNLayer(layers.Layer):
    def forward(self, x, training=False):
        return np.full_like(x, np.nan)   # what a log of a negative number or 0 / 0 gives

    def backward(self, dout):
        return dout


class ReLUInPlace(layers.ReLU):
    def forward(self, x, training=False):
        self.positive = x > 0
        x *= self.positive   # changes the caller's array
        return x


class ReLUFloat32(layers.ReLU):
    def forward(self, x, training=False):
        return super().forward(x).astype(np.float32)


MISTAKES = [
    (DenseWithRowBias(2, name="dense"), (3,), "DenseWithRowBias 'dense': grads['b'] has shape (1, 2), expected (2,)"),
    (DenseWithShortDx(2, name="dense"), (3,), "DenseWithShortDx 'dense': backward's return value dx has shape (2, 2), "
                                              "expected (2, 3)"),
    (DenseWithoutWeightGradient(2, name="dense"), (3,),
     "DenseWithoutWeightGradient 'dense': backward did not write grads['W']; set it to the gradient of params['W'], shape (3, 2)"),
    (ReLUReturningNone(name="relu"), (4,), "ReLUReturningNone 'relu': backward's return value dx is None; return dx, the gradient "
                                           "with respect to the input, shape (2, 4)"),
    (StubReLU(name="relu"), (4,), "StubReLU 'relu': backward is not written yet: it raises NotImplementedError"),
    (NaNLayer(name="nan"), (4,), "NaNLayer 'nan': forward's output holds NaN or infinite values"),
    (ReLUInPlace(name="relu"), (4,), "ReLUInPlace 'relu': forward changed its input x in place"),
    (ReLUFloat32(name="relu"), (4,), "ReLUFloat32 'relu': forward's output is float32, expected float64 like the input"),
]


@pytest.mark.parametrize("layer, shape, message", MISTAKES, ids=lambda value: type(value).__name__)
def test_each_mistake_is_one_line_naming_the_layer(layer, shape, message):
    report = check_layer(layer, input_shape=shape)
    assert not report.passed
    [failure] = report.failures()
    assert failure.startswith(message) and "\n" not in failure and "gradcheck.py" not in failure, failure
    assert f"FAILED: {failure}" in str(report)


def test_an_exception_names_the_line_of_the_layer_not_of_the_checker():
    class DenseWithTypo(layers.Dense):
        def backward(self, dout):
            return dout @ self.params["w"].T

    [failure] = check_layer(DenseWithTypo(2, name="dense"), input_shape=(3,)).failures()
    assert failure.startswith("DenseWithTypo 'dense': backward raised KeyError: 'w' (at ")
    assert f"{__file__}:" in failure and "in backward)" in failure


def test_a_wrong_number_is_one_line_naming_the_layer_and_the_gradient():
    class ReLUWithoutMask(layers.ReLU):
        def backward(self, dout):
            return dout

    [failure] = check_layer(ReLUWithoutMask(name="relu"), input_shape=(6,)).failures()
    assert failure.startswith("ReLUWithoutMask 'relu': dx (the gradient with respect to the input) is wrong: relative error")


def test_a_layer_to_the_readme_contract_without_subclassing_is_checked():
    class Scale:
        def __init__(self):
            self.params = {"s": np.array([2.0])}
            self.grads = {}

        def forward(self, x, training=False):
            self.x = x
            return x * self.params["s"]

        def backward(self, dout):
            self.grads["s"] = np.array([(dout * self.x).sum()])
            return dout * self.params["s"]

    report = check_layer(Scale(), input_shape=(3,))
    assert report.passed and set(report.errors) == {"input", "s"}, report


def test_a_stubbed_reference_function_says_it_is_not_written():
    def conv_forward(x, w, b, stride, padding):
        raise NotImplementedError

    layer = reference.ReferenceConv2D(2, 3, functions=(conv_forward, reference.conv_backward), name="conv")
    [failure] = check_layer(layer, input_shape=(1, 4, 4)).failures()
    assert failure == ("ReferenceConv2D 'conv': forward is not written yet: it raises NotImplementedError "
                       f"(at {__file__}:{conv_forward.__code__.co_firstlineno + 1} in conv_forward)")


def test_where_it_failed_points_at_the_raising_line():
    try:
        {}["missing"]
    except KeyError as error:
        assert where_it_failed(error).startswith(f"KeyError: 'missing' (at {__file__}:")


# ---------------------------------------------------------------------------------------------------------
# Planted mistakes in the reference style, caught by the gradient check or by the twin comparison
# ---------------------------------------------------------------------------------------------------------

def test_planted_forgetting_the_one_over_n_of_the_loss():
    def softmax_cross_entropy_summed(logits, labels):
        loss, dlogits = reference.softmax_cross_entropy(logits, labels)
        return loss, dlogits * logits.shape[0]   # the mean's 1/N forgotten in the gradient

    assert check_loss_function(reference.softmax_cross_entropy).passed
    [failure] = check_loss_function(softmax_cross_entropy_summed).failures()
    assert failure.startswith("loss softmax_cross_entropy_summed: dlogits (the gradient with respect to the logits) "
                              "is wrong")


def test_planted_convolution_that_flips_the_kernel():
    def flipped_forward(x, w, b, stride, padding):
        return reference.conv_forward(x, w[:, :, ::-1, ::-1], b, stride, padding)

    def flipped_backward(dout, cache):
        x, w, b, stride, padding = cache
        dx, dw, db = reference.conv_backward(dout, cache)
        return dx, dw[:, :, ::-1, ::-1], db

    student = reference.ReferenceConv2D(2, 3, padding=1, functions=(flipped_forward, flipped_backward), name="conv")
    # forward and backward agree with each other (a true convolution): the gradient check cannot see it...
    assert check_layer(student, input_shape=(2, 5, 5)).passed
    # ...the twin does
    report = compare_with_reference(student, reference.ReferenceConv2D(2, 3, padding=1), input_shape=(2, 5, 5))
    assert report.failures()[0].startswith("ReferenceConv2D 'conv': the forward output is wrong: relative error")


def test_planted_max_pool_sending_the_gradient_to_every_tied_maximum():
    def max_pool_backward_every_tie(dout, cache):
        x, pool_size, stride = cache
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(*dout.shape):
            window = x[n, c, i * stride[0]:i * stride[0] + pool_size[0], j * stride[1]:j * stride[1] + pool_size[1]]
            dx[n, c, i * stride[0]:i * stride[0] + pool_size[0], j * stride[1]:j * stride[1] + pool_size[1]] += \
                dout[n, c, i, j] * (window == window.max())
        return dx

    def max_pool_forward(x, pool_size, stride):
        return reference.max_pool_forward(x, pool_size, stride)[0], (x, pool_size, stride)

    student = reference.ReferenceMaxPool2D(2, functions=(max_pool_forward, max_pool_backward_every_tie), name="pool")
    x = draw_tie_heavy_input(np.random.default_rng(0), (2, 2, 4, 4))
    report = compare_with_reference(student, reference.ReferenceMaxPool2D(2), x=x)
    assert report.failures()[0].startswith("ReferenceMaxPool2D 'pool': dx (the gradient with respect to the input) "
                                           "is wrong"), report
    # the fast layer routes to the first maximum, as its twin does
    assert compare_with_reference(layers.MaxPool2D(2), reference.ReferenceMaxPool2D(2), x=x).passed


def test_planted_batch_norm_backward_without_the_mean_term():
    def batchnorm_backward_without_mean(dout, cache):
        shape, training, centered, inv_std, x_hat, gamma = cache
        drows = reference.normalization.as_rows(dout)
        count = drows.shape[0]
        dx_hat = drows * gamma
        dvariance = -0.5 * (dx_hat * centered).sum(axis=0) * inv_std ** 3
        dx = dx_hat * inv_std + dvariance * (2.0 / count) * centered   # the path through the mean forgotten
        return (reference.normalization.from_rows(dx, shape), (drows * x_hat).sum(axis=0), drows.sum(axis=0))

    student = reference.ReferenceBatchNorm(functions=(reference.batchnorm_forward, batchnorm_backward_without_mean),
                                           name="norm")
    failures = check_layer(student, input_shape=(3,), batch_size=4).failures()
    assert failures and failures[0].startswith("ReferenceBatchNorm 'norm': dx (the gradient with respect to the "
                                               "input) is wrong"), failures


def test_planted_dropout_not_rescaled():
    def dropout_forward_unscaled(x, rate, training, mask=None, rng=None):
        if not training:
            return x, None
        mask = (rng.random(x.shape, dtype=x.dtype) >= rate).astype(x.dtype)   # no 1 / (1 - rate)
        return x * mask, mask

    student = reference.ReferenceDropout(0.5, functions=(dropout_forward_unscaled, reference.dropout_backward),
                                         name="dropout")
    assert check_layer(student, input_shape=(6,)).passed   # consistent: the gradient check cannot see it
    report = compare_with_reference(student, reference.ReferenceDropout(0.5), input_shape=(6,))
    assert report.failures()[0].startswith("ReferenceDropout 'dropout': the forward output is wrong"), report
    # the fast Dropout and its twin draw the same mask from the same generator
    assert compare_with_reference(layers.Dropout(0.5), reference.ReferenceDropout(0.5), input_shape=(6,)).passed


def test_planted_adam_without_bias_correction():
    def adam_without_bias_correction(param, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        state["mean"] = beta1 * state.get("mean", 0.0) + (1.0 - beta1) * grad
        state["square"] = beta2 * state.get("square", 0.0) + (1.0 - beta2) * grad * grad
        return param - lr * state["mean"] / (np.sqrt(state["square"]) + eps)

    failures = compare_update_rules(adam_without_bias_correction, reference.adam, lr=0.1).failures()
    assert failures[0].startswith("update rule adam_without_bias_correction: the parameter after step 1 is wrong: "
                                  "relative error"), failures


def test_planted_wrong_bias_shape_in_a_reference_style_dense():
    def dense_backward_row_bias(dout, cache):
        dx, dw, db = reference.dense_backward(dout, cache)
        return dx, dw, db[None, :]

    student = reference.ReferenceDense(2, functions=(reference.dense_forward, dense_backward_row_bias), name="dense")
    [failure] = check_layer(student, input_shape=(3,)).failures()
    assert failure == "ReferenceDense 'dense': grads['b'] has shape (1, 2), expected (2,)"


def test_a_reference_backward_returning_none_says_what_to_return():
    student = reference.ReferenceDense(2, functions=(reference.dense_forward, lambda dout, cache: None), name="dense")
    [failure] = check_layer(student, input_shape=(3,)).failures()
    assert failure == "ReferenceDense 'dense': <lambda> must return (dx, dW, db), got None"


# ---------------------------------------------------------------------------------------------------------
# minicnn check-layer
# ---------------------------------------------------------------------------------------------------------

def run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write(path, text):
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_check_layer_takes_a_readme_contract_class_and_the_modules_beside_it(capsys, tmp_path):
    write(tmp_path / "scaling.py", "FACTOR = 3.0\n")
    layer_file = write(tmp_path / "my_layer.py", """
        from scaling import FACTOR   # a module beside the layer's file

        class Triple:                # no minicnn import at all: the README's contract only
            def __init__(self):
                self.params, self.grads = {}, {}

            def forward(self, x, training=False):
                return x * FACTOR

            def backward(self, dout):
                return dout * FACTOR
        """)
    status, out, err = run(capsys, "check-layer", f"{layer_file}:Triple", "--input-shape", "4")
    assert status == 0, out + err
    assert "Triple: every gradient check passed" in out


def test_check_layer_exits_2_for_an_import_error(capsys, tmp_path):
    layer_file = write(tmp_path / "broken.py", "import a_module_nobody_wrote\n")
    status, out, err = run(capsys, "check-layer", f"{layer_file}:Anything", "--input-shape", "4")
    assert status == 2
    assert err.strip().count("\n") == 0 and "No module named 'a_module_nobody_wrote'" in err
    assert f"importing {layer_file} raised ModuleNotFoundError" in err


def test_check_layer_exits_2_for_a_syntax_error(capsys, tmp_path):
    layer_file = write(tmp_path / "typo.py", "class Broken(:\n    pass\n")
    status, _, err = run(capsys, "check-layer", f"{layer_file}:Broken")
    assert status == 2 and "syntax" in err.lower() and f"{layer_file}:1" in err, err


def test_check_layer_exits_1_with_a_line_for_a_stub(capsys, tmp_path):
    layer_file = write(tmp_path / "stub.py", """
        from minicnn.layers import Layer

        class Mine(Layer):
            def forward(self, x, training=False):
                return x * 2

            def backward(self, dout):
                raise NotImplementedError
        """)
    status, out, _ = run(capsys, "check-layer", f"{layer_file}:Mine", "--input-shape", "4")
    assert status == 1
    assert "FAILED: Mine 'mine': backward is not written yet: it raises NotImplementedError" in out
    assert "Traceback" not in out


def test_check_layer_needs_no_matplotlib(tmp_path):
    blocker = textwrap.dedent("""
        import importlib.abc, sys
        class NoMatplotlib(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] == "matplotlib":
                    raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
        sys.meta_path.insert(0, NoMatplotlib())
        from minicnn import cli
        sys.exit(cli.main(["check-layer", "minicnn.layers:Dense", "--input-shape", "3", "--args", "[2]"]))
        """)
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Dense: every gradient check passed" in result.stdout
