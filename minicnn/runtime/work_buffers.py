"""Work buffers: arrays a layer reuses from one batch to the next instead of allocating them again.

Allocation churn costs more than arithmetic in a NumPy training step (a fresh 10-50 MB array
is a fresh set of pages to fault in), so the large arrays that only live within one layer's
forward and backward (im2col's padded input and columns, the backward's dcolumns, a ones
vector for row sums) are kept, by name, and handed out again while their shape, dtype and
backend stay the same.
"""
from minicnn import backend


class WorkBuffers:
    """``work_buffers.get(name, shape, dtype, fill=0)``: the array kept under ``name``, made (filled with
    ``fill``) when there is none yet or its shape, dtype or backend changed. Afterwards it holds whatever
    its user last wrote: a zero border that is never written stays zero, a ones vector stays ones."""

    def __init__(self):
        self.arrays = {}

    def get(self, name, shape, dtype, fill=0):
        xp = backend.xp
        array = self.arrays.get(name)
        if array is None or array.shape != tuple(shape) or array.dtype != dtype or not isinstance(array, xp.ndarray):
            array = self.arrays[name] = xp.full(shape, fill, dtype=dtype)
        return array
