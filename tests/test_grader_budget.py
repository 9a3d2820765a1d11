"""The whole grade ends within its budget: code that hangs everywhere loses its own points, each test stopped
in its turn, and a part written right beside it keeps all of its points."""
import json
import shutil
import time

from minicnn import cli
from minicnn.assignment.parts import REFERENCE_DIRECTORY

HANGS = '''

def _forever(*arguments, **keywords):
    while True:   # a loop that never ends
        pass


{names} = _forever
'''


def test_hangs_everywhere_end_within_the_budget_and_cost_only_their_own_points(tmp_path, capsys):
    folder = tmp_path / "hw"
    assert cli.main(["assignment", "make", "dense", "relu", "softmax", "--out", str(folder)]) == 0
    table_path = folder / "grading" / "points.json"
    table = json.loads(table_path.read_text())
    table["call_limit_seconds"] = 600   # only the budget can stop these hangs
    table_path.write_text(json.dumps(table))
    submission = tmp_path / "submission"
    submission.mkdir()
    for module, names in (("dense", "dense_forward = dense_backward = flatten_forward = flatten_backward"),
                          ("activations", "relu_forward = relu_backward = leaky_relu_forward = leaky_relu_backward")):
        source = (folder / "student" / f"{module}.py").read_text()
        (submission / f"{module}.py").write_text(source + HANGS.format(names=names))
    shutil.copy(REFERENCE_DIRECTORY / "loss.py", submission)
    budget = 10
    started = time.monotonic()
    status = cli.main(["assignment", "grade", str(folder), "--submission", str(submission), "--budget", str(budget),
                       "--json", str(tmp_path / "r.json")])
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "r.json").read_text())
    tests = {test["name"]: test for test in summary["tests"]}
    # the budget, and the start and end of the processes (unbudgeted, these hangs would take 840 s)
    assert status == 1 and elapsed < budget + 10, (elapsed, out)
    for name, test in tests.items():
        if name.startswith("softmax: "):
            assert test["score"] == test["max_score"] > 0, test
        else:
            assert test["score"] == 0 and test["output"].startswith(("stopped after", "stopped: the whole grade's")), test
    assert summary["execution_time"] < budget + 10
