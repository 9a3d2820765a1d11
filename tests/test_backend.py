import numpy as np
import pytest

import minicnn as mc
from minicnn import backend


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        mc.set_backend("torch")


@pytest.mark.skipif("cupy" in backend.available_backends(), reason="CuPy and a GPU are present here")
def test_cupy_without_cupy_or_gpu_says_what_to_install():
    previous = backend.name
    with pytest.raises(backend.BackendError, match="pip install|NVIDIA GPU"):
        mc.set_backend("cupy")
    assert backend.name == previous and backend.xp is np  # a failed switch changes nothing


def test_round_trip_host_device(backend_name):
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    device = mc.to_device(host)
    assert type(device).__module__.split(".")[0] == backend_name
    back = mc.to_numpy(device)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, host)


def test_import_minicnn_alone_exposes_the_modules():
    for name in ("backend", "layers", "losses", "optim", "model", "data", "gradcheck", "reference"):
        assert hasattr(mc, name)
    assert mc.layers.Conv2D and mc.data.load_fashion_mnist


def test_keep_freed_host_memory_is_safe_to_call_again():
    first, second = backend.keep_freed_host_memory(), backend.keep_freed_host_memory()
    assert first == second and isinstance(first, bool)
    assert (np.ones((600, 600)) * 2).sum() == 720_000  # large arrays still work
