"""float32 in, float32 out: every layer (forward and backward), the loss, and every optimizer step."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layer_cases import LAYER_CASES
from minicnn import backend, layers, optim
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda case: case.name)
@given(data=st.data())
def test_layer_keeps_dtype(case, dtype, data, backend_name):
    layer, shape = case.draw(data.draw)
    layer.build(shape, rng=np.random.default_rng(0), dtype=dtype)
    x = backend.to_device(np.random.default_rng(1).standard_normal((2,) + shape).astype(dtype))
    for training in (True, False):
        out = layer.forward(x, training=training)
        dx = layer.backward(backend.xp.ones_like(out))
        assert out.dtype == dtype and dx.dtype == dtype
        assert all(grad.dtype == dtype for grad in layer.grads.values())
        assert all(buffer.dtype == dtype for buffer in layer.buffers.values())


def test_loss_keeps_dtype(backend_name):
    logits = backend.to_device(np.random.default_rng(0).standard_normal((5, 10)).astype(np.float32))
    loss = SoftmaxCrossEntropy(label_smoothing=0.1)
    value = loss.forward(logits, np.arange(5))
    assert isinstance(value, float)
    assert loss.backward().dtype == np.float32


@pytest.mark.parametrize("optimizer", [
    lambda m: optim.SGD(m, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda m: optim.Adam(m, weight_decay=1e-4), lambda m: optim.AdamW(m),
    lambda m: optim.RMSprop(m, momentum=0.5, centered=True, weight_decay=1e-4)],
    ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_optimizer_step_keeps_float32(optimizer, backend_name):
    model = Sequential([layers.Conv2D(2, 3), layers.BatchNorm(), layers.Flatten(), layers.Dense(3)],
                       input_shape=(1, 5, 5), seed=0)
    step = optimizer(model)
    loss = SoftmaxCrossEntropy()
    for _ in range(2):
        loss.forward(model.forward(np.random.default_rng(0).random((4, 1, 5, 5)), training=True), np.arange(4) % 3)
        model.backward(loss.backward())
        step.step()
    for layer in model.layers:
        for array in list(layer.params.values()) + list(layer.buffers.values()):
            assert array.dtype == np.float32
    for slots in step.state.values():
        assert all(value.dtype == np.float32 for value in slots.values())


class RecordsResultDtypes(np.ndarray):
    """A NumPy array that records the dtype of every floating-point ufunc result computed from it, in place or not."""

    dtypes = []

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        def plain(value):
            return value.view(np.ndarray) if isinstance(value, RecordsResultDtypes) else value
        if out is not None:
            kwargs["out"] = tuple(plain(array) for array in out)
        result = getattr(ufunc, method)(*map(plain, inputs), **kwargs)
        if isinstance(result, np.ndarray) and result.dtype.kind == "f":
            RecordsResultDtypes.dtypes.append(result.dtype)
            return result.view(RecordsResultDtypes)
        return result


@pytest.mark.parametrize("optimizer", [
    lambda m: optim.SGD(m, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda m: optim.Adam(m, weight_decay=1e-4), lambda m: optim.AdamW(m),
    lambda m: optim.RMSprop(m, momentum=0.5, centered=True, weight_decay=1e-4)],
    ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_optimizer_arithmetic_never_makes_float64(optimizer, numpy_backend):
    # An in-place update casts its result back to float32, so the parameters' dtype alone cannot show a
    # float64 temporary (e.g. from a NumPy float64 scalar); recording every intermediate result can.
    model = Sequential([layers.Dense(3)], input_shape=(4,), seed=0)
    step = optimizer(model)
    loss = SoftmaxCrossEntropy()
    layer = model.layers[0]
    RecordsResultDtypes.dtypes = []
    for _ in range(2):   # the second step takes the momentum and bias-correction branches of a later step
        loss.forward(model.forward(np.ones((2, 4), dtype=np.float32), training=True), np.arange(2))
        model.backward(loss.backward())
        layer.params = {name: value.view(RecordsResultDtypes) for name, value in layer.params.items()}
        layer.grads = {name: value.view(RecordsResultDtypes) for name, value in layer.grads.items()}
        step.step()
    assert RecordsResultDtypes.dtypes and set(RecordsResultDtypes.dtypes) == {np.dtype(np.float32)}


def test_model_casts_float64_input_to_its_dtype(backend_name):
    model = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(1, 2, 2), seed=0)
    assert model.forward(np.ones((2, 1, 2, 2), dtype=np.float64)).dtype == np.float32
