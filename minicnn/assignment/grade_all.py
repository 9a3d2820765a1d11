"""A class's worth at once, for a teacher without Gradescope (Otter-Grader's `otter grade`):

    minicnn assignment grade-all submissions/ --assignment hw3-autograder.zip --out scores.csv

SUBMISSIONS holds one folder or zip a student, named after the student. Each is graded like one upload to
the autograder: its own processes, the same protections, its tests spread over the cores, under the budget.
scores.csv gets one row a student (the score, then every test's), and scores/<student>/results.json each
student's results as Gradescope's layout has them; both are written at the end, once no student's process
is left.
"""
import csv
import os
import pathlib
import stat
import tempfile
import zipfile

from minicnn.assignment import folder, submission
from minicnn.assignment.grade import grade, write_results
from minicnn.assignment.parts import AssignmentError
from minicnn.data.files import atomic_write


def load_assignment(path, scratch):
    """The folder.Assignment of an assignment folder, or of an autograder zip (hidden cases included)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.startswith("assignment/") and ".." not in name]
            if not members:
                raise AssignmentError(f"{path} is not an autograder made by `minicnn assignment autograder`")
            archive.extractall(scratch, members)
        return folder.load(os.path.join(scratch, "assignment"))
    inside = os.path.join(path, "assignment")
    return folder.load(inside if os.path.isdir(os.path.join(inside, "grading")) else path)


def submissions_in(directory):
    """[(student, path)] of the folders and zips in ``directory``, by name."""
    if not os.path.isdir(directory):
        raise AssignmentError(f"{directory} is not a folder; give the folder holding one folder or zip a student")
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or os.path.islink(path):
            continue
        if os.path.isdir(path):
            found.append((name, path))
        elif name.endswith(".zip") and zipfile.is_zipfile(path):
            found.append((name[:-len(".zip")], path))
    if not found:
        raise AssignmentError(f"{directory} holds no folder and no zip: one a student, named after the student")
    return found


def readable_by_others(path):
    """Whether an account without privileges can read ``path``: it and every folder above it open to others."""
    path = os.path.abspath(path)
    if not os.stat(path).st_mode & stat.S_IROTH:
        return False
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    while True:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
        if folder == os.path.dirname(folder):
            return True
        folder = os.path.dirname(folder)


def grade_all(submissions, assignment_path, out, budget=None, echo=print):
    """Grade every submission in folder ``submissions`` on the assignment at ``assignment_path``; write ``out``
    (CSV) and each student's results.json; return the rows."""
    entries = submissions_in(submissions)
    if os.geteuid() == 0:
        for path, what in ((submissions, "another student's files"), (assignment_path, "the cases, hidden ones included")):
            if readable_by_others(path):
                echo(f"warning: {path} can be read by any account, the one student code runs as included: "
                     f"chmod go-rwx {path} keeps student code from reading {what}")
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o700)
        assignment = load_assignment(assignment_path, scratch)
        graded = []
        for student, path in entries:
            files, notes = submission.collect(path, assignment)
            result = grade(assignment, files, budget=budget, echo=lambda line: None, notes=notes)
            echo(f"{student}: {result.score:g}/{result.max_score:g} in {result.seconds:.1f} s")
            graded.append((student, result))
    names = [test.name for test in graded[0][1].tests]
    rows = [{"student": student, "score": result.score, "max_score": result.max_score,
             **{test.name: test.score for test in result.tests}, "notes": " | ".join(result.notes)}
            for student, result in graded]
    out = pathlib.Path(out)
    folder_for_results = out.with_suffix("")
    for student, result in graded:
        write_results(result, folder_for_results / student / "results.json")
    with atomic_write(out, "w") as file:
        writer = csv.DictWriter(file, ["student", "score", "max_score", *names, "notes"])
        writer.writeheader()
        writer.writerows(rows)
    return rows
