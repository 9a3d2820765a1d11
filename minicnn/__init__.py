"""minicnn: a from-scratch CNN library on NumPy, with the same code on CuPy.

    import minicnn as mc
    from minicnn.lab import zoo
    mc.set_backend("numpy")     # or "cupy"; env MINICNN_BACKEND sets the default
    model = zoo.build("awasthi-enhanced-cnn")

The library is this package's top: backend, layers, losses, optim, model, gradcheck,
train, metrics, plots, data and the reference twins. The paper lab (minicnn.lab), the
course assignments (minicnn.assignment) and the command line (minicnn.cli) are built on
it; the library never imports them.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

from minicnn import backend, data, gradcheck, layers, losses, model, optim, reference
from minicnn.backend import set_backend, to_device, to_numpy
from minicnn.model import Sequential
from minicnn.runtime.threads import set_threads

__version__ = "0.1.0"

# Public names that moved in 0.2, and where they live now. The old ones keep working for one
# release, with a FutureWarning that names the new one.
MOVED = {
    "minicnn.zoo": "minicnn.lab.zoo",
    "minicnn.experiment": "minicnn.lab.runner",
    "minicnn.sweep": "minicnn.lab.sweep",
    "minicnn.results": "minicnn.lab.results",
    "minicnn.report": "minicnn.lab.report",
    "minicnn.threads": "minicnn.runtime.threads",
    "minicnn.files": "minicnn.data.files",
    "minicnn.projections": "minicnn.data.projections",
    "minicnn.layers.fused": "minicnn.runtime.fusion",
}


def _moved_module(old_name):
    new_name = MOVED[old_name]
    warnings.warn(f"{old_name} has moved to {new_name}; the old name goes in the next release",
                  FutureWarning, stacklevel=3)
    return importlib.import_module(new_name)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Lets `import minicnn.zoo` (and the other MOVED names) find the module at its new place."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        return types.ModuleType(spec.name)

    def exec_module(self, module):
        # the import system takes whatever sys.modules holds under the old name once this returns
        sys.modules[module.__name__] = _moved_module(module.__name__)


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())


def __getattr__(name):
    """mc.zoo and mc.threads (moved to minicnn.lab.zoo and minicnn.runtime.threads), with a warning."""
    if f"minicnn.{name}" in MOVED:
        return _moved_module(f"minicnn.{name}")
    raise AttributeError(f"module 'minicnn' has no attribute {name!r}")
