"""Every backward checked against central differences in float64, on shapes drawn by hypothesis."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layer_cases import LAYER_CASES, build_for_checking, draw_input
from minicnn import backend, layers
from minicnn.gradcheck import check_gradients, check_layer, check_model, relative_error
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda case: case.name)
@given(data=st.data())
def test_layer_backward_matches_numerical_gradient(case, data, backend_name):
    layer, shape = case.draw(data.draw)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    batch = data.draw(st.integers(2, 3), label="batch")
    training = data.draw(st.booleans(), label="training")
    build_for_checking(layer, shape, rng)
    x = draw_input(rng, (batch,) + shape, case.distinct)
    dout = rng.standard_normal((batch,) + layer.output_shape)  # a random upstream gradient
    report = check_layer(layer, x=x, dout=dout, training=training)
    assert report.passed, f"{layer!r} on {shape}, training={training}:\n{report}"


@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4), classes=st.integers(2, 6),
       smoothing=st.sampled_from([0.0, 0.1, 0.3]), scale=st.sampled_from([1.0, 10.0]))
def test_loss_gradient(seed, batch, classes, smoothing, scale, backend_name):
    rng = np.random.default_rng(seed)
    logits = backend.to_device(rng.standard_normal((batch, classes)) * scale)
    labels = rng.integers(0, classes, batch)
    loss = SoftmaxCrossEntropy(label_smoothing=smoothing)
    report = check_gradients(lambda z: np.array(loss.forward(z, labels)), lambda _: loss.backward(),
                             logits, {}, lambda: {}, np.array(1.0))
    assert report.passed, str(report)


@given(seed=st.integers(0, 2**32 - 1), training=st.booleans(), padding=st.sampled_from(["same", "valid"]))
def test_whole_model_gradient(seed, training, padding, backend_name):
    model = Sequential([layers.Conv2D(3, 3, padding=padding), layers.BatchNorm(), layers.ReLU(), layers.MaxPool2D(),
                        layers.Flatten(), layers.Dense(6), layers.LeakyReLU(0.1), layers.Dropout(0.3),
                        layers.Dense(4)], input_shape=(2, 6, 6), dtype="float64", seed=seed)
    rng = np.random.default_rng(seed)
    norm = model.layers[1]
    norm.params["gamma"] = backend.to_device(rng.standard_normal(3))   # a gamma of ones would hide a missing factor
    norm.params["beta"] = backend.to_device(rng.standard_normal(3))
    report = check_model(model, SoftmaxCrossEntropy(0.1), rng.standard_normal((3, 2, 6, 6)),
                         rng.integers(0, 4, 3), training=training)
    assert report.passed, str(report)


class ReLUWithWrongBackward(layers.ReLU):
    def backward(self, dout):
        return dout  # forgets the mask


def test_the_checker_catches_a_wrong_backward():
    report = check_layer(ReLUWithWrongBackward(), input_shape=(10,), batch_size=4)
    assert not report.passed
    assert "FAILED" in str(report)


class DenseWithNaNWeightGradient(layers.Dense):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] = backend.xp.full_like(self.grads["W"], np.nan)
        return dx


def test_the_checker_fails_a_nan_gradient_wherever_it_is():
    # "W" comes after "input": a NaN there used to vanish inside max() (every comparison with NaN is False)
    report = check_layer(DenseWithNaNWeightGradient(2, name="dense"), input_shape=(3,))
    assert report.problems == ["DenseWithNaNWeightGradient 'dense': grads['W'] holds NaN or infinite values; "
                               "look for a division by zero or a log of 0"]
    assert not report.passed and str(report).endswith("FAILED (tolerance 1e-06)")


def test_relative_error_calls_a_nan_an_infinite_error():
    assert relative_error(np.array([1.0, np.nan]), np.array([1.0, 2.0])) == float("inf")


def test_the_checker_perturbs_a_copy_of_a_non_contiguous_input():
    x = np.random.default_rng(0).standard_normal((3, 5)).T   # (5, 3), Fortran-ordered
    before = x.copy()
    report = check_layer(layers.Dense(2), x=x)
    assert report.passed, report
    np.testing.assert_array_equal(x, before)


def test_checker_asks_for_a_shape_to_build_on():
    with pytest.raises(ValueError, match="'dense' is not built yet: give check_layer its per-sample input_shape"):
        check_layer(layers.Dense(3, name="dense"))


def test_checker_refuses_float32_layers():
    layer = layers.Dense(3)
    layer.build((4,), dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        check_layer(layer)
