"""What the fast layers promise beyond their gradients: a checked dout, NaN routed as PyTorch does,
threads that change no result, and a BLAS setting put back after every step."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layer_cases import LAYER_CASES
from minicnn import backend, layers
from minicnn.lab import zoo
from minicnn.runtime import threads
from minicnn.runtime.layout import memory_order
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda case: case.name)
@settings(max_examples=5)
@given(data=st.data(), training=st.booleans())
def test_backward_refuses_a_dout_of_the_wrong_shape_naming_the_layer_and_both_shapes(case, data, training,
                                                                                      backend_name):
    layer, shape = case.draw(data.draw)
    layer.build(shape, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).permutation(3 * int(np.prod(shape))).reshape((3,) + shape).astype(np.float32)
    out = layer.forward(backend.to_device(x), training=training)
    wrong = backend.xp.ones((out.shape[0] + 1,) + tuple(out.shape[1:]), dtype=np.float32)
    expected = str((3,) + tuple(out.shape[1:])).replace("(", r"\(").replace(")", r"\)")
    got = str(tuple(wrong.shape)).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=f"{type(layer).__name__} '{layer.name}'.*{expected}.*got {got}"):
        layer.backward(wrong)


def test_backward_before_any_forward_says_so():
    layer = layers.ReLU()
    layer.build((2, 3))
    with pytest.raises(ValueError, match="ReLU 're_lu': backward before any forward"):
        layer.backward(np.ones((1, 2, 3), dtype=np.float32))


NAN = np.nan
# one window of 2x2 per case: (the window, where PyTorch's CPU kernel sends its gradient)
NAN_WINDOWS = [
    ([[1.0, NAN], [0.0, 2.0]], (0, 1)),        # the NaN, not the largest number
    ([[NAN, 3.0], [NAN, 0.0]], (1, 0)),        # two NaNs: the last in window order
    ([[5.0, 5.0], [1.0, 0.0]], (0, 0)),        # no NaN: the first maximum, as before
]


@pytest.mark.parametrize("window, winner", NAN_WINDOWS)
def test_a_nan_in_a_max_pool_window_gets_that_window_s_gradient(window, winner, backend_name):
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, :2] = window
    x[0, 0, :, 2:] = [[0.5, 0.25], [0.75, 0.125]]   # a second window, without NaN
    layer = layers.MaxPool2D(2)
    layer.build((1, 2, 4), dtype=np.float64)
    out = backend.to_numpy(layer.forward(backend.to_device(x), training=True))
    dx = backend.to_numpy(layer.backward(backend.to_device(np.array([[[[3.0, 7.0]]]]))))
    expected = np.zeros_like(x)
    expected[(0, 0) + winner] = 3.0
    expected[0, 0, 1, 2] = 7.0
    np.testing.assert_array_equal(np.isnan(out[0, 0, 0, 0]), np.isnan(window).any())
    np.testing.assert_array_equal(dx, expected)
    torch = pytest.importorskip("torch")
    x_t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(x_t, 2).backward(torch.tensor([[[[3.0, 7.0]]]], dtype=torch.float64))
    np.testing.assert_array_equal(dx, x_t.grad.numpy())



@pytest.mark.parametrize("window, winner", NAN_WINDOWS)
def test_max_pool_routes_a_nan_on_a_gpu_without_waiting_for_it(window, winner, fake_gpu):
    # on a device the layer cannot ask whether a NaN is there (that copies to the host): it routes regardless
    x = np.zeros((1, 1, 2, 2))
    x[0, 0] = window
    layer = layers.MaxPool2D(2)
    layer.build((1, 2, 2), dtype=np.float64)
    layer.forward(backend.to_device(x), training=True)
    dx = layer.backward(backend.to_device(np.array([[[[3.0]]]])))
    assert fake_gpu.copies == 0
    expected = np.zeros_like(x)
    expected[(0, 0) + winner] = 3.0
    np.testing.assert_array_equal(dx.view(np.ndarray), expected)

def flagship_step(model, x, labels):
    loss = SoftmaxCrossEntropy()
    value = loss.forward(model.forward(x, training=True), labels)
    model.backward(loss.backward())
    return value, {f"{index}/{key}": backend.to_numpy(grad).copy()
                   for index, layer in enumerate(model.layers) for key, grad in layer.grads.items()}


def test_threads_change_no_result(backend_name):
    rng = np.random.default_rng(0)
    x, labels = rng.random((16, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 16)
    results = []
    try:
        for count in (1, 2, 3):
            threads.set_threads(count)
            results.append(flagship_step(zoo.build("awasthi-enhanced-cnn", seed=0), x, labels))
    finally:
        threads.set_threads(None)
    for value, grads in results[1:]:
        assert value == pytest.approx(results[0][0], rel=1e-6)
        for key, grad in grads.items():
            # float32 sums taken in another order; a conv bias before BatchNorm has a gradient of rounding noise
            # so it is compared at the scale of its layer's largest gradient
            reference, index = results[0][1][key], key.split("/")[0]
            scale = max(np.abs(other).max() for name, other in results[0][1].items() if name.split("/")[0] == index)
            np.testing.assert_allclose(grad, reference, rtol=1e-3, atol=1e-4 * scale, err_msg=key)


def test_a_step_puts_the_blas_setting_back():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [(info["filepath"], info["num_threads"]) for info in threadpoolctl.threadpool_info()]
    model = Sequential([layers.Conv2D(4, 3), layers.ReLU(), layers.Flatten(), layers.Dense(3)], input_shape=(1, 8, 8))
    try:
        threads.set_threads(2)
        seen_inside = []
        dense = model.layers[-1]
        def recording(x, training=False, forward=dense.forward):
            seen_inside.extend(info["num_threads"] for info in threadpoolctl.threadpool_info()
                               if info["user_api"] == "blas")
            return forward(x, training)
        dense.forward = recording
        model.forward(np.ones((4, 1, 8, 8), dtype=np.float32), training=True)
        assert seen_inside and set(seen_inside) == {1}
        assert threads.active_threads() == 1
        model.backward(np.ones((4, 3), dtype=np.float32))
    finally:
        threads.set_threads(None)
    assert [(info["filepath"], info["num_threads"]) for info in threadpoolctl.threadpool_info()] == before


def test_the_thread_count_comes_from_set_threads_then_the_environment(monkeypatch):
    monkeypatch.setenv("MINICNN_THREADS", "3")
    assert threads.thread_count() == 3
    try:
        threads.set_threads(1)
        assert threads.thread_count() == 1
    finally:
        threads.set_threads(None)
    monkeypatch.delenv("MINICNN_THREADS")
    assert threads.thread_count() == threads.usable_cores()


@pytest.mark.parametrize("value", ["0", "two", "1.5", "-2"])
def test_a_bad_thread_count_names_the_setting(monkeypatch, value):
    monkeypatch.setenv("MINICNN_THREADS", value)
    with pytest.raises(ValueError, match=f"MINICNN_THREADS must be a whole number of threads >= 1, got '{value}'"):
        threads.thread_count()
    with pytest.raises(ValueError, match="set_threads"):
        threads.set_threads(value)


def test_between_the_convolutions_and_flatten_every_output_and_gradient_keeps_the_batch_innermost_layout():
    # a layer whose output or gradient fell back to C order made every element-wise pass after it 2-3x
    # slower (a dropout mask drawn in C order: report-cnn's max-pool backward took 169 ms instead of 43)
    model = Sequential([layers.Conv2D(4, 3, padding="same"), layers.BatchNorm(), layers.ReLU(), layers.MaxPool2D(),
                        layers.Dropout(0.25), layers.Conv2D(6, 3), layers.ReLU(), layers.Dropout(0.5),
                        layers.Flatten(), layers.Dense(3)], input_shape=(1, 8, 8), seed=0, fuse=False)
    seen = []
    for layer in model.layers[:-2]:
        def recording(dout, layer=layer, backward=layer.backward):
            seen.append((layer.name, "gradient in", memory_order(dout)))
            return backward(dout)
        layer.backward = recording
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    out = x
    for layer in model.layers[:-2]:
        out = layer.forward(out, training=True)
        seen.append((layer.name, "output", memory_order(out)))
    model.backward(model.forward(x, training=True))
    batch_innermost = (1, 2, 3, 0)
    assert [entry for entry in seen if entry[2] != batch_innermost] == []
    assert len(seen) == 16


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.3, 1.0, 1.5, -0.2])
@pytest.mark.parametrize("training", [True, False])
def test_leaky_relu_equals_its_twin_for_every_alpha_in_training_and_inference(alpha, training):
    # the fast slope max(x > 0, alpha) holds only for 0 <= alpha <= 1, and inference takes max(x, alpha x)
    # (min above 1): every branch against the plain definition, zeros and a NaN included
    from minicnn import reference
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 5)).astype(np.float32)
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    dout = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    layer = layers.LeakyReLU(alpha)
    layer.build(x.shape[1:])
    expected, cache = reference.leaky_relu_forward(x, alpha)
    out = layer.forward(x, training=training)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(layer.backward(dout), reference.leaky_relu_backward(dout, cache))


QUERY_CASES = [(lambda: layers.Conv2D(4, 3, stride=2, padding="same"), (2, 9, 7)),
               (lambda: layers.Conv2D(4, (3, 2), padding=1), (2, 9, 7)),
               (lambda: layers.MaxPool2D(3, stride=2), (2, 9, 7)), (lambda: layers.AvgPool2D(), (2, 9, 7)),
               (lambda: layers.BatchNorm(), (2, 9, 7)), (lambda: layers.Dense(3), (5,)), (lambda: layers.ReLU(), (5,))]


@pytest.mark.parametrize("make, input_shape", QUERY_CASES)
def test_compute_output_shape_and_check_input_are_queries(make, input_shape):
    layer = make()
    layer.build(input_shape, rng=np.random.default_rng(0))
    state = dict(vars(layer))
    assert layer.compute_output_shape(input_shape) == layer.output_shape
    assert layer.compute_output_shape((3,) + input_shape[1:])[1:] == layer.output_shape[1:]   # another input
    assert layer.check_input(np.zeros((6,) + input_shape, dtype=np.float32)) == 6
    assert vars(layer).keys() == state.keys() and all(vars(layer)[key] is state[key] for key in state)
    assert layer.batch_size is None   # only a forward sets the batch that backward checks
