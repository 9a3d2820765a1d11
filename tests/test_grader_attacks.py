"""Students are the adversaries a grader is for: every attack below, planted in a submission whose functions
do not compute the right answers, scores 0 of its points.

The attacks: the call stack walked to whatever can send or write, "passed" sent there, then os._exit(0);
NumPy's comparisons patched at import; an exit at import; a process forked to outlive its test and rewrite
results.json; the grader's pipes written to through /proc; signals to the grader; sys.exit and
KeyboardInterrupt from a function; a network of the student's own that is fooled by anything; and, where the
grader is root, a lookup of the public expected files.
"""
import json
import os
import shutil
import tempfile
import time

import pytest

from minicnn import cli
from minicnn.assignment import remote
from minicnn.assignment.parts import PARTS

STACK_WALK = '''
import os as _os
import sys as _sys


def _forge(*arguments, **keywords):
    # every frame up the stack: whatever can send or write is told "passed"; then every file descriptor
    frame = _sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            for name in ("send", "send_bytes", "write"):
                method = getattr(value, name, None)
                for message in (("passed", "forged"), "passed", b"passed"):
                    try:
                        method(message)
                    except Exception:
                        pass
        frame = frame.f_back
    for fd in range(64):
        try:
            _os.write(fd, b'{"status": "passed", "output": "forged"}\\n')
        except OSError:
            pass
    _os._exit(0)


dense_forward = dense_backward = flatten_forward = flatten_backward = _forge
'''

PATCHED_NUMPY = '''
import numpy


def _true(*arguments, **keywords):
    return True


numpy.allclose = numpy.array_equal = numpy.array_equiv = _true
numpy.isclose = lambda a, b, *rest, **keywords: numpy.ones(numpy.shape(a), dtype=bool)
numpy.testing.assert_allclose = numpy.testing.assert_array_equal = lambda *arguments, **keywords: None
numpy.isfinite = lambda a, *rest, **keywords: numpy.ones(numpy.shape(a), dtype=bool)


# wrong everywhere: ones whatever the input (float64 even for float32), a gradient its forward does not have
def relu_forward(x):
    return numpy.ones(x.shape), x


def relu_backward(dout, cache):
    return numpy.ones(dout.shape)


leaky_relu_forward = lambda x, alpha: relu_forward(x)   # noqa: E731
leaky_relu_backward = relu_backward
'''

EXIT_AT_IMPORT = '''
import os
os._exit(0)
'''

OUTLIVES_ITS_TEST = '''
import json as _json
import os as _os
import time as _time

if _os.fork() == 0:
    _os.setsid()   # out of the test's process group
    if _os.fork() == 0:
        for _ in range(60):
            _time.sleep(0.2)
            try:
                with open({results!r}, "w") as _file:
                    _json.dump({{"score": 100, "tests": [{{"name": "pool: expected values", "score": 4,
                                                           "max_score": 4, "status": "passed"}}]}}, _file)
            except OSError:
                pass
            try:
                with open({mark!r}, "a") as _file:
                    _file.write(str(_time.time()) + "\\n")
            except OSError:
                pass
    _os._exit(0)
'''

SIGNALS = '''
import os as _os
import signal as _signal


def batchnorm_forward(*arguments, **keywords):
    for way in (_signal.SIGTERM, _signal.SIGKILL):
        try:
            _os.kill(_os.getppid(), way)   # the grader's process for this test
        except OSError:
            pass
    raise NotImplementedError
'''

EXITS_FROM_A_FUNCTION = '''
def dropout_forward(x, rate, training, mask=None, rng=None):
    raise SystemExit(0)


def dropout_mask(shape, rate, rng, dtype):
    raise KeyboardInterrupt
'''

WRITES_TO_THE_GRADERS_PIPES = '''
import json
import os as _os


def _forge(*arguments, **keywords):
    pid = _os.getpid()
    for _ in range(4):   # this process's parents, up the tree
        with open(f"/proc/{pid}/stat", "rb") as file:
            pid = int(file.read().rsplit(b")", 1)[1].split()[1])
        try:
            descriptors = _os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in descriptors:   # a result line as the grader's processes write them, for every test
            for name in ("optim: expected values", "optim: shapes and dtypes", "optim: drawn settings"):
                try:
                    with open(f"/proc/{pid}/fd/{fd}", "w") as pipe:
                        pipe.write(json.dumps({"name": name, "score": 4, "max_score": 4, "status": "passed",
                                               "output": "forged", "visibility": "visible", "seconds": 0,
                                               "leaderboard": None}) + "\n")
                except OSError:
                    pass
    raise NotImplementedError


sgd_momentum = rmsprop = adam = _forge
'''

LYING_NETWORK = '''
_honest_forward = Network.forward   # the given network's


def _lying_forward(self, x):
    scores = _honest_forward(self, x)
    if getattr(self, "asked", None) is not None:
        scores[:, self.asked] = scores.max() + 1.0   # whatever class it is to be fooled into comes first
    return scores


Network.forward = _lying_forward


def saliency_map(model, x, y):   # right: the attack is on the fooling image
    scores = model.forward(x)
    dscores = np.zeros_like(scores)
    dscores[np.arange(len(y)), y] = 1.0
    return np.abs(model.backward(dscores)).max(axis=1)


def fooling_image(model, x, target, step=1.0, max_steps=100):
    model.asked = target
    assert model.forward(x)[0].argmax() == target   # "fooled" at once, by the network made in this process
    return x.astype(np.float64)   # x unchanged (and float64 whatever x is)
'''

LOOKS_UP_THE_EXPECTED_FILES = '''
import os as _os

import numpy as _np


def _places():
    folder = _os.path.dirname(_os.path.abspath(__file__))
    while folder != "/":
        yield _os.path.join(folder, "grading", "expected", "conv.npz")
        folder = _os.path.dirname(folder)
    yield {expected!r}


def _case(name, value):
    for path in _places():
        try:
            contents = _np.load(path)
        except OSError:
            continue
        for key in contents.files:
            if key.endswith("/input/" + name) and contents[key].shape == value.shape and \\
                    _np.allclose(contents[key], value):
                index = key.split("/")[0]
                return {{key.split("/output/")[1]: contents[key] for key in contents.files
                        if key.startswith(index + "/output/")}}, index
    raise FileNotFoundError("no expected file could be read")


def conv_forward(x, w, b, stride, padding):
    outputs, index = _case("x", x)
    return outputs["conv_forward.out"].astype(x.dtype), outputs


def conv_backward(dout, cache):
    return cache["conv_backward.dx"], cache["conv_backward.dw"], cache.get("conv_backward.db")
'''


def grade(folder, submission, results, only=None):
    status = cli.main(["assignment", "grade", str(folder), "--submission", str(submission), "--json", str(results)]
                      + (["--only", *only] if only else []))
    with open(results, encoding="utf-8") as file:
        return status, {test["name"]: test for test in json.load(file)["tests"]}


@pytest.fixture(scope="module")
def assignment(tmp_path_factory):
    """One assignment of every part for the module, it trains off (these attacks are on the parts' tests)."""
    folder = tmp_path_factory.mktemp("attacks") / "hw"
    assert cli.main(["assignment", "make", "all", "--out", str(folder)]) == 0
    table_path = folder / "grading" / "points.json"
    table = json.loads(table_path.read_text())
    table["points"]["it trains"] = 0
    table["time_limit_seconds"]["default"] = 20
    table_path.write_text(json.dumps(table))
    return folder


def planted(folder, submission, attacks):
    """The handed-out stubs with each attack appended to its module."""
    submission.mkdir()
    for module, attack in attacks.items():
        source = (folder / "student" / f"{module}.py").read_text(encoding="utf-8")
        (submission / f"{module}.py").write_text(source + "\n" + attack, encoding="utf-8")


@pytest.mark.parametrize("account", ["student", "grader"])
def test_every_attack_scores_zero_of_its_points(account, assignment, tmp_path, capsys, monkeypatch):
    """``account``: who student code runs as: the unprivileged account (where the grader is root), or the
    grader's own user (as everywhere else; forced here where the grader is root)."""
    if account == "student" and os.geteuid() != 0:
        pytest.skip("student code runs as another account only where the grader is root")
    if account == "grader":
        monkeypatch.setattr(remote, "student_user", lambda: None)
    shared = tempfile.mkdtemp(prefix="minicnn-attack-")   # where the escaped process leaves its marks
    os.chmod(shared, 0o777)
    try:
        results, mark = tmp_path / "results.json", os.path.join(shared, "alive")
        attacks = {"dense": STACK_WALK, "activations": PATCHED_NUMPY, "loss": EXIT_AT_IMPORT,
                   "pooling": OUTLIVES_ITS_TEST.format(results=str(results), mark=mark), "normalization": SIGNALS,
                   "dropout": EXITS_FROM_A_FUNCTION, "optim": WRITES_TO_THE_GRADERS_PIPES,
                   "visualization": LYING_NETWORK}
        planted(assignment, tmp_path / "submission", attacks)
        status, tests = grade(assignment, tmp_path / "submission", results,
                              only=[part.name for part in PARTS.values() if part.module in attacks])
        graded = time.time()
        out = capsys.readouterr().out
        assert status == 1
        assert len(tests) == 3 * len(attacks)
        for name, test in tests.items():
            assert test["score"] == 0 and test["status"] == "failed", (name, test, out)
            assert "forged" not in test["output"]
        assert "crashed (it exited with status 0" in tests["softmax: expected values"]["output"]
        # a signal to the grader's process: refused where student code runs as another user, else it ends that
        # process, and the test fails with it
        signalled = tests["batchnorm: expected values"]["output"]
        assert "ended without a result" in signalled if account == "grader" else "not implemented yet" in signalled
        # the student's network took the image for the target; the grader's, made in its own process, did not
        assert "the grader's network classifies your image as class" in tests["visualization: expected values"]["output"]
        time.sleep(1.5)   # the escaped process wrote every 0.2 s while it lived
        with open(results, encoding="utf-8") as file:
            assert json.load(file)["score"] == 0
        if os.path.exists(mark):
            with open(mark, encoding="utf-8") as file:
                assert max(float(line) for line in file) < graded, "a process the student's code started outlived the grade"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="student code runs as the grader's own user unless the grader is root, "
                                                "and then can read what that user can")
def test_a_lookup_of_the_expected_files_scores_zero_where_the_grader_is_root(assignment, tmp_path, capsys):
    expected = str(assignment / "grading" / "expected" / "conv.npz")
    planted(assignment, tmp_path / "submission", {"conv": LOOKS_UP_THE_EXPECTED_FILES.format(expected=expected)})
    status, tests = grade(assignment, tmp_path / "submission", tmp_path / "results.json", only=["conv"])
    assert status == 1 and [test["score"] for test in tests.values()] == [0, 0, 0], capsys.readouterr().out
    assert "PermissionError" in tests["conv: expected values"]["output"] or \
        "FileNotFoundError" in tests["conv: expected values"]["output"]


def test_the_lookup_works_where_it_can_read_the_files(assignment, tmp_path, capsys):
    """The attack above is a real one: run as the grader's own user, in the folder, it passes the expected values."""
    expected = str(assignment / "grading" / "expected" / "conv.npz")
    student = tmp_path / "copy"
    shutil.copytree(assignment, student)
    (student / "student" / "conv.py").write_text(LOOKS_UP_THE_EXPECTED_FILES.format(expected=expected))
    from minicnn.assignment import checks
    assert checks.compare_with_expected("conv", str(student))
    assert "every value is right" in capsys.readouterr().out


@pytest.mark.skipif(os.geteuid() != 0, reason="the grader drops to an unprivileged account only when it is root")
def test_student_code_runs_unprivileged_and_cannot_read_the_cases(assignment, tmp_path):
    probe = (b"import os\n"
             b"def dense_forward(x, w, b):\n"
             b"    try:\n"
             b"        open(%r, 'rb').read(1)\n"
             b"        readable = True\n"
             b"    except OSError:\n"
             b"        readable = False\n"
             b"    return os.getuid(), os.getgid(), readable, os.environ.get('HOME')\n"
             % str(assignment / "grading" / "expected" / "dense.npz").encode())
    scratch = remote.Scratch(remote.student_user())
    try:
        with remote.StudentProcess(scratch, {"dense": probe}, time.monotonic() + 60, 30, "out of time") as process:
            uid, gid, readable, home = process.module("dense").dense_forward(None, None, None)
        assert (uid, gid) == remote.student_user() and uid != 0
        assert not readable and home.startswith(scratch.root)
    finally:
        scratch.remove()
