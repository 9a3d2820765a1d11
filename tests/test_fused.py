"""The fused BatchNorm -> activation -> MaxPool2D block against the three layers run one by one."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import layers
from minicnn.lab import zoo
from minicnn.runtime import threads
from minicnn.runtime.fusion import NormalizeActivatePool, execution_steps
from minicnn.model import Sequential


def twin_models(activation, pool_size, stride, shape, gamma, beta, dtype, momentum=None):
    """The same Conv2D -> BatchNorm -> activation -> MaxPool2D -> Flatten -> Dense, fused and unfused."""
    models = []
    for fuse in (True, False):
        model = Sequential([layers.Conv2D(shape[0], 3, padding="same"), layers.BatchNorm(momentum=momentum),
                            activation(), layers.MaxPool2D(pool_size, stride=stride), layers.Flatten(),
                            layers.Dense(3)], input_shape=(2,) + shape[1:], seed=0, dtype=dtype, fuse=fuse)
        model.layers[1].params["gamma"][...] = gamma
        model.layers[1].params["beta"][...] = beta
        models.append(model)
    return models


ACTIVATIONS = {"ReLU": layers.ReLU, "LeakyReLU(0.1)": lambda: layers.LeakyReLU(0.1),
               "LeakyReLU(0)": lambda: layers.LeakyReLU(0.0), "LeakyReLU(1)": lambda: layers.LeakyReLU(1.0)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@settings(max_examples=12, deadline=None)
@given(data=st.data(), training=st.booleans())
def test_the_block_gives_the_unfused_outputs_and_gradients(activation, dtype, data, training):
    channels = data.draw(st.integers(1, 5), label="channels")
    height, width = data.draw(st.integers(2, 9), label="height"), data.draw(st.integers(2, 9), label="width")
    pool_size = data.draw(st.sampled_from([1, 2, 3]), label="pool")
    if pool_size > min(height, width):
        pool_size = 1
    stride = data.draw(st.sampled_from([None, pool_size + 1]), label="stride")   # windows that do not overlap
    batch = data.draw(st.integers(1, 4), label="batch")
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16), label="seed"))
    # random gamma, some negative (the block takes those channels' minimum), some exactly 0
    gamma = rng.choice([-1.5, -0.3, 0.0, 0.7, 2.0], size=channels)
    beta = rng.standard_normal(channels)
    fused, unfused = twin_models(ACTIVATIONS[activation], pool_size, stride, (channels, height, width), gamma, beta,
                                 dtype)
    assert isinstance(execution_steps(fused.layers, True, {})[1], NormalizeActivatePool)
    # a permutation: no two inputs equal, so no ties other than those the zero padding and ReLU make
    x = (rng.permutation(batch * 2 * height * width).reshape(batch, 2, height, width) / 7.0).astype(dtype)
    if training and batch * height * width < 2:
        return
    outputs = [model.forward(x, training=training) for model in (fused, unfused)]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    dlogits = rng.standard_normal(outputs[0].shape).astype(dtype)
    dx = [model.backward(dlogits) for model in (fused, unfused)]
    tolerance = {"float32": 2e-4, "float64": 1e-10}[dtype]
    for index in (0, 1, 5):
        for key, grad in unfused.layers[index].grads.items():
            np.testing.assert_allclose(fused.layers[index].grads[key], grad, rtol=tolerance,
                                       atol=tolerance * (1 + np.abs(grad).max()), err_msg=f"layer {index} {key}")
    np.testing.assert_allclose(dx[0], dx[1], rtol=tolerance, atol=tolerance * (1 + np.abs(dx[1]).max()))
    for key in ("running_mean", "running_var"):
        np.testing.assert_array_equal(fused.layers[1].buffers[key], unfused.layers[1].buffers[key])


def test_the_flagship_fused_trains_as_unfused_and_keeps_its_dtype_and_threads_result():
    # real pixels are full of ties (zero background): the block sends each window's gradient to its first maximum
    x = np.zeros((8, 1, 28, 28), dtype=np.float32)
    x[:, :, 6:20, 8:22] = np.random.default_rng(0).integers(0, 4, (8, 1, 14, 14)) / 3.0
    labels = np.arange(8) % 10
    results = []
    for fuse, count in ((True, 2), (False, 2), (True, 1)):
        model = zoo.build("awasthi-enhanced-cnn", seed=0)
        model.fuse = fuse
        threads.set_threads(count)
        try:
            from minicnn.losses import SoftmaxCrossEntropy
            loss = SoftmaxCrossEntropy()
            logits = model.forward(x, training=True)
            loss.forward(logits, labels)
            model.backward(loss.backward())
        finally:
            threads.set_threads(None)
        assert logits.dtype == np.float32
        results.append((logits, {f"{index}/{key}": grad for index, layer in enumerate(model.layers)
                                 for key, grad in layer.grads.items()}))
    fused_steps = [step for step in model.last_steps if isinstance(step, NormalizeActivatePool)]
    assert [step.name for step in fused_steps] == ["batch_norm+re_lu+max_pool2d", "batch_norm_1+re_lu_1+max_pool2d_1",
                                                  "batch_norm_2+re_lu_2+max_pool2d_2"]
    # fused or not, on the same threads: the same logits, bit for bit; on one thread, float32 sums in another order
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_allclose(results[2][0], results[0][0], rtol=1e-4, atol=1e-5)
    for logits, grads in results[1:]:
        for key, grad in grads.items():
            assert grad.dtype == np.float32, key
            # a conv bias before BatchNorm has a gradient of rounding noise: compared at its layer's scale
            index = key.split("/")[0]
            scale = max(np.abs(other).max() for name, other in grads.items() if name.split("/")[0] == index)
            np.testing.assert_allclose(results[0][1][key], grad, rtol=1e-3, atol=1e-4 * scale, err_msg=key)


def test_fuse_false_runs_every_layer_on_its_own_and_patterns_that_do_not_fit_are_left_alone():
    model = zoo.build("awasthi-enhanced-cnn", seed=0)
    model.fuse = False
    model.forward(np.zeros((2, 1, 28, 28), dtype=np.float32))
    assert model.last_steps == model.layers
    # overlapping windows, a decreasing activation, alpha above 1, an average pooling: not fused
    for triple, input_shape in (([layers.BatchNorm(), layers.ReLU(), layers.MaxPool2D(3, stride=2)], (2, 7, 7)),
                                ([layers.BatchNorm(), layers.LeakyReLU(-0.5), layers.MaxPool2D()], (2, 6, 6)),
                                ([layers.BatchNorm(), layers.LeakyReLU(1.5), layers.MaxPool2D()], (2, 6, 6)),
                                ([layers.BatchNorm(), layers.ReLU(), layers.AvgPool2D()], (2, 6, 6))):
        model = Sequential(triple, input_shape=input_shape)
        assert execution_steps(model.layers, True, {}) == model.layers, triple


def test_the_fused_block_keeps_the_batch_innermost_layout():
    from minicnn.runtime.layout import memory_order
    model = zoo.build("awasthi-enhanced-cnn", seed=0)
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    z = model.layers[0].forward(x, training=True)
    block = execution_steps(model.layers, True, {})[1]
    out = block.forward(z, training=True)
    dz = block.backward(out.copy(order="K"))
    assert memory_order(out) == memory_order(dz) == memory_order(z) == (1, 2, 3, 0)


def test_the_fused_block_refuses_a_wrong_dout_naming_the_pool():
    model = zoo.build("awasthi-enhanced-cnn", seed=0)
    model.forward(np.zeros((2, 1, 28, 28), dtype=np.float32), training=True)
    block = model.last_steps[1]
    with pytest.raises(ValueError, match=r"MaxPool2D 'max_pool2d' backward expected dout of shape \(2, 32, 14, 14\)"):
        block.backward(np.zeros((2, 32, 7, 7), dtype=np.float32))


def test_on_a_device_the_block_takes_every_branch_and_gives_the_unfused_numbers(fake_gpu):
    # on a GPU the block does not ask whether some gamma is <= 0 (that would wait for the GPU): it computes
    # the minima and the first values for every channel and picks per channel
    from minicnn import backend
    results = []
    for fuse in (True, False):
        model = Sequential([layers.Conv2D(3, 3, padding="same"), layers.BatchNorm(), layers.ReLU(),
                            layers.MaxPool2D(), layers.Flatten(), layers.Dense(2)], input_shape=(1, 6, 6), seed=0,
                           fuse=fuse)
        model.layers[1].params["gamma"][...] = backend.to_device(np.array([1.5, -0.5, 0.0], dtype=np.float32))
        x = backend.to_device(np.random.default_rng(0).permutation(4 * 36).reshape(4, 1, 6, 6).astype(np.float32))
        logits = model.forward(x, training=True)
        dx = model.backward(backend.xp.ones(logits.shape, dtype=np.float32))
        results.append((backend.to_numpy(logits), backend.to_numpy(dx),
                        {key: backend.to_numpy(grad) for key, grad in model.layers[1].grads.items()}))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)
    for key, grad in results[1][2].items():
        np.testing.assert_allclose(results[0][2][key], grad, rtol=1e-4, atol=1e-5, err_msg=key)


def test_a_replaced_layer_gets_a_new_block_and_the_old_block_is_dropped():
    model = Sequential([layers.Conv2D(2, 3), layers.BatchNorm(), layers.ReLU(), layers.MaxPool2D(), layers.Flatten(),
                        layers.Dense(2)], input_shape=(1, 6, 6), seed=0)
    x = np.random.default_rng(0).standard_normal((3, 1, 6, 6)).astype(np.float32)
    model.forward(x, training=True)
    (old_block,) = model.fused_blocks.values()
    replacement = layers.LeakyReLU(0.2)
    replacement.build(model.layers[2].input_shape)
    model.layers[2] = replacement
    model.forward(x, training=True)
    (block,) = model.fused_blocks.values()
    assert block is not old_block and block.activation is replacement and model.last_steps[1] is block
    model.layers[3] = layers.AvgPool2D()
    model.layers[3].build(model.layers[2].output_shape)
    model.forward(x, training=True)
    assert model.fused_blocks == {} and model.last_steps == model.layers


def test_the_summary_marks_the_layers_that_run_fused_and_keeps_the_keras_table():
    model = zoo.build("awasthi-enhanced-cnn", seed=0)
    lines = model.summary().splitlines()
    rows = {line.split()[0]: line for line in lines if line.startswith(" ") and "(None" in line}
    for name in ("batch_norm", "re_lu", "max_pool2d", "batch_norm_2", "re_lu_2", "max_pool2d_2"):
        assert ") * " in rows[name], name
    for name in ("conv2d", "flatten", "dense", "re_lu_3", "dropout"):
        assert "*" not in rows[name], name
    assert rows["batch_norm"].rstrip().endswith(" 128") and rows["batch_norm_2"].rstrip().endswith(" 512")
    assert "Total params: 422,922" in lines and "Trainable params: 422,474" in lines
    assert "Non-trainable params: 448" in lines
    note = lines.index("* runs fused, each three as one block (model.fuse = False runs every layer on its own):")
    assert lines[note - 1] == "_" * 65 and lines[note - 5] == "=" * 65
    assert lines[note + 1:] == ["  batch_norm -> re_lu -> max_pool2d", "  batch_norm_1 -> re_lu_1 -> max_pool2d_1",
                                "  batch_norm_2 -> re_lu_2 -> max_pool2d_2"]
    assert model.fused_blocks == {}   # a query: the summary makes no block
    model.fuse = False
    unfused = model.summary()
    assert "*" not in unfused and unfused.splitlines()[-1] == "_" * 65
    assert [line.replace(" *", "  ") for line in lines[:note]] == unfused.splitlines()


def test_the_block_writes_only_its_own_state_and_the_batchnorms_grads_and_statistics():
    from minicnn import backend
    model = zoo.build("awasthi-enhanced-cnn", seed=0)
    x = backend.to_device(np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32))
    z = model.layers[0].forward(x, training=True)
    block = execution_steps(model.layers, True, {})[1]
    before = {id(layer): dict(vars(layer)) for layer in block.layers}
    dz = block.backward(block.forward(z, training=True).copy(order="K"))
    assert dz.shape == z.shape and block.batch_size == 3
    for layer in block.layers:
        changed = {key for key, value in vars(layer).items() if before[id(layer)].get(key, "absent") is not value}
        assert changed <= {"grads"}, (layer.name, changed)
    assert set(block.normalization.grads) == {"gamma", "beta"}
    assert block.pool.batch_size is None and block.activation.batch_size is None
