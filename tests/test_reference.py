"""The reference twins (minicnn/reference) as the fast layers' oracle, and the twins themselves proven right:
against central differences, against the worked examples of docs/layers.md, and against minicnn.optim.

The twins are Python loops: small shapes and few examples keep these tests quick.
"""
import ast
import copy
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from layer_cases import LAYER_CASES, build_for_checking, draw_input, draw_tie_heavy_input
from minicnn import layers, optim, reference
from minicnn.gradcheck import check_layer, check_loss_function, compare_update_rules, compare_with_reference
from minicnn.lab import zoo
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential

REFERENCE_DIRECTORY = pathlib.Path(reference.__file__).parent
DOCS = (pathlib.Path(__file__).parents[1] / "docs" / "layers.md").read_text(encoding="utf-8")


def drawn_layer_and_input(case, data):
    """A fast layer from the table, built in float64, with an input: tie-heavy for max-pooling (ties are
    where a pooling backward goes wrong), standard normal otherwise."""
    layer, shape = case.draw(data.draw)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    build_for_checking(layer, shape, rng)
    batch = data.draw(st.integers(2, 3), label="batch")
    x = draw_tie_heavy_input(rng, (batch,) + shape) if case.distinct else rng.standard_normal((batch,) + shape)
    return layer, x, rng.standard_normal((batch,) + layer.output_shape), data.draw(st.booleans(), label="training")


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda case: case.name)
@settings(max_examples=12)
@given(data=st.data())
def test_every_fast_layer_equals_its_twin(case, data):
    layer, x, dout, training = drawn_layer_and_input(case, data)
    twin = reference.reference_twin(layer)
    report = compare_with_reference(layer, twin, x=x, dout=dout, training=training, tolerance=1e-10)
    # output, dx, every parameter gradient and every buffer (BatchNorm's running statistics) after the step
    assert set(report.errors) == {"output", "input"} | set(layer.params) | set(layer.buffers)
    assert report.passed, f"{layer!r} on {x.shape}, training={training}:\n{report}"


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda case: case.name)
@settings(max_examples=6)
@given(data=st.data())
def test_every_twin_backward_matches_numerical_gradient(case, data):
    fast, shape = case.draw(data.draw)
    twin = reference.reference_twin(fast)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    build_for_checking(twin, shape, rng)
    x = draw_input(rng, (2,) + shape, case.distinct)
    training = data.draw(st.booleans(), label="training")
    report = check_layer(twin, x=x, dout=rng.standard_normal((2,) + twin.output_shape), training=training)
    assert report.passed, f"{twin!r} on {shape}, training={training}:\n{report}"


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda case: case.name)
def test_every_twin_keeps_float32(case):
    @settings(max_examples=3)
    @given(data=st.data())
    def keeps_float32(data):
        fast, shape = case.draw(data.draw)
        twin = reference.reference_twin(fast)
        twin.build(shape, rng=np.random.default_rng(0), dtype=np.float32)
        x = np.random.default_rng(1).standard_normal((2,) + shape).astype(np.float32)
        out = twin.forward(x, training=True)
        dx = twin.backward(np.ones_like(out))
        assert out.dtype == dx.dtype == np.float32
        assert all(grad.dtype == np.float32 for grad in twin.grads.values())
        assert all(buffer.dtype == np.float32 for buffer in twin.buffers.values())
    keeps_float32()


def test_the_flagship_runs_with_a_reference_convolution():
    fast = zoo.build("awasthi-enhanced-cnn")
    model = copy.deepcopy(fast)
    index = next(i for i, layer in enumerate(model.layers) if isinstance(layer, layers.Conv2D))
    model.layers[index] = reference.reference_twin(model.layers[index])   # the same weights, the loop convolution
    assert isinstance(model.layers[index], reference.ReferenceConv2D)
    x = np.random.default_rng(0).standard_normal((2,) + fast.input_shape).astype(np.float32)
    logits = model.forward(x, training=False)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, fast.forward(x, training=False), rtol=1e-4, atol=1e-5)
    dlogits = np.random.default_rng(1).standard_normal(logits.shape).astype(np.float32)
    model.backward(dlogits)
    fast.backward(dlogits)
    np.testing.assert_allclose(model.layers[index].grads["W"], fast.layers[index].grads["W"], rtol=1e-3, atol=1e-4)


def test_a_function_layer_on_its_own_runs_in_a_sequential():
    model = Sequential([layers.Flatten(), layers.Dense(4), reference.FunctionLayer(reference.relu_forward,
                                                                                   reference.relu_backward),
                        layers.Dense(3)], input_shape=(2, 2), dtype="float64", seed=0)
    report = mc.gradcheck.check_model(model, SoftmaxCrossEntropy(), np.random.default_rng(0).standard_normal((3, 2, 2)),
                                      np.array([0, 2, 1]))
    assert report.passed, report


def test_a_twin_takes_a_students_functions():
    calls = []

    def students_forward(x, w, b, stride, padding):
        calls.append("forward")
        return reference.conv_forward(x, w, b, stride, padding)

    layer = reference.ReferenceConv2D(2, 3, padding="same", functions=(students_forward, reference.conv_backward))
    assert check_layer(layer, input_shape=(1, 4, 4)).passed and calls


# ---------------------------------------------------------------------------------------------------------
# The worked examples of docs/layers.md: each number is written here as the doc gives it, and the doc's
# sentence is checked to still say it, so that neither can drift.
# ---------------------------------------------------------------------------------------------------------

def doc_says(*sentences):
    for sentence in sentences:
        assert sentence in " ".join(DOCS.split()), f"docs/layers.md no longer says {sentence!r}"


@pytest.mark.parametrize("make", [layers.Conv2D, reference.ReferenceConv2D], ids=["fast", "twin"])
def test_docs_convolution_example(make):
    doc_says("The output is `[[45, 54], [81, 90]]`", "dW = [10 14 18 26 30 34 42 46 50]", "db = [4]")
    layer = make(1, 3)
    layer.build((1, 4, 4), dtype=np.float64)
    layer.params["W"][...] = 1.0
    layer.params["b"][...] = 0.0
    out = layer.forward(np.arange(16.0).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(out, [[[[45, 54], [81, 90]]]])
    dx = layer.backward(np.ones_like(out))
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    np.testing.assert_array_equal(layer.grads["W"].reshape(-1), [10, 14, 18, 26, 30, 34, 42, 46, 50])
    np.testing.assert_array_equal(layer.grads["b"], [4])


@pytest.mark.parametrize("make", [layers.MaxPool2D, reference.ReferenceMaxPool2D], ids=["fast", "twin"])
def test_docs_max_pooling_examples(make):
    doc_says("`MaxPool2D(2)` on the 2×4 input below gives `[[0, 1]]`",
             "`MaxPool2D((1, 3), stride=1)` on `[1 5 2 0 3]` gives `[5 5 3]`", "`dx = [0 2 0 0 1]`")
    layer = make(2)
    layer.build((1, 2, 4), dtype=np.float64)
    out = layer.forward(np.array([[[[0, 0, 1, 1], [0, 0, 1, 0]]]], dtype=np.float64))
    np.testing.assert_array_equal(out, [[[[0, 1]]]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(out)), [[[[1, 0, 1, 0], [0, 0, 0, 0]]]])
    overlapping = make((1, 3), stride=1)
    overlapping.build((1, 1, 5), dtype=np.float64)
    out = overlapping.forward(np.array([[[[1, 5, 2, 0, 3]]]], dtype=np.float64))
    np.testing.assert_array_equal(out, [[[[5, 5, 3]]]])
    np.testing.assert_array_equal(overlapping.backward(np.ones_like(out)), [[[[0, 2, 0, 0, 1]]]])


@pytest.mark.parametrize("make", [layers.BatchNorm, reference.ReferenceBatchNorm], ids=["fast", "twin"])
def test_docs_batch_norm_example(make):
    doc_says("$y \\approx [-1.069, -0.535, 0, 1.604]$ with the PyTorch convention's eps",
             "eps of 1e-3 gives $[-1.069, -0.534, 0, 1.603]$", "`running_mean = 0.3` and `running_var = 0.9 + 0.1·14/3 ≈ 1.3667`",
             "`running_mean = 0.03` and `running_var = 0.99 + 0.01·3.5 = 1.025`")
    x = np.array([[1.0], [2.0], [3.0], [6.0]])
    for convention, y, running_mean, running_var in (("pytorch", [-1.069, -0.535, 0, 1.604], 0.3, 1.3667),
                                                     ("keras", [-1.069, -0.534, 0, 1.603], 0.03, 1.025)):
        layer = make(convention=convention)
        layer.build((1,), dtype=np.float64)
        out = layer.forward(x, training=True)
        np.testing.assert_allclose(out[:, 0], y, atol=5e-4)
        np.testing.assert_allclose(layer.buffers["running_mean"], [running_mean], atol=5e-5)
        np.testing.assert_allclose(layer.buffers["running_var"], [running_var], atol=5e-5)


@pytest.mark.parametrize("loss_class", [SoftmaxCrossEntropy, reference.ReferenceSoftmaxCrossEntropy],
                         ids=["fast", "twin"])
def test_docs_softmax_cross_entropy_examples(loss_class):
    doc_says("logits `[[2, 1, 0]]`, label 0. The loss is 0.4076 and the gradient is `[-0.3348, 0.2447, 0.0900]`",
             "the targets are `[0.8, 0.1, 0.1]`, the loss is 0.7076, and the gradient is `[-0.1348, 0.1447, -0.0100]`",
             "logits `[1000, 0, -1000]` with label 2 give a loss of exactly `2000.0`")
    logits, label = np.array([[2.0, 1.0, 0.0]]), np.array([0])
    for smoothing, expected_loss, expected_gradient in ((0.0, 0.4076, [-0.3348, 0.2447, 0.0900]),
                                                        (0.3, 0.7076, [-0.1348, 0.1447, -0.0100])):
        loss = loss_class(label_smoothing=smoothing)
        assert loss.forward(logits, label) == pytest.approx(expected_loss, abs=5e-5)
        np.testing.assert_allclose(loss.backward()[0], expected_gradient, atol=5e-5)
    assert loss_class().forward(np.array([[1000.0, 0.0, -1000.0]]), np.array([2])) == 2000.0


def test_docs_initialisation_example():
    doc_says("fan_in = 9 and fan_out = 288. The PyTorch bound is 1/3 and the Keras limit is $\\sqrt{6/297}\\approx 0.142$")
    assert layers.base.fan_in_and_out((32, 1, 3, 3)) == (9, 288)
    assert np.sqrt(6 / (9 + 288)) == pytest.approx(0.142, abs=5e-4)


# ---------------------------------------------------------------------------------------------------------
# The update rules against minicnn.optim, on a small model whose gradients are drawn at random each step
# ---------------------------------------------------------------------------------------------------------

OPTIMIZER_CASES = [
    ("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"lr": 0.01}), ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 1e-2}), ("Adam", {"lr": 1e-3, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("name, settings_", OPTIMIZER_CASES, ids=lambda value: str(value))
def test_update_rules_equal_minicnn_optim(name, settings_):
    rng = np.random.default_rng(0)
    models = [Sequential([layers.Dense(3), layers.BatchNorm(), layers.Dense(2)], input_shape=(4,), dtype="float64",
                         seed=0) for _ in range(2)]
    fast = optim.OPTIMIZERS[name](models[0], **settings_)
    twin = reference.ReferenceOptimizer(models[1], reference.ReferenceOptimizer.RULES[name], **settings_)
    for _ in range(4):
        for first, second in zip(models[0].layers, models[1].layers):
            for key, param in first.params.items():
                first.grads[key] = rng.standard_normal(param.shape)
                second.grads[key] = first.grads[key].copy()
        fast.step()
        twin.step()
    for first, second in zip(models[0].layers, models[1].layers):
        for key in first.params:
            np.testing.assert_allclose(second.params[key], first.params[key], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("rule", [reference.sgd_momentum, reference.rmsprop, reference.adam])
def test_update_rules_keep_float32(rule):
    param = np.ones(3, dtype=np.float32)
    state = {}
    for _ in range(2):
        param = rule(param, np.full(3, 0.5, dtype=np.float32), state, momentum=0.9) if rule is not reference.adam \
            else rule(param, np.full(3, 0.5, dtype=np.float32), state)
    assert param.dtype == np.float32 and all(value.dtype == np.float32 for value in state.values()
                                             if isinstance(value, np.ndarray))


def test_compare_update_rules_passes_a_rule_against_itself():
    assert compare_update_rules(reference.adam, reference.adam, lr=0.1).passed


# ---------------------------------------------------------------------------------------------------------
# The solution markers the assignment tool cuts at
# ---------------------------------------------------------------------------------------------------------

def solution_regions(lines):
    """(begin, end) line indices of each ### BEGIN SOLUTION / ### END SOLUTION pair; fails on a bad layout."""
    regions, begin = [], None
    for number, line in enumerate(lines):
        if line.strip() == "### BEGIN SOLUTION":
            assert begin is None, f"line {number + 1}: BEGIN inside a region"
            begin = number
        elif line.strip() == "### END SOLUTION":
            assert begin is not None, f"line {number + 1}: END without BEGIN"
            regions.append((begin, number))
            begin = None
    assert begin is None, "a region is never closed"
    return regions


@pytest.mark.parametrize("path", sorted(REFERENCE_DIRECTORY.glob("*.py")), ids=lambda path: path.name)
def test_every_solution_region_can_be_cut_to_a_stub(path):
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    regions = solution_regions(lines)
    tree = ast.parse(source)
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    for begin, end in regions:
        # one region lies inside one function, at the indentation of its body
        # (the END comment follows the function's last statement, which is where ast ends the function)
        owners = [function for function in functions if function.lineno <= begin + 1 <= function.end_lineno]
        assert owners, f"{path.name}:{begin + 1}: a solution region outside any function"
        later = [node.lineno for node in tree.body if node.lineno > begin + 1]
        assert end + 1 < min(later, default=len(lines) + 1), f"{path.name}:{begin + 1}: a region spans two functions"
        assert lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())] == \
            lines[end][:len(lines[end]) - len(lines[end].lstrip())], f"{path.name}:{begin + 1}: BEGIN and END differ"
    stubbed = list(lines)
    for begin, end in reversed(regions):
        indent = lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())]
        stubbed[begin:end + 1] = [indent + "raise NotImplementedError"]
    compile("\n".join(stubbed), str(path), "exec")   # the code around the regions stays valid


def test_every_forward_and_backward_function_has_a_solution_region():
    for path in REFERENCE_DIRECTORY.glob("*.py"):
        if path.name in ("__init__.py", "layers.py"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        regions = solution_regions(lines)
        for function in ast.parse("\n".join(lines)).body:
            if isinstance(function, ast.FunctionDef) and function.name.endswith(("_forward", "_backward")):
                assert any(function.lineno <= begin + 1 <= function.end_lineno for begin, _ in regions), \
                    f"{path.name}: {function.name} has no solution region"


def stubbed_module(path):
    """The module at ``path`` with every solution region cut to ``raise NotImplementedError``, as an assignment
    hands it out, executed into a namespace."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for begin, end in reversed(solution_regions(lines)):
        indent = lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())]
        lines[begin:end + 1] = [indent + "raise NotImplementedError"]
    namespace = {"__name__": f"stubbed_{path.stem}"}
    exec(compile("\n".join(lines), str(path), "exec"), namespace)
    return namespace


STUBBED_LAYERS = [
    (lambda functions: reference.ReferenceConv2D(2, 3, functions=functions), "conv", (1, 4, 4)),
    (lambda functions: reference.ReferenceMaxPool2D(2, functions=functions), "pooling", (1, 4, 4)),
    (lambda functions: reference.ReferenceBatchNorm(functions=functions), "normalization", (3,)),
    (lambda functions: reference.ReferenceDense(2, functions=functions), "dense", (3,)),
    (lambda functions: reference.ReferenceLeakyReLU(0.1, functions=functions), "activations", (3,)),
    (lambda functions: reference.ReferenceDropout(0.5, functions=functions), "dropout", (3,)),
]


@pytest.mark.parametrize("make, module, shape", STUBBED_LAYERS, ids=lambda value: str(value))
def test_an_assignment_stub_is_reported_as_not_written(make, module, shape):
    real = make(None)
    stubbed = stubbed_module(REFERENCE_DIRECTORY / f"{module}.py")
    forward_name, backward_name = real.forward_function.__name__, real.backward_function.__name__
    for functions, missing, name in (((stubbed[forward_name], real.backward_function), "forward", forward_name),
                                     ((real.forward_function, stubbed[backward_name]), "backward", backward_name)):
        [failure] = check_layer(make(functions), input_shape=shape).failures()
        assert f"{missing} is not written yet: it raises NotImplementedError (at " in failure, failure
        assert f"{module}.py:" in failure and failure.endswith(f" in {name})") or " in dropout_mask)" in failure


def test_an_assignment_stub_of_the_loss_and_the_rules_is_reported_as_not_written():
    [failure] = check_loss_function(stubbed_module(REFERENCE_DIRECTORY / "loss.py")["softmax_cross_entropy"]).failures()
    assert failure.startswith("loss softmax_cross_entropy: forward is not written yet")
    stubbed_adam = stubbed_module(REFERENCE_DIRECTORY / "optim.py")["adam"]
    [failure] = compare_update_rules(stubbed_adam, reference.adam).failures()
    assert failure.startswith("update rule adam: step 1 is not written yet")
