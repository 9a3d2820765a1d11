"""The it-trains test: the student's layers, loss and Adam, in a small network, learn real Fashion-MNIST.

A few hundred training images and a few epochs: enough to tell a network that
learns from one that does not (chance is 10%), quick enough to grade, also for
loop-by-loop code. The notebook trains the same network, and the flagship.
"""
import numpy as np

from minicnn import data
from minicnn.assignment import student
from minicnn.assignment.cases import GradingFailure
from minicnn.gradcheck import where_it_failed
from minicnn.train import TrainingDiverged, evaluate, fit

TRAIN_IMAGES, TEST_IMAGES = 500, 500
EPOCHS, BATCH_SIZE, LEARNING_RATE = 4, 25, 1e-2
NEEDED_ACCURACY = 0.60


def fashion_mnist(train_images, test_images, seed=0):
    """((x, y), (x, y)): ``train_images`` drawn from the training set, the first ``test_images`` of the test
    set, standardized, float32 (N, 1, 28, 28). GradingFailure naming what to install if the data is missing."""
    try:
        (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    except (FileNotFoundError, ValueError) as error:
        raise GradingFailure(f"Fashion-MNIST could not be loaded, so nothing could be trained: {error}") from None
    pick = np.random.default_rng(seed).permutation(len(x_train))[:train_images]
    return ((data.prepare_images(x_train[pick], standardize=True), y_train[pick]),
            (data.prepare_images(x_test[:test_images], standardize=True), y_test[:test_images]))


def it_trains(students):
    """Train student.small_network with the student's loss and Adam: (its passing line, the test accuracy), or
    GradingFailure."""
    train, test = fashion_mnist(TRAIN_IMAGES, TEST_IMAGES)
    network = student.small_network(students, seed=0)
    loss, optimizer = student.loss_and_optimizer(students, network, lr=LEARNING_RATE)
    try:
        history = fit(network, optimizer, train, epochs=EPOCHS, batch_size=BATCH_SIZE, loss=loss, progress=False)
        _, accuracy = evaluate(network, *test, loss=loss)
    except TrainingDiverged as error:
        raise GradingFailure(f"training diverged: {error} (a backward or an update that is wrong by a large "
                             "factor, or a loss that is not shifted before exp)") from None
    except GradingFailure:
        raise
    except Exception as error:
        raise GradingFailure(f"training raised {where_it_failed(error)}") from None
    trained = f"after {EPOCHS} epochs on {TRAIN_IMAGES} Fashion-MNIST images (loss {history['loss'][0]:.3f} -> " \
              f"{history['loss'][-1]:.3f}), {accuracy:.1%} of {TEST_IMAGES} test images are classified right"
    if not accuracy >= NEEDED_ACCURACY:
        raise GradingFailure(f"{trained}; a network that learns reaches {NEEDED_ACCURACY:.0%} (chance is 10%): "
                             "the other tests say which function to look at")
    return f"{trained} (needs {NEEDED_ACCURACY:.0%})", float(accuracy)
