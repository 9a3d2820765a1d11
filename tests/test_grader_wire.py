"""The student's process seen from the grader: what a function returns arrives as arrays and plain values (an
object of another kind stays there, as a handle that goes back), what it changes in place is changed here,
and what it raises is raised here with its type, message, file and line."""
import gc
import time

import numpy as np
import pytest

from minicnn.assignment import remote
from minicnn.gradcheck import where_it_failed

STUDENT = b'''
import numpy as np


class Cache:
    def __init__(self, x):
        self.x = x


def dense_forward(x, w, b):
    return x @ w, Cache(x)


def dense_backward(dout, cache):
    return cache.x * 2, type(cache).__name__, None


def flatten_forward(x):
    x += 1   # in place, on purpose
    return x.reshape(len(x), -1), x.shape


def flatten_backward(dout, cache):
    return {}["no such key"]
'''


@pytest.fixture
def dense():
    scratch = remote.Scratch(remote.student_user())
    process = remote.StudentProcess(scratch, {"dense": STUDENT}, time.monotonic() + 120, 30, "out of time")
    with process:
        yield process.module("dense"), process
    scratch.remove()


def test_arrays_travel_and_other_objects_stay_there_as_handles(dense):
    module, process = dense
    x, w = np.arange(6.0, dtype=np.float32).reshape(2, 3), np.ones((3, 2), dtype=np.float32)
    for _ in range(3):   # handles released and made again: each one still names its own object
        out, cache = module.dense_forward(x, w, None)
        assert out.dtype == np.float32 and np.array_equal(out, x @ w)
        assert isinstance(cache, remote.KeptThere) and cache.type_name == "Cache"
        doubled, name, nothing = module.dense_backward(out, cache)
        assert np.array_equal(doubled, 2 * x) and name == "Cache" and nothing is None
        del cache
        gc.collect()
    assert process.released


def test_a_change_in_place_is_made_here_too_and_an_exception_is_raised_here(dense):
    module, _ = dense
    x = np.zeros((2, 2, 2))
    flat, shape = module.flatten_forward(x)
    assert np.array_equal(x, np.ones((2, 2, 2))) and shape == (2, 2, 2)
    with pytest.raises(KeyError) as raised:
        module.flatten_backward(flat, shape)
    line = STUDENT.decode().splitlines().index('    return {}["no such key"]') + 1
    assert where_it_failed(raised.value) == f"KeyError: 'no such key' (at student/dense.py:{line} in flatten_backward)"


def test_a_generator_given_comes_back_advanced(tmp_path):
    scratch = remote.Scratch(remote.student_user())
    source = b"def dropout_mask(shape, rate, rng, dtype):\n    return (rng.random(shape) >= rate).astype(dtype)\n"
    try:
        with remote.StudentProcess(scratch, {"dropout": source}, time.monotonic() + 60, 30, "late") as process:
            rng, twin = np.random.default_rng(3), np.random.default_rng(3)
            mask = process.module("dropout").dropout_mask((4, 5), 0.5, rng, np.float32)
            assert mask.dtype == np.float32 and np.array_equal(mask, (twin.random((4, 5)) >= 0.5).astype(np.float32))
            assert rng.random() == twin.random()
    finally:
        scratch.remove()
