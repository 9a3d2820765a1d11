"""Mistakes the cases once let through, each planted in the reference solution: now each loses the points it
should, with a line that names it (and a right rule under another name keeps its points).

A planted student file is the reference module with the wrong function written again at its end.
"""
import json
import shutil

import pytest

from minicnn import cli
from minicnn.assignment.parts import PARTS, REFERENCE_DIRECTORY

# dx made to fit the shapes: w.T where w is not square, w itself where it is
SHAPE_FITTED_DENSE = '''
def dense_backward(dout, cache):
    x, w, b = cache
    dx = dout @ (w if dout.shape[1] == w.shape[0] else w.T)
    return dx, x.T @ dout, None if b is None else dout.sum(axis=0)
'''

DAMPENING_IGNORED = '''
def sgd_momentum(param, grad, state, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    grad = grad + weight_decay * param if weight_decay else grad
    if momentum:
        state["velocity"] = momentum * state["velocity"] + grad if "velocity" in state else grad.copy()
        grad = grad + momentum * state["velocity"] if nesterov else state["velocity"]
    return param - lr * grad
'''

FIRST_STEP_DAMPENED = '''
def sgd_momentum(param, grad, state, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    grad = grad + weight_decay * param if weight_decay else grad
    if momentum:
        state["velocity"] = momentum * state.get("velocity", 0.0) + (1.0 - dampening) * grad
        grad = grad + momentum * state["velocity"] if nesterov else state["velocity"]
    return param - lr * grad
'''

ALIASED_RULE = '''
_reference_rule = sgd_momentum


def _my_sgd(param, grad, state, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    return _reference_rule(param, grad, state, lr, momentum, dampening, nesterov, weight_decay)


sgd_momentum = _my_sgd
'''

LEAKY_RELU_ZERO_AT_ZERO = '''
def leaky_relu_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, np.where(x < 0, alpha, 0.0)).astype(x.dtype)
'''

DROPOUT_IN_INFERENCE = '''
def dropout_forward(x, rate, training, mask=None, rng=None):
    if mask is None:
        mask = dropout_mask(x.shape, rate, rng, x.dtype)   # training or not
    return x * mask, mask
'''

# (part, planted, {test: what its line must say}, tests that must keep full marks)
HOLES = {
    "dense dx from w instead of w.T": ("dense", SHAPE_FITTED_DENSE, {
        "expected values": "dense_backward's dx is wrong on case 3 (x (3, 4), w (4, 4) square, b (4,)): relative error"},
        ()),
    "SGD dampening ignored": ("optim", DAMPENING_IGNORED, {
        "expected values": "dampening is ignored", "drawn settings": "sgd_momentum"}, ()),
    "SGD dampening on the first step": ("optim", FIRST_STEP_DAMPENED, {
        "expected values": "the first step is damped too", "drawn settings": "sgd_momentum"}, ()),
    "a right rule under another name": ("optim", ALIASED_RULE, {},
                                        ("expected values", "shapes and dtypes", "drawn settings")),
    "leaky ReLU's derivative 0 at 0": ("relu", LEAKY_RELU_ZERO_AT_ZERO, {
        "expected values": "where the derivative is taken as alpha"}, ()),
    "dropout applied in inference": ("dropout", DROPOUT_IN_INFERENCE, {
        "expected values": "dropout must be the identity in inference (training=False)"}, ()),
}


@pytest.fixture(scope="module")
def assignments(tmp_path_factory):
    """part -> a folder made for it, once for the module."""
    made = {}
    for part_name in sorted({part for part, *_ in HOLES.values()}):
        made[part_name] = tmp_path_factory.mktemp(part_name) / "hw"
        assert cli.main(["assignment", "make", part_name, "--out", str(made[part_name])]) == 0
    return made


@pytest.mark.parametrize("hole", HOLES)
def test_a_hole_is_closed(hole, assignments, tmp_path, capsys):
    part_name, planted, lines, kept = HOLES[hole]
    module = PARTS[part_name].module
    submission = tmp_path / "submission"
    submission.mkdir()
    source = (REFERENCE_DIRECTORY / f"{module}.py").read_text(encoding="utf-8")
    (submission / f"{module}.py").write_text(source + "\n" + planted, encoding="utf-8")
    status = cli.main(["assignment", "grade", str(assignments[part_name]), "--submission", str(submission),
                       "--only", part_name, "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    tests = {test["name"]: test for test in json.loads((tmp_path / "r.json").read_text())["tests"]}
    assert status == (0 if kept and not lines else 1), out
    for check, expected in lines.items():
        test = tests[f"{part_name}: {check}"]
        assert test["score"] == 0 and expected in test["output"], test
    for check in kept:
        test = tests[f"{part_name}: {check}"]
        assert test["score"] == test["max_score"] > 0, test


def test_the_drawn_cases_hold_a_square_dense_and_dampened_sgd(tmp_path):
    """The drawn settings (public seed) reach what the fixed cases now hold, so a mistake they catch is caught
    by both."""
    from minicnn.assignment import drawn
    from minicnn import reference
    seen = []

    class Recording:
        def __getattr__(self, name):
            function = getattr(reference, name)

            def recorded(*arguments, **keywords):
                seen.append((name, arguments, keywords))
                return function(*arguments, **keywords)
            return recorded

    drawn.check("dense", Recording(), 14)
    drawn.check("optim", Recording(), 14)
    assert any(name == "dense_backward" and arguments[1][1].shape[0] == arguments[1][1].shape[1]
               for name, arguments, _ in seen)
    assert any(name == "sgd_momentum" and keywords.get("dampening") and keywords.get("momentum")
               for name, _, keywords in seen)


def test_the_aliased_rule_is_the_reference_when_graded_locally_too(tmp_path):
    folder = tmp_path / "hw"
    assert cli.main(["assignment", "make", "optim", "--out", str(folder)]) == 0
    shutil.copy(REFERENCE_DIRECTORY / "optim.py", folder / "student" / "optim.py")
    with open(folder / "student" / "optim.py", "a", encoding="utf-8") as file:
        file.write("\n" + ALIASED_RULE)
    from minicnn.assignment import checks
    assert checks.compare_with_expected("optim", str(folder))
