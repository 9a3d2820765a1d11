"""How good are the predictions: accuracy, confusion matrix, per-class report.

Everything here runs on host NumPy arrays. Labels may come straight from the
GPU (CuPy arrays) or from Python lists; they are copied to the host first, so
this module works the same whichever backend trained the model.

The numbers match scikit-learn's (``accuracy_score``, ``confusion_matrix``,
``precision_recall_fscore_support``, ``classification_report``) exactly, with
one difference on purpose: minicnn always reports every class, including a
class that appears neither in the true nor in the predicted labels.
"""
import numpy as np

from minicnn import backend
from minicnn.data.datasets import CLASS_NAMES

FASHION_MNIST_CLASSES = CLASS_NAMES["fashion-mnist"]


def _as_labels(labels, name, num_classes):
    """Class indices as a 1-D int64 host array, checked against ``num_classes``.

    Inputs:
    - labels: array-like (N,) of integer class indices (NumPy, CuPy or a list)
    - name: how to call the argument in an error message
    - num_classes: labels must lie in 0 .. num_classes - 1

    Returns:
    - int64 array of shape (N,)
    """
    labels = backend.to_numpy(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices, got shape {labels.shape}")
    # An empty list arrives as float64; that is no reason to reject it.
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    labels = labels.astype(np.int64, copy=False)
    outside = (labels < 0) | (labels >= num_classes)
    if outside.any():
        raise ValueError(
            f"{name} holds {labels[outside][0]}, "
            f"outside the {num_classes} classes 0..{num_classes - 1}"
        )
    return labels


def _as_label_pair(y_true, y_pred, num_classes):
    """Both label arrays checked and of equal length; see ``_as_labels``."""
    y_true = _as_labels(y_true, "y_true", num_classes)
    y_pred = _as_labels(y_pred, "y_pred", num_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """The fraction of predictions that equal the true label.

    Inputs:
    - y_true: integer array (N,) of true class indices, N >= 1
    - y_pred: integer array (N,) of predicted class indices

    Returns:
    - accuracy: Python float in [0, 1]
    """
    y_true = backend.to_numpy(y_true)
    y_pred = backend.to_numpy(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("accuracy of zero predictions is undefined")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes=10):
    """Count how often each true class was predicted as each class.

    Inputs:
    - y_true: integer array (N,) of true class indices in 0 .. num_classes - 1
    - y_pred: integer array (N,) of predicted class indices, same range
    - num_classes: C, the number of classes

    Returns:
    - matrix: int64 array (C, C); matrix[i, j] is the number of samples of
      true class i predicted as class j (rows true, columns predicted), so the
      diagonal holds the correct predictions.
    """
    y_true, y_pred = _as_label_pair(y_true, y_pred, num_classes)
    # Each (true, predicted) pair is one cell of a flattened C x C matrix;
    # bincount counts all cells in one pass instead of a loop over samples.
    cell = y_true * num_classes + y_pred
    counts = np.bincount(cell, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64, copy=False)


def _divide_or_zero(numerator, denominator):
    """numerator / denominator element-wise, 0.0 where the denominator is 0.

    This is scikit-learn's default for an undefined score (zero_division
    "warn"), without the warning: a class that is never predicted simply has
    precision 0.
    """
    numerator = numerator.astype(np.float64)
    denominator = denominator.astype(np.float64)
    result = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


def precision_recall_f1(y_true, y_pred, num_classes=10):
    """Per-class precision, recall, F1 score and support.

    For class k, with tp the samples of class k predicted as k:
    precision = tp / (samples predicted as k), recall = tp / (samples of class
    k), F1 = 2 tp / (samples of class k + samples predicted as k), the harmonic
    mean of precision and recall. An undefined score (0 / 0) is 0.

    Inputs:
    - y_true: integer array (N,) of true class indices in 0 .. num_classes - 1
    - y_pred: integer array (N,) of predicted class indices, same range
    - num_classes: C, the number of classes

    Returns a tuple of:
    - precision: float64 array (C,)
    - recall: float64 array (C,)
    - f1: float64 array (C,)
    - support: int64 array (C,), the number of true samples of each class
    """
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    true_positives = np.diagonal(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _divide_or_zero(true_positives, predicted)
    recall = _divide_or_zero(true_positives, support)
    f1 = _divide_or_zero(2 * true_positives, support + predicted)
    return precision, recall, f1, support


def classification_report(y_true, y_pred, class_names=FASHION_MNIST_CLASSES, digits=4):
    """Per-class precision, recall, F1 and support as text, in sklearn's layout.

    The text is character for character what
    ``sklearn.metrics.classification_report(y_true, y_pred,
    labels=range(C), target_names=class_names, digits=digits)`` prints: one
    row per class, then accuracy, the macro average (every class counts the
    same) and the weighted average (each class weighted by its support).

    Inputs:
    - y_true: integer array (N,) of true class indices, N >= 1
    - y_pred: integer array (N,) of predicted class indices
    - class_names: sequence of C names; class k is called class_names[k]
    - digits: decimal places of the scores

    Returns:
    - report: str, lines separated by "\\n", ending in "\\n"
    """
    num_classes = len(class_names)
    y_true, y_pred = _as_label_pair(y_true, y_pred, num_classes)
    precision, recall, f1, support = precision_recall_f1(y_true, y_pred, num_classes)
    total = int(support.sum())

    # Column widths and number formats copied from sklearn, so the text lines up
    # with reports made there and papers that print them.
    width = max(max(len(name) for name in class_names), len("weighted avg"), digits)
    score_row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    report = ("{:>{width}s} " + " {:>9}" * 4).format(
        "", "precision", "recall", "f1-score", "support", width=width
    )
    report += "\n\n"
    for name, *scores in zip(class_names, precision, recall, f1, support):
        report += score_row.format(name, *scores, width=width, digits=digits)
    report += "\n"
    # Only the F1 column is filled on the accuracy line: for single-label
    # classes, micro-averaged precision, recall and F1 all equal the accuracy.
    report += ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
        "accuracy", "", "", accuracy(y_true, y_pred), total, width=width, digits=digits
    )
    for heading, weights in (("macro avg", None), ("weighted avg", support)):
        averages = [np.average(scores, weights=weights) for scores in (precision, recall, f1)]
        report += score_row.format(heading, *averages, total, width=width, digits=digits)
    return report


def format_confusion_matrix(matrix, class_names):
    """A confusion matrix as a plain-text table, for report files and terminals.

    Columns are headed by class index rather than name, so the ten columns fit
    in an 80-character line; each row names its class in full.

    Inputs:
    - matrix: array (C, C) of counts, rows true class, columns predicted class
    - class_names: sequence of C names

    Returns:
    - table: str, a title line, a header line and one line per true class
    """
    matrix = checked_confusion_matrix(matrix, class_names)
    num_classes = len(class_names)
    cells = [[str(count) for count in row] for row in matrix.tolist()]
    cell_width = max(len(str(num_classes - 1)), *(len(cell) for row in cells for cell in row)) + 2
    index_width = len(str(num_classes - 1))
    label_width = index_width + 1 + max(len(name) for name in class_names)

    lines = ["Confusion matrix (rows: true class, columns: predicted class)", ""]
    header = "".join(f"{index:>{cell_width}}" for index in range(num_classes))
    lines.append(" " * label_width + header)
    for index, (name, row) in enumerate(zip(class_names, cells)):
        label = f"{index:>{index_width}} {name}"
        lines.append(f"{label:<{label_width}}" + "".join(f"{cell:>{cell_width}}" for cell in row))
    return "\n".join(lines) + "\n"


def checked_confusion_matrix(matrix, class_names):
    """``matrix`` as a host array, after checking it is (C, C) for the C ``class_names``."""
    matrix = backend.to_numpy(matrix)
    num_classes = len(class_names)
    if matrix.shape != (num_classes, num_classes):
        raise ValueError(
            f"a confusion matrix for {num_classes} class names must have shape "
            f"({num_classes}, {num_classes}), got {matrix.shape}"
        )
    return matrix
