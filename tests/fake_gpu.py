"""A stand-in GPU backend, for the tests that must see what CuPy would see on a machine without one.

``PlaysGPUArray`` is a NumPy array that behaves as a CuPy array does where it
matters here:
- every way of bringing its values to the host is counted (``copies``):
  backend.to_numpy (which calls ``.get()``), float(), int(), bool(),
  operator.index(), .item() and .tolist();
- it refuses to meet a host array, as CuPy does (TypeError): in an operator
  or ufunc, in a function of the fake ``xp``, and in any ``np.`` function
  called on it directly (an ``np.`` call on device data);
- reductions and single elements are 0-d arrays, not NumPy scalars.
The fixture ``fake_gpu`` (tests/conftest.py) makes it the active backend:
backend.to_device and every function of backend.xp hand these out.
"""
import types

import numpy as np


class HostArrayOnDevice(TypeError):
    """A host (NumPy) array met a device array: CuPy would raise here."""


class PlaysGPUArray(np.ndarray):
    """A NumPy array that plays a CuPy array: counts copies to the host, refuses host arrays."""

    copies = 0

    def host(self):
        type(self).copies += 1
        return self.view(np.ndarray)

    def get(self):   # CuPy's device-to-host copy, which backend.to_numpy calls
        return self.host().copy()

    def __float__(self):
        return float(self.host())

    def __int__(self):
        return int(self.host())

    def __bool__(self):
        return bool(self.host())

    def __index__(self):
        return self.host().__index__()

    def item(self, *arguments):
        return self.host().item(*arguments)

    def tolist(self):
        return self.host().tolist()

    def __getitem__(self, index):
        return on_device(super().__getitem__(index))

    def __setitem__(self, index, value):
        refuse_host_arrays("assignment into a device array", [value])
        super().__setitem__(index, plain(value))   # device to device: NumPy alone would call float() on a 0-d value

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **settings):
        refuse_host_arrays(f"np.{ufunc.__name__}", inputs + (out or ()))
        if out is not None:
            settings["out"] = tuple(plain(array) for array in out)
        result = getattr(ufunc, method)(*(plain(value) for value in inputs), **settings)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return tuple(on_device(part) for part in result) if isinstance(result, tuple) else on_device(result)

    def __array_function__(self, function, types_, arguments, settings):
        raise HostArrayOnDevice(f"np.{function.__name__} called on a device array: use backend.xp, or "
                                "backend.to_numpy first (CuPy refuses an implicit copy to the host)")


def plain(value):
    return value.view(np.ndarray) if isinstance(value, PlaysGPUArray) else value


def on_device(value):
    """NumPy results as PlaysGPUArray (a scalar becomes a 0-d array, as CuPy's reductions give)."""
    if isinstance(value, np.generic):
        return np.asarray(value).view(PlaysGPUArray)
    if isinstance(value, np.ndarray) and not isinstance(value, PlaysGPUArray):
        return value.view(PlaysGPUArray)
    return value


def refuse_host_arrays(where, values):
    for value in values:
        candidates = value if isinstance(value, (list, tuple)) else [value]
        for candidate in candidates:
            if isinstance(candidate, np.ndarray) and not isinstance(candidate, PlaysGPUArray):
                raise HostArrayOnDevice(f"{where} got a host array of shape {candidate.shape}: CuPy refuses "
                                        "host arrays there; backend.to_device it first")


def device_function(function):
    """``function`` of the fake xp: refuses host arrays, unwraps device ones, returns device arrays."""
    def on_the_device(*arguments, **settings):
        refuse_host_arrays(f"xp.{function.__name__}", list(arguments) + list(settings.values()))
        unwrapped = [[plain(item) for item in value] if isinstance(value, (list, tuple)) else plain(value)
                     for value in arguments]
        result = function(*unwrapped, **{key: plain(value) for key, value in settings.items()})
        return tuple(on_device(part) for part in result) if isinstance(result, tuple) else on_device(result)
    return on_the_device


def to_device(array, dtype=None):
    """backend.to_device for the fake: a host array (or a device one) as a PlaysGPUArray."""
    return np.asarray(plain(array), dtype=dtype).view(PlaysGPUArray)


def device_module():
    """The fake xp: numpy's namespace with every function wrapped by device_function (types and constants kept)."""
    module = types.ModuleType("plays_gpu")
    for name, value in vars(np).items():
        is_function = callable(value) and not isinstance(value, type) and not name.startswith("_")
        setattr(module, name, device_function(value) if is_function else value)
    return module
