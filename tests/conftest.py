"""Shared test setup: hypothesis profiles, an empty working directory per test, and the backend fixture.

Profiles: "ci" (derandomized, so every run of the README's test command draws
the same examples; the default) and "dev" (random, more examples: set
HYPOTHESIS_PROFILE=dev to hunt for new failures).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minicnn as mc

SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None, print_blob=True,
                          suppress_health_check=SLOW_IS_FINE)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

AVAILABLE = mc.backend.available_backends()


@pytest.fixture(autouse=True)
def run_in_an_empty_directory(tmp_path_factory, monkeypatch):
    """Every test starts in an empty directory of its own: what the user keeps in the directory pytest was
    started from (runs/, a half-finished run, a file called like a default output) can neither change a
    result nor be overwritten. Tests find the repository's files from their own __file__."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
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


def write_small_fashion_mnist(directory, num_train=200, num_test=50):
    """Four IDX files of random Fashion-MNIST-shaped images in ``directory``, every class equally often:
    enough for a run through the whole pipeline in a second, without the real data."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True)
    for split, count in (("train", num_train), ("t10k", num_test)):
        mc.data.write_idx(directory / f"{split}-images-idx3-ubyte.gz",
                          rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        mc.data.write_idx(directory / f"{split}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8))
    return directory


@pytest.fixture
def small_fashion_mnist():
    """write_small_fashion_mnist(directory) -> directory."""
    return write_small_fashion_mnist
