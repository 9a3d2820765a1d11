"""`minicnn assignment grade-all`: a class's worth of submissions (solutions, stubs, attacks, mistakes, a missing
file), one folder or zip a student, graded on the autograder (hidden cases included) into one row each."""
import csv
import json
import shutil
import zipfile

import pytest

from minicnn import cli
from minicnn.assignment.parts import REFERENCE_DIRECTORY

from test_grader_attacks import PATCHED_NUMPY, STACK_WALK
from test_grader_holes import LEAKY_RELU_ZERO_AT_ZERO, SHAPE_FITTED_DENSE

EXIT_AT_IMPORT = "\nimport os\nos._exit(0)\n"


def reference(module, planted=""):
    return (REFERENCE_DIRECTORY / f"{module}.py").read_text(encoding="utf-8") + planted


@pytest.mark.slow
def test_grade_all_writes_the_right_row_for_each_student(tmp_path, capsys):
    folder = tmp_path / "hw"
    assert cli.main(["assignment", "make", "dense", "relu", "--out", str(folder), "--seed", "3"]) == 0
    table_path = folder / "grading" / "points.json"
    table = json.loads(table_path.read_text())
    table["points"]["it trains"] = 0   # the parts' tests are what differ between these students
    table_path.write_text(json.dumps(table))
    assert cli.main(["assignment", "autograder", str(folder), "--out", str(tmp_path / "ag.zip"), "--seed", "8"]) == 0
    stub = {module: (folder / "student" / f"{module}.py").read_text() for module in ("dense", "activations")}
    students = {
        "alice": {"dense.py": reference("dense"), "activations.py": reference("activations")},
        "carol": {"dense.py": stub["dense"], "activations.py": stub["activations"]},
        "dave": {},
        "erin": {"dense.py": stub["dense"] + STACK_WALK, "activations.py": reference("activations")},
        "frank": {"dense.py": reference("dense"), "activations.py": stub["activations"] + PATCHED_NUMPY},
        "grace": {"dense.py": reference("dense"), "activations.py": reference("activations", LEAKY_RELU_ZERO_AT_ZERO)},
        "heidi": {"dense.py": reference("dense", SHAPE_FITTED_DENSE), "activations.py": reference("activations")},
        "ivan": {"activations.py": reference("activations")},
        "judy": {"dense.py": EXIT_AT_IMPORT, "activations.py": EXIT_AT_IMPORT},
    }
    submissions = tmp_path / "submissions"
    for name, files in students.items():
        (submissions / name).mkdir(parents=True)
        for file_name, source in files.items():
            (submissions / name / file_name).write_text(source)
    with zipfile.ZipFile(submissions / "bob.zip", "w") as archive:   # a zip, the files one folder down
        for module in ("dense", "activations"):
            archive.writestr(f"homework/{module}.py", reference(module))
    status = cli.main(["assignment", "grade-all", str(submissions), "--assignment", str(tmp_path / "ag.zip"),
                       "--out", str(tmp_path / "scores.csv")])
    out = capsys.readouterr().out
    assert status == 0, out
    with open(tmp_path / "scores.csv", newline="", encoding="utf-8") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    assert sorted(rows) == sorted([*students, "bob"])
    names = [name for name in next(iter(rows.values())) if ": " in name]
    assert len(names) == 2 * 5   # per part: expected values, shapes, gradient check, and two on hidden cases

    def scores(student, prefix=""):
        return [float(rows[student][name]) for name in names if name.startswith(prefix)]

    full = {name: float(rows["alice"][name]) for name in names}
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) == sum(full.values()) == 20
    assert scores("bob") == scores("alice")
    for student in ("carol", "dave", "judy"):
        assert float(rows[student]["score"]) == 0 and not any(scores(student)), student
    assert not any(scores("erin", "dense")) and scores("erin", "relu") == scores("alice", "relu")
    assert not any(scores("frank", "relu")) and scores("frank", "dense") == scores("alice", "dense")
    for student, part in (("grace", "relu"), ("heidi", "dense")):
        for name in names:
            expected = 0 if name.startswith(f"{part}: expected values") else full[name]
            if not (student == "heidi" and "gradient check" in name):   # a square draw among them, or not
                assert float(rows[student][name]) == expected, (student, name)
    assert scores("ivan", "relu") == scores("alice", "relu") and not any(scores("ivan", "dense"))
    assert "dense.py is missing" in rows["ivan"]["notes"]
    results = json.loads((tmp_path / "scores" / "heidi" / "results.json").read_text())
    assert results["score"] == float(rows["heidi"]["score"]) and len(results["tests"]) == len(names)
    assert "dense_backward's dx is wrong" in {test["name"]: test for test in results["tests"]}[
        "dense: expected values"]["output"]
    shutil.rmtree(tmp_path / "scores")
