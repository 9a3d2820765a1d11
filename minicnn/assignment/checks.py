"""The checks as the notebook shows them: every value printed with its error, a failure said in words.

The same comparisons and drawn gradient checks as the grader (graders.py), on the public cases, run in the
notebook's own process on the student's own files and printed for a person. Every call loads the student's
files afresh, so a cell run again after an edit checks the edit.

    from minicnn.assignment import checks
    checks.compare_with_expected("conv")   # each value of the fixed cases against the reference solution's
    checks.gradient_check("conv")          # the drawn cases against central differences
"""
import json
import os

from minicnn.assignment import cases, graders, student, verdicts
from minicnn.assignment.cases import GradingFailure, what
from minicnn.assignment.parts import PARTS


def fixed_cases(directory, part_name):
    path = os.path.join(directory, "grading", "expected", f"{part_name}.npz")
    if not os.path.isfile(path):
        raise GradingFailure(f"{path} is missing: ask for the assignment's grading/ folder again")
    return cases.load_expected(path)


def public_seed(directory):
    with open(os.path.join(directory, "grading", "assignment.json"), encoding="utf-8") as file:
        return json.load(file).get("seed", 14)


def mine(directory, part_name):
    return student.load_module(directory, PARTS[part_name].module)


def compare_with_expected(part_name, directory="."):
    """Print every value of the part's fixed cases with its relative error to the reference solution's;
    True when all are right."""
    try:
        rows = graders.comparisons(mine(directory, part_name), part_name, fixed_cases(directory, part_name))
    except GradingFailure as failure:
        print(f"FAILED: {failure}")
        return False
    for number, label, key, error, advice in rows:
        verdict = "ok" if error <= graders.TOLERANCE else "WRONG"
        measure = "judged by the grader's network" if key in verdicts.JUDGED else f"relative error {error:.1e}"
        print(f"case {number}  {what(key):<42} {measure}  {verdict}" + (f"  {advice}" if advice else ""))
    right = all(error <= graders.TOLERANCE for _, _, _, error, _ in rows)
    if right and part_name == "dropout":
        right = report(lambda: graders.check_dropout_draws(student.load_module(directory, "dropout")),
                       "the random masks drop at the rate and rescale what they keep")
    print(f"every value is right (each error should be below {graders.TOLERANCE:.0e}; a right answer gives about "
          "1e-15)" if right else "some values are wrong: their lines say WRONG")
    return right


def gradient_check(part_name, directory="."):
    """Print the outcome of the part's gradient checks on the drawn cases; True when they pass."""
    return report(lambda: graders.gradient_check(mine(directory, part_name), part_name,
                                                 fixed_cases(directory, part_name), public_seed(directory)))


def report(check, passed_line=None):
    try:
        line = check()
    except GradingFailure as failure:
        print(f"FAILED: {failure}")
        return False
    print(passed_line or line)
    return True
