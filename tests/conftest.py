"""Shared test setup: hypothesis profiles and the backend fixture.

Profiles: "ci" (derandomized, so every run of the README's test command draws
the same examples; the default) and "dev" (random, more examples: set
HYPOTHESIS_PROFILE=dev to hunt for new failures).
"""
import os

import pytest
from hypothesis import HealthCheck, settings

import minicnn as mc

SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None, print_blob=True,
                          suppress_health_check=SLOW_IS_FINE)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

AVAILABLE = mc.backend.available_backends()
DEFAULT_BACKEND = mc.backend.name


@pytest.fixture(params=["numpy", "cupy"])
def backend_name(request):
    """Run the test once per backend; cupy is skipped where CuPy or a GPU is missing."""
    if request.param not in AVAILABLE:
        pytest.skip(f"backend {request.param!r} is not available here (needs CuPy and an NVIDIA GPU)")
    mc.set_backend(request.param)
    yield request.param
    mc.set_backend(DEFAULT_BACKEND)


@pytest.fixture
def numpy_backend():
    """numpy for this test, whatever MINICNN_BACKEND says: for a test that watches NumPy itself at work
    (a NumPy array subclass recording results), which a CuPy array cannot stand in for."""
    mc.set_backend("numpy")
    yield "numpy"
    mc.set_backend(DEFAULT_BACKEND)


@pytest.fixture(scope="session")
def fashion_mnist_installed():
    """Skip a test that trains on the real Fashion-MNIST where it is not installed (tests never download)."""
    try:
        mc.data.load_fashion_mnist(download=False)
    except FileNotFoundError as error:
        pytest.skip(f"Fashion-MNIST is not installed here: {error}")


@pytest.fixture
def fake_gpu(monkeypatch):
    """A stand-in GPU backend (tests/fake_gpu.py): its arrays count their copies to the host and refuse host
    arrays, as CuPy's do. Returns the array class; its ``copies`` count starts at 0."""
    import fake_gpu as fake
    monkeypatch.setattr(mc.backend, "xp", fake.device_module())
    monkeypatch.setattr(mc.backend, "to_device", fake.to_device)
    monkeypatch.setattr(mc.backend, "is_device_array", lambda array: isinstance(array, fake.PlaysGPUArray))
    monkeypatch.setattr(fake.PlaysGPUArray, "copies", 0)
    return fake.PlaysGPUArray
