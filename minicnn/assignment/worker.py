"""The student's side of grading: a process that imports the student's files and calls their functions on the
inputs the grader sends, and sends back what they returned. Nothing else: no comparison, no verdict.

The grader (remote.py) starts it as ``python -I -B worker.py SANDBOX READ_FD WRITE_FD [UID GID]``. It reads
only the Python standard library and NumPy, so it runs without minicnn on its path. When the grader is root,
the worker starts as root (Python itself may live where the student user cannot read it, as pyenv's under
/root does), loads Python, NumPy and the modules student code may import, and only then drops to the
student user, before it reads one line of the student's code.

The wire (both ways): frames of an 8-byte length and a payload; a payload is an 8-byte length, a JSON
document, then each array as an 8-byte length and a .npy file. Arrays are NumPy's format read with
allow_pickle=False, the rest is JSON: nothing a student writes can run in the grader. A value in the JSON:
None, booleans, numbers and strings as themselves; {"t": [...]} a tuple, {"l": [...]} a list, {"d": [[key,
value], ...]} a dict, {"a": i} array i, {"s": i} a NumPy scalar (array i, 0-d), {"dtype": name}, {"rng":
state} a NumPy Generator, {"h": id, "type": name} an object that stays in the worker (a cache of a type the
wire does not carry), passed back by its id.
"""
import io
import json
import os
import struct
import sys
import traceback

import numpy as np

LENGTH = struct.Struct(">Q")
MOST_BYTES = 1 << 30            # a frame larger than this is refused, both ways
DEEPEST = 24                    # nesting deeper than this travels as a handle
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
ARRAY_KINDS = "biufc"           # bool, integers, floats, complex: the arrays the wire carries
# imported before the drop to the student user, who may not be able to read where Python lives
PRELOADED = ("numpy.random", "numpy.linalg", "numpy.fft", "numpy.lib.stride_tricks", "math", "cmath", "itertools",
             "functools", "collections", "operator", "copy", "typing", "dataclasses", "random", "time",
             "warnings", "numbers", "abc", "re", "string", "contextlib", "enum", "types", "statistics",
             "fractions", "decimal", "heapq", "bisect", "inspect", "linecache", "textwrap", "ctypes", "signal",
             "json", "threading", "pickle", "struct", "io", "pathlib", "glob", "tempfile", "shutil", "subprocess")


class WireError(ValueError):
    """A frame that does not follow the wire's format."""


# ---------------------------------------------------------------------------------------------------------
# The wire, used by both sides: encode(value, arrays, keep) -> JSON-able; decode(document, arrays, resolve)
# ---------------------------------------------------------------------------------------------------------

def encode(value, arrays, keep=None, depth=0):
    """``value`` as a JSON-able document, its arrays appended to ``arrays``. ``keep(value) -> id`` stores what
    the wire cannot carry (the worker's side); without it such a value raises WireError (the grader's side)."""
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        return value
    if isinstance(value, Handle):
        return {"h": value.id, "type": value.type_name}
    if depth < DEEPEST:
        if isinstance(value, np.ndarray) and value.dtype.kind in ARRAY_KINDS and type(value) is np.ndarray:
            arrays.append(value)
            return {"a": len(arrays) - 1}
        if isinstance(value, np.generic) and value.dtype.kind in ARRAY_KINDS:
            arrays.append(np.asarray(value))
            return {"s": len(arrays) - 1}
        if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
            return {"dtype": np.dtype(value).name}
        if isinstance(value, np.random.Generator) and type(value.bit_generator).__name__ in BIT_GENERATORS:
            return {"rng": value.bit_generator.state}
        if type(value) in (tuple, list):
            return {"t" if type(value) is tuple else "l": [encode(item, arrays, keep, depth + 1) for item in value]}
        if type(value) is dict:
            return {"d": [[encode(key, arrays, keep, depth + 1), encode(item, arrays, keep, depth + 1)]
                          for key, item in value.items()]}
    if keep is None:
        raise WireError(f"a {type(value).__name__} cannot be sent")
    return {"h": keep(value), "type": type(value).__name__}


def decode(document, arrays, resolve):
    """The value ``document`` stands for; ``resolve(id, type name)`` gives the object behind a handle."""
    if document is None or isinstance(document, (bool, str, int, float)):
        return document
    if not isinstance(document, dict) or len(document) not in (1, 2):
        raise WireError("a value of an unknown form")
    key, content = next(iter(document.items()))
    if key in ("a", "s"):
        if type(content) is not int or not 0 <= content < len(arrays):
            raise WireError("an array that was not sent")
        return arrays[content] if key == "a" else arrays[content][()]
    if key in ("t", "l") and isinstance(content, list):
        items = [decode(item, arrays, resolve) for item in content]
        return tuple(items) if key == "t" else items
    if key == "d" and isinstance(content, list):
        pairs = [decode_pair(pair, arrays, resolve) for pair in content]
        return dict(pairs)
    if key == "dtype" and isinstance(content, str) and np.dtype(content).kind in ARRAY_KINDS:
        return np.dtype(content).type
    if key == "rng" and isinstance(content, dict) and content.get("bit_generator") in BIT_GENERATORS:
        generator = np.random.Generator(getattr(np.random, content["bit_generator"])())
        generator.bit_generator.state = content
        return generator
    if key == "h" and type(content) is int:
        return resolve(content, str(document.get("type", "object"))[:60])
    raise WireError("a value of an unknown form")


def decode_pair(pair, arrays, resolve):
    if not isinstance(pair, list) or len(pair) != 2:
        raise WireError("a dict entry that is not a pair")
    key = decode(pair[0], arrays, resolve)
    if not isinstance(key, (str, int, float, bool, tuple, type(None), Handle)):
        raise WireError("a dict key of a type the wire does not allow")
    return key, decode(pair[1], arrays, resolve)


class Handle:
    """An object that stayed in the worker, known to the grader by its id and its type's name."""

    def __init__(self, id, type_name):
        self.id, self.type_name = id, type_name

    def __eq__(self, other):
        return isinstance(other, Handle) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<{self.type_name} kept in the student's process>"


def pack(document, arrays):
    """A frame's payload: the JSON document and the arrays."""
    parts = [json.dumps(document).encode("utf-8")]
    for array in arrays:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
        parts.append(buffer.getvalue())
    return b"".join(LENGTH.pack(len(part)) + part for part in parts)


def unpack(payload):
    """(document, arrays) of a payload; WireError for anything else."""
    parts, offset = [], 0
    while offset < len(payload):
        if offset + LENGTH.size > len(payload):
            raise WireError("a frame cut short")
        (size,) = LENGTH.unpack_from(payload, offset)
        offset += LENGTH.size
        if offset + size > len(payload):
            raise WireError("a frame cut short")
        parts.append(payload[offset:offset + size])
        offset += size
    if not parts:
        raise WireError("an empty frame")
    try:
        document = json.loads(parts[0].decode("utf-8"))
        arrays = [np.lib.format.read_array(io.BytesIO(part), allow_pickle=False) for part in parts[1:]]
    except (ValueError, UnicodeDecodeError, OSError, RecursionError) as error:
        raise WireError(f"a frame that cannot be read: {error}") from None
    if any(array.dtype.kind not in ARRAY_KINDS for array in arrays):
        raise WireError("an array of a type the wire does not carry")
    return document, arrays


# ---------------------------------------------------------------------------------------------------------
# The worker's loop
# ---------------------------------------------------------------------------------------------------------

def read_exactly(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def write_frame(fd, payload):
    view = memoryview(LENGTH.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def where(error, sandbox, module):
    """(file, line, function) of the deepest frame of the student's code (outside this file and NumPy);
    the module's file without a line where the error is this file's (a function the module lacks)."""
    frames = traceback.extract_tb(error.__traceback__)
    outside = [frame for frame in frames if os.path.abspath(frame.filename) != os.path.abspath(__file__)
               and os.sep + "numpy" + os.sep not in frame.filename]
    if not outside:
        return f"student/{module}.py", None, None
    frame = outside[-1]
    filename = os.path.abspath(frame.filename)
    if filename.startswith(sandbox + os.sep):
        filename = os.path.relpath(filename, sandbox)
    return filename, frame.lineno, frame.name


def drop_privileges(uid, gid):
    """Become the student user for good: groups, group and user, real, effective and saved."""
    import resource
    resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))   # counted per user: a fork bomb stops there
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def serve(sandbox, read_fd, write_fd):
    """Answer the grader's calls until it closes the pipe."""
    objects, modules, kept = {}, {}, [0]

    def keep(value):
        kept[0] += 1   # never an id again, though released ones leave the table
        objects[kept[0]] = value
        return kept[0]

    def resolve(id, type_name):
        if id not in objects:
            raise WireError("a handle to nothing")
        return objects[id]

    while True:
        try:
            (size,) = LENGTH.unpack(read_exactly(read_fd, LENGTH.size))
            request, arrays = unpack(read_exactly(read_fd, size))
        except EOFError:
            return
        for id in request.get("release", ()):
            objects.pop(id, None)
        arguments = decode(request["args"], arrays, resolve)
        keywords = decode(request["kwargs"], arrays, resolve)
        before = {place: value.copy() for place, value in given(arguments, keywords) if isinstance(value, np.ndarray)}
        try:
            module = modules.get(request["module"])
            if module is None:
                import importlib
                module = modules[request["module"]] = importlib.import_module(f"student.{request['module']}")
            result = getattr(module, request["function"])(*arguments, **keywords)
            changed = [[place, value] for place, value in given(arguments, keywords)
                       if isinstance(value, (dict, np.random.Generator))
                       or (isinstance(value, np.ndarray) and not same(value, before[place]))]
            response = {"ok": result, "changed": changed}
        except BaseException as error:   # the student's mistake, whatever it is, becomes an answer
            filename, line, function_name = where(error, sandbox, request["module"])
            response = {"error": {"type": type(error).__name__, "message": str(error)[:2000],
                                  "not_implemented": isinstance(error, NotImplementedError),
                                  "file": filename, "line": line, "function": function_name,
                                  "importing": request["module"] not in modules}}
        sent = []
        try:
            document = encode(response, sent, keep)
        except (ValueError, TypeError, RecursionError) as error:
            sent, document = [], {"d": [["error", {"d": [["type", "WireError"], ["message", str(error)[:2000]]]}]]}
        write_frame(write_fd, pack(document, sent))


def given(arguments, keywords):
    """(place, value) of every argument: its position, or its keyword."""
    return list(enumerate(arguments)) + list(keywords.items())


def same(after, before):
    return after.shape == before.shape and after.dtype == before.dtype and np.array_equal(after, before, equal_nan=True)


def main(argv):
    sandbox, read_fd, write_fd = os.path.abspath(argv[1]), int(argv[2]), int(argv[3])
    import importlib
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # a crash leaves no core file behind
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if len(argv) > 5:
        drop_privileges(int(argv[4]), int(argv[5]))
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, 9)   # PR_SET_PDEATHSIG, SIGKILL: end with the grader's process for this test
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:   # the grader's process ended before the line above
        os._exit(1)
    os.chdir(sandbox)
    sys.path.insert(0, sandbox)
    sys.dont_write_bytecode = True
    serve(sandbox, read_fd, write_fd)


if __name__ == "__main__":
    main(sys.argv)
