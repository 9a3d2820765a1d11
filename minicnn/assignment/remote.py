"""The grader's side of the student's process: start it (worker.py) in a folder of its own, call the
student's functions in it as if they were here, and end it with everything it started.

    with StudentProcess(scratch, files, deadline) as process:
        conv = process.module("conv")                    # a stand-in for student/conv.py
        out, cache = conv.conv_forward(x, w, b, 1, 0)    # computed there; out arrives here as an array

A call sends its arguments over the wire (worker.py says how) and gets back the returned values, and the
new values of any argument the function changed in place, which are written into the grader's own arrays,
so that a layer here behaves exactly as if the student's function ran here. What cannot travel (a cache of
an exotic type) stays in the student's process, as a handle. An exception there is raised here as an
exception of the same type name and message, from a stand-in frame at the student's file and line, so
that every message names them. A process that crashes, hangs past its time, or answers out of turn raises
Stopped (a BaseException, so that no ``except Exception`` in a checker can mistake it for a mistake of the
student's to report and go on).
"""
import builtins
import ctypes
import inspect
import linecache
import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

from minicnn.assignment import worker as wire
from minicnn.assignment.parts import PARTS, reference_module

# the account student code runs as when the grader is root: a dedicated one if the autograder's setup made
# it, else nobody
STUDENT_USERS = ("minicnn-student", "nobody")
WORKER_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
                      "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class Stopped(BaseException):
    """The student's process can answer no more (crashed, out of time, out of turn); ``line`` says why."""

    def __init__(self, line):
        super().__init__(line)
        self.line = line


def student_user():
    """(uid, gid) of the account student code runs as, or None when the grader is not root (it runs as the
    grader's own user then)."""
    if os.geteuid() != 0:
        return None
    for name in STUDENT_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return entry.pw_uid, entry.pw_gid
    raise RuntimeError("the grader runs as root but finds no unprivileged account to run student code as "
                       f"(looked for {', '.join(STUDENT_USERS)}); create one: useradd --system minicnn-student")


# ---------------------------------------------------------------------------------------------------------
# The processes: this one a subreaper, every descendant ended before a result is given
# ---------------------------------------------------------------------------------------------------------

def prctl(option, value):
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):   # not Linux
        return False


def guard_this_process():
    """Make this process the one that orphaned descendants come back to (a subreaper), so that a student's
    process that leaves its group is still found and ended; and not dumpable, so that a process of the same
    user can neither trace it nor read its memory or its file descriptors through /proc."""
    prctl(36, 1)   # PR_SET_CHILD_SUBREAPER
    prctl(4, 0)    # PR_SET_DUMPABLE


def children():
    """The process ids of this process's children (from /proc; empty where there is none)."""
    mine, found = os.getpid(), []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as file:
                    fields = file.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == mine:
                found.append(int(entry))
    return found


def end_children(spare=()):
    """SIGKILL every child of this process but ``spare``, and reap it; again for the orphans that come back
    to this subreaper as their parents die, until none is left."""
    for _ in range(10000):
        found = [pid for pid in children() if pid not in spare]
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in found:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def death(status):
    """In words, how a process with exit status ``status`` (Popen's returncode) ended."""
    if status is not None and status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"it exited with status {status}: is there an os._exit or a sys.exit in the code?"


# ---------------------------------------------------------------------------------------------------------
# The scratch folder and the sandboxes
# ---------------------------------------------------------------------------------------------------------

class Scratch:
    """A grade's scratch folder: the worker's script (readable by the student user), an empty folder to work
    in, and a fresh sandbox per test, holding only the student's files. The folder is traversable but not
    listable by others, so that no test's process can find another's sandbox."""

    def __init__(self, user):
        self.user = user
        self.root = tempfile.mkdtemp(prefix="minicnn-grade-")
        os.chmod(self.root, 0o711)
        self.worker_script = os.path.join(self.root, "worker.py")
        shutil.copyfile(wire.__file__, self.worker_script)
        os.chmod(self.worker_script, 0o644)
        self.empty = os.path.join(self.root, "empty")
        os.mkdir(self.empty, 0o700)

    def sandbox(self, files):
        """A new folder holding student/<module>.py for every {module: source bytes} of ``files``, owned by
        the student user."""
        path = tempfile.mkdtemp(dir=self.root, prefix="sandbox-")
        package = os.path.join(path, "student")
        os.mkdir(package)
        contents = {"__init__.py": b'"""The student\'s code."""\n', **{f"{name}.py": data for name, data in files.items()}}
        for name, data in contents.items():
            with open(os.path.join(package, name), "wb") as file:
                file.write(data)
        if self.user is not None:
            for folder, _, names in os.walk(path):
                os.chown(folder, *self.user)
                for name in names:
                    os.chown(os.path.join(folder, name), *self.user)
        return path

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# Student exceptions, raised here from the student's file and line
# ---------------------------------------------------------------------------------------------------------

EXCEPTION_CLASSES = {}


def exception_class(type_name):
    """A class named ``type_name`` whose str is the message the student's process sent: a subclass of the
    built-in exception of that name where there is one (NotImplementedError stays one), else of Exception."""
    if type_name not in EXCEPTION_CLASSES:
        base = getattr(builtins, type_name, None)
        if not (isinstance(base, type) and issubclass(base, Exception)):
            base = Exception   # SystemExit and the student's own classes: an error like any other, here
        EXCEPTION_CLASSES[type_name] = type(type_name, (base,), {"__str__": lambda self: self.message,
                                                                 "__module__": "builtins"})
    return EXCEPTION_CLASSES[type_name]


def printable(text, longest=200):
    text = "".join(character if character.isprintable() else "?" for character in str(text))
    return text[:longest]


def raise_as_student(report):
    """Raise the exception the student's process ``report``ed, from a stand-in frame at its file and line."""
    type_name = str(report.get("type", "Exception"))
    error = exception_class(type_name if type_name.isidentifier() else "Exception")()
    error.message = printable(report.get("message", ""), 2000)
    filename = printable(report.get("file") or "<student code>")
    line = report.get("line")
    line = line if type(line) is int and 0 < line < 1_000_000 else 1
    function = printable(report.get("function") or "<module>", 80)
    linecache.cache[filename] = (0, None, [], filename)   # no file is read to show the line
    namespace = {"error": error}
    exec(compile("\n" * (line - 1) + "def stand_in(): raise error\n", filename, "exec"), namespace)
    stand_in = namespace["stand_in"]
    stand_in.__code__ = stand_in.__code__.replace(co_name=function, co_qualname=function)
    stand_in()


# ---------------------------------------------------------------------------------------------------------
# The student's process
# ---------------------------------------------------------------------------------------------------------

class StudentProcess:
    """The process that runs the student's ``files`` ({module: source bytes}) for one test. ``deadline``
    (time.monotonic()) ends the test; ``call_limit`` seconds end any one call; ``why`` says which limit the
    deadline is, for the message."""

    def __init__(self, scratch, files, deadline, call_limit, why):
        self.scratch, self.files, self.deadline, self.call_limit, self.why = scratch, files, deadline, call_limit, why
        self.process, self.released = None, []

    def __enter__(self):
        sandbox = self.scratch.sandbox(self.files)
        to_worker, from_grader = os.pipe()
        from_worker, to_grader = os.pipe()
        user = [] if self.scratch.user is None else [str(number) for number in self.scratch.user]
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-B", self.scratch.worker_script, sandbox, str(to_worker), str(to_grader), *user],
            pass_fds=(to_worker, to_grader), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd=self.scratch.empty, env=dict(WORKER_ENVIRONMENT, HOME=sandbox),
            start_new_session=True)
        os.close(to_worker)
        os.close(to_grader)
        self.sending, self.receiving = from_grader, from_worker
        os.set_blocking(self.sending, False)
        return self

    def __exit__(self, *exception):
        self.stop()

    def stop(self):
        """End the process and its group (what it started and left in the group too)."""
        if self.process is None:
            return
        for fd in (self.sending, self.receiving):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.kill()
        self.process.wait()
        self.process = None

    def module(self, name):
        """A stand-in for student/<name>.py: every function of its reference module, computed there."""
        return RemoteModule(self, name)

    def modules(self):
        """Every module of student/, as attributes of one namespace: students.conv.conv_forward..."""
        return types.SimpleNamespace(**{part.module: self.module(part.module) for part in PARTS.values()})

    # the wire, under the deadlines
    def call(self, module, function, arguments, keywords):
        sent = []
        document = {"module": module, "function": function, "args": wire.encode(tuple(arguments), sent),
                    "kwargs": wire.encode(dict(keywords), sent), "release": self.released}
        self.released = []
        limit = time.monotonic() + self.call_limit
        deadline, why = ((limit, f"{function} did not return within {self.call_limit:g} s, the limit of one call: "
                                 "look for a loop that never ends, or code far slower than it needs to be")
                         if limit < self.deadline else (self.deadline, self.why))
        self.write(wire.pack(document, sent), deadline, why)
        payload = self.read_frame(deadline, why)
        try:
            document, arrays = wire.unpack(payload)
            answer = wire.decode(document, arrays, self.handle)
        except (wire.WireError, ValueError, TypeError, RecursionError):
            raise Stopped("the process running your code answered out of turn (its answer is not the one the "
                          "grader asked for), so nothing more could be checked") from None
        if not isinstance(answer, dict) or not ({"ok", "error"} & set(answer)):
            raise Stopped("the process running your code answered out of turn, so nothing more could be checked")
        if "error" in answer:
            report = answer["error"] if isinstance(answer["error"], dict) else {}
            if report.get("importing"):
                raise Stopped(f"student/{module}.py cannot be imported: {report.get('type')}: "
                              f"{printable(report.get('message', ''), 500)} (at {printable(report.get('file'))}:"
                              f"{report.get('line')})")
            raise_as_student(report)
        self.write_back(arguments, keywords, answer.get("changed"))
        return answer["ok"]

    def handle(self, id, type_name):
        handle = KeptThere(id, type_name)
        handle.owner = self
        return handle

    def write_back(self, arguments, keywords, changed):
        """What the function changed in place, written into the grader's own arguments."""
        for entry in changed if isinstance(changed, list) else ():
            place, value = entry if isinstance(entry, list) and len(entry) == 2 else (None, None)
            if type(place) is int and 0 <= place < len(arguments):
                original = arguments[place]
            elif isinstance(place, str) and place in keywords:
                original = keywords[place]
            else:
                continue
            if isinstance(original, np.ndarray) and isinstance(value, np.ndarray) and value.shape == original.shape:
                original[...] = value
            elif isinstance(original, dict) and isinstance(value, dict):
                original.clear()
                original.update(value)
            elif isinstance(original, np.random.Generator) and isinstance(value, np.random.Generator):
                original.bit_generator.state = value.bit_generator.state

    def write(self, data, deadline, why):
        view = memoryview(wire.LENGTH.pack(len(data)) + data)
        while view:
            self.wait_for(self.sending, "write", deadline, why)
            try:
                view = view[os.write(self.sending, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError):
                raise Stopped(self.ended()) from None

    def read_frame(self, deadline, why):
        (size,) = wire.LENGTH.unpack(self.read(wire.LENGTH.size, deadline, why))
        if size > wire.MOST_BYTES:
            raise Stopped(f"the process running your code answered with {size / 2 ** 30:.1f} GiB, more than the "
                          f"grader reads ({wire.MOST_BYTES / 2 ** 30:g} GiB)")
        return self.read(size, deadline, why)

    def read(self, size, deadline, why):
        chunks = []
        while size:
            self.wait_for(self.receiving, "read", deadline, why)
            chunk = os.read(self.receiving, min(size, 1 << 20))
            if not chunk:
                raise Stopped(self.ended())
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def wait_for(self, fd, way, deadline, why):
        remaining = deadline - time.monotonic()
        ready = select.select(*(([fd], [], []) if way == "read" else ([], [fd], [])), max(remaining, 0))
        if not any(ready):
            raise Stopped(why)

    def ended(self):
        try:
            status = self.process.wait(5)
        except subprocess.TimeoutExpired:
            return "the process running your code stopped answering, so nothing more could be checked"
        return f"the process running your code crashed ({death(status)}), so nothing more could be checked"


class KeptThere(wire.Handle):
    """A handle to an object in the student's process; released there when dropped here."""

    def __del__(self):
        owner = getattr(self, "owner", None)
        if owner is not None:
            owner.released.append(self.id)


class RemoteFunction:
    """A function of the student's module, called in the student's process; its name is the name the module
    is asked for (an alias of another function is graded as the name it stands under), its signature the
    reference function's."""

    def __init__(self, process, module, name, signature):
        self.process, self.module, self.__name__, self.__qualname__ = process, module, name, name
        self.__signature__ = signature

    def __call__(self, *arguments, **keywords):
        return self.process.call(self.module, self.__name__, arguments, keywords)

    def __repr__(self):
        return f"<student/{self.module}.py's {self.__name__}>"


class RemoteModule:
    """student/<name>.py as the grader sees it: a RemoteFunction for each function and class of its reference
    module (an object a class makes there stays there, as a handle the other functions can be given)."""

    def __init__(self, process, name):
        self.__name__ = f"student.{name}"
        module = reference_module(name)
        for attribute, value in vars(module).items():
            if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__:
                setattr(self, attribute, RemoteFunction(process, name, attribute, inspect.signature(value)))
