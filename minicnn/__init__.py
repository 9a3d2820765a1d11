"""minicnn: a from-scratch CNN library on NumPy, with the same code on CuPy.

    import minicnn as mc
    mc.set_backend("numpy")     # or "cupy"; env MINICNN_BACKEND sets the default
    model = mc.zoo.build("awasthi-enhanced-cnn")
"""
from minicnn import backend, data, gradcheck, layers, losses, model, optim, threads, zoo
from minicnn import reference
from minicnn.backend import set_backend, to_device, to_numpy
from minicnn.model import Sequential
from minicnn.threads import set_threads

__version__ = "0.1.0"
