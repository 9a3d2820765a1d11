"""What a finished run leaves behind: config, history, model, report and figures, in one directory."""
import json
import os

import numpy as np

from minicnn import backend, metrics
from minicnn.data.files import atomic_write
from minicnn.losses import softmax


RUN_FILES = ("config.json", "history.json", "history.csv", "model.npz", "report.txt", "curves.png", "confusion.png",
             "misclassified.png")


def write_run(out_dir, model, history, test, config, class_names, batch_size=512, images=None, flip_averaged=False,
              shift_averaged=0):
    """Evaluate ``model`` on ``test`` = (x, y) and write into ``out_dir``:

    config.json, history.json, history.csv, model.npz, report.txt (classification
    report + confusion matrix), curves.png, confusion.png, misclassified.png.
    ``test`` images are network input (N, C, H, W); misclassified.png shows them as
    they are, or shows ``images`` (N, 1, H, W) instead: the pictures behind
    inputs that are not pictures (PCA features). ``flip_averaged``, ``shift_averaged``: predict from the
    logits averaged over each image, its mirror image and its moved copies (Sequential.forward_averaged).
    Returns the test accuracy.
    """
    from minicnn import plots   # matplotlib imported where a figure is drawn, so check-layer needs NumPy alone
    os.makedirs(out_dir, exist_ok=True)
    x_test, y_test = test
    logits = model.predict_logits(x_test, batch_size, flip_averaged, shift_averaged)
    predicted = logits.argmax(axis=1)
    test_accuracy = metrics.accuracy(y_test, predicted)
    matrix = metrics.confusion_matrix(y_test, predicted, num_classes=len(class_names))
    with atomic_write(os.path.join(out_dir, "config.json"), "w") as file:
        json.dump(dict(config, test_accuracy=test_accuracy), file, indent=2)
    history.save_json(os.path.join(out_dir, "history.json"))
    history.save_csv(os.path.join(out_dir, "history.csv"))
    model.save(os.path.join(out_dir, "model.npz"))
    trainable, non_trainable = model.count_params()
    with atomic_write(os.path.join(out_dir, "report.txt"), "w") as file:
        file.write(f"{model.name}: {trainable:,} trainable + {non_trainable:,} non-trainable parameters\n")
        file.write(f"test accuracy: {test_accuracy:.4f} on {len(y_test):,} images\n\n")
        file.write(metrics.classification_report(y_test, predicted, class_names=class_names) + "\n\n")
        file.write(metrics.format_confusion_matrix(matrix, class_names) + "\n")
    plots.plot_history(history, os.path.join(out_dir, "curves.png"), title=f"{model.name}: training history")
    plots.plot_confusion_matrix(matrix, class_names, os.path.join(out_dir, "confusion.png"),
                                title=f"{model.name}: test confusion matrix ({test_accuracy:.2%} of "
                                      f"{len(test[1]):,} test images right)")
    # logits are a host array, softmax works on the active backend: on cupy, through the device and back
    probabilities = backend.to_numpy(softmax(backend.to_device(logits.astype(np.float64))))
    plots.plot_misclassified(x_test if images is None else images, y_test, predicted, class_names,
                             os.path.join(out_dir, "misclassified.png"), probabilities=probabilities)
    return test_accuracy
