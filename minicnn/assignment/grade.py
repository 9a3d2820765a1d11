"""Grading a folder: every test of points.json in a process of its own, under a time limit.

A test that hangs is stopped at its time limit, one that crashes the interpreter
(a segfault, os._exit, the memory exhausted) is seen dead: either loses that
test's points, with a line that says so, and the next test runs. The process is
forked from this one where the platform can (Linux: no second start-up of
Python and NumPy), else spawned.
"""
import faulthandler
import json
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass

from minicnn.assignment import graders
from minicnn.assignment.cases import GradingFailure
from minicnn.assignment.parts import PARTS, AssignmentError
from minicnn.data.files import atomic_write
from minicnn.gradcheck import where_it_failed

START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


@dataclass
class GradedTest:
    name: str
    score: float
    max_score: float
    output: str


def read_points(directory):
    """(points by test name, time limits by test name) from the folder's grading/points.json, checked."""
    path = os.path.join(directory, "grading", "points.json")
    if not os.path.isdir(directory):
        raise AssignmentError(f"{directory} is not a folder; give the folder `minicnn assignment make` wrote")
    try:
        with open(path, encoding="utf-8") as file:
            table = json.load(file)
    except FileNotFoundError:
        raise AssignmentError(f"{path} is missing: {directory} is not an assignment folder made by "
                              "`minicnn assignment make`") from None
    except (OSError, json.JSONDecodeError) as error:
        raise AssignmentError(f"{path} is not readable JSON: {error}") from None
    points, limits = table.get("points"), table.get("time_limit_seconds", {})
    known = set(every_test_name())
    if not isinstance(points, dict) or not isinstance(limits, dict):
        raise AssignmentError(f"{path}: \"points\" and \"time_limit_seconds\" must be tables (JSON objects)")
    for table_name, table_values in (("points", points), ("time_limit_seconds", limits)):
        for name, value in table_values.items():
            if name not in known and not (table_name == "time_limit_seconds" and name == "default"):
                raise AssignmentError(f"{path}: {table_name} names no test {name!r}; the tests are: "
                                      f"{', '.join(sorted(known))}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise AssignmentError(f"{path}: {table_name}[{name!r}] must be a number >= 0, got {value!r}")
    default = limits.get("default", 60)
    return points, {name: limits.get(name, default) for name in points}


def every_test_name():
    return [name for part in PARTS.values() for name in graders.test_names(part)] + ["it trains"]


def child(directory, name, sender):
    """In the test's own process: run it and send back ("passed" or "failed", line)."""
    faulthandler.disable()   # a crash is reported by the grader in one line, not by a dump of every thread
    try:
        result = ("passed", graders.run_test(directory, name))
    except GradingFailure as failure:
        result = ("failed", str(failure))
    except BaseException as error:   # sys.exit, KeyboardInterrupt or any error in the student's code
        result = ("failed", f"raised {where_it_failed(error)}")
    sys.stdout.flush()
    sys.stderr.flush()
    sender.send(result)


def run_isolated(directory, name, time_limit):
    """("passed" | "failed", line) of test ``name``, run in its own process for at most ``time_limit`` seconds."""
    context = multiprocessing.get_context(START_METHOD)
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=child, args=(directory, name, sender), daemon=True)
    sys.stdout.flush()
    sys.stderr.flush()
    process.start()
    sender.close()
    try:
        if receiver.poll(time_limit):
            return receiver.recv()
        return "failed", (f"stopped after {time_limit:g} s, its time limit: look for a loop that never ends, or code "
                          "far slower than it needs to be (grading/points.json sets the limit)")
    except EOFError:   # the process ended without a word: it crashed
        process.join(5)
        return "failed", f"the process running it crashed ({death(process.exitcode)}), so nothing could be checked"
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()


def death(exitcode):
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"it exited with status {exitcode}: is there an os._exit in the code?"


def preload():
    """Import here what every test imports, so that each forked test starts with it (the student's code is
    never imported here: each test imports it afresh)."""
    import minicnn.train  # noqa: F401
    try:
        import hypothesis  # noqa: F401
    except ImportError:   # the gradient checks say so themselves
        pass


def grade(directory, only=None, echo=print):
    """Run the folder's tests (those of the parts in ``only``, if given): a list of GradedTest, one line echoed
    per test as it finishes. A test with 0 points is not run."""
    points, limits = read_points(directory)
    preload()
    unknown = sorted(set(only or ()) - {name.split(": ")[0] for name in points})
    if unknown:
        raise AssignmentError(f"--only {', '.join(unknown)}: this assignment has no such part; its tests are "
                              f"{', '.join(points)}")
    results = []
    for name, max_score in points.items():
        if max_score == 0 or (only and name.split(": ")[0] not in only):
            continue
        started = time.monotonic()
        status, output = run_isolated(os.path.abspath(directory), name, limits[name])
        output = output.replace(os.path.abspath(directory) + os.sep, "")   # student/conv.py, not /home/.../conv.py
        result = GradedTest(name, max_score if status == "passed" else 0, max_score, output)
        results.append(result)
        echo(f"{result.score:>4g}/{result.max_score:<4g} {name:<28} {output}  [{time.monotonic() - started:.1f} s]")
    return results


def write_results(results, path):
    """results.json in the layout course platforms read (Gradescope's): score, and each test's name, score,
    max_score and output."""
    summary = {"score": sum(result.score for result in results),
               "tests": [{"name": result.name, "score": result.score, "max_score": result.max_score,
                          "output": result.output} for result in results]}
    with atomic_write(path, "w") as file:
        json.dump(summary, file, indent=1)
