"""How many threads the numpy layers use, and what BLAS does while they run.

Inside a training or inference step (``Sequential.forward`` and ``backward`` enter
``step_threads()``), every layer splits its work into ``thread_count()`` pieces (over
channels, or over the columns of a matrix product) and runs them on that many
threads: NumPy releases the GIL inside its loops, so the memory-bound passes that
are most of a step get the bandwidth of every core. For the same step, BLAS is
held at one thread through threadpoolctl: an idle OpenBLAS worker spins after each
call and steals a core from the next threaded NumPy pass. Measured with
``python benchmarks/techniques.py`` (AMD EPYC, 2 cores shared with other sessions,
load average 5.6), the flagship's training step at batch 512: 4935 ms with BLAS's
own two threads and none of ours, 6660 ms with ours beside BLAS's, 1641 ms with
ours and BLAS at one thread (3.0x and 4.1x).

On exit from the step the BLAS setting is put back, so a program that uses minicnn
beside other libraries keeps its own BLAS threads. Outside a step (a layer called
on its own) nothing is split and BLAS is left alone. On cupy nothing is split
either: the GPU has its own parallelism. Our worker threads wait on a queue
between steps; they never spin.

The number of threads: ``set_threads(n)`` (``minicnn.set_threads``), else the
environment variable ``MINICNN_THREADS``, else the number of cores this process
may run on. One thread means no threads of ours and BLAS left as it is.
"""
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from minicnn import backend

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

    The library controllers are called directly: threadpoolctl's ``limit()`` context,
    which first reads every library's version and settings (``info()``), took 12-22 us
    an entry and exit against 5-10 us for these calls (``benchmarks/techniques.py``,
    AMD EPYC): a few percent of a small network's inference step.
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


# a thread's share of a matrix product gets at least this many multiply-adds (about 0.1 ms of one core):
# below it, handing the piece to a thread costs more than it saves
MINIMUM_PRODUCT_WORK = 4_000_000


def fewest_worth_a_thread(work_per_item):
    """The fewest rows or columns of a matrix product worth a thread, when each costs ``work_per_item``
    multiply-adds: in_parallel's ``minimum`` for a product."""
    return -(-MINIMUM_PRODUCT_WORK // max(int(work_per_item), 1))


def in_parallel(size, body, minimum=1):
    """body(start, stop) over ranges covering range(size), one range per active thread; their results, in order.

    Runs body once over everything when only one thread is active or when a piece
    would hold fewer than ``minimum`` items (too little work to be worth a thread).
    """
    pieces = min(_active, size // max(minimum, 1))
    if pieces <= 1:
        return [body(0, size)]
    ranges = split(size, pieces)
    futures = [worker_pool(_active).submit(body, start, stop) for start, stop in ranges[1:]]
    results = [body(*ranges[0])]
    return results + [future.result() for future in futures]
