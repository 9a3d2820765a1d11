"""The naive network visualization (minicnn/reference/visualization.py) equals minicnn.explain's saliency and
fooling images on networks drawn by hypothesis, and its given Network's backward is its forward's gradient."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from minicnn import explain, layers, model
from minicnn.gradcheck import numerical_gradient, relative_error
from minicnn.reference import visualization


@st.composite
def networks(draw):
    """(a float64 Sequential of a convolution, ReLU, maybe max-pooling, Flatten and Dense, images for it)."""
    channels, side = draw(st.integers(1, 3)), draw(st.integers(4, 7))
    stack = [layers.Conv2D(draw(st.integers(1, 3)), draw(st.integers(1, 3)), padding=draw(st.sampled_from([0, 1]))),
             layers.ReLU()]
    if draw(st.booleans()):
        stack.append(layers.MaxPool2D(2))
    classes = draw(st.integers(2, 5))
    network = model.Sequential(stack + [layers.Flatten(), layers.Dense(classes)], input_shape=(channels, side, side),
                               seed=draw(st.integers(0, 100)), dtype=np.float64)
    rng = np.random.default_rng(draw(st.integers(0, 100)))
    return network, rng.standard_normal((draw(st.integers(1, 3)), channels, side, side)), rng.integers(0, classes, 3)


@given(networks())
def test_saliency_map_equals_explain_saliency(case):
    network, images, labels = case
    labels = labels[:len(images)]
    expected = explain.saliency(network, images, labels)
    assert relative_error(visualization.saliency_map(network, images, labels), expected) < 1e-12


@given(networks(), st.integers(0, 4), st.sampled_from([0.05, 0.3]))
def test_fooling_image_equals_explain_fooling_images(case, target, step):
    network, images, _ = case
    target = target % network.output_shape[0]
    expected = explain.fooling_images(network, images[:1], np.array([target]), step=step, max_steps=30)
    fooling = visualization.fooling_image(network, images[:1].copy(), target, step=step, max_steps=30)
    assert relative_error(fooling, expected.images) < 1e-10


def test_the_given_network_backward_is_the_gradient_of_its_forward():
    rng = np.random.default_rng(3)
    weights = [(rng.standard_normal((12, 5)), rng.standard_normal(5)), (rng.standard_normal((5, 4)),
                                                                        rng.standard_normal(4)),
               (rng.standard_normal((4, 3)), rng.standard_normal(3))]
    network = visualization.Network(weights)
    x, dscores = rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((2, 3))
    network.forward(x)
    analytic = network.backward(dscores)
    numeric = numerical_gradient(lambda: float((network.forward(x) * dscores).sum()), x)
    assert analytic.shape == x.shape and relative_error(analytic, numeric) < 1e-7


def test_both_keep_float32_and_leave_the_image_alone():
    rng = np.random.default_rng(0)
    network = visualization.Network([(rng.standard_normal((8, 3)).astype(np.float32),
                                      rng.standard_normal(3).astype(np.float32))])
    x = rng.standard_normal((2, 2, 2, 2)).astype(np.float32)
    before = x.copy()
    target = (int(network.forward(x[:1]).argmax()) + 1) % 3
    fooling = visualization.fooling_image(network, x[:1], target, step=0.1, max_steps=200)
    assert visualization.saliency_map(network, x, np.array([0, 2])).dtype == np.float32
    assert fooling.dtype == np.float32 and network.forward(fooling).argmax() == target
    assert np.array_equal(x, before)
