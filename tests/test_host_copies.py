"""A training step never copies anything to the host: on a GPU, each such copy waits for the GPU.

Without a GPU, the fake_gpu fixture (tests/fake_gpu.py) makes a NumPy array
subclass play the GPU array: it counts every way of bringing its values to
the host (backend.to_numpy, float(), int(), bool(), operator.index(),
.item(), .tolist()) and refuses host arrays, as CuPy does. An epoch may copy
to the host a fixed number of times (its totals, validation, the
checkpoint), but that number must not grow with the number of steps. And what
runs after training (the report of a run) must run on such a backend too.
"""
import numpy as np
import pytest

from minicnn import backend, layers, optim
from minicnn.lab import report, zoo
from minicnn.data import Augmenter
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential
from minicnn.train import EarlyStopping, fit


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
    train = (x[:16 * steps_per_epoch], y[:16 * steps_per_epoch])
    fit(model, optim.Adam(model), train, (x[96:], y[96:]), epochs=2, batch_size=16,
        loss=SoftmaxCrossEntropy(label_smoothing=0.1), augment=augment, callbacks=[EarlyStopping("val_loss", patience=5)],
        checkpoint=str(tmp_path / f"{steps_per_epoch}.npz"), progress=True)
    return counter.copies


def test_the_counter_sees_a_copy_to_the_host(fake_gpu):
    logits = backend.to_device(np.zeros((2, 3), dtype=np.float32))
    float(logits.sum())
    assert fake_gpu.copies == 1
    backend.to_numpy(logits.argmax(axis=1))
    assert fake_gpu.copies == 2
    logits[0] = logits.max(axis=0)   # from the device to the device: no copy
    assert fake_gpu.copies == 2


def test_training_copies_to_the_host_per_epoch_not_per_step(fake_gpu, tmp_path, capsys):
    two_steps = host_copies_of_a_run(fake_gpu, 2, tmp_path)
    six_steps = host_copies_of_a_run(fake_gpu, 6, tmp_path)
    assert two_steps > 0   # the epochs' totals and the checkpoints do come over
    assert six_steps == two_steps, (f"{six_steps} copies to the host in 2 epochs of 6 steps, {two_steps} in 2 "
                                    "epochs of 2: something in the training step copies to the host")
    assert "epoch   2" in capsys.readouterr().out   # the per-epoch line was printed from the totals


def test_the_fake_gpu_refuses_host_arrays_as_cupy_does(fake_gpu):
    device = backend.to_device(np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="host array"):
        device + np.ones(3)
    with pytest.raises(TypeError, match="host array"):
        backend.xp.exp(np.ones(3))
    with pytest.raises(TypeError, match="np.mean called on a device array"):
        np.mean(device)
    total = (device * 2.0).sum()   # Python scalars are welcome; a reduction gives a 0-d device array
    assert backend.is_device_array(total) and total.shape == () and fake_gpu.copies == 0


def test_a_run_trained_on_the_gpu_writes_its_report(fake_gpu, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((48, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    model = every_kind_of_layer()
    history = fit(model, optim.Adam(model), (x[:32], y[:32]), (x[32:], y[32:]), epochs=1, batch_size=16,
                  progress=False)
    accuracy = report.write_run(str(tmp_path), model, history, (x[32:], y[32:]), {"network": "tiny"},
                                ["zero", "one", "two"])
    assert 0.0 <= accuracy <= 1.0 and (tmp_path / "misclassified.png").exists()


@pytest.mark.parametrize("name", list(zoo.NETWORKS))
def test_every_zoo_network_trains_and_predicts_on_the_gpu_without_copies(fake_gpu, name):
    model = zoo.build(name, seed=0)
    x = np.random.default_rng(0).random((4,) + model.input_shape, dtype=np.float32)
    loss, optimizer = SoftmaxCrossEntropy(label_smoothing=0.1), optim.Adam(model)
    loss.forward_array(model.forward(x, training=True), np.arange(4))
    model.backward(loss.backward(), input_gradient=False)
    optimizer.step()
    assert fake_gpu.copies == 0
    assert model.predict(x).shape == (4,)
