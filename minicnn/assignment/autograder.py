"""The Gradescope autograder: one zip, made from the folder handed out, holding what grades a submission.

    setup.sh            run once by Gradescope (as root) to build the image: a virtual environment with
                        minicnn and its dependencies at the versions of the machine that made the zip (from
                        the package index, or from wheels/ inside the zip), an account for student code,
                        and Fashion-MNIST for the it-trains test
    run_autograder      run for every submission: grades /autograder/submission (files at its top or in one
                        folder inside) into /autograder/results/results.json; AUTOGRADER_ROOT (default
                        /autograder) runs it under another folder
    requirements.txt    the pinned versions
    minicnn-src/        minicnn itself, as an installable project
    assignment/         the folder handed out (grading/ and student/), with grading/hidden/: cases drawn from
                        a seed that is written only here
    wheels/             with --wheels only
"""
import importlib.metadata
import io
import json
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

import minicnn
from minicnn.assignment import cases, folder
from minicnn.assignment.parts import PARTS, AssignmentError, reference_module

DEPENDENCIES = ("numpy", "matplotlib", "threadpoolctl", "hypothesis", "tqdm")
VENV = "/opt/minicnn-venv"

SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (made by minicnn {version}).
set -euo pipefail
SOURCE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${{PYTHON:-python3}}"
VENV="${{MINICNN_VENV:-{venv}}}"
if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-venv python3-pip
fi
if [ "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "{python}" ]; then
    echo "setup.sh: this autograder pins the versions of Python {python}; $PYTHON is another: choose Gradescope's" \\
         "base image with Python {python}, or set PYTHON to one" >&2
fi
"$PYTHON" -m venv "$VENV"
if [ -d "$SOURCE/wheels" ]; then
    "$VENV/bin/pip" install --no-index --find-links "$SOURCE/wheels" -r "$SOURCE/requirements.txt" minicnn=={version}
else
    "$VENV/bin/pip" install -r "$SOURCE/requirements.txt"
    "$VENV/bin/pip" install --no-deps "$SOURCE/minicnn-src"
fi
# student code runs as this account, which can read neither the cases nor the grader's files
id minicnn-student >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin minicnn-student \\
    || echo "setup.sh: no account minicnn-student; student code will run as nobody" >&2
# the it-trains test's data, fetched and verified once, here
"$VENV/bin/python" -c "import minicnn; minicnn.data.load_fashion_mnist()"
"""

RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, as root. AUTOGRADER_ROOT (default /autograder) runs it under
# another folder; MINICNN_VENV names the environment setup.sh made, MINICNN_PYTHON any Python with minicnn.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{MINICNN_PYTHON:-${{MINICNN_VENV:-{venv}}}/bin/python}}"
# only the grader reads the cases, the hidden ones included: student code runs as another account
chmod -R go-rwx "$ROOT/source"
mkdir -p "$ROOT/results"
cd "$ROOT"
"$PYTHON" -m minicnn.cli assignment grade "$ROOT/source/assignment" --submission "$ROOT/submission" \\
    --json "$ROOT/results/results.json"{flags}
status=$?
if [ "$status" -ge 2 ] || [ ! -f "$ROOT/results/results.json" ]; then
    echo '{{"score": 0, "output": "The autograder could not grade this submission; your teacher can read why in its log."}}' \\
        > "$ROOT/results/results.json"
fi
exit 0
"""

PROJECT_SETUP = """\
from setuptools import find_packages, setup

setup(name="minicnn", version={version!r}, packages=find_packages(include=["minicnn", "minicnn.*"]),
      python_requires=">=3.10", install_requires={requirements!r})
"""


def pinned():
    """'name==version' of every dependency the grader needs, at this machine's versions."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in DEPENDENCIES]


def package_files():
    """(path inside minicnn-src/, path here) of every file of the installed minicnn package."""
    root = pathlib.Path(minicnn.__file__).resolve().parent
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix == ".py":
            yield "minicnn-src/minicnn/" + path.relative_to(root).as_posix(), path


def hidden_cases(assignment, seed):
    """{part name: npz bytes} of the hidden cases drawn from ``seed``."""
    drawn = {}
    for part_name in assignment.cases:
        buffer = io.BytesIO()
        np.savez(buffer, **cases.make_expected(part_name, reference_module(PARTS[part_name].module), seed))
        drawn[part_name] = buffer.getvalue()
    return drawn


def add(archive, name, data, mode=0o644):
    entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    entry.external_attr = (0o100000 | mode) << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(entry, data)


def write_autograder(directory, out, seed=None, wheels=False, leaderboard=False):
    """Write the autograder zip of assignment folder ``directory`` to ``out``; (the hidden seed, whether it was
    given). AssignmentError for a folder that is not one to hand out."""
    assignment = folder.load(directory)
    made = folder.read_json(os.path.join(directory, "grading", "assignment.json"), "make the assignment again")
    if made.get("solution"):
        raise AssignmentError(f"{directory} is the answer key (made with --solution): build the autograder from the "
                              "folder you hand out, whose stubs are graded for any file a student leaves out")
    given = seed is not None
    while seed is None or seed == assignment.seed:
        seed = secrets.randbelow(2 ** 31)
    requirements = pinned()
    flags = " --leaderboard" if leaderboard else ""
    python = "%d.%d" % sys.version_info[:2]
    with tempfile.TemporaryDirectory() as scratch:
        wheel_files = build_wheels(requirements, scratch) if wheels else []
        partial = pathlib.Path(out).with_name(pathlib.Path(out).name + ".part")
        with zipfile.ZipFile(partial, "w") as archive:
            add(archive, "setup.sh", SETUP.format(version=minicnn.__version__, venv=VENV, python=python), 0o755)
            add(archive, "run_autograder", RUN.format(venv=VENV, flags=flags), 0o755)
            add(archive, "requirements.txt", "\n".join(requirements) + "\n")
            add(archive, "minicnn-src/setup.py", PROJECT_SETUP.format(version=minicnn.__version__,
                                                                     requirements=requirements))
            for name, path in package_files():
                add(archive, name, path.read_bytes())
            for relative in ("grading/points.json", "grading/assignment.json"):
                add(archive, f"assignment/{relative}", pathlib.Path(directory, relative).read_bytes(), 0o600)
            for part_name in assignment.cases:
                path = pathlib.Path(directory, "grading", "expected", f"{part_name}.npz")
                add(archive, f"assignment/grading/expected/{part_name}.npz", path.read_bytes(), 0o600)
            for part_name, data in hidden_cases(assignment, seed).items():
                add(archive, f"assignment/grading/hidden/{part_name}.npz", data, 0o600)
            add(archive, "assignment/grading/hidden/seed.json", json.dumps({"seed": seed}) + "\n", 0o600)
            for module, data in assignment.handed_out.items():
                add(archive, f"assignment/student/{module}.py", data, 0o600)
            add(archive, "assignment/student/__init__.py", '"""The handed-out files."""\n', 0o600)
            for path in wheel_files:
                add(archive, f"wheels/{path.name}", path.read_bytes())
        os.replace(partial, out)
    return seed, given


def build_wheels(requirements, scratch):
    """The wheels of ``requirements`` and of minicnn (pip wheel, here): a list of paths."""
    project = pathlib.Path(scratch, "minicnn-src")
    for name, path in package_files():
        target = pathlib.Path(scratch, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (project / "setup.py").write_text(PROJECT_SETUP.format(version=minicnn.__version__, requirements=requirements))
    wheels = pathlib.Path(scratch, "wheels")
    finished = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(wheels), str(project)],
                              capture_output=True, text=True)
    if finished.returncode:
        raise AssignmentError(f"pip wheel could not build the wheels for --wheels: {finished.stderr.strip()[-800:]}")
    return sorted(wheels.glob("*.whl"))
