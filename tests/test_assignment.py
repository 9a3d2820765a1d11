"""`minicnn assignment make` and `grade`, run as a teacher runs them: the stubs score 0 with a 'not implemented
yet' line per part, the reference solution copied in scores full marks, a hang or a crash loses only its test,
and the seed chooses the cases.

Every folder is made through the command; grading runs each test in processes of its own, the student's code
in one that only computes (see minicnn/assignment/grade.py).
"""
import ast
import json
import shutil

import numpy as np
import pytest

from minicnn import cli
from minicnn.assignment.parts import PARTS, REFERENCE_DIRECTORY


def minicnn(capsys, *argv):
    status = cli.main([str(argument) for argument in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def results(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def by_name(summary):
    return {test["name"]: test for test in summary["tests"]}


def test_the_stubs_score_zero_with_a_not_implemented_line_per_part(capsys, tmp_path):
    folder = tmp_path / "hw"
    status, out, err = minicnn(capsys, "assignment", "make", "all", "--out", folder)
    assert status == 0, err
    status, out, err = minicnn(capsys, "assignment", "grade", folder, "--json", folder / "results.json")
    assert status == 1, out + err
    summary = results(folder / "results.json")
    assert summary["score"] == 0 and "score: 0/130" in out
    assert set(summary) >= {"score", "execution_time", "output", "output_format", "visibility", "tests"}
    assert set(summary["tests"][0]) == {"name", "score", "max_score", "status", "output", "visibility"}
    assert {test["status"] for test in summary["tests"]} == {"failed"}
    for part in PARTS.values():
        lines = [test["output"] for test in summary["tests"] if test["name"].startswith(f"{part.name}: ")]
        assert len(lines) == 3 and all(" is not implemented yet: it raises NotImplementedError (at student/"
                                       f"{part.module}.py:" in line for line in lines), lines
    assert "is not implemented yet" in by_name(summary)["it trains"]["output"]


def test_the_reference_solution_copied_in_scores_full_marks(capsys, tmp_path, fashion_mnist_installed):
    folder = tmp_path / "hw"
    assert minicnn(capsys, "assignment", "make", "all", "--out", folder)[0] == 0
    for part in PARTS.values():
        shutil.copy(REFERENCE_DIRECTORY / f"{part.module}.py", folder / "student")
    status, out, err = minicnn(capsys, "assignment", "grade", folder, "--json", folder / "results.json")
    summary = results(folder / "results.json")
    assert status == 0, out + err
    assert summary["score"] == sum(test["max_score"] for test in summary["tests"]) == 130
    assert len(summary["tests"]) == 3 * len(PARTS) + 1
    trained = by_name(summary)["it trains"]["output"]
    assert "Fashion-MNIST images" in trained and "(needs 60%)" in trained, trained


def function_headers(source):
    """name -> (argument names, docstring) of every function in ``source``."""
    return {node.name: ([argument.arg for argument in node.args.args], ast.get_docstring(node))
            for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)}


def test_the_chosen_parts_become_stubs_and_the_others_stay_filled_in(capsys, tmp_path):
    folder = tmp_path / "hw"
    status, out, _ = minicnn(capsys, "assignment", "make", "conv", "pool", "--out", folder)
    assert status == 0 and "README.md" in out
    for part in PARTS.values():
        reference_source = (REFERENCE_DIRECTORY / f"{part.module}.py").read_text(encoding="utf-8")
        source = (folder / "student" / f"{part.module}.py").read_text(encoding="utf-8")
        assert function_headers(source) == function_headers(reference_source)   # signatures and docstrings kept
        assert "### BEGIN SOLUTION" not in source
        if part.name in ("conv", "pool"):
            assert source.count("raise NotImplementedError") == len(part.functions)
        else:
            assert "raise NotImplementedError" not in source
    points = results(folder / "grading" / "points.json")["points"]
    assert set(points) == {"conv: expected values", "conv: shapes and dtypes", "conv: gradient check",
                           "pool: expected values", "pool: shapes and dtypes", "pool: gradient check", "it trains"}
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "`student/conv.py`" in readme and "`conv_forward`, `conv_backward`" in readme
    assert "student/dense.py" not in readme.split("## How to work")[0]
    notebook = results(folder / "assignment.ipynb")
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"])
    assert 'checks.gradient_check("conv")' in code and 'checks.gradient_check("dense")' not in code


def test_a_part_the_network_does_not_use_has_no_it_trains_test(capsys, tmp_path):
    """The visualization's functions explain a network and train none: made alone, the handed-out stubs score 0
    and the answer key full marks on its three tests, with no it-trains test that the given layers would pass."""
    for name, flags, score, status in (("hw", [], 0, 1), ("key", ["--solution"], 10, 0)):
        folder = tmp_path / name
        assert minicnn(capsys, "assignment", "make", "visualization", "--out", folder, *flags)[0] == 0
        graded, out, err = minicnn(capsys, "assignment", "grade", folder, "--json", folder / "results.json")
        summary = results(folder / "results.json")
        assert graded == status and summary["score"] == score, out + err
        assert [test["name"] for test in summary["tests"]] == ["visualization: expected values",
                                                              "visualization: shapes and dtypes",
                                                              "visualization: gradient check"]
    assert (folder / "docs" / "explain.md").is_file() and (folder / "docs" / "explain" / "saliency.png").is_file()
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert 'docs/explain.md, sections "Saliency: which pixels move the score" and "Fooling images' in readme


def test_the_residual_part_alone_scores_zero_as_stubs_and_full_marks_as_the_answer_key(capsys, tmp_path):
    """Its branches are made in the student's process from the case's weights, and only the arrays come back."""
    for name, flags, score, status in (("hw", [], 0, 1), ("key", ["--solution"], 10, 0)):
        folder = tmp_path / name
        assert minicnn(capsys, "assignment", "make", "residual", "--out", folder, *flags)[0] == 0
        graded, out, err = minicnn(capsys, "assignment", "grade", folder, "--json", folder / "results.json")
        summary = results(folder / "results.json")
        assert graded == status and summary["score"] == score, out + err
        tests = by_name(summary)
        assert set(tests) == {"residual: expected values", "residual: shapes and dtypes", "residual: gradient check"}
    assert "residual_forward is not implemented yet" in results(tmp_path / "hw" / "results.json")["tests"][0]["output"]
    assert "8 drawn cases passed" in tests["residual: gradient check"]["output"]


def test_make_refuses_a_folder_that_holds_work_unless_told(capsys, tmp_path):
    folder = tmp_path / "hw"
    folder.mkdir()
    work = folder / "notes.txt"
    work.write_text("a student's work\n")
    status, out, err = minicnn(capsys, "assignment", "make", "conv", "--out", folder)
    assert status == 2 and "already holds notes.txt" in err and "--overwrite" in err
    assert sorted(path.name for path in folder.iterdir()) == ["notes.txt"]
    for flag in ("--overwrite", "--force"):
        assert minicnn(capsys, "assignment", "make", "conv", "--out", folder, flag)[0] == 0
    assert (folder / "student" / "conv.py").is_file() and work.read_text() == "a student's work\n"


def test_unknown_parts_and_folders_are_usage_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:   # argparse lists the parts
        cli.main(["assignment", "make", "convolution", "--out", str(tmp_path / "hw")])
    assert exit_info.value.code == 2 and "invalid choice: 'convolution'" in capsys.readouterr().err
    status, _, err = minicnn(capsys, "assignment", "grade", tmp_path)
    assert status == 2 and "points.json is missing" in err
    folder = tmp_path / "hw"
    minicnn(capsys, "assignment", "make", "dense", "--out", folder)
    status, _, err = minicnn(capsys, "assignment", "grade", folder, "--only", "conv")
    assert status == 2 and "--only conv: this assignment has no such part" in err


def test_the_points_table_is_the_teachers_to_edit(capsys, tmp_path):
    folder = tmp_path / "hw"
    minicnn(capsys, "assignment", "make", "relu", "--out", folder)
    table_path = folder / "grading" / "points.json"
    table = results(table_path)
    table["points"].update({"relu: expected values": 7, "relu: gradient check": 0})   # 0 turns a test off
    table_path.write_text(json.dumps(table))
    status, _, _ = minicnn(capsys, "assignment", "grade", folder, "--only", "relu", "--json", tmp_path / "r.json")
    tests = by_name(results(tmp_path / "r.json"))
    assert status == 1 and set(tests) == {"relu: expected values", "relu: shapes and dtypes"}
    assert tests["relu: expected values"]["max_score"] == 7
    table["points"]["relu: gradient checks"] = 1
    table_path.write_text(json.dumps(table))
    status, _, err = minicnn(capsys, "assignment", "grade", folder)
    assert status == 2 and "points names no test 'relu: gradient checks'" in err


HANGS = '''

def dense_forward(x, w, b):
    while True:   # a loop that never ends
        pass
'''

CRASHES = '''

def relu_forward(x):
    import ctypes
    return ctypes.string_at(0), x   # reads address 0: the interpreter dies of a segmentation fault
'''


def test_a_hang_or_a_crash_loses_that_test_only(capsys, tmp_path):
    folder = tmp_path / "hw"
    minicnn(capsys, "assignment", "make", "dense", "relu", "softmax", "--out", folder)
    for module, planted in (("dense", HANGS), ("activations", CRASHES)):
        with open(folder / "student" / f"{module}.py", "a", encoding="utf-8") as file:
            file.write(planted)
    shutil.copy(REFERENCE_DIRECTORY / "loss.py", folder / "student")
    table_path = folder / "grading" / "points.json"
    table = results(table_path)
    table["time_limit_seconds"].update({f"dense: {check}": 1 for check in ("expected values", "shapes and dtypes",
                                                                         "gradient check")})
    table_path.write_text(json.dumps(table))
    status, out, _ = minicnn(capsys, "assignment", "grade", folder, "--only", "dense", "relu", "softmax",
                             "--json", tmp_path / "r.json")
    tests = by_name(results(tmp_path / "r.json"))
    assert status == 1
    for check in ("expected values", "shapes and dtypes", "gradient check"):
        assert tests[f"dense: {check}"]["score"] == 0
        assert tests[f"dense: {check}"]["output"].startswith("stopped after 1 s, its time limit")
        assert tests[f"relu: {check}"]["score"] == 0
        assert "crashed (killed by SIGSEGV)" in tests[f"relu: {check}"]["output"]
        assert tests[f"softmax: {check}"]["score"] == tests[f"softmax: {check}"]["max_score"] > 0, out


def saved_cases(path):
    with np.load(path) as contents:
        return {key: contents[key] for key in contents.files}


def test_the_seed_chooses_the_public_cases(capsys, tmp_path):
    for name, seed in (("one", 1), ("again", 1), ("two", 2)):
        assert minicnn(capsys, "assignment", "make", "dense", "optim", "--out", tmp_path / name, "--seed", seed)[0] == 0
    for part in ("dense", "optim"):
        one, again, two = (saved_cases(tmp_path / name / "grading" / "expected" / f"{part}.npz")
                           for name in ("one", "again", "two"))
        assert set(one) == set(two) and all(np.array_equal(one[key], again[key]) for key in one)
        inputs = [key for key in one if "/input/" in key and one[key].dtype.kind == "f"]
        assert inputs and not any(np.array_equal(one[key], two[key]) for key in inputs), part
    made = results(tmp_path / "two" / "grading" / "assignment.json")
    assert made["seed"] == 2 and made["made_by"].endswith("--seed 2")
