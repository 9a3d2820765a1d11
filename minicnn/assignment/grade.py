"""Grading a submission: every test in processes of its own, spread over the cores, under one time budget.

    caller (the command)            loads the folder and the files, writes results.json at the end
     └─ the grade's process         schedules the tests; every process below comes back to it (a subreaper)
         └─ a test's process        the grader's code: the checks, every comparison, the verdict
             └─ the student's       worker.py: imports the student's files, computes what it is asked
                process             (as an unprivileged user when the grader is root)

The student's process only returns arrays; the test's process judges them. Every result that travels
between the grader's processes is sealed with a key made for this grade (an HMAC), which no process the
student's code runs in has ever held, so a line written into a grader's pipe from outside is thrown away.
A test's processes end as a group, and whatever escaped the group comes back to the grade's process, which ends it: the caller gets
the results only when no process the student's code started is left. A hang loses that test's points
at its time limit (or the limit of one call), a crash at once, and neither touches another test; the
budget ends the whole grade whatever the tests do.
"""
import hashlib
import hmac
import json
import os
import secrets
import select
import signal
import time
import traceback
from dataclasses import dataclass, field

from minicnn.assignment import graders, remote
from minicnn.assignment.cases import GradingFailure
from minicnn.assignment.folder import HIDDEN
from minicnn.assignment.parts import AssignmentError
from minicnn.data.files import atomic_write

GRACE = 5.0   # seconds a test's process gets past its deadline to report before it is ended


@dataclass
class GradedTest:
    name: str
    score: float
    max_score: float
    status: str        # "passed" or "failed"
    output: str
    visibility: str
    seconds: float = 0.0


@dataclass
class Grade:
    tests: list
    notes: list = field(default_factory=list)       # lines about the submission itself (missing files...)
    leaderboard: dict = field(default_factory=dict)
    seconds: float = 0.0
    budget: float = 0.0

    @property
    def score(self):
        return round(sum(test.score for test in self.tests), 6)

    @property
    def max_score(self):
        return round(sum(test.max_score for test in self.tests), 6)


def seal(key, document):
    """One line: ``document`` and its HMAC under ``key``."""
    body = json.dumps(document)
    return json.dumps({"mac": hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest(), "body": body}) + "\n"


def unseal(key, line):
    """The document sealed in ``line``, or None for a line this grade's processes did not write."""
    try:
        sealed = json.loads(line)
        body = sealed["body"].encode("utf-8")
        if hmac.compare_digest(sealed["mac"], hmac.new(key, body, hashlib.sha256).hexdigest()):
            return json.loads(body)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def chosen_tests(assignment, only):
    parts = {test.part for test in assignment.tests if test.part}
    unknown = sorted(set(only or ()) - parts)
    if unknown:
        raise AssignmentError(f"--only {', '.join(unknown)}: this assignment has no such part; its tests are "
                              f"{', '.join(test.name for test in assignment.tests)}")
    return [test for test in assignment.tests if test.points > 0 and (not only or test.part in only)]


def time_limits(tests, budget, parallel):
    """Each test's limit, all scaled down alike where their sum would not fit the budget on ``parallel`` cores,
    so that slow code everywhere still leaves every test its turn."""
    total = sum(test.time_limit for test in tests)
    scale = min(1.0, 0.9 * budget * parallel / total) if total else 1.0
    return {test.name: max(1.0, test.time_limit * scale) for test in tests}


def grade(assignment, files, only=None, budget=None, parallel=None, echo=print, notes=()):
    """Grade the student's ``files`` ({module: source bytes}) on ``assignment`` (folder.Assignment): a Grade,
    one line echoed per test as it finishes. ``budget`` (seconds) overrides the assignment's."""
    if not hasattr(os, "fork"):
        raise AssignmentError("grading runs each test in processes of its own, which needs Linux or macOS "
                              "(on Windows, grade in WSL)")
    tests = chosen_tests(assignment, only)
    if remote.student_user() is not None:   # root: the student account must not read the cases
        grading = os.path.join(assignment.directory, "grading")
        os.chmod(grading, os.stat(grading).st_mode & 0o700)
    budget = float(budget or assignment.budget)
    parallel = parallel or cores()
    started = time.monotonic()
    limits = time_limits(tests, budget, parallel)
    longest_first = sorted(tests, key=lambda test: test.check != "it trains")
    key = secrets.token_bytes(32)
    remote.prctl(4, 0)   # PR_SET_DUMPABLE: no process of this user reads this one's memory (the key) or pipes
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:   # the grade's process
        os.close(reading)
        status = 0
        try:
            schedule(longest_first, assignment, files, limits, started + budget, budget, parallel, writing, key)
        except BaseException:
            traceback.print_exc()
            status = 1
        finally:
            os._exit(status)
    os.close(writing)
    results, leaderboard = {}, {}
    with os.fdopen(reading, "r", encoding="utf-8") as lines:
        for line in lines:
            result = unseal(key, line)
            if not isinstance(result, dict):
                continue
            if "name" not in result:   # the last line: the leaderboard's entries
                leaderboard = result.get("leaderboard", {})
                continue
            test = GradedTest(**result)
            results[test.name] = test
            echo(f"{test.score:>4g}/{test.max_score:<4g} {test.name:<28} {test.output}  [{test.seconds:.1f} s]")
    os.waitpid(pid, 0)
    graded = [results.get(test.name) or GradedTest(test.name, 0, test.points, "failed",
                                                   "the grader stopped before this test could be run",
                                                   test.visibility) for test in tests]
    return Grade(graded, list(notes), leaderboard, time.monotonic() - started, budget)


def schedule(tests, assignment, files, limits, end, budget, parallel, writing, key):
    """In the grade's process: run ``tests`` ``parallel`` at a time, each in a process of its own, and write
    one JSON line per finished test to ``writing``; end every process before the last line."""
    remote.guard_this_process()
    scratch = remote.Scratch(remote.student_user())
    pending, running = list(tests), {}   # running: fd -> (pid, test, started, deadline, chunks)
    out = os.fdopen(writing, "w", encoding="utf-8")

    def report(test, status, output, seconds, leaderboard=None):
        score = test.points if status == "passed" else 0
        entry = {"name": test.name, "score": score, "max_score": test.points, "status": status, "output": output,
                 "visibility": test.visibility, "seconds": round(seconds, 2)}
        out.write(seal(key, entry))
        out.flush()
        if leaderboard:
            report.leaderboard.update(leaderboard)
    report.leaderboard = {}

    try:
        while pending or running:
            now = time.monotonic()
            while pending and len(running) < parallel and now < end:
                test = pending.pop(0)
                own = now + limits[test.name]
                shortened = f", shortened so that every test fits the grade's budget of {budget:g} s" \
                    if limits[test.name] < test.time_limit else ""
                deadline, why = (own, (f"stopped after {limits[test.name]:.3g} s, its time limit{shortened}: look "
                                       "for a loop that never ends, or code far slower than it needs to be "
                                       "(grading/points.json sets the limits)")) if own < end else \
                    (end, f"stopped: the whole grade's time budget of {budget:g} s ran out")
                fd, pid = start_test(test, assignment, files, scratch, deadline, why, key)
                running[fd] = (pid, test, now, deadline, why, [])
            if not running:
                break
            wake = min(deadline + GRACE for _, _, _, deadline, _, _ in running.values())
            ready, _, _ = select.select(list(running), [], [], max(0.0, min(wake, end + GRACE) - time.monotonic()))
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    running[fd][5].append(chunk)
                    continue
                pid, test, began, _, _, chunks = running.pop(fd)
                os.close(fd)
                os.waitpid(pid, 0)
                remote.end_children(spare=[entry[0] for entry in running.values()])
                lines = b"".join(chunks).decode("utf-8", "replace").splitlines()
                result = ([document for document in map(lambda line: unseal(key, line), lines) if document]
                          or [None])[-1]
                try:
                    report(test, result["status"], result["output"], time.monotonic() - began,
                           result.get("leaderboard"))
                except (TypeError, KeyError):
                    report(test, "failed", "the grader's process for this test ended without a result (was it "
                                           "killed?), so nothing could be checked", time.monotonic() - began)
            now = time.monotonic()
            for fd, (pid, test, began, deadline, why, _) in list(running.items()):
                if now > deadline + GRACE:
                    stop_test(pid, fd)
                    del running[fd]
                    remote.end_children(spare=[entry[0] for entry in running.values()])
                    report(test, "failed", why, now - began)
        for test in pending:
            report(test, "failed", f"not run: the whole grade's time budget of {budget:g} s ran out first", 0.0)
    finally:
        for fd, (pid, *_) in running.items():
            stop_test(pid, fd)
        remote.end_children()
        scratch.remove()
    if report.leaderboard:
        out.write(seal(key, {"leaderboard": report.leaderboard}))
    out.close()


def stop_test(pid, fd):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.close(fd)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def start_test(test, assignment, files, scratch, deadline, why, key):
    """Fork the test's process; (the fd its result comes on, its pid)."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reading)
        status = 0
        try:
            result = run_test(test, assignment, files, scratch, deadline, why)
            os.write(writing, ("\n" + seal(key, result)).encode("utf-8"))
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(writing)
    return reading, pid


def run_test(test, assignment, files, scratch, deadline, why):
    """In the test's process: the test on a fresh student's process; {"status", "output", "leaderboard"}."""
    remote.guard_this_process()
    os.chdir(scratch.empty)
    leaderboard = None
    process = remote.StudentProcess(scratch, files, deadline, assignment.call_limit, why)
    try:
        with process:
            line, leaderboard = graders.run_test(test, assignment, process.modules())
        status = "passed"
    except GradingFailure as failure:
        status, line = "failed", str(failure)
    except remote.Stopped as stopped:
        status, line = "failed", stopped.line
    except Exception as error:   # what the student's code returned broke a check: a failure, never a pass
        status, line = "failed", f"the grader could not check what your code returned ({type(error).__name__}: " \
                                 f"{remote.printable(error, 300)})"
    finally:
        process.stop()
        remote.end_children()
    return {"status": status, "output": line, "leaderboard": leaderboard}


# ---------------------------------------------------------------------------------------------------------
# results.json, as Gradescope's autograder specification has it
# ---------------------------------------------------------------------------------------------------------

def summary(grade):
    """The output a student reads first: the score, what was wrong with the submission, what shows later."""
    lines = [f"score: {grade.score:g}/{grade.max_score:g}, graded in {grade.seconds:.0f} s "
             f"(the budget is {grade.budget:g} s)"]
    lines += grade.notes
    later = [test for test in grade.tests if test.visibility != "visible"]
    if later:
        hidden = sum(test.name.endswith(HIDDEN) for test in later)
        lines.append(f"{len(later)} tests ({hidden} of them on hidden cases, drawn for this course and never handed "
                     "out) show their results once the grades are published")
    return "\n".join(lines)


def results_document(grade, leaderboard=False):
    document = {"score": grade.score, "execution_time": round(grade.seconds, 1), "output": summary(grade),
                "output_format": "text", "test_output_format": "text", "visibility": "visible",
                "stdout_visibility": "hidden",
                "tests": [{"name": test.name, "score": test.score, "max_score": test.max_score, "status": test.status,
                           "output": test.output, "visibility": test.visibility} for test in grade.tests]}
    if leaderboard and grade.leaderboard:
        document["leaderboard"] = [{"name": name, "value": value} for name, value in grade.leaderboard.items()]
    return document


def write_results(grade, path, leaderboard=False):
    """results.json (Gradescope's layout: score, execution_time, output, visibility, every test's name, score,
    max_score, status, output and visibility; the leaderboard when asked for)."""
    with atomic_write(path, "w") as file:
        json.dump(results_document(grade, leaderboard), file, indent=1)
