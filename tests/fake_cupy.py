"""A rehearsal of the GPU suite on the CPU: the whole suite with tests/fake_gpu.py's array standing in for CuPy.

    PYTHONPATH=tests python -m pytest -p fake_cupy

Registers the fake as the 'cupy' backend and makes it the default, so every
test runs as `MINICNN_BACKEND=cupy` would run it on a GPU, with CuPy's refusal
of host arrays. It finds the test or library code that would fail only on a
GPU (a host array handed to a layer, np.testing on a device array). Expected
to fail here, and only here: the tests that start a child process (the child
has no fake, and no CuPy).
"""
import os

import fake_gpu

os.environ["MINICNN_BACKEND"] = "numpy"   # for the import below; the fake then becomes the default
from minicnn import backend  # noqa: E402

_module = fake_gpu.device_module()
_module.asarray = fake_gpu.to_device
_module.__version__ = "fake"
fake_gpu.PlaysGPUArray.__module__ = "cupy.fake"   # backend.is_device_array goes by the module's name
backend._load_cupy = lambda: _module
backend.set_backend("cupy")
