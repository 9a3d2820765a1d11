"""minicnn against PyTorch, the trusted reference: layers, loss, BatchNorm statistics, optimizers.

Optional: skipped where torch is not installed. Everything in float64 so that
agreement is to ~1e-10, far tighter than any real bug would allow.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn import backend, layers, optim
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential

torch = pytest.importorskip("torch")
F = torch.nn.functional


def as_torch(array):
    return torch.from_numpy(np.array(backend.to_numpy(array), dtype=np.float64)).requires_grad_(True)


def run_layer(layer, shape, x, training=True):
    layer.build(shape, rng=np.random.default_rng(0), dtype=np.float64)
    out = layer.forward(backend.to_device(x), training=training)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx = layer.backward(backend.to_device(dout))
    return backend.to_numpy(out), backend.to_numpy(dx), dout


@given(seed=st.integers(0, 1000), stride=st.integers(1, 2), padding=st.sampled_from(["same", "valid", 1]),
       kernel=st.sampled_from([1, 2, 3]))
def test_conv2d_matches_torch(seed, stride, padding, kernel, backend_name):
    x = np.random.default_rng(seed).standard_normal((2, 3, 7, 8))
    layer = layers.Conv2D(4, kernel, stride=stride, padding=padding)
    out, dx, dout = run_layer(layer, (3, 7, 8), x)
    x_t, w_t, b_t = as_torch(x), as_torch(layer.params["W"]), as_torch(layer.params["b"])
    top, bottom, left, right = layer.pads
    out_t = F.conv2d(F.pad(x_t, (left, right, top, bottom)), w_t, b_t, stride=stride)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(backend.to_numpy(layer.grads["W"]), w_t.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(backend.to_numpy(layer.grads["b"]), b_t.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("pool, stride", [(2, None), (3, 2), (2, 1), (3, None)])
def test_max_pool_with_ties_matches_torch(pool, stride, backend_name):
    # integers in 0..2: ties everywhere, as on Fashion-MNIST's zero background
    x = np.random.default_rng(0).integers(0, 3, (2, 3, 7, 7)).astype(np.float64)
    out, dx, dout = run_layer(layers.MaxPool2D(pool, stride), (3, 7, 7), x)
    x_t = as_torch(x)
    out_t = F.max_pool2d(x_t, pool, stride or pool)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_avg_pool_matches_torch(backend_name):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7))
    out, dx, dout = run_layer(layers.AvgPool2D(3, 2), (3, 7, 7), x)
    x_t = as_torch(x)
    out_t = F.avg_pool2d(x_t, 3, 2)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4, 5), (6,)])
def test_batch_norm_pytorch_convention_matches_torch(shape, backend_name):
    rng = np.random.default_rng(0)
    layer = layers.BatchNorm()
    layer.build(shape, dtype=np.float64)
    reference = (torch.nn.BatchNorm2d if len(shape) == 3 else torch.nn.BatchNorm1d)(shape[0]).double()
    for step in range(3):
        x = rng.standard_normal((4,) + shape) * 2 + 1
        out = layer.forward(backend.to_device(x), training=True)
        x_t = as_torch(x)
        out_t = reference(x_t)
        dout = rng.standard_normal(x.shape)
        dx = layer.backward(backend.to_device(dout))
        out_t.backward(torch.from_numpy(dout))
        np.testing.assert_allclose(backend.to_numpy(out), out_t.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(backend.to_numpy(dx), x_t.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(backend.to_numpy(layer.buffers["running_mean"]), reference.running_mean.numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(layer.buffers["running_var"]), reference.running_var.numpy(),
                               rtol=1e-12)
    reference.eval()
    x = rng.standard_normal((4,) + shape)
    np.testing.assert_allclose(backend.to_numpy(layer.forward(backend.to_device(x), training=False)),
                               reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-10)


def test_batch_norm_keras_convention_keeps_99_percent_and_biased_variance():
    layer = layers.BatchNorm(convention="keras")
    assert (layer.momentum, layer.eps) == (0.99, 1e-3)
    layer.build((2,), dtype=np.float64)
    x = backend.to_device(np.array([[0.0, 1.0], [2.0, 5.0]]))
    layer.forward(x, training=True)
    # Keras: moving = 0.99 * moving + 0.01 * batch, with the biased batch variance
    np.testing.assert_allclose(backend.to_numpy(layer.buffers["running_mean"]), 0.01 * np.array([1.0, 3.0]),
                               rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(layer.buffers["running_var"]), 0.99 + 0.01 * np.array([1.0, 4.0]),
                               rtol=1e-12)


@given(seed=st.integers(0, 1000), smoothing=st.sampled_from([0.0, 0.1]))
def test_loss_matches_torch(seed, smoothing, backend_name):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((5, 10)) * 3
    labels = rng.integers(0, 10, 5)
    loss = SoftmaxCrossEntropy(label_smoothing=smoothing)
    value = loss.forward(backend.to_device(logits), labels)
    logits_t = as_torch(logits)
    value_t = F.cross_entropy(logits_t, torch.from_numpy(labels), label_smoothing=smoothing)
    value_t.backward()
    assert value == pytest.approx(value_t.item(), rel=1e-12)
    np.testing.assert_allclose(backend.to_numpy(loss.backward()), logits_t.grad.numpy(), rtol=1e-10, atol=1e-14)


OPTIMIZER_PAIRS = {
    "SGD": (lambda m: optim.SGD(m, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "SGD-momentum-wd": (lambda m: optim.SGD(m, lr=0.1, momentum=0.9, weight_decay=0.01, dampening=0.1),
                        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01, dampening=0.1)),
    "SGD-nesterov": (lambda m: optim.SGD(m, lr=0.1, momentum=0.9, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    "Adam": (lambda m: optim.Adam(m), lambda p: torch.optim.Adam(p)),
    "Adam-l2": (lambda m: optim.Adam(m, lr=0.01, weight_decay=0.1),
                lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1)),
    "AdamW": (lambda m: optim.AdamW(m, lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    "RMSprop": (lambda m: optim.RMSprop(m), lambda p: torch.optim.RMSprop(p)),
    "RMSprop-centered-momentum": (lambda m: optim.RMSprop(m, lr=0.01, momentum=0.9, centered=True, weight_decay=0.01),
                                  lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.9, centered=True,
                                                                weight_decay=0.01)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_PAIRS))
def test_optimizer_matches_torch(name, backend_name):
    ours, theirs = OPTIMIZER_PAIRS[name]
    model = Sequential([layers.Dense(3)], input_shape=(4,), dtype="float64", seed=0)
    weight, bias = (torch.from_numpy(backend.to_numpy(model.layers[0].params[key]).copy()).requires_grad_(True)
                    for key in ("W", "b"))
    optimizer, reference = ours(model), theirs([weight, bias])
    schedule = optim.StepLR(optimizer, step_size=2, gamma=0.5)
    reference_schedule = torch.optim.lr_scheduler.StepLR(reference, step_size=2, gamma=0.5)
    rng = np.random.default_rng(0)
    for _ in range(5):
        grad_w, grad_b = rng.standard_normal((4, 3)), rng.standard_normal(3)
        model.layers[0].grads = {"W": backend.to_device(grad_w), "b": backend.to_device(grad_b)}
        weight.grad, bias.grad = torch.from_numpy(grad_w), torch.from_numpy(grad_b)
        optimizer.step()
        reference.step()
        schedule.step()
        reference_schedule.step()
        np.testing.assert_allclose(backend.to_numpy(model.layers[0].params["W"]), weight.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(backend.to_numpy(model.layers[0].params["b"]), bias.detach().numpy(), rtol=1e-12)
        assert optimizer.lr == pytest.approx(reference.param_groups[0]["lr"], rel=1e-15)


@pytest.mark.parametrize("make, make_torch", [
    (lambda o: optim.ExponentialLR(o, gamma=0.9), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    (lambda o: optim.CosineAnnealingLR(o, T_max=7, eta_min=1e-4),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=1e-4)),
])
def test_schedules_match_torch(make, make_torch):
    # 7 epochs: past T_max torch's cosine rises again, ours stays at eta_min (documented)
    model = Sequential([layers.Dense(2)], input_shape=(2,), seed=0)
    schedule = make(optim.SGD(model, lr=0.1))
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    reference_schedule = make_torch(reference)
    for _ in range(7):
        reference.step()
        reference_schedule.step()
        # torch's cosine schedule is recursive; its values agree with the closed form to rounding
        assert schedule.step() == pytest.approx(reference.param_groups[0]["lr"], rel=1e-9, abs=1e-12)


def test_pytorch_default_initialisation_bounds():
    model = Sequential([layers.Conv2D(8, 3), layers.Flatten(), layers.Dense(5)], input_shape=(4, 5, 5), seed=0)
    conv, dense = model.layers[0].params, model.layers[2].params
    for params, fan_in in ((conv, 4 * 9), (dense, 8 * 9)):
        for array in params.values():
            assert np.abs(backend.to_numpy(array)).max() <= 1 / np.sqrt(fan_in)
    keras = Sequential([layers.Conv2D(8, 3), layers.Flatten(), layers.Dense(5)], input_shape=(4, 5, 5),
                       init="keras", seed=0)
    assert np.abs(backend.to_numpy(keras.layers[0].params["W"])).max() <= np.sqrt(6 / (4 * 9 + 8 * 9))
    assert not backend.to_numpy(keras.layers[2].params["b"]).any()  # Keras: zero bias


@pytest.mark.parametrize("name, training", [("awasthi-enhanced-cnn", False), ("saraswat-cnn", True),
                                            ("miniproject-enhanced-cnn", False)])
def test_whole_zoo_network_matches_its_torch_twin(name, training):
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
    from torch_twin import torch_twin
    from minicnn.lab import zoo

    model = zoo.build(name, seed=0, dtype="float64")
    twin = torch_twin(model).double()
    twin.train(training)
    rng = np.random.default_rng(0)
    x = rng.random((4,) + model.input_shape)
    labels = rng.integers(0, 10, 4)
    loss = SoftmaxCrossEntropy()
    logits = model.forward(x, training=training)
    value = loss.forward(logits, labels)
    model.backward(loss.backward())
    x_t = torch.from_numpy(x)
    logits_t = twin(x_t)
    value_t = F.cross_entropy(logits_t, torch.from_numpy(labels))
    value_t.backward()
    np.testing.assert_allclose(backend.to_numpy(logits), logits_t.detach().numpy(), rtol=1e-9, atol=1e-10)
    assert value == pytest.approx(value_t.item(), rel=1e-10)
    twin_layers = list(twin)
    for layer, module in zip(model.layers, twin_layers):
        for key, grad in layer.grads.items():
            reference = {"W": module.weight.grad, "b": module.bias.grad, "gamma": module.weight.grad,
                         "beta": module.bias.grad}[key].numpy()
            if isinstance(layer, layers.Dense) and key == "W":
                reference = reference.T  # nn.Linear keeps (out, in)
            np.testing.assert_allclose(backend.to_numpy(grad), reference, rtol=1e-8, atol=1e-11,
                                       err_msg=f"{layer.name}.{key}")


# ---------------------------------------------------------------------------------------------------------
# LayerNorm, GroupNorm, GlobalAvgPool2D and Residual: fast layer, twin and PyTorch side by side, three Adam steps
# ---------------------------------------------------------------------------------------------------------

def load_torch_twin():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
    import torch_twin
    return torch_twin


def paired_modules(layers_, modules):
    """(minicnn layer, its torch module) for every layer, those inside a Residual and its ResidualTwin too."""
    for layer, module in zip(layers_, modules):
        yield layer, module
        if isinstance(layer, layers.Residual):
            yield from paired_modules(layer.body, module.body)
            yield from paired_modules(layer.shortcut, module.shortcut)


def torch_counterpart(layer, module, key, gradient=False):
    """The torch values of ``layer``'s param (or buffer) ``key``, or of its gradient, in minicnn's layout."""
    tensor = {"W": module.weight, "b": module.bias, "gamma": module.weight, "beta": module.bias,
              "running_mean": getattr(module, "running_mean", None), "running_var": getattr(module, "running_var", None)}[key]
    values = (tensor.grad if gradient else tensor).detach().numpy()
    return values.T if isinstance(layer, layers.Dense) and key == "W" else values   # nn.Linear keeps (out, in)


def compare_with_torch(model, twin, gradients=False):
    """Every param and buffer (with ``gradients``: every grad) of the layers that hold their own arrays."""
    for layer, module in paired_modules(model.layers, list(twin)):
        if isinstance(layer, layers.Residual):
            continue
        arrays = layer.grads if gradients else dict(layer.params, **layer.buffers)
        for key, value in arrays.items():
            np.testing.assert_allclose(backend.to_numpy(value), torch_counterpart(layer, module, key, gradients),
                                       rtol=1e-8, atol=1e-10, err_msg=f"{layer.name}.{key}")


NEW_LAYER_NETWORKS = {
    "LayerNorm": lambda: [layers.Conv2D(4, 3, padding=1), layers.LayerNorm(), layers.ReLU(), layers.Flatten(),
                          layers.Dense(3)],
    "LayerNorm-flat": lambda: [layers.Flatten(), layers.Dense(6), layers.LayerNorm(), layers.ReLU(), layers.Dense(3)],
    "GroupNorm": lambda: [layers.Conv2D(4, 3, padding=1), layers.GroupNorm(2), layers.ReLU(), layers.Flatten(),
                          layers.Dense(3)],
    "GlobalAvgPool2D": lambda: [layers.Conv2D(4, 3, padding=1), layers.ReLU(), layers.GlobalAvgPool2D(),
                                layers.Dense(3)],
    "Residual": lambda: [layers.Conv2D(4, 3, padding=1, use_bias=False), layers.BatchNorm(), layers.ReLU(),
                         layers.Residual([layers.Conv2D(6, 3, stride=2, padding=1, use_bias=False), layers.BatchNorm(),
                                          layers.ReLU(), layers.Conv2D(6, 3, padding=1, use_bias=False),
                                          layers.GroupNorm(3)]),   # shapes change: the projection shortcut
                         layers.ReLU(),
                         layers.Residual([layers.Conv2D(6, 3, padding=1, use_bias=False), layers.LayerNorm()]),
                         layers.GlobalAvgPool2D(), layers.Dense(3)],
}


@pytest.mark.parametrize("name", sorted(NEW_LAYER_NETWORKS))
def test_new_layers_equal_their_twins_and_torch_over_three_adam_steps(name):
    from minicnn import reference
    torch_twin = load_torch_twin()
    model = Sequential(NEW_LAYER_NETWORKS[name](), input_shape=(2, 6, 6), dtype="float64", seed=0)
    rng = np.random.default_rng(0)
    for layer in mc_every_layer(model.layers):   # gamma of ones would hide a missing factor
        if isinstance(layer, (layers.BatchNorm, layers.LayerNorm, layers.GroupNorm)):
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, layer.params["gamma"].shape)
            layer.params["beta"][...] = rng.standard_normal(layer.params["beta"].shape)
    twin_model = Sequential([reference.reference_twin(layer) for layer in model.layers], input_shape=(2, 6, 6),
                            dtype="float64", seed=0)
    for key, value in model.arrays().items():
        twin_model.arrays()[key][...] = value
    torch_model = torch_twin.torch_twin(model).double()
    ours, twins = optim.Adam(model, lr=1e-2), reference.ReferenceOptimizer(twin_model, reference.adam, lr=1e-2)
    theirs = torch.optim.Adam(torch_model.parameters(), lr=1e-2)
    loss = SoftmaxCrossEntropy()
    for _ in range(3):
        x, labels = rng.standard_normal((4, 2, 6, 6)), rng.integers(0, 3, 4)
        results = []
        for network in (model, twin_model):
            loss.forward(network.forward(x, training=True), labels)
            results.append(backend.to_numpy(network.backward(loss.backward())))
        x_t = as_torch(x)
        theirs.zero_grad()
        F.cross_entropy(torch_model(x_t), torch.from_numpy(labels)).backward()
        np.testing.assert_allclose(results[0], x_t.grad.numpy(), rtol=1e-8, atol=1e-11, err_msg="dx")
        np.testing.assert_allclose(results[1], results[0], rtol=1e-9, atol=1e-12, err_msg="dx of the twins")
        compare_with_torch(model, torch_model, gradients=True)
        ours.step()
        twins.step()
        theirs.step()
    compare_with_torch(model, torch_model)
    for key, value in model.arrays().items():
        np.testing.assert_allclose(twin_model.arrays()[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    x = rng.standard_normal((3, 2, 6, 6))
    torch_model.eval()
    np.testing.assert_allclose(backend.to_numpy(model.forward(x)), torch_model(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-8, atol=1e-10)


def mc_every_layer(layers_):
    from minicnn.layers.base import every_layer
    return every_layer(layers_)


@pytest.mark.parametrize("training", [True, False])
def test_resnet20_matches_its_torch_twin(training):
    from minicnn.lab import zoo
    model = zoo.build("resnet20", seed=0, dtype="float64")
    twin = load_torch_twin().torch_twin(model).double()
    twin.train(training)
    rng = np.random.default_rng(0)
    x, labels = rng.random((2,) + model.input_shape), rng.integers(0, 10, 2)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(model.forward(x, training=training), labels)
    model.backward(loss.backward())
    value_t = F.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(labels))
    value_t.backward()
    assert value == pytest.approx(value_t.item(), rel=1e-10)
    compare_with_torch(model, twin, gradients=True)
    if training:   # the running statistics moved the same way, inside the blocks too
        for layer, module in paired_modules(model.layers, list(twin)):
            if isinstance(layer, layers.BatchNorm):
                np.testing.assert_allclose(layer.buffers["running_var"], module.running_var.numpy(), rtol=1e-10)
