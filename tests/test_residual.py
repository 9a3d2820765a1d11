"""Residual, a layer that holds layers, as a layer of Sequential like any other: its shortcut, its params
reaching the optimizers and checkpoints, its summary rows, fusion inside its body, the fake GPU; and the
zoo's resnet20 built from it. Its gradients and twin: the tests driven by tests/layer_cases.py; PyTorch:
tests/test_reference_torch.py."""
import numpy as np
import pytest

from minicnn import backend, explain, layers, optim
from minicnn.lab import zoo
from minicnn.lab.recipes import recipe_for
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential
from minicnn.runtime.fusion import NormalizeActivatePool


def block(filters, stride=1, shortcut=None):
    return layers.Residual([layers.Conv2D(filters, 3, stride=stride, padding=1, use_bias=False), layers.BatchNorm(),
                            layers.ReLU(), layers.Conv2D(filters, 3, padding=1, use_bias=False), layers.BatchNorm()],
                           shortcut)


def small_resnet(seed=0, dtype="float32"):
    """Two stages, the second opened by a block with an automatic projection; a block with a shortcut of its
    own, one nested in another."""
    nested = layers.Residual([block(4), layers.ReLU(), layers.Conv2D(4, 3, padding=1, use_bias=False)])
    return Sequential([layers.Conv2D(4, 3, padding=1, use_bias=False), layers.BatchNorm(), layers.ReLU(),
                       block(4, shortcut=[layers.Conv2D(4, 1, use_bias=False)]), layers.ReLU(), nested, layers.ReLU(),
                       block(8, stride=2), layers.ReLU(),
                       layers.GlobalAvgPool2D(), layers.Dense(3)], input_shape=(1, 8, 8), seed=seed, dtype=dtype)


def images(count=4, seed=0):
    return np.random.default_rng(seed).random((count, 1, 8, 8), dtype=np.float32)


def test_the_shortcut_is_the_input_or_a_projection_when_the_body_changes_the_shape():
    same = block(4)
    same.build((4, 6, 6))
    assert same.shortcut == [] and same.output_shape == (4, 6, 6)
    changed = block(8, stride=2)
    changed.build((4, 7, 7))
    conv, norm = changed.shortcut
    assert (type(conv), conv.filters, conv.kernel_size, conv.stride, conv.use_bias) == (layers.Conv2D, 8, (1, 1), 2,
                                                                                        False)
    assert type(norm) is layers.BatchNorm and changed.output_shape == conv.output_shape == (8, 4, 4)
    assert set(changed.params) >= {"shortcut.0.W", "shortcut.1.gamma", "shortcut.1.beta"}
    assert changed.config()["shortcut"] is None   # rebuilt the same way from a file
    own = block(4, shortcut=[layers.Conv2D(4, 1, use_bias=False)])
    own.build((4, 5, 5))
    assert own.count_params() == (2 * (4 * 4 * 9 + 8) + 16, 16)


def test_a_shortcut_or_a_body_that_cannot_be_added_is_refused_naming_the_block():
    with pytest.raises(ValueError, match=r"Residual 'residual': the body gives \(4, 3, 3\) but the shortcut gives "
                                         r"\(4, 6, 6\)"):
        block(4, stride=2, shortcut=[]).build((4, 6, 6))
    with pytest.raises(ValueError, match=r"Residual 'residual': the body takes \(2, 6, 6\) to \(3, 4, 4\), which no "
                                         r"1x1 strided convolution of the input reaches; pass shortcut="):
        layers.Residual([layers.Conv2D(3, 3)]).build((2, 6, 6))
    with pytest.raises(ValueError, match="body must be a non-empty list of layers"):
        layers.Residual(layers.ReLU())
    with pytest.raises(ValueError, match="cannot build layer 'residual'"):
        Sequential([layers.Residual([layers.Flatten(), layers.Dense(3)])], input_shape=(1, 4, 4))


def test_names_inside_blocks_are_unique_and_the_model_init_reaches_them():
    model = small_resnet()
    names = [layer.name for layer in layers.base.every_layer(model.layers)]
    assert len(names) == len(set(names))
    keras = Sequential([block(3)], input_shape=(3, 4, 4), init="keras")
    assert {layer.init for layer in keras.layers[0].body if isinstance(layer, layers.Conv2D)} == {"keras"}


def test_the_summary_shows_each_block_its_layers_and_its_parameters():
    text = zoo.build("resnet20").summary()
    lines = text.splitlines()
    rows = {line.split()[0]: line for line in lines if line.startswith(" ") and "(None" in line}
    # the first block of stage 2: 4,608 + 9,216 (convolutions) + 512 (projection) + 3 x 128 (BatchNorm)
    assert "(None, 32, 14, 14)" in rows["residual_3"] and rows["residual_3"].rstrip().endswith(" 14,720")
    index = lines.index(rows["residual_3"])
    assert lines[index + 1].startswith("   conv2d_7 (Conv2D)") and lines[index + 1].rstrip().endswith(" 4,608")
    assert lines[index + 6].startswith("   shortcut: conv2d_9 (Conv2D)") and lines[index + 6].rstrip().endswith(" 512")
    assert lines[lines.index(rows["residual"]) + 6] == "   shortcut: identity"
    assert "Total params: 273,754" in lines and "Trainable params: 272,186" in lines
    assert "Non-trainable params: 1,568" in lines


def test_resnet20_has_the_count_worked_out_by_hand_and_a_recipe_the_lab_accepts():
    # docs/papers.md, "resnet20": 269,968 convolution weights + 1,568 BatchNorm + 650 Dense, written out
    assert zoo.build("resnet20").count_params() == (272_186, 1_568)
    network = zoo.NETWORKS["resnet20"]
    assert (network.trainable_params, network.non_trainable_params) == (272_186, 1_568)
    recipe = recipe_for("resnet20")
    assert set(network.recipe) <= set(zoo.RECIPE_KEYS)
    assert (recipe["optimizer"], recipe["lr"], recipe["nesterov"], recipe["batch_size"]) == ("SGD", 0.1, True, 128)
    assert recipe["schedule"] == {"name": "CosineAnnealingLR"} and recipe["keep_best"] == "val_accuracy"


def test_a_model_with_nested_blocks_saves_and_loads(tmp_path):
    model = small_resnet(seed=1)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(images(), training=True), np.arange(4) % 3)   # running statistics off their start
    keys = set(model.arrays())
    assert {"param/3/shortcut.0.W", "param/5/body.0.body.0.W", "buffer/5/body.0.body.1.running_var",
            "param/7/shortcut.0.W"} <= keys
    model.save(tmp_path / "resnet.npz")
    loaded = Sequential.load(tmp_path / "resnet.npz")
    assert loaded.summary() == model.summary()
    for key, value in model.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[key], value, err_msg=key)
    np.testing.assert_array_equal(loaded.forward(images(seed=2)), model.forward(images(seed=2)))


def test_the_optimizer_updates_the_layers_inside_the_blocks_and_resumes_from_its_state():
    model = small_resnet()
    optimizer = optim.SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    inner = model.layers[5].body[0].body[0].params["W"]
    before = inner.copy()
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(images(), training=True), np.arange(4) % 3)
    model.backward(loss.backward(), input_gradient=False)
    optimizer.step()
    assert model.layers[5].body[0].body[0].params["W"] is inner and not np.array_equal(inner, before)
    assert "5/body.0.body.0.W" in optimizer.state
    resumed = optim.SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    resumed.load_state_dict(optimizer.state_dict())
    assert set(resumed.state) == set(optimizer.state)


def test_explaining_puts_back_the_gradients_inside_the_blocks():
    model = small_resnet()
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(images(), training=True), np.arange(4) % 3)
    model.backward(loss.backward())
    inner = model.layers[5].body[0].body[3]
    array = inner.grads["W"]
    values = array.copy()
    with explain.gradients_kept(model):
        model.forward(images(seed=3))
        model.backward(np.ones((4, 3), dtype=np.float32))
        assert not np.array_equal(inner.grads["W"], values)
    assert inner.grads["W"] is array
    np.testing.assert_array_equal(array, values)


def pooling_block_model(fuse, dtype):
    body = [layers.Conv2D(3, 3, padding=1, use_bias=False), layers.BatchNorm(), layers.ReLU(), layers.MaxPool2D(),
            layers.Conv2D(3, 3, padding=1, use_bias=False), layers.BatchNorm(), layers.LeakyReLU(0.1),
            layers.MaxPool2D()]
    model = Sequential([layers.Conv2D(2, 3, padding=1), layers.Residual(body), layers.ReLU(), layers.Flatten(),
                        layers.Dense(3)], input_shape=(1, 8, 8), seed=0, dtype=dtype, fuse=fuse)
    for index, gamma in ((1, [1.5, -0.5, 0.0]), (5, [0.7, 2.0, -1.2])):
        model.layers[1].body[index].params["gamma"][...] = gamma
    return model


@pytest.mark.parametrize("dtype, tolerance", [("float32", 2e-4), ("float64", 1e-10)])
def test_fused_runs_inside_a_block_stay_fused_and_give_the_unfused_numbers(dtype, tolerance):
    fused, unfused = pooling_block_model(True, dtype), pooling_block_model(False, dtype)
    rng = np.random.default_rng(0)
    x = (rng.permutation(4 * 64).reshape(4, 1, 8, 8) / 7.0).astype(dtype)   # tie-free
    outputs = [model.forward(x, training=True) for model in (fused, unfused)]
    steps = fused.layers[1].steps
    assert [type(step) for step in steps] == [layers.Conv2D, NormalizeActivatePool] * 2
    assert unfused.layers[1].steps == unfused.layers[1].body
    np.testing.assert_array_equal(outputs[0], outputs[1])
    dlogits = rng.standard_normal(outputs[0].shape).astype(dtype)
    dx = [model.backward(dlogits) for model in (fused, unfused)]
    np.testing.assert_allclose(dx[0], dx[1], rtol=tolerance, atol=tolerance * (1 + np.abs(dx[1]).max()))
    for key, grad in unfused.layers[1].grads.items():
        np.testing.assert_allclose(fused.layers[1].grads[key], grad, rtol=tolerance,
                                   atol=tolerance * (1 + np.abs(grad).max()), err_msg=key)
    for key, value in unfused.layers[1].buffers.items():
        np.testing.assert_array_equal(fused.layers[1].buffers[key], value, err_msg=key)
    lines = fused.summary().splitlines()
    assert "   batch_norm (BatchNorm) *" in "\n".join(lines) and lines[-2:] == [
        "  batch_norm -> re_lu -> max_pool2d", "  batch_norm_1 -> leaky_re_lu -> max_pool2d_1"]
    fused.fuse = False
    assert "*" not in fused.summary() and fused.layers[1].fuse is False


def steps_of_a_small_resnet():
    """Two SGD steps of small_resnet on the active backend: (the model, the logits of each step)."""
    model = small_resnet()
    optimizer, loss = optim.SGD(model, lr=0.05, momentum=0.9), SoftmaxCrossEntropy()
    x = backend.to_device(images(8))
    logits_seen = []
    for _ in range(2):
        logits = model.forward(x, training=True)
        loss.forward_array(logits, np.arange(8) % 3)
        model.backward(loss.backward(), input_gradient=False)
        optimizer.step()
        logits_seen.append(logits)
    return model, logits_seen


def test_a_small_resnet_trains_on_the_fake_gpu_to_the_numpy_numbers_without_host_copies(request):
    # tests/test_cupy_parity.py's comparison with tests/fake_gpu.py's array standing in for CuPy's: the same
    # numbers, no copy to the host, no host array handed to the device (it would raise)
    host_model, host_logits = steps_of_a_small_resnet()
    fake_gpu = request.getfixturevalue("fake_gpu")
    device_model, device_logits = steps_of_a_small_resnet()
    assert fake_gpu.copies == 0
    assert isinstance(device_model.layers[5].params["body.0.body.0.W"], fake_gpu)
    for step, (expected, got) in enumerate(zip(host_logits, device_logits), 1):
        np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
    for key, expected in host_model.arrays().items():
        np.testing.assert_allclose(backend.to_numpy(device_model.arrays()[key]), expected, rtol=1e-5, atol=1e-6,
                                   err_msg=key)
