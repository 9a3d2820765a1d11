"""The one place that knows NumPy from CuPy.

Every other module does its array math through ``backend.xp`` (looked up at
call time, so ``set_backend`` takes effect everywhere at once) and moves data
with ``to_numpy`` / ``to_device``. Nothing else in minicnn imports cupy.
"""
import ctypes
import os

import numpy

BACKENDS = ("numpy", "cupy")


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


xp = numpy
name = "numpy"


def _load_cupy():
    try:
        import cupy
    except ImportError as error:
        raise BackendError(
            "the 'cupy' backend needs CuPy, which is not installed: "
            "pip install 'minicnn[cuda12]' (CUDA 12) or 'minicnn[cuda13]' (CUDA 13)"
        ) from error
    try:
        device_count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CuPy raises its own CUDARuntimeError without a driver
        raise BackendError(
            f"the 'cupy' backend needs an NVIDIA GPU with a working CUDA driver: {error}"
        ) from error
    if device_count == 0:
        raise BackendError("the 'cupy' backend needs an NVIDIA GPU, and none was found")
    return cupy


def set_backend(backend_name):
    """Make ``backend_name`` ("numpy" or "cupy") the active array module."""
    global xp, name
    if backend_name not in BACKENDS:
        raise ValueError(f"unknown backend {backend_name!r}: choose one of {BACKENDS}")
    xp = _load_cupy() if backend_name == "cupy" else numpy
    name = backend_name
    return xp


def available_backends():
    """The backends that can be used here (numpy always; cupy with CuPy and a GPU)."""
    found = ["numpy"]
    try:
        _load_cupy()
        found.append("cupy")
    except BackendError:
        pass
    return found


def is_device_array(array):
    """True for a CuPy array (one living on the GPU)."""
    return type(array).__module__.startswith("cupy")


def any_or_true_on_device(mask):
    """``mask.any()`` for a host array; True, without looking, for a device array.

    On the host the answer lets a caller skip work it does not need. On a device,
    asking would copy the answer to the host and wait for every kernel before it,
    so the caller is told True and does that work unconditionally.
    """
    return True if is_device_array(mask) else bool(mask.any())


def to_numpy(array):
    """A host (NumPy) copy of ``array``; NumPy arrays and scalars pass through."""
    if is_device_array(array):
        return array.get()
    return numpy.asarray(array)


def to_device(array, dtype=None):
    """``array`` as an array of the active backend (a no-op for NumPy arrays on numpy)."""
    return xp.asarray(array, dtype=dtype)


def keep_freed_host_memory():
    """Ask glibc's malloc to serve large arrays from its heap and keep freed memory for the next ones.

    A setting of the whole process, so it is a choice made explicitly: the lab's runs and the
    benchmarks call it (for minicnn and PyTorch alike); fit() does not. By default every array
    over 128 KB to 32 MB (and every larger one) gets freshly mapped pages, and each first touch
    of a fresh page is a page fault, a large share of a memory-bound pass over a layer's output
    at batch 512 (docs/benchmarks.md). With mmap off and trimming at 1 GB, a training step
    reuses the memory the previous step freed. The process's peak memory stays what it was;
    memory is just not handed back between steps.
    Returns True if applied (Linux with glibc), False elsewhere; safe to call again.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mmap_max, trim_threshold = -4, -1  # M_MMAP_MAX, M_TRIM_THRESHOLD from <malloc.h>
    return bool(mallopt(mmap_max, 0)) and bool(mallopt(trim_threshold, 1 << 30))


set_backend(os.environ.get("MINICNN_BACKEND", "numpy"))
