"""The threads under the fast layers: one mechanism, work cut into pieces, one piece per thread.

A layer writes its formula on whole arrays. Around it, within a step (``Sequential.forward``
and ``backward`` enter ``step_threads()``), this module runs the formula on pieces of the
arrays, one piece per thread; NumPy releases the GIL inside its loops, so the memory-bound
passes that are most of a step get the bandwidth of every core. The ways to ask for it, all
built on ``run_pieces``:

- ``@in_pieces(axis)`` on a function of arrays (a per-channel formula: BatchNorm's
  statistics, a pooling window's maximum, im2col's copies): every positional array
  argument is cut along ``axis`` and the function runs once per piece. The formula does
  not see the cut: on one piece or on the whole arrays it reads the same.
- ``elementwise(ufunc, *operands)``: one NumPy ufunc (``maximum``, ``multiply``, ...) over
  matching pieces of its operands.
- ``matmul(a, b)``: a matrix product split over the columns or the rows of its result;
  ``matmuls(a, *bs)``: products split over the axis they sum over, the pieces' products added.
- ``with whole():`` the formulas within run once on their whole arrays, for work too small
  to be worth handing out.

Work too small to share (SMALLEST_PIECE values, SMALLEST_PRODUCT_PIECE multiply-adds a
thread) runs once, on the calling thread.

During the step BLAS is held at one thread (threadpoolctl): an idle OpenBLAS worker spins
after each call and would steal a core from the next threaded NumPy pass. On exit the BLAS
setting is put back, so a program that uses minicnn beside other libraries keeps its own
BLAS threads. Outside a step (a layer called on its own) nothing is cut and BLAS is left
alone; on cupy nothing is cut either (the GPU has its own parallelism): the same code runs
on the whole arrays. Our worker threads wait on a queue between steps; they never spin.
What each of these choices gained, measured: docs/benchmarks.md.

The number of threads: ``set_threads(n)`` (``minicnn.set_threads``), else the
environment variable ``MINICNN_THREADS``, else the number of cores this process
may run on. One thread means no threads of ours and BLAS left as it is.
"""
import contextvars
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from minicnn import backend
from minicnn.runtime.layout import empty_in_layout, memory_order

ENVIRONMENT_VARIABLE = "MINICNN_THREADS"

_chosen = None        # set_threads' value; None: the environment variable or the core count
_active = 1           # threads the layers split their work over now (1 outside a step)
_pool = None          # worker threads (thread_count() - 1 of them; the caller works too)
_pool_workers = 0
_blas_libraries = None


def usable_cores():
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parse_thread_count(value, source):
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1 or str(value).strip() != str(count):
        raise ValueError(f"{source} must be a whole number of threads >= 1, got {value!r}")
    return count


def thread_count():
    """Threads a numpy step uses: set_threads' choice, else $MINICNN_THREADS, else the usable cores."""
    if _chosen is not None:
        return _chosen
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    if value:
        return parse_thread_count(value, f"the environment variable {ENVIRONMENT_VARIABLE}")
    return usable_cores()


def set_threads(count):
    """Use ``count`` threads in every later step (1: no threads of our own, BLAS left alone); None: the default."""
    global _chosen
    _chosen = None if count is None else parse_thread_count(count, "set_threads' count")


def active_threads():
    """How many pieces a layer should split its work into right now (1 outside a step or on cupy)."""
    return _active


def blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded now (found once, on the first step)."""
    global _blas_libraries
    if _blas_libraries is None:
        from threadpoolctl import ThreadpoolController
        _blas_libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_libraries


@contextmanager
def blas_at_one_thread():
    """Every BLAS library at one thread within; each one's own setting put back after.

    The library controllers are called directly: threadpoolctl's ``limit()`` context first
    reads every library's version and settings (``info()``) on each entry, a cost that
    shows in a small network's step.
    """
    libraries = blas_libraries()
    before = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(1)
    try:
        yield
    finally:
        for library, count in zip(libraries, before):
            library.set_num_threads(count)


@contextmanager
def step_threads():
    """Within: layers split their work over thread_count() threads and BLAS runs on one; both restored after.

    Re-entering (a model inside a model) keeps the outer setting.
    """
    global _active
    count = thread_count()
    if _active > 1 or count == 1 or backend.name != "numpy":
        yield
        return
    with blas_at_one_thread():
        _active = count
        try:
            yield
        finally:
            _active = 1


def worker_pool(count):
    """count - 1 worker threads, made once; idle workers wait on a queue (they do not spin)."""
    global _pool, _pool_workers
    if _pool is None or _pool_workers != count - 1:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool, _pool_workers = ThreadPoolExecutor(max_workers=count - 1, thread_name_prefix="minicnn"), count - 1
    return _pool


def split(size, pieces):
    """(start, stop) of ``pieces`` near-equal consecutive ranges covering range(size)."""
    return [(size * index // pieces, size * (index + 1) // pieces) for index in range(pieces)]


# a thread's share of a memory pass (an element-wise or per-channel formula, a matrix-vector product) gets at
# least this many values: below it, handing the piece to a thread costs more than it saves
SMALLEST_PIECE = 1 << 16

_inside = threading.local()   # .piece is True while this thread runs a piece: a piece is never cut again


@contextmanager
def whole():
    """Within, every formula runs once on its whole arrays, on this thread (as inside a piece): for work
    too small to be worth handing to a thread."""
    before = getattr(_inside, "piece", False)
    _inside.piece = True
    try:
        yield
    finally:
        _inside.piece = before


def run_pieces(size, body, pieces):
    """body(start, stop) over ``pieces`` consecutive ranges covering range(size), one range per thread
    (this thread takes the first); their results, in order. One piece, or a call from inside a piece:
    body(0, size) here."""
    if pieces <= 1 or getattr(_inside, "piece", False):
        return [body(0, size)]

    def piece(start, stop):
        _inside.piece = True
        try:
            return body(start, stop)
        finally:
            _inside.piece = False

    ranges = split(size, pieces)
    # each piece runs in a copy of this thread's context, so that NumPy's floating-point settings (np.errstate)
    # hold in the workers as they do here
    futures = [worker_pool(_active).submit(contextvars.copy_context().run, piece, start, stop)
               for start, stop in ranges[1:]]
    first = piece(*ranges[0])
    return [first] + [future.result() for future in futures]


def is_array(value):
    return isinstance(value, backend.xp.ndarray)


def cut(array, axis, start, stop):
    """The view of ``array`` holding entries start:stop of ``axis``."""
    index = [slice(None)] * array.ndim
    index[axis] = slice(start, stop)
    return array[tuple(index)]


def joined(results, axis):
    """The pieces' return values as one: arrays concatenated along ``axis`` (a tuple of them, each); None stays None."""
    first = results[0]
    if first is None:
        return None
    if isinstance(first, tuple):
        return tuple(joined([result[position] for result in results], axis) for position in range(len(first)))
    return backend.xp.concatenate(results, axis=axis)


def in_pieces(axis):
    """Decorator: run the function on pieces of ``axis`` of its positional array arguments, one piece per thread.

    ``axis`` is the axis to cut (say the channels). Every positional argument that is an array is
    cut there, so all of them must have that axis and the same length along it (a per-channel
    vector goes in as (1, C, 1, 1) for axis 1); anything else (``self``, a number, every keyword
    argument) is passed whole to each piece. What the pieces return (an array, a tuple of arrays, with
    the cut axis where the arguments have it) is joined along that axis. With one thread, on cupy, inside another piece (a formula built of others runs
    them on its own piece), or when a piece of the first array would hold fewer than SMALLEST_PIECE
    values, the function runs once on the whole arrays: the same formula, the same numbers.
    """
    def decorate(function):
        @functools.wraps(function)
        def run(*arguments, **keywords):
            if _active == 1 or getattr(_inside, "piece", False):
                return function(*arguments, **keywords)
            arrays = [position for position, value in enumerate(arguments) if is_array(value)]
            if not arrays:
                return function(*arguments, **keywords)
            first = arguments[arrays[0]]
            size = first.shape[axis]
            for position in arrays:
                length = arguments[position].shape[axis]
                if length != size:
                    raise ValueError(f"{function.__qualname__}: argument {position} has {length} entries along "
                                     f"axis {axis}, the first array {size}")

            def body(start, stop):
                pieces = [cut(value, axis, start, stop) if position in arrays else value
                          for position, value in enumerate(arguments)]
                return function(*pieces, **keywords)

            return joined(run_pieces(size, body, min(_active, size, first.size // SMALLEST_PIECE)), axis)
        return run
    return decorate


def elementwise(ufunc, *operands, out=None):
    """``ufunc(*operands, out=out)`` on the step's threads; ``out`` (made in the first array's memory layout
    when not given) is returned.

    The operands (arrays of the first one's shape, arrays that broadcast against it, numbers) are cut
    along the first array's outermost axis in memory, so that each piece is one long run of that
    array's memory; an operand of length 1 along that axis goes whole to every piece. With one
    thread, on cupy, or when a piece would hold fewer than SMALLEST_PIECE values, the
    ufunc runs once.
    """
    first = next(value for value in operands if is_array(value))
    if _active == 1 or getattr(_inside, "piece", False) or first.size < 2 * SMALLEST_PIECE:
        return ufunc(*operands, out=out)   # a new out comes in the operands' memory order (NumPy's order="K")
    axis = memory_order(first)[0]
    size = first.shape[axis]
    pieces = min(_active, size, first.size // SMALLEST_PIECE)
    if pieces <= 1:
        return ufunc(*operands, out=out)
    if out is None:
        sample = ufunc(*(value[(slice(0, 1),) * value.ndim] if is_array(value) else value for value in operands))
        out = empty_in_layout(first.shape, like=first, dtype=sample.dtype)

    def piece_of(value, start, stop):
        own_axis = axis - (first.ndim - value.ndim) if is_array(value) else -1   # broadcasting aligns the last axes
        if own_axis >= 0 and value.shape[own_axis] == size:
            return cut(value, own_axis, start, stop)
        return value

    def body(start, stop):
        ufunc(*(piece_of(value, start, stop) for value in operands), out=cut(out, axis, start, stop))

    run_pieces(size, body, pieces)
    return out


# a thread's share of a matrix product gets at least this many multiply-adds:
# below it, handing the piece to a thread costs more than it saves
SMALLEST_PRODUCT_PIECE = 4_000_000


def product_pieces(size, work_per_item):
    """How many threads share a matrix-matrix product cut into ``size`` items (rows, columns, or summed-over
    entries) of ``work_per_item`` multiply-adds each: every share at least SMALLEST_PRODUCT_PIECE, at most
    one per thread."""
    fewest_items = -(-SMALLEST_PRODUCT_PIECE // max(int(work_per_item), 1))
    return min(_active, size // fewest_items)


def matmul(a, b, out=None, add=None, split="columns"):
    """``a @ b`` (plus ``add``, broadcast like a bias) on the step's threads, written into ``out`` if given.

    a (m, k), b (k, n). ``split`` says what each thread takes: "columns", columns of b and of the
    result (a conv's output pixels); "rows", rows of a and of the result (a Dense layer's batch).
    A product too small to share (product_pieces) runs once, as ``a @ b``.
    """
    xp = backend.xp
    size = b.shape[1] if split == "columns" else a.shape[0]
    pieces = product_pieces(size, a.shape[0] * a.shape[1] * b.shape[1] // max(size, 1))
    if pieces <= 1 or getattr(_inside, "piece", False):
        out = xp.matmul(a, b, out=out)
        if add is not None:
            out += add
        return out
    if out is None:
        out = xp.empty((a.shape[0], b.shape[1]), dtype=xp.result_type(a, b))

    def body(start, stop):
        if split == "rows":
            piece = xp.matmul(a[start:stop], b, out=out[start:stop])
        else:
            piece = xp.matmul(a, b[:, start:stop], out=out[:, start:stop])
        if add is not None:
            piece += add

    run_pieces(size, body, pieces)
    return out


def matmuls(a, *bs):
    """(a @ b for each of ``bs``) on the step's threads, each thread taking a range of the axis the products sum
    over (a's columns, the bs' rows); the partial products are added, in order.

    a (m, k), each b (k, n) or (k,): a weight gradient and a bias gradient summed over the batch
    (dW = dout @ columns.T, db = dout @ ones), where each thread reads its piece of a once for
    both. Split as the first product's multiply-adds allow (product_pieces).
    """
    first = bs[0]
    pieces = product_pieces(a.shape[1], a.shape[0] * (first.shape[1] if first.ndim == 2 else 1))
    if pieces <= 1 or getattr(_inside, "piece", False):
        return tuple(a @ b for b in bs)
    partial = run_pieces(a.shape[1], lambda start, stop: [a[:, start:stop] @ b[start:stop] for b in bs], pieces)
    totals = partial[0]
    for part in partial[1:]:
        for total, piece in zip(totals, part):
            total += piece
    return tuple(totals)
