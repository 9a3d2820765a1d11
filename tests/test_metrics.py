"""minicnn.metrics agrees with scikit-learn, number for number and character for character."""
import re
import string
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sklearn_metrics

from minicnn import metrics


@st.composite
def label_pairs(draw, min_classes=2, max_classes=12):
    """(y_true, y_pred, num_classes) with y_true and y_pred int arrays of equal length.

    Short label lists over up to 12 classes leave some classes absent from
    y_true, from y_pred or from both; mixing in copies of the true label makes
    mostly-right predictions as well as random ones.
    """
    num_classes = draw(st.integers(min_classes, max_classes))
    size = draw(st.integers(1, 80))
    label = st.integers(0, num_classes - 1)
    y_true = np.array(draw(st.lists(label, min_size=size, max_size=size)), dtype=np.int64)
    guesses = np.array(draw(st.lists(label, min_size=size, max_size=size)), dtype=np.int64)
    keep_true = np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    return y_true, np.where(keep_true, y_true, guesses), num_classes


def sklearn_quietly(function, *args, **kwargs):
    """Call an sklearn metric without its zero-division warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def sklearn_report(y_true, y_pred, class_names, digits):
    """sklearn's classification_report over every class, with one quirk of sklearn undone.

    When not a single prediction is right, sklearn counts support in floats
    (the "pathological case" of its multilabel_confusion_matrix) and prints
    "1.0" where it otherwise prints "1". minicnn always prints counts as
    integers, so those supports are turned back into integers, right-aligned.
    """
    report = sklearn_quietly(
        sklearn_metrics.classification_report, y_true, y_pred,
        labels=range(len(class_names)), target_names=class_names, digits=digits,
    )
    if np.any(y_true == y_pred):
        return report
    return re.sub(r"(\d+)\.0$", lambda match: match.group(1).rjust(len(match.group(0))),
                  report, flags=re.MULTILINE)


def minicnn_strictly(function, *args, **kwargs):
    """Call a minicnn metric, failing on any warning it emits."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


@given(label_pairs())
def test_accuracy_matches_sklearn(pair):
    y_true, y_pred, _ = pair
    result = metrics.accuracy(y_true, y_pred)
    assert isinstance(result, float)
    assert result == sklearn_metrics.accuracy_score(y_true, y_pred)


@given(label_pairs())
def test_confusion_matrix_matches_sklearn(pair):
    y_true, y_pred, num_classes = pair
    result = metrics.confusion_matrix(y_true, y_pred, num_classes)
    expected = sklearn_metrics.confusion_matrix(y_true, y_pred, labels=range(num_classes))
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result, expected)


@given(label_pairs())
def test_precision_recall_f1_match_sklearn(pair):
    y_true, y_pred, num_classes = pair
    result = minicnn_strictly(metrics.precision_recall_f1, y_true, y_pred, num_classes)
    expected = sklearn_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=range(num_classes), average=None, zero_division=0
    )
    for name, ours, theirs in zip(("precision", "recall", "f1", "support"), result, expected):
        np.testing.assert_array_equal(ours, theirs, err_msg=name)


class_name = st.text(alphabet=string.ascii_letters + " -/", min_size=1, max_size=20)


@settings(deadline=None, max_examples=60)
@given(label_pairs(), st.data(), st.integers(1, 6))
def test_classification_report_text_matches_sklearn(pair, data, digits):
    y_true, y_pred, num_classes = pair
    class_names = data.draw(st.lists(class_name, min_size=num_classes, max_size=num_classes))
    result = minicnn_strictly(metrics.classification_report, y_true, y_pred, class_names, digits)
    assert result == sklearn_report(y_true, y_pred, class_names, digits)


@settings(deadline=None, max_examples=40)
@given(label_pairs(min_classes=10, max_classes=10))
def test_classification_report_defaults_to_fashion_mnist_with_four_digits(pair):
    y_true, y_pred, _ = pair
    expected = sklearn_report(y_true, y_pred, metrics.FASHION_MNIST_CLASSES, digits=4)
    assert metrics.classification_report(y_true, y_pred) == expected


def test_classification_report_lists_a_class_absent_from_both_label_sets():
    report = metrics.classification_report([0, 1, 1], [0, 1, 0])
    assert "Ankle boot     0.0000    0.0000    0.0000         0" in report
    assert len(report.splitlines()) == 2 + 10 + 1 + 3


def test_classification_report_prints_support_as_integers_even_when_every_prediction_is_wrong():
    report = metrics.classification_report([0, 1], [1, 0], ("a", "b"), digits=2)
    assert report.splitlines()[2] == "           a       0.00      0.00      0.00         1"
    assert report.splitlines()[-1] == "weighted avg       0.00      0.00      0.00         2"


def test_labels_may_be_lists_or_any_integer_dtype():
    y_true = np.array([0, 1, 2, 2], dtype=np.uint8)
    y_pred = [0, 2, 2, 2]
    assert metrics.accuracy(y_true, y_pred) == 0.75
    assert metrics.confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 1, 10], [0, 1, 2], "outside the 10 classes"),
    ([0, 1, 2], [0, -1, 2], "outside the 10 classes"),
    ([0, 1, 2], [0, 1], "3 labels but y_pred has 2"),
    ([0.0, 1.0], [0, 1], "integer class indices"),
    ([[0, 1]], [[0, 1]], "1-D array"),
])
def test_bad_labels_raise_value_error_saying_what_is_wrong(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        metrics.confusion_matrix(y_true, y_pred)


def test_accuracy_of_no_predictions_is_an_error():
    with pytest.raises(ValueError, match="zero predictions"):
        metrics.accuracy([], [])


@given(label_pairs(min_classes=10, max_classes=10))
def test_format_confusion_matrix_shows_every_class_and_count(pair):
    y_true, y_pred, _ = pair
    matrix = metrics.confusion_matrix(y_true, y_pred)
    lines = metrics.format_confusion_matrix(matrix, metrics.FASHION_MNIST_CLASSES).splitlines()
    assert lines[2].split() == [str(index) for index in range(10)]
    rows = lines[3:]
    assert len(rows) == 10
    for index, (name, row, counts) in enumerate(zip(metrics.FASHION_MNIST_CLASSES, rows, matrix)):
        assert row.startswith(f"{index} {name}")
        assert [int(count) for count in row[len(f"{index} {name}"):].split()] == counts.tolist()


def test_format_confusion_matrix_rejects_a_shape_that_does_not_fit_the_names():
    with pytest.raises(ValueError, match=r"shape \(10, 10\)"):
        metrics.format_confusion_matrix(np.zeros((3, 3), dtype=np.int64),
                                        metrics.FASHION_MNIST_CLASSES)


def test_metrics_accept_cupy_arrays():
    cupy = pytest.importorskip("cupy")
    try:
        y_true = cupy.asarray([0, 1, 2, 2])
    except Exception as error:  # CuPy installed, but no usable GPU here
        pytest.skip(f"cupy cannot allocate on a GPU: {error}")
    y_pred = cupy.asarray([0, 2, 2, 2])
    assert metrics.accuracy(y_true, y_pred) == 0.75
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, y_pred, 3), [[1, 0, 0], [0, 0, 1], [0, 0, 2]]
    )
    assert metrics.classification_report(y_true, y_pred, ("a", "b", "c")) == \
        metrics.classification_report(y_true.get(), y_pred.get(), ("a", "b", "c"))
