"""minicnn.explain and `minicnn explain`: saliency against central differences, Grad-CAM against PyTorch,
fooling images that fool within their bound, the model left as it was, and the command on a committed model."""
import os
import shutil
import sys

import matplotlib.image
import numpy as np
import pytest

import minicnn as mc
from minicnn import backend, cli, explain, layers
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
COMMITTED_MODEL = os.path.join(ROOT, "docs", "runs", "minicnn-best", "seed0", "model.npz")
KINDS = {"filters": [], "activations": ["--layer", "re_lu_1"], "saliency": ["--image", "0", "3"],
         "gradcam": ["--image", "1"], "fooling": ["--target", "8", "--max-steps", "5"], "class": ["--target", "3"]}


def small_network(dtype="float64", padding="same", input_shape=(2, 8, 8), seed=0):
    """Conv -> BatchNorm -> ReLU -> MaxPool -> Conv -> ReLU -> Dense, with BatchNorm's parameters and running
    statistics drawn at random (a fresh BatchNorm would be the identity in inference)."""
    model = Sequential([layers.Conv2D(4, 3, padding=padding), layers.BatchNorm(), layers.ReLU(), layers.MaxPool2D(2),
                        layers.Conv2D(5, 3, padding=padding), layers.ReLU(), layers.Dropout(0.3), layers.Flatten(),
                        layers.Dense(3)], input_shape=input_shape, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    norm = model.layers[1]
    for group, key, values in ((norm.params, "gamma", rng.uniform(0.5, 1.5, 4)), (norm.params, "beta", rng.normal(0, 0.3, 4)),
                               (norm.buffers, "running_mean", rng.normal(0, 0.3, 4)),
                               (norm.buffers, "running_var", rng.uniform(0.5, 2.0, 4))):
        group[key] = backend.to_device(values, dtype=model.dtype)
    return model


def images_for(model, count, seed=1):
    return np.random.default_rng(seed).random((count,) + model.input_shape).astype(model.dtype)


# ----------------------------------------------------------------------------
# Against independent computations
# ----------------------------------------------------------------------------

def test_saliency_is_the_largest_absolute_score_gradient_over_the_channels_by_central_differences(numpy_backend):
    model = small_network()
    x, labels = images_for(model, 3), np.array([2, 0, 1])
    maps = explain.saliency(model, x, labels)
    assert maps.shape == (3, 8, 8) and maps.dtype == np.float64
    numeric, step = np.zeros(x.shape), 1e-6
    for index in np.ndindex(x.shape):
        for sign in (1, -1):
            moved = x.copy()
            moved[index] += sign * step
            numeric[index] += sign * model.forward(moved)[index[0], labels[index[0]]] / (2 * step)
    np.testing.assert_allclose(maps, np.abs(numeric).max(axis=1), rtol=1e-6, atol=1e-8)


def torch_grad_cam(model, x, labels, index):
    """Grad-CAM by PyTorch's autograd on the torch twin of ``model``: the low-resolution maps (N, h, w)."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        from torch_twin import torch_twin
    finally:
        sys.path.pop(0)
    twin = torch_twin(model).double().eval()
    for layer, module in zip(model.layers, twin):
        if isinstance(layer, layers.BatchNorm):   # the twin starts from fresh statistics: give it ours
            for name, array in list(layer.params.items()) + list(layer.buffers.items()):
                getattr(module, {"gamma": "weight", "beta": "bias"}.get(name, name)).data = \
                    torch.from_numpy(backend.to_numpy(array).copy())
    activation = torch.from_numpy(x)
    for module in twin[:index + 1]:
        activation = module(activation)
    activation.retain_grad()
    logits = twin[index + 1:](activation)
    logits[torch.arange(len(labels)), torch.from_numpy(labels)].sum().backward()
    weights = activation.grad.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activation).sum(dim=1)).detach()


@pytest.mark.parametrize("layer", ["re_lu_1", "conv2d", 5, None])
def test_grad_cam_is_pytorchs_on_the_same_weights(numpy_backend, layer):
    torch = pytest.importorskip("torch")
    model = small_network()
    x, labels = images_for(model, 4), np.array([0, 1, 2, 1])
    index = {"re_lu_1": 5, "conv2d": 0, 5: 5, None: 5}[layer]   # by default: the last conv layer's ReLU
    low_resolution = torch_grad_cam(model, x, labels, index)
    # "same" padding: every position sits where a plain resize puts it
    expected = torch.nn.functional.interpolate(low_resolution[:, None], size=(8, 8), mode="bilinear",
                                               align_corners=False)[:, 0].numpy()
    maps = explain.grad_cam(model, x, labels, layer)
    assert maps.shape == (4, 8, 8) and maps.dtype == np.float64 and maps.max() > 0
    np.testing.assert_allclose(maps, expected, rtol=1e-9, atol=1e-12)


def test_grad_cam_puts_each_position_of_an_unpadded_network_at_its_receptive_fields_centre(numpy_backend):
    model = Sequential([layers.Conv2D(4, 3), layers.ReLU(), layers.Conv2D(5, 3), layers.ReLU(), layers.Flatten(),
                        layers.Dense(3)], input_shape=(1, 9, 9), dtype="float64", seed=0)   # 9 -> 7 -> 5 positions
    x, labels = images_for(model, 3), np.array([0, 1, 2])
    low_resolution = torch_grad_cam(model, x, labels, 3).numpy()
    maps = explain.grad_cam(model, x, labels)
    assert low_resolution.max() > 0
    # position r of the 5x5 maps sees pixels r to r + 4: it is centred on pixel 2 + r
    np.testing.assert_allclose(maps[:, 2:7, 2:7], low_resolution, rtol=1e-9, atol=1e-12)
    # outside the outermost centres, the outermost positions' values (clamped, not stretched)
    np.testing.assert_array_equal(maps[:, 0], maps[:, 2])
    np.testing.assert_array_equal(maps[:, :, 8], maps[:, :, 6])


# ----------------------------------------------------------------------------
# The model as it was; dtypes; a device
# ----------------------------------------------------------------------------

def every_explanation(model, x, labels):
    """Each function of explain once, on ``x`` (N, C, H, W) and ``labels`` (N,)."""
    return {"filters": explain.filters(model), "activations": explain.activations(model, x, "max_pool2d"),
            "saliency": explain.saliency(model, x, labels), "grad_cam": explain.grad_cam(model, x, labels),
            "fooling": explain.fooling_images(model, x, (labels + 1) % 3, max_steps=3).images,
            "fgsm": explain.fooling_images(model, x, (labels + 1) % 3, method="fgsm", step=0.1).perturbations,
            "class": explain.class_visualization(model, [0, 2], steps=6, pixel_range=(0.0, 1.0))}


def state(model):
    """Every parameter, running statistic and gradient (as (array object, values)), and the generator's state."""
    arrays = {f"{index}/{kind}/{key}": (array, backend.to_numpy(array).copy())
              for index, layer in enumerate(model.layers)
              for kind, group in (("param", layer.params), ("buffer", layer.buffers), ("grad", layer.grads))
              for key, array in group.items()}
    return arrays, model.rng.bit_generator.state


def test_every_explanation_leaves_parameters_statistics_gradients_and_generator_as_they_were(numpy_backend):
    model = small_network(dtype="float32")
    x, labels = images_for(model, 4), np.array([0, 1, 2, 0])
    loss = SoftmaxCrossEntropy()   # a training step's backward: grads that an optimizer step would now use
    loss.forward(model.forward(x, training=True), labels)
    model.backward(loss.backward(), input_gradient=False)
    (before, generator) = state(model)
    every_explanation(model, x, labels)
    after, generator_after = state(model)
    assert after.keys() == before.keys() and generator_after == generator
    for key, (array, values) in before.items():
        assert after[key][0] is array, f"{key} is another array now"
        np.testing.assert_array_equal(after[key][1], values, err_msg=key)


def test_float32_in_float32_out_as_host_arrays(numpy_backend):
    model = small_network(dtype="float32")
    x, labels = images_for(model, 2), np.array([0, 2])
    for name, result in every_explanation(model, x, labels).items():
        assert type(result) is np.ndarray and result.dtype == np.float32, name


def test_on_a_device_every_explanation_computes_there_and_returns_host_arrays(fake_gpu):
    model = small_network(dtype="float32")   # built after the fixture: its parameters live on the device
    x, labels = images_for(model, 2), np.array([0, 2])
    for name, result in every_explanation(model, backend.to_device(x), labels).items():
        assert type(result) is np.ndarray and result.dtype == np.float32, name


# ----------------------------------------------------------------------------
# Fooling images and class visualizations on a trained model
# ----------------------------------------------------------------------------

def halves(count, seed):
    """1x8x8 images of three classes, told apart by where the light is: the left half (0), the right
    half (1), the top half (2); faint noise everywhere."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = 0.15 * rng.random((count, 1, 8, 8))
    for image, label in zip(images, labels):
        image[0, :, :4] += 0.7 * (label == 0)
        image[0, :, 4:] += 0.7 * (label == 1)
        image[0, :4, :] += 0.7 * (label == 2)
    return images.astype(np.float32), labels


@pytest.fixture(scope="module")
def trained():
    """A small network trained on halves() until it tells them apart, and fresh images it classifies."""
    mc.set_backend("numpy")
    model = small_network(dtype="float32", input_shape=(1, 8, 8))
    optimizer, loss = mc.optim.Adam(model, lr=0.01), SoftmaxCrossEntropy()
    for step in range(60):
        x, y = halves(32, seed=step)
        loss.forward(model.forward(x, training=True), y)
        model.backward(loss.backward(), input_gradient=False)
        optimizer.step()
    x, y = halves(12, seed=1000)
    assert (model.predict(x) == y).mean() == 1.0, "the network did not learn the three halves"
    return model, x, y


def test_fooling_images_are_taken_for_their_targets_within_the_bound_asked(trained):
    model, x, labels = trained
    targets = (labels + 1) % 3
    fooled = explain.fooling_images(model, x, targets, step=0.2, max_steps=200, max_change=0.5,
                                    pixel_range=(0.0, 1.0))
    assert (fooled.predictions == targets).all() and (model.predict(fooled.images) == targets).all()
    assert np.abs(fooled.perturbations).max() <= 0.5 + 1e-6
    assert fooled.images.min() >= 0.0 and fooled.images.max() <= 1.0
    np.testing.assert_allclose(fooled.images - x, fooled.perturbations, atol=1e-6)
    # a normalized step of 0.2 moves an image by at most 0.2 in L2 norm, for as many steps as it took
    assert (fooled.steps >= 1).all()
    assert (np.sqrt((fooled.perturbations ** 2).sum(axis=(1, 2, 3))) <= 0.2 * fooled.steps + 1e-5).all()


def test_an_fgsm_step_moves_every_pixel_by_the_step_and_leaves_an_image_already_fooled(trained):
    model, x, labels = trained
    targets = (labels + 1) % 3
    targets[0] = labels[0]   # already taken for its target
    fooled = explain.fooling_images(model, x, targets, method="fgsm", step=0.05)
    moved = np.abs(fooled.perturbations[1:])
    assert np.allclose(moved[moved > 0], 0.05, atol=1e-6) and (moved > 0).mean() > 0.9
    assert not fooled.perturbations[0].any() and fooled.steps.tolist() == [0] + [1] * (len(x) - 1)
    assert (fooled.predictions == model.predict(fooled.images)).all()


def test_a_class_visualization_is_scored_as_its_class_and_stays_in_the_pixel_range(trained):
    model, _, _ = trained
    images = explain.class_visualization(model, [0, 1, 2], steps=60, pixel_range=(0.0, 1.0))
    assert images.shape == (3, 1, 8, 8) and images.min() >= 0.0 and images.max() <= 1.0
    assert model.predict(images).tolist() == [0, 1, 2]
    one = explain.class_visualization(model, 1, steps=60, pixel_range=(0.0, 1.0))
    np.testing.assert_array_equal(one, explain.class_visualization(model, 1, steps=60, pixel_range=(0.0, 1.0)))
    assert one.shape == (1, 8, 8)


# ----------------------------------------------------------------------------
# Mistakes, said in one line
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda model, x: explain.activations(model, x, "conv9"),
     "has no layer 'conv9'; its conv layers are conv2d, conv2d_1 (model.summary() lists every layer)"),
    (lambda model, x: explain.activations(model, x, 12), "has 9 layers, numbered 0 to 8: there is no layer 12"),
    (lambda model, x: explain.filters(model, "re_lu"), "re_lu is a ReLU, not a convolution; its conv layers are"),
    (lambda model, x: explain.grad_cam(model, x, [0, 1], "dense"), "Grad-CAM needs a layer with feature maps"),
    (lambda model, x: explain.saliency(model, x, [0, 3]), "class 3 is out of range: sequential has 3 classes, 0 to 2"),
    (lambda model, x: explain.saliency(model, (x * 255).astype(np.uint8), [0, 1]), "give model.prepare(images)"),
    (lambda model, x: explain.saliency(model, x[:, :, :4], [0, 1]), "takes images (N, 2, 8, 8), got an array"),
    (lambda model, x: explain.fooling_images(model, x, [0, 1], method="pgd"), "method is 'gradient'"),
])
def test_a_mistake_is_named(numpy_backend, call, message):
    model = small_network()
    with pytest.raises(ValueError) as raised:
        call(model, images_for(model, 2))
    assert message in str(raised.value)


def test_a_network_of_features_has_no_image_to_explain(numpy_backend):
    model = Sequential([layers.Dense(3)], input_shape=(12,))
    with pytest.raises(ValueError, match="takes 12 features .* not images"):
        explain.saliency(model, np.zeros((1, 12), np.float32), [0])


# ----------------------------------------------------------------------------
# The command, on a model committed in docs/runs
# ----------------------------------------------------------------------------

def run(capsys, *arguments):
    status = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def test_set(tmp_path_factory):
    """A small Fashion-MNIST-shaped test set (random pixels): the command's images, without the real data."""
    from conftest import write_small_fashion_mnist
    return str(write_small_fashion_mnist(tmp_path_factory.mktemp("data") / "fashion", num_train=20, num_test=10))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_command_draws_each_kind_for_a_committed_model(capsys, tmp_path, test_set, kind):
    out = tmp_path / f"{kind}.png"
    status, printed, error = run(capsys, "explain", COMMITTED_MODEL, kind, "--out", out, "--data-dir", test_set,
                                 *KINDS[kind])
    assert status == 0, error
    assert f"written to {out}" in printed and error == ""   # its config.json beside it says how it was prepared
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300 and pixels.std() > 0.01
    assert os.path.getsize(out) < 300_000


def test_an_older_model_file_alone_is_explained_with_a_warning_naming_what_is_assumed(capsys, tmp_path, test_set):
    model = tmp_path / "model.npz"
    shutil.copy(COMMITTED_MODEL, model)   # without the config.json of its run
    status, _, error = run(capsys, "explain", model, "saliency", "--out", tmp_path / "s.png", "--data-dir", test_set)
    assert status == 0 and "does not record how its input was prepared" in error


@pytest.mark.parametrize("arguments, message", [
    (["gradcam", "--layer", "conv9"], "--layer conv9: minicnn-best has no layer 'conv9'; its conv layers are "
                                      "conv2d, conv2d_1, conv2d_2, conv2d_3"),
    (["filters", "--layer", "dense"], "--layer dense: dense is a Dense, not a convolution"),
    (["gradcam", "--layer", "dense"], "Grad-CAM needs a layer with feature maps (C, h, w); dense gives (256,)"),
    (["saliency", "--image", "10"], "--image 10 is out of range: the test set has 10 images, 0 to 9"),
    (["saliency", "--target", "10"], "--target 10 is out of range: minicnn-best has 10 classes, 0 (T-shirt/top) "
                                     "to 9 (Ankle boot)"),
    (["fooling"], "fooling needs --target K, the class to fool the model into: 0 T-shirt/top, 1 Trouser"),
])
def test_a_bad_command_line_gets_one_line_and_status_2(capsys, tmp_path, test_set, arguments, message):
    status, _, error = run(capsys, "explain", COMMITTED_MODEL, *arguments, "--out", tmp_path / "x.png",
                           "--data-dir", test_set)
    assert status == 2 and error.count("\n") == 1 and message in error, error
    assert error.startswith("minicnn explain: error: ") and not (tmp_path / "x.png").exists()


def test_a_network_of_pca_features_is_refused_in_one_line(capsys, tmp_path):
    path = tmp_path / "model.npz"
    Sequential([layers.Dense(10)], input_shape=(187,)).save(path)
    status, _, error = run(capsys, "explain", path, "saliency", "--out", tmp_path / "x.png")
    assert status == 2 and error.count("\n") == 1 and "takes 187 PCA features, not images" in error
