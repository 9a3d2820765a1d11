"""An assignment folder read into memory, before any student code runs: its tests with their points, time
limits and visibility, the seeds, the cases (public, and hidden where the autograder put them) and the
handed-out student files. Whatever a student's process later does to the files, the grade uses this copy.

    DIR/grading/points.json       points, time limits, budget, hidden share, visibility: the teacher's to edit
    DIR/grading/assignment.json   the parts, the seed of the public cases, the minicnn version
    DIR/grading/expected/*.npz    the public cases: inputs and the reference solution's outputs
    DIR/grading/hidden/           only in an autograder: seed.json and the hidden cases, one .npz a part
"""
import json
import os
from dataclasses import dataclass, field

from minicnn.assignment import cases
from minicnn.assignment.parts import PARTS, AssignmentError

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
DEFAULTS = {"time_limit_seconds": {"default": 60, "it trains": 300}, "call_limit_seconds": 20,
            "budget_seconds": 480, "hidden_share": 0.5, "visibility": {"public": "visible", "hidden": "after_published"}}
HIDDEN = " (hidden cases)"


def part_checks(part):
    return ["expected values", "shapes and dtypes", "drawn settings" if part.name == "optim" else "gradient check"]


def test_names(part):
    """The names of the part's tests, as points.json and results.json give them."""
    return [f"{part.name}: {check}" for check in part_checks(part)]


def every_test_name():
    return [name for part in PARTS.values() for name in test_names(part)] + ["it trains"]


@dataclass
class Test:
    name: str
    part: str            # "" for it trains
    check: str           # "expected values", "shapes and dtypes", "gradient check", "drawn settings", "it trains"
    hidden: bool
    points: float
    time_limit: float
    visibility: str


@dataclass
class Assignment:
    directory: str
    parts: list
    seed: int
    hidden_seed: int = None
    cases: dict = field(default_factory=dict)           # part name -> [(label, settings, arrays, expected)]
    hidden_cases: dict = field(default_factory=dict)
    tests: list = field(default_factory=list)
    call_limit: float = 20.0
    budget: float = 480.0
    handed_out: dict = field(default_factory=dict)      # module -> source bytes of the folder's student/ file

    def cases_of(self, test):
        return (self.hidden_cases if test.hidden else self.cases)[test.part]

    def seed_of(self, test):
        return self.hidden_seed if test.hidden else self.seed


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise AssignmentError(f"{path} is missing: {what}") from None
    except (OSError, ValueError) as error:
        raise AssignmentError(f"{path} is not readable JSON: {error}") from None


def number(path, name, value, smallest=0.0, largest=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < smallest or \
            (largest is not None and value > largest):
        bounds = f">= {smallest:g}" + ("" if largest is None else f" and <= {largest:g}")
        raise AssignmentError(f"{path}: {name} must be a number {bounds}, got {value!r}")
    return value


def read_table(directory):
    """points.json, checked, with the defaults of what it does not say."""
    if not os.path.isdir(directory):
        raise AssignmentError(f"{directory} is not a folder; give the folder `minicnn assignment make` wrote")
    path = os.path.join(directory, "grading", "points.json")
    table = read_json(path, f"{directory} is not an assignment folder made by `minicnn assignment make`")
    table = {**DEFAULTS, **table} if isinstance(table, dict) else {}
    points, limits, visibility = table.get("points"), table["time_limit_seconds"], table["visibility"]
    if not all(isinstance(value, dict) for value in (points, limits, visibility)):
        raise AssignmentError(f'{path}: "points", "time_limit_seconds" and "visibility" must be tables '
                              "(JSON objects)")
    known = set(every_test_name())
    for table_name, values, extra in (("points", points, ()), ("time_limit_seconds", limits, ("default",)),
                                      ("visibility", visibility, ("public", "hidden"))):
        for name, value in values.items():
            base = name[:-len(HIDDEN)] if name.endswith(HIDDEN) and table_name == "visibility" else name
            if base not in known and name not in extra:
                raise AssignmentError(f"{path}: {table_name} names no test {name!r}; the tests are: "
                                      f"{', '.join(sorted(known))}")
            if table_name == "visibility":
                if value not in VISIBILITIES:
                    raise AssignmentError(f"{path}: visibility[{name!r}] must be one of {', '.join(VISIBILITIES)}, "
                                          f"got {value!r}")
            else:
                number(path, f"{table_name}[{name!r}]", value)
    number(path, "call_limit_seconds", table["call_limit_seconds"], 0.1)
    number(path, "budget_seconds", table["budget_seconds"], 1)
    number(path, "hidden_share", table["hidden_share"], 0, 1)
    return table


def make_tests(table, hidden):
    """The tests to run, in points.json's order; with hidden cases, each expected-values and gradient-check test
    split in two: its public cases and its hidden ones, the hidden ones worth ``hidden_share`` of its points."""
    limits, visibility = table["time_limit_seconds"], table["visibility"]
    share = table["hidden_share"] if hidden else 0.0
    tests = []
    for name, points in table["points"].items():
        part, check = name.split(": ", 1) if ": " in name else ("", name)
        limit = limits.get(name, limits.get("default", 60))
        splits = [(False, points)]
        if share and check != "shapes and dtypes" and part:
            splits = [(False, points * (1 - share)), (True, points * share)]
        for is_hidden, worth in splits:
            full = name + (HIDDEN if is_hidden else "")
            seen = visibility.get(full, visibility.get("hidden" if is_hidden else "public", "visible"))
            tests.append(Test(full, part, check, is_hidden, round(worth, 6), limit, seen))
    return tests


def load(directory):
    """The folder ``directory`` as an Assignment; AssignmentError naming what is missing or wrong."""
    table = read_table(directory)
    grading = os.path.join(directory, "grading")
    made = read_json(os.path.join(grading, "assignment.json"), "make the assignment again")
    seed = made.get("seed", 14)   # the seed every folder made before seeds were chosen used
    parts = [name for name in made.get("parts", []) if name in PARTS]
    hidden_folder = os.path.join(grading, "hidden")
    hidden_seed = None
    if os.path.isdir(hidden_folder):
        hidden_seed = read_json(os.path.join(hidden_folder, "seed.json"), "build the autograder again")["seed"]
    assignment = Assignment(os.path.abspath(directory), parts, seed, hidden_seed,
                            call_limit=table["call_limit_seconds"], budget=table["budget_seconds"])
    named = {name.split(": ")[0] for name in table["points"] if ": " in name}
    for part_name in [name for name in PARTS if name in named]:   # in reading order
        assignment.cases[part_name] = read_cases(os.path.join(grading, "expected", f"{part_name}.npz"))
        if hidden_seed is not None:
            assignment.hidden_cases[part_name] = read_cases(os.path.join(hidden_folder, f"{part_name}.npz"))
    assignment.tests = make_tests(table, hidden_seed is not None)
    for part in PARTS.values():
        path = os.path.join(directory, "student", f"{part.module}.py")
        if os.path.isfile(path):
            with open(path, "rb") as file:
                assignment.handed_out[part.module] = file.read()
    return assignment


def read_cases(path):
    if not os.path.isfile(path):
        raise AssignmentError(f"{path} is missing: make the assignment again (minicnn assignment make) to get it back")
    try:
        return cases.load_expected(path)
    except (OSError, ValueError, KeyError) as error:
        raise AssignmentError(f"{path} cannot be read ({error}): make the assignment again") from None
