"""Making an assignment folder:

    DIR/README.md              what to implement, where the math is, how to check and hand in
    DIR/assignment.ipynb       the notebook the student works through
    DIR/student/*.py           every reference module: the chosen parts cut to stubs, the others filled in
    DIR/grading/points.json    points and time limit per test: the teacher's to edit
    DIR/grading/assignment.json  the parts and the minicnn version that made it
    DIR/grading/expected/*.npz   each chosen part's fixed inputs and the reference solution's outputs
    DIR/docs/layers.md         the math of every layer (copied where minicnn's docs are beside it), and
                               explain.md with its figures for the parts it explains
"""
import json
import pathlib
import shutil

import numpy as np

import minicnn
from minicnn.assignment import cases, folder, notebook, readme
from minicnn.assignment.parts import (BEGIN, END, PARTS, AssignmentError, chosen_parts, reference_module,
                                      reference_source, stubbed_source)
from minicnn.data.files import atomic_write

DOCS = pathlib.Path(minicnn.__file__).resolve().parents[1] / "docs"
POINTS = {"expected values": 4, "shapes and dtypes": 2, "gradient check": 4, "drawn settings": 4}
IT_TRAINS_POINTS = 20
SEED = 14   # the public cases' seed unless the teacher chooses one


def without_markers(source):
    """A given part's source: the solution kept, the marker lines gone."""
    return "".join(line for line in source.splitlines(keepends=True) if line.strip() not in (BEGIN, END))


def refuse_to_overwrite(out, overwrite):
    """AssignmentError if ``out`` is a file, or a folder that already holds something, unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise AssignmentError(f"{out} is a file; --out needs a folder (a new or an empty one)")
    held = sorted(path.name for path in out.iterdir()) if out.is_dir() else []
    if held and not overwrite:
        listed = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise AssignmentError(f"{out} already holds {listed}: making the assignment there would replace a "
                              "student's work. Choose a new or empty folder, or pass --overwrite to replace it")


def write_text(path, text):
    with atomic_write(path, "w") as file:
        file.write(text)


def make_assignment(part_names, out, overwrite=False, solution=False, seed=SEED):
    """Write the assignment of parts ``part_names`` ("all" for every one) into folder ``out``; return the paths
    written. ``solution``: the chosen parts filled in too (the answer key, which grades at full marks);
    ``seed``: what the public cases (fixed and drawn) are drawn from."""
    parts = chosen_parts(part_names)
    out = pathlib.Path(out)
    refuse_to_overwrite(out, overwrite)
    for stale in ("expected", "hidden"):   # no part, and no hidden case, left from an earlier make
        shutil.rmtree(out / "grading" / stale, ignore_errors=True)
    written = []

    def write(relative, text):
        write_text(out / relative, text)
        written.append(out / relative)

    write("student/__init__.py", '"""Your code: one module per part, as in minicnn/reference."""\n')
    for part in PARTS.values():
        source = reference_source(part)
        write(f"student/{part.module}.py", stubbed_source(source, part.module + ".py")
              if part in parts and not solution else without_markers(source))
    for part in parts:
        path = out / "grading" / "expected" / f"{part.name}.npz"
        with atomic_write(path) as file:
            np.savez(file, **cases.make_expected(part.name, reference_module(part.module), seed))
        written.append(path)
    points = {name: POINTS[name.split(": ", 1)[1]] for part in parts for name in folder.test_names(part)}
    if any(part.trained for part in parts):   # no part of the network chosen: nothing of the student's to train
        points["it trains"] = IT_TRAINS_POINTS
    write("grading/points.json", json.dumps({"points": points, **folder.DEFAULTS}, indent=1) + "\n")
    command = " ".join(part_names)
    write("grading/assignment.json", json.dumps({"parts": [part.name for part in parts],
                                                 "made_by": f"minicnn assignment make {command} --seed {seed}",
                                                 "minicnn": minicnn.__version__, "solution": solution,
                                                 "seed": seed}, indent=1) + "\n")
    docs_copied = (DOCS / "layers.md").is_file()
    if docs_copied:
        write("docs/layers.md", (DOCS / "layers.md").read_text(encoding="utf-8"))
        if any(part.docs_file == "explain.md" for part in parts):
            write("docs/explain.md", (DOCS / "explain.md").read_text(encoding="utf-8"))
            for figure in sorted((DOCS / "explain").glob("*.png")):
                with atomic_write(out / "docs" / "explain" / figure.name) as file:
                    file.write(figure.read_bytes())
                written.append(out / "docs" / "explain" / figure.name)
    write("README.md", readme.student_readme(parts, command, minicnn.__version__, docs_copied))
    write("assignment.ipynb", notebook.notebook(parts, docs_copied))
    return written
