"""numpy and cupy train the flagship to the same numbers: same seed, same weights, same steps.

The initial weights, the dropout masks and the augmentation are drawn on the
host from seeded numpy Generators, so both backends start from, and draw,
identical numbers; what may differ is only the order of float32 sums (cuBLAS
against OpenBLAS, CUDA reductions against NumPy's). Measured on the CPU, float32
against float64 with dropout off (dropout draws its float32 and float64 masks
differently): on the three steps, logits 4e-6 apart, losses 5e-7, SGD weights
2e-7; on the two fit() epochs, losses 2e-7 relative, weights 3e-7. The
tolerances below leave a margin of 20 or more over those. (At lr 0.01 the
two fit() epochs already amplify rounding to 3e-4 in the weights: that run uses 1e-3.)
Skipped where CuPy or a GPU is missing; benchmarks/gpu_check.sh runs it on one.
"""
import numpy as np
import pytest

from minicnn import backend, layers, optim
from minicnn.lab import zoo
from minicnn.data import Augmenter
from minicnn.lab.recipes import FLIP_AND_CROP
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.train import fit

pytestmark = pytest.mark.skipif("cupy" not in backend.available_backends(), reason="needs CuPy and an NVIDIA GPU")

STEPS = 3
LR = {"SGD": 0.01, "Adam": 1e-3}


def images_and_labels(count=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, count)


def on_backend(name, work):
    """``work()`` with backend ``name`` active, the previous one restored after."""
    previous = backend.name
    backend.set_backend(name)
    try:
        return work()
    finally:
        backend.set_backend(previous)


def host_arrays(model):
    return {key: backend.to_numpy(value).astype(np.float64) for key, value in model.arrays().items()}


def flagship_steps(optimizer_name, fuse=True):
    """Three training steps of the flagship on one batch: (logits of each step, loss of each step, final arrays)."""
    x, y = images_and_labels()
    model = zoo.build(zoo.FLAGSHIP, seed=0)
    model.fuse = fuse
    optimizer = optim.OPTIMIZERS[optimizer_name](model, lr=LR[optimizer_name])
    loss = SoftmaxCrossEntropy()
    logits_seen, losses = [], []
    for _ in range(STEPS):
        logits = model.forward(backend.to_device(x), training=True)
        losses.append(float(loss.forward_array(logits, y)))
        logits_seen.append(backend.to_numpy(logits).astype(np.float64))
        model.backward(loss.backward(), input_gradient=False)
        optimizer.step()
    return logits_seen, losses, host_arrays(model)


def moved_by_float32_noise(model):
    """Keys of the Conv2D biases right before a BatchNorm, and of that BatchNorm's running mean.

    The biases' true gradient is 0 (BatchNorm subtracts each channel's mean), so
    they move on float32 noise, and the running mean tracks the bias it follows.
    """
    keys = set()
    for index, (layer, following) in enumerate(zip(model.layers, model.layers[1:])):
        if isinstance(layer, layers.Conv2D) and layer.use_bias and isinstance(following, layers.BatchNorm):
            keys |= {f"param/{index}/b", f"buffer/{index + 1}/running_mean"}
    return keys


# fused: the BatchNorm -> ReLU -> MaxPool2D blocks as training runs them; unfused: every layer on its own,
# so that a failure on the GPU says which of the two it is in
@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("optimizer_name", ["SGD", "Adam"])
def test_flagship_steps_give_the_same_logits_loss_and_weights(optimizer_name, fuse):
    numpy_logits, numpy_losses, numpy_arrays = on_backend("numpy", lambda: flagship_steps(optimizer_name, fuse))
    cupy_logits, cupy_losses, cupy_arrays = on_backend("cupy", lambda: flagship_steps(optimizer_name, fuse))
    for step, (expected, got) in enumerate(zip(numpy_logits, cupy_logits), 1):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"logits of step {step}")
    np.testing.assert_allclose(cupy_losses, numpy_losses, rtol=1e-5, atol=1e-5, err_msg="losses")
    noise_driven = moved_by_float32_noise(zoo.build(zoo.FLAGSHIP))
    assert {"param/0/b", "param/4/b", "param/8/b"} <= noise_driven
    for key, expected in numpy_arrays.items():
        if optimizer_name == "SGD":
            np.testing.assert_allclose(cupy_arrays[key], expected, rtol=1e-4, atol=1e-5, err_msg=key)
            continue
        # Adam moves a parameter by about lr whatever the size of its gradient, so a gradient that is float32
        # noise (or within it of 0) moves it anywhere within STEPS * lr. Measured float32 against float64:
        # the noise-driven arrays off everywhere, one value in 294,912 of one other array, all within 4e-4.
        assert np.abs(cupy_arrays[key] - expected).max() <= 2 * STEPS * LR["Adam"], key
        if key not in noise_driven:
            off = ~np.isclose(cupy_arrays[key], expected, rtol=1e-4, atol=1e-5)
            assert off.mean() <= 1e-4, f"{key}: {off.sum()} of {off.size} values differ"


def test_fit_with_augmentation_gives_the_same_history_and_weights():
    x, y = images_and_labels(96, seed=1)

    def train():
        model = zoo.build(zoo.FLAGSHIP, seed=0)
        history = fit(model, optim.SGD(model, lr=1e-3, momentum=0.9), (x[:64], y[:64]), (x[64:], y[64:]),
                      epochs=2, batch_size=16, augment=Augmenter(**FLIP_AND_CROP), seed=3, progress=False)
        return history, host_arrays(model)

    numpy_history, numpy_arrays = on_backend("numpy", train)
    cupy_history, cupy_arrays = on_backend("cupy", train)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(cupy_history[key], numpy_history[key], rtol=1e-5, err_msg=key)
    for key in ("accuracy", "val_accuracy"):   # an argmax between two logits closer than 1e-4 may go either way
        np.testing.assert_allclose(cupy_history[key], numpy_history[key], atol=1.5 / 32, err_msg=key)
    for key, expected in numpy_arrays.items():
        np.testing.assert_allclose(cupy_arrays[key], expected, rtol=1e-4, atol=1e-5, err_msg=key)


def test_a_small_resnet_steps_give_the_same_logits_and_weights():
    # blocks inside blocks, an automatic projection, GlobalAvgPool2D: the layers a ResNet adds, on the same code path
    from test_residual import images, small_resnet

    def steps():
        model = small_resnet(seed=0)
        optimizer, loss = optim.SGD(model, lr=LR["SGD"], momentum=0.9), SoftmaxCrossEntropy()
        x, logits_seen = backend.to_device(images(16)), []
        for _ in range(STEPS):
            logits = model.forward(x, training=True)
            loss.forward_array(logits, np.arange(16) % 3)
            logits_seen.append(backend.to_numpy(logits).astype(np.float64))
            model.backward(loss.backward(), input_gradient=False)
            optimizer.step()
        return logits_seen, host_arrays(model)

    numpy_logits, numpy_arrays = on_backend("numpy", steps)
    cupy_logits, cupy_arrays = on_backend("cupy", steps)
    for step, (expected, got) in enumerate(zip(numpy_logits, cupy_logits), 1):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"logits of step {step}")
    for key, expected in numpy_arrays.items():
        np.testing.assert_allclose(cupy_arrays[key], expected, rtol=1e-4, atol=1e-5, err_msg=key)
