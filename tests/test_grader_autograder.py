"""The Gradescope autograder zip, as a teacher makes it and as Gradescope runs it: unzipped under a temporary
AUTOGRADER_ROOT, its run_autograder grades the solution (flat and nested uploads) at full marks and the stubs
at 0, within the budget, into results.json as Gradescope's specification has it; its setup.sh pins this
machine's versions, and the minicnn inside it installs without the package index.

run_autograder runs with the minicnn already installed here (MINICNN_PYTHON); setup.sh runs once, on a zip
with its wheels inside (built here by pip wheel), into a temporary virtual environment (MINICNN_VENV), with
useradd stood in for (it would add an account to this machine).
"""
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from minicnn import cli
from minicnn.assignment import autograder
from minicnn.assignment import folder as assignment_folder
from minicnn.assignment.parts import AssignmentError
from minicnn.assignment.parts import PARTS, REFERENCE_DIRECTORY

HIDDEN_SEED = 99


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(the folder handed out, the autograder zip) for every part, public seed 1, hidden seed 99."""
    root = tmp_path_factory.mktemp("autograder")
    assert cli.main(["assignment", "make", "all", "--out", str(root / "hw"), "--seed", "1"]) == 0
    assert cli.main(["assignment", "autograder", str(root / "hw"), "--out", str(root / "ag.zip"),
                     "--seed", str(HIDDEN_SEED), "--leaderboard"]) == 0
    return root / "hw", root / "ag.zip"


def unzipped(archive, root):
    """A fresh AUTOGRADER_ROOT with the zip in source/, as Gradescope lays it out."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        os.chmod(root / "source" / name, 0o755)
    (root / "submission").mkdir()
    return root


def run_autograder(root):
    environment = dict(os.environ, AUTOGRADER_ROOT=str(root), MINICNN_PYTHON=sys.executable)
    finished = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=environment,
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    with open(root / "results" / "results.json", encoding="utf-8") as file:
        return json.load(file), finished.stdout


def test_the_zip_holds_setup_run_autograder_pinned_versions_and_hidden_cases(made):
    folder, archive = made
    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        assert {"setup.sh", "run_autograder", "requirements.txt", "minicnn-src/setup.py",
                "minicnn-src/minicnn/assignment/worker.py", "assignment/grading/points.json",
                "assignment/grading/hidden/seed.json", "assignment/student/conv.py"} <= names
        assert all(f"assignment/grading/hidden/{part}.npz" in names for part in PARTS)
        assert (opened.getinfo("run_autograder").external_attr >> 16) & 0o111
        assert (opened.getinfo("assignment/grading/hidden/conv.npz").external_attr >> 16) & 0o077 == 0
        requirements = opened.read("requirements.txt").decode().split()
        setup = opened.read("setup.sh").decode()
        seed = json.loads(opened.read("assignment/grading/hidden/seed.json"))["seed"]
        handed_out = opened.read("assignment/student/conv.py").decode()
    for name in ("numpy", "hypothesis", "matplotlib", "threadpoolctl", "tqdm"):
        assert f"{name}=={importlib.metadata.version(name)}" in requirements
    assert 'pip" install -r "$SOURCE/requirements.txt"' in setup
    assert '--no-index --find-links "$SOURCE/wheels" -r "$SOURCE/requirements.txt"' in setup
    assert "useradd" in setup and "load_fashion_mnist" in setup
    assert seed == HIDDEN_SEED
    assert handed_out.count("raise NotImplementedError") == 2   # the stubs, never the solution
    hidden = assignment_folder.load(str(unzipped(archive, folder.parent / "layout") / "source" / "assignment"))
    for part_name, cases in hidden.hidden_cases.items():
        public = hidden.cases[part_name]
        assert [label for label, *_ in cases] == [label for label, *_ in public]
        assert not any(np.array_equal(cases[0][2][key], public[0][2][key]) for key in public[0][2]
                       if public[0][2][key].dtype.kind == "f"), part_name


def test_an_unseeded_zip_draws_its_seed_says_it_once_and_refuses_the_answer_key(made, tmp_path, capsys):
    folder, _ = made
    seeds = []
    for name in ("one.zip", "two.zip"):
        assert cli.main(["assignment", "autograder", str(folder), "--out", str(tmp_path / name)]) == 0
        printed = int(re.search(r"the hidden cases' seed is (\d+)", capsys.readouterr().out).group(1))
        with zipfile.ZipFile(tmp_path / name) as opened:
            assert json.loads(opened.read("assignment/grading/hidden/seed.json"))["seed"] == printed
        seeds.append(printed)
    assert seeds[0] != seeds[1] and 1 not in seeds
    assert cli.main(["assignment", "make", "dense", "--out", str(tmp_path / "key"), "--solution"]) == 0
    assert cli.main(["assignment", "autograder", str(tmp_path / "key"), "--out", str(tmp_path / "key.zip")]) == 2
    assert "answer key" in capsys.readouterr().err and not (tmp_path / "key.zip").exists()


def test_the_teacher_sets_the_visibility(made, tmp_path):
    folder, _ = made
    copy = tmp_path / "hw"
    shutil.copytree(folder, copy)
    table_path = copy / "grading" / "points.json"
    table = json.loads(table_path.read_text())
    assert table["visibility"] == {"public": "visible", "hidden": "after_published"}
    table["visibility"].update({"hidden": "hidden", "it trains": "after_due_date"})
    table_path.write_text(json.dumps(table))
    assert cli.main(["assignment", "autograder", str(copy), "--out", str(tmp_path / "ag.zip"), "--seed", "5"]) == 0
    tests = assignment_folder.load(str(unzipped(tmp_path / "ag.zip", tmp_path / "root") / "source" / "assignment")).tests
    seen = {test.name: test.visibility for test in tests}
    assert seen["conv: expected values"] == "visible" and seen["conv: expected values (hidden cases)"] == "hidden"
    assert seen["it trains"] == "after_due_date"
    assert sum(test.points for test in tests) == 130   # the hidden cases take a share of their tests' points


@pytest.mark.slow
def test_the_minicnn_inside_installs_without_the_index(made, tmp_path):
    _, archive = made
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(tmp_path, [name for name in opened.namelist() if name.startswith("minicnn-src/")])
    target = tmp_path / "site"
    finished = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                               "--no-build-isolation", "--target", str(target), str(tmp_path / "minicnn-src")],
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    program = (f"import sys; sys.path.insert(0, {str(target)!r}); import minicnn, minicnn.assignment.grade; "
               "print(minicnn.__file__, minicnn.__version__)")
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
    assert finished.returncode == 0 and finished.stdout.startswith(str(target)), finished.stderr


@pytest.mark.slow
def test_run_autograder_grades_the_solution_flat_and_nested_at_full_marks_and_the_stubs_at_zero(
        made, tmp_path, fashion_mnist_installed):
    folder, archive = made
    modules = [part.module for part in PARTS.values()]
    for layout in ("flat", "nested", "stubs"):
        root = unzipped(archive, tmp_path / layout)
        place = root / "submission" / ("hw3/student" if layout == "nested" else "")
        place.mkdir(parents=True, exist_ok=True)
        for module in modules:
            source = folder / "student" if layout == "stubs" else REFERENCE_DIRECTORY
            shutil.copy(source / f"{module}.py", place / f"{module}.py")
        if layout == "nested":
            (root / "submission" / "hw3" / "notes.txt").write_text("my notes\n")
        summary, stdout = run_autograder(root)
        tests = summary["tests"]
        most = sum(test["max_score"] for test in tests)
        assert most == 130 and len(tests) == 3 * len(PARTS) + 2 * len(PARTS) + 1
        assert set(summary) >= {"score", "execution_time", "output", "output_format", "visibility", "tests"}
        assert all(set(test) == {"name", "score", "max_score", "status", "output", "visibility"} for test in tests)
        assert summary["execution_time"] < 480
        hidden = [test for test in tests if test["name"].endswith("(hidden cases)")]
        assert len(hidden) == 2 * len(PARTS) and {test["visibility"] for test in hidden} == {"after_published"}
        if layout == "stubs":
            assert summary["score"] == 0 and {test["status"] for test in tests} == {"failed"}, summary["output"]
            assert "leaderboard" not in summary
        else:
            failed = [test for test in tests if test["status"] != "passed"]
            assert summary["score"] == most and not failed, failed
            assert summary["leaderboard"][0]["name"] == "it-trains accuracy"
            assert summary["leaderboard"][0]["value"] >= 0.6
        if layout == "nested":
            assert "hw3/notes.txt" in summary["output"] and "not graded" in summary["output"]


def test_a_missing_and_a_given_file_are_named_where_the_student_reads(made, tmp_path):
    _, archive = made
    root = unzipped(archive, tmp_path / "root")
    shutil.copy(REFERENCE_DIRECTORY / "conv.py", root / "submission" / "conv.py")
    (root / "submission" / "conv (1).py").write_text("# a second copy\n")
    table_path = root / "source" / "assignment" / "grading" / "points.json"
    table = json.loads(table_path.read_text())
    table["points"] = {name: points for name, points in table["points"].items() if name.startswith("conv: ")}
    table_path.write_text(json.dumps(table))
    summary, _ = run_autograder(root)
    assert "dense.py is missing from your submission: the handed-out stub was graded in its place" in summary["output"]
    assert "conv (1).py" in summary["output"]
    assert summary["score"] == sum(test["max_score"] for test in summary["tests"]) > 0


@pytest.mark.slow
def test_setup_sh_installs_the_pinned_wheels_and_run_autograder_grades_with_them(tmp_path, fashion_mnist_installed):
    folder = tmp_path / "hw"
    assert cli.main(["assignment", "make", "dense", "--out", str(folder), "--seed", "4"]) == 0
    try:
        autograder.write_autograder(str(folder), str(tmp_path / "ag.zip"), seed=6, wheels=True)
    except AssignmentError as error:   # the wheels come from the package index (or pip's cache)
        pytest.skip(f"pip could not fetch the wheels here: {error}")
    root = unzipped(tmp_path / "ag.zip", tmp_path / "root")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "useradd").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'useradd.log'}\n")
    os.chmod(shim / "useradd", 0o755)
    environment = dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}", PYTHON=sys.executable,
                       MINICNN_VENV=str(tmp_path / "venv"))
    finished = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=environment, capture_output=True,
                              text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    installed = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c",
                                "import importlib.metadata as m; print(*(m.version(n) for n in "
                                "('minicnn', 'numpy', 'hypothesis')))"], capture_output=True, text=True, timeout=60)
    assert installed.stdout.split() == [importlib.metadata.version(name) for name in ("minicnn", "numpy", "hypothesis")]
    if os.path.exists(tmp_path / "useradd.log"):   # where the account does not exist yet
        assert "minicnn-student" in (tmp_path / "useradd.log").read_text()
    shutil.copy(REFERENCE_DIRECTORY / "dense.py", root / "submission")
    finished = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True, text=True,
                              env=dict(os.environ, AUTOGRADER_ROOT=str(root), MINICNN_VENV=str(tmp_path / "venv")),
                              timeout=600)
    summary = json.loads((root / "results" / "results.json").read_text())
    assert summary["score"] == sum(test["max_score"] for test in summary["tests"]) == 30, finished.stdout
