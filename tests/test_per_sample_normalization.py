"""LayerNorm and GroupNorm held to CS231n's own checks (the LayerNormalization and spatial group normalization
parts of its assignment 2): the same data as its notebooks draw, its relative-error measure, its thresholds,
and its "means close to beta, stds close to gamma". The hypothesis-drawn gradient checks, the twins and the
dtypes are in the tests driven by tests/layer_cases.py; PyTorch in tests/test_reference_torch.py."""
import numpy as np
import pytest

from minicnn import layers, reference


def rel_error(x, y):
    """CS231n's relative error."""
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def numerical_gradient_of(function, x, dout, step=1e-5):
    """CS231n's eval_numerical_gradient_array: d(sum(function(x) * dout)) / dx by central differences of step
    1e-5, each taken on the outputs before they are summed (as CS231n does: less rounding than a difference
    of two sums)."""
    gradient = np.zeros_like(x)
    flat, flat_gradient = x.reshape(-1), gradient.reshape(-1)
    for index in range(flat.size):
        original = flat[index]
        flat[index] = original + step
        plus = function(x).copy()
        flat[index] = original - step
        minus = function(x).copy()
        flat[index] = original
        flat_gradient[index] = ((plus - minus) * dout).sum() / (2 * step)
    return gradient


def built(layer, shape, gamma, beta):
    layer.build(shape, dtype=np.float64)
    layer.params["gamma"][...] = gamma
    layer.params["beta"][...] = beta
    return layer


def layer_norm_input():
    """The notebook's: a two-layer ReLU network's output on random data, (4, 3), far from mean 0 and std 1."""
    random = np.random.RandomState(231)
    x = random.randn(4, 50)
    first, second = random.randn(50, 60), random.randn(60, 3)
    return np.maximum(0, x.dot(first)).dot(second)


def assert_gradients_within(layer, x, dout, threshold):
    """dx, dgamma and dbeta of ``layer`` at x against numerical gradients, each under CS231n's ``threshold``."""
    layer.forward(x, training=True)
    dx = layer.backward(dout)
    grads = dict(layer.grads)
    for name, analytic, array in (("dx", dx, x), ("dgamma", grads["gamma"], layer.params["gamma"]),
                                  ("dbeta", grads["beta"], layer.params["beta"])):
        numeric = numerical_gradient_of(lambda _: layer.forward(x, training=True), array, dout)
        assert rel_error(numeric, analytic) < threshold, name


@pytest.mark.parametrize("make", [layers.LayerNorm, reference.ReferenceLayerNorm], ids=["fast", "twin"])
def test_layer_norm_gives_each_sample_mean_beta_and_std_gamma(make):
    a = layer_norm_input()
    assert np.abs(a.mean(axis=1)).min() > 1 and np.abs(a.std(axis=1) - 1).min() > 1   # far from normalized before
    for gamma, beta in ((1.0, 0.0), (3.0, 5.0)):   # "means close to zero and stds close to one", then 5 and 3
        out = built(make(), (3,), gamma, beta).forward(a, training=True)
        np.testing.assert_allclose(out.mean(axis=1), beta, atol=1e-10)
        np.testing.assert_allclose(out.std(axis=1), gamma, rtol=1e-6)


@pytest.mark.parametrize("make", [lambda: layers.GroupNorm(2), lambda: reference.ReferenceGroupNorm(2)],
                         ids=["fast", "twin"])
def test_group_norm_gives_each_group_of_each_sample_mean_beta_and_std_gamma(make):
    x = 5 * np.random.RandomState(231).randn(2, 6, 4, 5) + 12
    for gamma, beta in ((1.0, 0.0), (3.0, 5.0)):
        groups = built(make(), (6, 4, 5), gamma, beta).forward(x, training=True).reshape(2 * 2, -1)
        np.testing.assert_allclose(groups.mean(axis=1), beta, atol=1e-10)
        np.testing.assert_allclose(groups.std(axis=1), gamma, rtol=1e-6)


@pytest.mark.parametrize("make", [layers.LayerNorm, reference.ReferenceLayerNorm], ids=["fast", "twin"])
def test_layer_norm_gradients_meet_cs231n_thresholds(make):
    # the notebook: "You should expect to see relative errors between 1e-12 and 1e-8"
    random = np.random.RandomState(231)
    x = 5 * random.randn(4, 5) + 12
    gamma, beta, dout = random.randn(5), random.randn(5), random.randn(4, 5)
    layer = built(make(), (5,), gamma, beta)
    assert_gradients_within(layer, x, dout, 1e-8)


@pytest.mark.parametrize("make", [lambda: layers.GroupNorm(2), lambda: reference.ReferenceGroupNorm(2)],
                         ids=["fast", "twin"])
def test_group_norm_gradients_meet_cs231n_thresholds(make):
    # the notebook: "You should expect errors of magnitudes between 1e-12 and 1e-07"
    random = np.random.RandomState(231)
    x = 5 * random.randn(2, 6, 4, 5) + 12
    gamma, beta, dout = random.randn(1, 6, 1, 1), random.randn(1, 6, 1, 1), random.randn(2, 6, 4, 5)
    layer = built(make(), (6, 4, 5), gamma.reshape(6), beta.reshape(6))
    assert_gradients_within(layer, x, dout, 1e-7)


def test_group_norm_refuses_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match="GroupNorm 'group_norm': 4 groups do not divide 6 channels"):
        layers.GroupNorm(4).build((6, 3, 3))
    with pytest.raises(ValueError, match="GroupNorm groups must be a whole number >= 1, got 0"):
        layers.GroupNorm(0)


def test_layer_and_group_norm_ignore_the_batch_and_the_mode():
    # each sample alone: its output is the same whatever else is in the batch, in training as in inference
    x = np.random.default_rng(0).standard_normal((5, 4, 3, 3))
    for layer in (layers.LayerNorm(), layers.GroupNorm(2)):
        layer.build((4, 3, 3), dtype=np.float64)
        whole = layer.forward(x, training=True)
        np.testing.assert_allclose(layer.forward(x[2:3], training=False), whole[2:3], rtol=1e-12, atol=1e-12)
        assert layer.buffers == {}
