"""A training step never copies anything to the host: on a GPU, each such copy waits for the GPU.

Without a GPU, a NumPy array subclass plays the GPU array: backend.to_device
makes one, whatever NumPy computes from one is one too (NumPy keeps the
subclass through arithmetic, reductions and indexing), and every way of
bringing its values to the host is counted: backend.to_numpy, float(),
int(), bool(), operator.index(), .item() and .tolist(). An epoch may copy to
the host a fixed number of times (its totals, validation, the checkpoint),
but that number must not grow with the number of steps.
"""
import types

import numpy as np
import pytest

from minicnn import backend, layers, optim
from minicnn.data import Augmenter
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential
from minicnn.train import EarlyStopping, fit


class PlaysGPUArray(np.ndarray):
    """A NumPy array that counts each copy of its values to the host (class attribute ``copies``)."""

    copies = 0

    def host(self):
        type(self).copies += 1
        return self.view(np.ndarray)

    def __setitem__(self, index, value):
        # one device array written into another stays on the device (NumPy would call float() on a 0-d value)
        super().__setitem__(index, value.view(np.ndarray) if isinstance(value, PlaysGPUArray) else value)

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


def made_on_the_device(make):
    return lambda *arguments, **settings: make(*arguments, **settings).view(PlaysGPUArray)


@pytest.fixture
def counted_host_copies(monkeypatch):
    """A backend whose arrays are PlaysGPUArray: backend.to_device and the xp functions that allocate hand them
    out. Returns the class, whose ``copies`` count starts at 0."""
    device_xp = types.ModuleType("plays_gpu")
    device_xp.__dict__.update(vars(np))
    for name in ("zeros", "ones", "full", "empty", "arange"):
        setattr(device_xp, name, made_on_the_device(getattr(np, name)))
    monkeypatch.setattr(backend, "xp", device_xp)
    monkeypatch.setattr(backend, "to_device", made_on_the_device(np.asarray))
    monkeypatch.setattr(backend, "is_device_array", lambda array: isinstance(array, PlaysGPUArray))
    monkeypatch.setattr(PlaysGPUArray, "copies", 0)
    return PlaysGPUArray


def every_kind_of_layer():
    return Sequential([layers.Conv2D(4, 3, padding="same"), layers.BatchNorm(), layers.LeakyReLU(0.2),
                       layers.MaxPool2D(), layers.Conv2D(4, 2, use_bias=False), layers.ReLU(), layers.AvgPool2D(),
                       layers.Flatten(), layers.Dropout(0.3), layers.Dense(8), layers.BatchNorm(), layers.ReLU(),
                       layers.Dense(3)], input_shape=(1, 8, 8), seed=0)


def host_copies_of_a_run(counter, steps_per_epoch, tmp_path):
    """Copies to the host of 2 epochs of ``steps_per_epoch`` steps, with augmentation, validation, a callback
    and a checkpoint after each epoch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((112, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 112)
    model = every_kind_of_layer()
    augment = Augmenter(rotation_range=10, zoom_range=0.1, width_shift_range=0.1, pad_crop=1, horizontal_flip=True,
                        random_erasing=0.5, seed=0)
    counter.copies = 0
    fit(model, optim.Adam(model), (x[:96], y[:96]), (x[96:], y[96:]), epochs=2, batch_size=16,
        loss=SoftmaxCrossEntropy(label_smoothing=0.1), augment=augment, callbacks=[EarlyStopping("val_loss", patience=5)],
        checkpoint=str(tmp_path / f"{steps_per_epoch}.npz"), steps_per_epoch=steps_per_epoch, progress=True)
    return counter.copies


def test_the_counter_sees_a_copy_to_the_host(counted_host_copies):
    logits = backend.to_device(np.zeros((2, 3), dtype=np.float32))
    float(logits.sum())
    assert counted_host_copies.copies == 1
    backend.to_numpy(logits.argmax(axis=1))
    assert counted_host_copies.copies == 2
    logits[0] = logits.max(axis=0)   # from the device to the device: no copy
    assert counted_host_copies.copies == 2


def test_training_copies_to_the_host_per_epoch_not_per_step(counted_host_copies, tmp_path, capsys):
    two_steps = host_copies_of_a_run(counted_host_copies, 2, tmp_path)
    six_steps = host_copies_of_a_run(counted_host_copies, 6, tmp_path)
    assert two_steps > 0   # the epochs' totals and the checkpoints do come over
    assert six_steps == two_steps, (f"{six_steps} copies to the host in 2 epochs of 6 steps, {two_steps} in 2 "
                                    "epochs of 2: something in the training step copies to the host")
    assert "epoch   2" in capsys.readouterr().out   # the per-epoch line was printed from the totals
