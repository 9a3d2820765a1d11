"""The grading tests, one function each: it returns a line saying what passed, or raises GradingFailure with
the line the student reads. Each takes the student's module (a stand-in computing in the student's process
when grading, remote.py; the module itself in the student's notebook) and the cases, and does every
comparison itself: nothing the student's code returns but arrays is believed.

Per part:
- "expected values": the part's functions on fixed cases (the public ones saved at make time, or the
  autograder's hidden ones), against the reference solution's outputs (CS231n's correct_out), with a hint
  when the mistake is a classic one; a fooling image, which has many right answers, judged instead by the
  grader's own network (verdicts.py);
- "shapes and dtypes": every returned array's shape, float32 kept float32 and float64 float64, and the
  inputs left as they were;
- "gradient check" (for the update rules: "drawn settings"): cases drawn by hypothesis from a seed, checked
  with minicnn.gradcheck.
And "it trains": the student's layers, loss and Adam learn Fashion-MNIST images (training.py).
"""
import functools
import inspect
import types

import numpy as np

from minicnn.assignment import cases, drawn, hints, training, verdicts
from minicnn.assignment.cases import GradingFailure, what
from minicnn.assignment.parts import PARTS
from minicnn.gradcheck import relative_error

TOLERANCE = 1e-7   # float64; a right answer differs from the reference by rounding, about 1e-15


def comparisons(module, part_name, fixed_cases):
    """Every value of the part's fixed cases, compared: a list of (case number, label, key, relative error, hint),
    the student's functions run on each case. A judged value (verdicts.JUDGED) has error 0 when it is right
    and infinity, with the judge's sentence as its hint, when not. GradingFailure for what cannot be compared
    (a stub, a None, a wrong shape)."""
    _, runner = cases.CASES[part_name]
    rows = []
    for number, (label, settings, arrays, expected) in enumerate(fixed_cases, start=1):
        got = runner(module, settings, cases.copied(arrays))
        for key, value in expected.items():
            problem = cases.shape_problem(key, got.get(key), value.shape)
            if problem:
                raise GradingFailure(f"{problem} (case {number}: {label})")
            if key in verdicts.JUDGED:
                advice = verdicts.JUDGED[key](settings, arrays, got[key])
                rows.append((number, label, key, float("inf") if advice else 0.0, advice))
                continue
            error = relative_error(np.asarray(got[key], dtype=np.float64), value)
            advice = hints.hint(part_name, settings, arrays, key, got[key], value) if error > TOLERANCE else ""
            rows.append((number, label, key, error, advice))
    return rows


def expected_values(module, part_name, fixed_cases, hidden=False):
    rows = comparisons(module, part_name, fixed_cases)
    for number, label, key, error, advice in rows:
        where = f"{what(key)} is wrong on {'hidden ' * hidden}case {number} ({label})"
        if key in verdicts.JUDGED and advice:
            raise GradingFailure(f"{where}: {advice}")
        if not error <= TOLERANCE:
            raise GradingFailure(f"{where}: relative error {error:.1e}, should be below {TOLERANCE:.0e}"
                                 + (f"; {advice}" if advice else ""))
    if part_name == "dropout":
        check_dropout_draws(module)
    kind = "hidden" if hidden else "fixed"
    judged = sum(row[2] in verdicts.JUDGED for row in rows)
    line = f"{len(rows) - judged} values on {len({row[0] for row in rows})} {kind} cases match the reference " \
           f"solution (worst relative error {max(row[3] for row in rows):.1e})"
    fooled = f", and {judged} fooling images fool the grader's network within the steps allowed" if judged else ""
    return line + fooled


def check_dropout_draws(module):
    """The random part of dropout, which no fixed value can check: the mask's values and how often it drops."""
    rate, scale = 0.3, 1.0 / (1.0 - 0.3)
    mask = cases.run(module.dropout_mask, ("mask",), (200, 100), rate, np.random.default_rng(0), np.float32)
    problem = cases.shape_problem("dropout_mask.mask", mask, (200, 100), np.float32)
    if problem:
        raise GradingFailure(problem + " (dropout_mask((200, 100), 0.3, rng, np.float32))")
    x = np.random.default_rng(1).uniform(1.0, 2.0, (200, 100))
    out, _ = cases.run(module.dropout_forward, ("out", "cache"), x, rate, True, rng=np.random.default_rng(2))
    problem = cases.shape_problem("dropout_forward.out", out, x.shape)
    if problem:
        raise GradingFailure(problem + " (dropout_forward(x, 0.3, True, rng=rng), x (200, 100))")
    for name, factors in (("dropout_mask's mask", mask), ("dropout_forward's out / x", np.asarray(out) / x)):
        kept = factors[factors != 0]
        if kept.size and np.allclose(kept, 1.0):
            raise GradingFailure(f"{name}: the values kept are not rescaled; inverted dropout multiplies what it "
                                 f"keeps by 1 / (1 - rate) = {scale:.4g} at rate {rate}, so inference needs no change")
        if not np.allclose(kept, scale, rtol=1e-6):
            raise GradingFailure(f"{name} holds values other than 0 and 1 / (1 - rate) = {scale:.4g} at rate {rate}")
        dropped = 1.0 - kept.size / factors.size
        if abs(dropped - rate) > 0.02:   # 20000 draws: 0.02 is over 6 standard deviations
            raise GradingFailure(f"{name} drops {dropped:.1%} of 20000 values at rate {rate}; it should drop each "
                                 "with probability rate (rng.random(shape) < rate)")


def shapes_and_dtypes(module, part_name, fixed_cases):
    module = watched(module, PARTS[part_name].functions)
    _, runner = cases.CASES[part_name]
    checked = 0
    for number, (label, settings, arrays, expected) in enumerate(fixed_cases, start=1):
        for dtype in (np.float32, np.float64):
            where = f"(case {number}: {label}, {np.dtype(dtype)})"
            try:
                got = runner(module, settings, cases.copied(arrays, dtype))
            except GradingFailure as failure:
                raise GradingFailure(f"{failure} {where}") from None
            for key, value in expected.items():
                is_loss = key.endswith(".loss")   # one number, whatever its type
                problem = cases.shape_problem(key, got.get(key), value.shape, None if is_loss else dtype)
                if problem:
                    raise GradingFailure(f"{problem} {where}")
                checked += 1
    return f"{checked} returned arrays have the right shape and keep float32 and float64, and no input is changed"


# arguments a function is meant to change: BatchNorm's running statistics are updated in place
CHANGED_ON_PURPOSE = {"running_mean", "running_var"}


def watched(module, functions):
    """``module`` with each of ``functions`` wrapped to fail, naming the function and the argument, when an
    array it was given is changed in place."""
    def watch(function):
        names = list(inspect.signature(function).parameters)

        @functools.wraps(function)
        def watching(*arguments, **keywords):
            given = dict(zip(names, arguments), **keywords)
            before = {name: value.copy() for name, value in given.items()
                      if isinstance(value, np.ndarray) and name not in CHANGED_ON_PURPOSE}
            result = function(*arguments, **keywords)
            for name, value in before.items():
                if not np.array_equal(given[name], value, equal_nan=True):
                    raise GradingFailure(f"{function.__name__} changed its input {name} in place; leave the inputs "
                                         f"alone and write into new arrays (no {name} += ..., {name}[...] = ...)")
            return result
        return watching

    return types.SimpleNamespace(**{name: watch(getattr(module, name)) if name in functions else getattr(module, name)
                                    for name in dir(module) if not name.startswith("__")})


def gradient_check(module, part_name, fixed_cases, seed):
    probe(module, part_name, fixed_cases)   # a stub says "not implemented yet" before any check
    return drawn.check(part_name, module, seed)


def probe(module, part_name, fixed_cases):
    """Run the part's functions on its first fixed case, so that a stub or a crash is reported as itself."""
    label, settings, arrays, _ = fixed_cases[0]
    cases.CASES[part_name][1](module, settings, cases.copied(arrays))


def it_trains(students, part_cases):
    """(line, accuracy); ``part_cases``: {part name: fixed cases} of the assignment's parts, probed first (the
    others are given)."""
    for part_name, fixed_cases in part_cases.items():
        if PARTS[part_name].trained:
            probe(getattr(students, PARTS[part_name].module), part_name, fixed_cases)
    return training.it_trains(students)


def run_test(test, assignment, students):
    """Run ``test`` (a folder.Test) of ``assignment`` on ``students`` (a namespace of the student's modules):
    (its passing line, its leaderboard entries or None), or GradingFailure."""
    if test.check == "it trains":
        line, accuracy = it_trains(students, assignment.cases)
        return line, {"it-trains accuracy": round(accuracy, 4)}
    module = getattr(students, PARTS[test.part].module)
    fixed_cases = assignment.cases_of(test)
    if test.check == "expected values":
        return expected_values(module, test.part, fixed_cases, test.hidden), None
    if test.check == "shapes and dtypes":
        return shapes_and_dtypes(module, test.part, fixed_cases), None
    return gradient_check(module, test.part, fixed_cases, assignment.seed_of(test)), None
