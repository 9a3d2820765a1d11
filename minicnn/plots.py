"""The figures the papers show: training curves, confusion matrix, image grids,
PCA and t-SNE views of the data (their coordinates come from minicnn.projections).

Every ``plot_*`` function takes host or device arrays and a ``path``, writes
one PNG there and returns the path. Figures are built with
``matplotlib.figure.Figure`` and drawn by the Agg canvas directly, never
through ``pyplot``: importing this module leaves the user's pyplot backend and
open windows alone, works on machines without a display, and no figure stays
registered in pyplot's global list, so there is nothing to close and nothing
leaks across hundreds of calls.
"""
import math
import numbers
import textwrap

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from minicnn import backend
from minicnn.data.files import atomic_write
from minicnn.metrics import checked_confusion_matrix
from minicnn.train import best_epoch_index
from minicnn.data.projections import components_for_variance

DPI = 130
LEGEND_CHARACTERS = 70   # a comparison's legend lines are wrapped at this width, about a panel's
HISTORY_CURVES = ("loss", "val_loss", "accuracy", "val_accuracy")


def _new_figure(width, height):
    """An empty figure of ``width`` x ``height`` inches, drawn by Agg.

    Constrained layout keeps titles, tick labels and colorbars from
    overlapping or being clipped.
    """
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save_figure(figure, path):
    """Write ``figure`` to ``path`` as PNG (atomically) and return ``path``."""
    with atomic_write(path) as file:
        figure.savefig(file, format="png", dpi=DPI)
    return path


def _class_colors(num_classes):
    """A list of ``num_classes`` distinguishable RGBA colours."""
    if num_classes <= 10:
        return list(matplotlib.colormaps["tab10"].colors[:num_classes])
    return list(matplotlib.colormaps["turbo"](np.linspace(0.0, 1.0, num_classes)))


# ----------------------------------------------------------------------------
# Training history
# ----------------------------------------------------------------------------

def _recorded(history, key):
    """``history[key]`` as a float64 array (E,), or None when missing or empty.
    Raises ValueError when it is not a list of numbers, one per epoch."""
    try:
        values = np.asarray(history.get(key, ()), dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1:
        raise ValueError(f"the history's {key} is not a list of per-epoch numbers: {history.get(key)!r:.60}")
    return values if values.size else None


def _metric_text(value, metric):
    """An accuracy as a percentage (92.73%), a loss with four decimals (0.2328)."""
    return f"{value:.2%}" if metric.endswith("accuracy") else f"{value:.4f}"


def _finish_epoch_axes(axes, title, metric, legend_below=False):
    """The common dress of a per-epoch panel of ``metric``: title, epoch ticks, percentages for an
    accuracy, grid, legend (inside the panel, or under it: long run labels would hide the curves)."""
    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if metric.endswith("accuracy"):
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.grid(alpha=0.3)
    if legend_below:
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize="small")
    else:
        axes.legend(loc="best")


def plot_history(history, path, title="Training history"):
    """Loss and accuracy per epoch, training and validation side by side.

    A dotted vertical line marks the best validation epoch (highest validation
    accuracy, or lowest validation loss when accuracy is not recorded), and its
    value is written beside the point.

    Inputs:
    - history: dict of per-epoch lists (or arrays), as the training loop
      records it; uses "loss", "accuracy" (fractions in [0, 1]), "val_loss",
      "val_accuracy". Validation keys may be missing; other keys ("lr",
      "seconds") are ignored.
    - path: where to write the PNG
    - title: the figure title

    Returns:
    - path
    """
    panels = [
        metric for metric in ("loss", "accuracy")
        if _recorded(history, metric) is not None or _recorded(history, f"val_{metric}") is not None
    ]
    if not panels:
        raise ValueError(
            f"history has no values for any of {HISTORY_CURVES}; its keys are {sorted(history)}"
        )
    epoch_count = max(len(history.get(key, ())) for key in HISTORY_CURVES)
    # with few epochs every point is drawn large enough to see (a one-epoch run is a single point)
    marker_size = 7 if epoch_count <= 3 else 3

    figure = _new_figure(5.5 * len(panels), 4.2)
    figure.suptitle(title)
    for axes, metric in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        for key, label, color in ((metric, "training", "tab:blue"),
                                  (f"val_{metric}", "validation", "tab:orange")):
            values = _recorded(history, key)
            if values is not None:
                epochs = np.arange(1, len(values) + 1)
                axes.plot(epochs, values, marker="o", markersize=marker_size, color=color, label=label)
        # each panel marks its own best: the lowest validation loss, the highest validation accuracy
        validation = _recorded(history, f"val_{metric}")
        best_epoch = None if validation is None else best_epoch_index(validation, f"val_{metric}")
        if best_epoch is not None:
            best_value = validation[best_epoch]
            which = "lowest validation loss" if metric == "loss" else "best validation accuracy"
            axes.axvline(best_epoch + 1, color="gray", linestyle=":", label=f"{which} (epoch {best_epoch + 1})")
            # a hollow star: the point it marks stays visible inside it
            axes.plot(best_epoch + 1, best_value, marker="*", markersize=16, markerfacecolor="none",
                      markeredgecolor="tab:red", linestyle="none")
            text = _metric_text(best_value, metric)
            # the label goes toward the middle of the plot, so a best epoch near an edge keeps it inside
            right_half = best_epoch + 1 > (epoch_count + 1) / 2
            axes.annotate(text, (best_epoch + 1, best_value), textcoords="offset points",
                          xytext=(-8 if right_half else 8, 8 if metric == "accuracy" else -14),
                          ha="right" if right_half else "left", color="tab:red")
            axes.margins(y=0.12)  # room for the label under a loss minimum at the bottom
        axes.set_ylabel(metric)
        # Half an epoch of margin, so a one-epoch run gets an axis of whole epochs.
        axes.set_xlim(0.5, epoch_count + 0.5)
        _finish_epoch_axes(axes, metric.capitalize(), metric)
    return _save_figure(figure, path)


def plot_history_comparison(histories, path, title="Validation curves", from_epoch=1):
    """Several runs' validation loss and accuracy per epoch, one line per run, on shared axes.

    Inputs:
    - histories: dict label -> history (as plot_history takes it); a run
      without validation values is left out of the panel it lacks.
    - path: where to write the PNG
    - title: the figure title
    - from_epoch: the first epoch drawn (1: all), so that a few runs' first
      epochs do not stretch the axes over the rest; each legend's best is
      still that of the whole run.

    Returns:
    - path
    Raises ValueError when no run has any validation value, or none reaches from_epoch.
    """
    if not isinstance(from_epoch, numbers.Integral) or from_epoch < 1:
        raise ValueError(f"from_epoch is {from_epoch!r}: epochs are whole numbers counted from 1")
    # each run's curves read (and checked) once: label -> metric -> array (E,) or None
    recorded = {label: {metric: _recorded(history, metric) for metric in ("val_loss", "val_accuracy")}
                for label, history in histories.items()}
    panels = [metric for metric in ("val_loss", "val_accuracy")
              if any(curves[metric] is not None for curves in recorded.values())]
    if not panels:
        raise ValueError(f"none of the runs {', '.join(histories)} recorded val_loss or val_accuracy")
    longest = max(len(curves[metric]) for curves in recorded.values() for metric in panels
                  if curves[metric] is not None)
    if longest < from_epoch:
        raise ValueError(f"drawing from epoch {from_epoch}, but the longest of the runs has {longest} "
                         f"epoch{'s' if longest > 1 else ''}")
    # room under the panels for the legends: a line per run, more where a long label wraps
    legend_lines = sum(math.ceil((len(label) + 32) / LEGEND_CHARACTERS) for label in histories)
    figure = _new_figure(6.5 * len(panels), 4.2 + 0.3 * legend_lines)
    figure.suptitle(title)
    for axes, metric in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        for label, curves in recorded.items():
            values = curves[metric]
            if values is not None:
                best = best_epoch_index(values, metric)
                best_text = ("diverged" if best is None
                             else f"best {_metric_text(values[best], metric)}, epoch {best + 1}")
                if len(values) < from_epoch:   # in the legend all the same, so that no run goes missing unsaid
                    best_text += f"; ends at epoch {len(values)}, before the first drawn"
                # wrapped, so that a long run label stays as wide as its panel
                axes.plot(np.arange(from_epoch, len(values) + 1), values[from_epoch - 1:], marker="o",
                          markersize=2,
                          label="\n".join(textwrap.wrap(f"{label} ({best_text})", LEGEND_CHARACTERS)))
        panel_title = "Validation " + metric[len("val_"):]
        _finish_epoch_axes(axes, panel_title + (f" (from epoch {from_epoch})" if from_epoch > 1 else ""), metric,
                           legend_below=True)
    return _save_figure(figure, path)


# ----------------------------------------------------------------------------
# Confusion matrix
# ----------------------------------------------------------------------------

def plot_confusion_matrix(matrix, class_names, path, normalize=True, title=None):
    """The confusion matrix as a heatmap, each cell annotated.

    Inputs:
    - matrix: integer array (C, C) of counts, rows true class, columns
      predicted class (as ``minicnn.metrics.confusion_matrix`` returns it)
    - class_names: sequence of C names, used on both axes
    - path: where to write the PNG
    - normalize: if True, colour each cell by its share of the true class (so
      the diagonal is each class's recall) and print that percentage above the
      count; if False, colour and print the counts alone
    - title: the figure title; by default it states the overall accuracy

    Returns:
    - path
    """
    counts = checked_confusion_matrix(matrix, class_names)
    num_classes = len(class_names)
    if normalize:
        row_totals = counts.sum(axis=1, keepdims=True)
        # A class with no true samples gets an empty row instead of NaNs.
        shown = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals != 0)
        color_limit = 1.0
    else:
        shown = counts
        color_limit = max(int(counts.max()), 1)
    if title is None:
        total = counts.sum()
        accuracy = np.trace(counts) / total if total else 0.0
        title = f"Confusion matrix (accuracy {accuracy:.2%}, {total:,} samples)"

    cell_size = 0.75 if num_classes > 5 else 1.2
    figure = _new_figure(cell_size * num_classes + 3.0, cell_size * num_classes + 2.0)
    axes = figure.subplots()
    image = axes.imshow(shown, cmap="Blues", vmin=0.0, vmax=color_limit)
    colorbar = figure.colorbar(image, ax=axes, shrink=0.8)
    if normalize:
        colorbar.set_label("share of the true class")
        colorbar.formatter = PercentFormatter(xmax=1.0)
    else:
        colorbar.set_label("samples")

    # Two lines per cell (percentage and count) need a smaller font than one.
    font_size = (8 if normalize else 9) if num_classes > 5 else 11
    for (row, column), count in np.ndenumerate(counts):
        text = f"{shown[row, column]:.1%}\n{count}" if normalize else f"{count}"
        # Dark text on light cells, light text on dark cells.
        color = "white" if shown[row, column] > 0.6 * color_limit else "black"
        axes.text(column, row, text, ha="center", va="center", color=color, fontsize=font_size)

    axes.set_xticks(range(num_classes), class_names, rotation=45, ha="right",
                    rotation_mode="anchor")
    axes.set_yticks(range(num_classes), class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    return _save_figure(figure, path)


# ----------------------------------------------------------------------------
# Image grids
# ----------------------------------------------------------------------------

def _as_grayscale_images(images):
    """Images as a float array (N, H, W), whether given with a channel axis or not.

    Inputs:
    - images: array (N, H, W) or (N, 1, H, W), any numeric dtype

    Returns:
    - float32 array (N, H, W)
    """
    images = backend.to_numpy(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(
            f"images must have shape (N, H, W) or (N, 1, H, W), got {images.shape}"
        )
    return images.astype(np.float32, copy=False)


def _plot_image_grid(images, captions, path, title):
    """A square-ish grid of grayscale images, each with a caption above it.

    All images share one grey scale (the darkest and brightest pixel shown),
    so their brightness can be compared, whatever their value range (0..255,
    0..1 or standardised).

    Inputs:
    - images: float array (K, H, W), K >= 1
    - captions: K strings, one per image (may hold a line break)
    - path: where to write the PNG
    - title: the figure title

    Returns:
    - path
    """
    count = len(images)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    caption_lines = max(caption.count("\n") + 1 for caption in captions)
    # A floor on the width keeps the title inside a grid of one or two images.
    figure = _new_figure(max(1.75 * columns, 4.5), (1.5 + 0.25 * caption_lines) * rows + 0.7)
    figure.suptitle(title)
    lowest, highest = float(images.min()), float(images.max())
    for axes in figure.subplots(rows, columns, squeeze=False).flat:
        axes.axis("off")
    for axes, image, caption in zip(figure.axes, images, captions):
        axes.imshow(image, cmap="gray", vmin=lowest, vmax=highest)
        axes.set_title(caption, fontsize=8)
    return _save_figure(figure, path)


def plot_samples(images, labels, class_names, path, count=25, title="Sample images"):
    """A grid of the first ``count`` images, each captioned with its class name.

    Inputs:
    - images: array (N, H, W) or (N, 1, H, W), uint8 or float
    - labels: integer array (N,) of class indices
    - class_names: sequence of class names indexed by label
    - path: where to write the PNG
    - count: how many images to show (fewer if N is smaller)
    - title: the figure title

    Returns:
    - path
    """
    images = _as_grayscale_images(images[:count])
    labels = backend.to_numpy(labels[:count])
    if len(images) == 0:
        raise ValueError("plot_samples needs at least one image")
    captions = [class_names[label] for label in labels]
    return _plot_image_grid(images, captions, path, title)


def confidence_text(probability):
    """A probability as a caption, always with two decimals so captions side by side compare at a glance:
    '87.25%', '99.97%', or '>99.99%', never a flat '100%' that an overconfident model's mistakes would
    all read."""
    if probability >= 0.99995:
        return ">99.99%"
    return f"{100 * probability:.2f}%"


def plot_misclassified(images, y_true, y_pred, class_names, path, count=25,
                       probabilities=None, title="Misclassified test images"):
    """A grid of misclassified images captioned with true and predicted class.

    With ``probabilities`` the caption adds the model's confidence in its wrong
    answer, and the most confident mistakes are shown first (those are the most
    telling); without, the first mistakes in data order are shown. If every
    prediction is right, the figure says so.

    Inputs:
    - images: array (N, H, W) or (N, 1, H, W), uint8 or float
    - y_true: integer array (N,) of true class indices
    - y_pred: integer array (N,) of predicted class indices
    - class_names: sequence of class names indexed by label
    - path: where to write the PNG
    - count: how many mistakes to show at most
    - probabilities: optional float array (N, C) of predicted class probabilities
    - title: the first line of the figure title; the second counts the mistakes

    Returns:
    - path
    """
    y_true = backend.to_numpy(y_true)
    y_pred = backend.to_numpy(y_pred)
    wrong = np.flatnonzero(y_true != y_pred)
    if probabilities is not None:
        confidence = backend.to_numpy(probabilities)[np.arange(len(y_pred)), y_pred]
        # A stable sort keeps data order among equally confident mistakes.
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]

    if wrong.size == 0:
        figure = _new_figure(6.0, 2.5)
        figure.suptitle(title)
        message = f"No misclassified images:\nall {len(y_true):,} predictions are correct."
        figure.text(0.5, 0.5, message, ha="center", va="center", fontsize=13)
        return _save_figure(figure, path)

    shown = wrong[:count]
    captions = []
    for index in shown:
        caption = f"true: {class_names[y_true[index]]}\npred: {class_names[y_pred[index]]}"
        if probabilities is not None:
            caption += f" ({confidence_text(confidence[index])})"
        captions.append(caption)
    if probabilities is not None:
        full_title = (f"{title}\nthe {len(shown)} most confident of {wrong.size:,} mistakes in {len(y_true):,} "
                      "images, with the confidence in the wrong answer")
    else:
        full_title = f"{title}\nthe first {len(shown)} of {wrong.size:,} mistakes in {len(y_true):,} images"
    shown_images = _as_grayscale_images(backend.to_numpy(images)[shown])
    return _plot_image_grid(shown_images, captions, path, full_title)


# ----------------------------------------------------------------------------
# PCA and t-SNE views of the data
# ----------------------------------------------------------------------------

def plot_pca_variance(explained_variance_ratio, path, thresholds=(0.90, 0.95),
                      title="PCA: cumulative explained variance"):
    """The cumulative explained variance against the number of components.

    Each threshold is marked with the number of components needed to reach it
    (on the pixels of Fashion-MNIST's 48,000-image training split: 84 for 90%, 187 for 95%).

    Inputs:
    - explained_variance_ratio: float array (D,), each component's share of
      the variance, largest first (``projections.pca_explained_variance`` returns it)
    - path: where to write the PNG
    - thresholds: the variance shares to mark
    - title: the figure title

    Returns:
    - path
    """
    ratio = backend.to_numpy(explained_variance_ratio)
    cumulative = np.cumsum(ratio)
    components = np.arange(1, len(ratio) + 1)

    figure = _new_figure(7.0, 4.5)
    axes = figure.subplots()
    axes.plot(components, cumulative, color="tab:blue", label="cumulative explained variance")
    # The first colour is the curve's; each threshold takes one of the next.
    for threshold, color in zip(thresholds, _class_colors(len(thresholds) + 1)[1:]):
        needed = components_for_variance(ratio, threshold)
        if needed is None:
            continue
        axes.plot([needed, needed, 0], [0, threshold, threshold], color=color, linestyle="--",
                  linewidth=1)
        axes.plot(needed, cumulative[needed - 1], marker="o", color=color, linestyle="none",
                  label=f"{threshold:.0%} of variance: {needed} components")
    axes.set_xlim(0, len(ratio) + 1)
    axes.set_ylim(0, 1.02)
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.set_xlabel("number of principal components")
    axes.set_ylabel("explained variance")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return _save_figure(figure, path)


def _scatter_by_class(axes, points, labels, class_names):
    """Scatter 2-D or 3-D ``points`` on ``axes``, one colour and legend entry per class."""
    for class_index, (name, color) in enumerate(zip(class_names, _class_colors(len(class_names)))):
        members = points[labels == class_index]
        axes.scatter(*members.T, s=6, color=color, alpha=0.7, label=name, linewidths=0)


def _checked_embedding(points, labels, dimensions):
    """Host copies of ``points`` (N, dimensions) and ``labels`` (N,), shapes checked."""
    points = backend.to_numpy(points)
    labels = backend.to_numpy(labels)
    if points.ndim != 2 or points.shape[1] != dimensions or len(labels) != len(points):
        raise ValueError(
            f"expected points of shape (N, {dimensions}) and labels of shape (N,), "
            f"got {points.shape} and {labels.shape}"
        )
    return points, labels


def plot_embedding_2d(points, labels, class_names, path, title,
                      axis_labels=("component 1", "component 2")):
    """A 2-D scatter plot of embedded samples, coloured by class, with a legend.

    Inputs:
    - points: float array (N, 2), e.g. from ``projections.pca_embedding`` or ``tsne_embedding``
    - labels: integer array (N,) of class indices
    - class_names: sequence of class names indexed by label
    - path: where to write the PNG
    - title: the figure title, e.g. "t-SNE of 2,000 test images"
    - axis_labels: names of the two axes, e.g. ("PC 1", "PC 2")

    Returns:
    - path
    """
    points, labels = _checked_embedding(points, labels, 2)
    figure = _new_figure(8.5, 6.5)
    axes = figure.subplots()
    _scatter_by_class(axes, points, labels, class_names)
    axes.set_xlabel(axis_labels[0])
    axes.set_ylabel(axis_labels[1])
    axes.set_title(title)
    figure.legend(loc="outside right center", markerscale=3, title="class")
    return _save_figure(figure, path)


def plot_embedding_3d(points, labels, class_names, path, title,
                      axis_labels=("component 1", "component 2", "component 3")):
    """A 3-D scatter plot of embedded samples (e.g. 3-D PCA), coloured by class.

    Inputs:
    - points: float array (N, 3), e.g. ``projections.pca_embedding(x, n_components=3)``
    - labels: integer array (N,) of class indices
    - class_names: sequence of class names indexed by label
    - path: where to write the PNG
    - title: the figure title
    - axis_labels: names of the three axes

    Returns:
    - path
    """
    points, labels = _checked_embedding(points, labels, 3)
    figure = _new_figure(9.0, 7.0)
    axes = figure.add_subplot(projection="3d")
    _scatter_by_class(axes, points, labels, class_names)
    axes.set_xlabel(axis_labels[0])
    axes.set_ylabel(axis_labels[1])
    axes.set_zlabel(axis_labels[2])
    axes.set_title(title)
    figure.legend(loc="outside right center", markerscale=3, title="class")
    return _save_figure(figure, path)


# ----------------------------------------------------------------------------
# What a network sees (the arrays of minicnn.explain)
# ----------------------------------------------------------------------------

def _image_captions(captions, count):
    """``captions`` as a list of ``count`` strings ("image 1", ... where None); ValueError if it has another length."""
    captions = [f"image {index + 1}" for index in range(count)] if captions is None else list(captions)
    if len(captions) != count:
        raise ValueError(f"expected {count} captions, one per image, got {len(captions)}")
    return captions


def _symmetric_limit(values):
    """The largest absolute value (at least a tiny one): a diverging colour scale centred on 0 runs -it..+it."""
    return max(float(np.abs(values).max()), 1e-12)


def _show(axes, image, caption=None, **settings):
    """``image`` on ``axes`` without ticks, its caption above it; returns the AxesImage (for a colour bar)."""
    shown = axes.imshow(image, **settings)
    axes.set_xticks([])
    axes.set_yticks([])
    if caption is not None:
        axes.set_title(caption, fontsize=8)
    return shown


def plot_filters(weights, path, layer_name="conv2d", max_filters=64, max_channels=8):
    """A conv layer's kernels, on one colour scale centred on 0 (red positive, blue negative), with its bar.

    Inputs:
    - weights: array (F, C, kh, kw), as ``explain.filters`` returns them
    - path: where to write the PNG
    - layer_name: named in the title
    - max_filters: for one input channel, the first this many kernels are drawn, in a square grid
    - max_channels: for several input channels, a row per filter (the first max_channels of them) and a
      column per input channel (the first max_channels)

    Returns:
    - path
    """
    weights = backend.to_numpy(weights)
    if weights.ndim != 4:
        raise ValueError(f"filters must have shape (F, C, kh, kw), got {weights.shape}")
    count, channels, height, width = weights.shape
    if channels == 1:
        shown = weights[:max_filters, 0]
        columns = math.ceil(math.sqrt(len(shown)))
        rows = math.ceil(len(shown) / columns)
        tiles = [(kernel, f"{index}") for index, kernel in enumerate(shown)]
        which = f"the first {len(shown)} of {count}" if len(shown) < count else f"all {count}"
    else:
        rows, columns = min(count, max_channels), min(channels, max_channels)
        tiles = [(weights[row, column], f"filter {row}, input {column}" if row == 0 or column == 0 else None)
                 for row in range(rows) for column in range(columns)]
        which = f"filters 0-{rows - 1} of {count} (rows) on input channels 0-{columns - 1} of {channels} (columns)"
    limit = _symmetric_limit(weights[:rows] if channels > 1 else shown)
    figure = _new_figure(max(1.0 * columns + 1.6, 5.0), 1.0 * rows + 1.0)
    figure.suptitle(f"Kernels of {layer_name} ({height}x{width}): {which}")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, (kernel, caption) in zip(grid.flat, tiles):
        axes.axis("on")
        image = _show(axes, kernel, caption, cmap="RdBu_r", vmin=-limit, vmax=limit)
    figure.colorbar(image, ax=grid, shrink=0.8, label="weight")
    return _save_figure(figure, path)


def plot_activations(images, outputs, path, layer_name, captions=None, unit_names=None):
    """What a layer outputs for each image, the image first: feature maps on one colour scale (with its bar),
    or, after a Dense layer, one bar per unit (named by ``unit_names``, e.g. the classes for the logits).

    Inputs:
    - images: array (N, 1, H, W) or (N, H, W), the network's input
    - outputs: array (N, F, h, w) or (N, D), as ``explain.activations`` returns them
    - path: where to write the PNG
    - layer_name: named in the title
    - captions: N strings, one per image (default "image 1", ...)
    - unit_names: D names for a Dense layer's units (default their numbers)

    One image: a grid of its first 31 maps. Several: a row each, its first 11 maps.

    Returns:
    - path
    """
    images, outputs = _as_grayscale_images(images), backend.to_numpy(outputs)
    count = len(images)
    captions = _image_captions(captions, count)
    if outputs.ndim not in (2, 4) or len(outputs) != count:
        raise ValueError(f"expected outputs (N, F, h, w) or (N, D) for {count} images, got {outputs.shape}")
    if outputs.ndim == 2:
        figure = _new_figure(9.0, 1.9 * count + 0.8)
        figure.suptitle(f"Output of {layer_name} ({outputs.shape[1]} units)")
        grid = figure.subplots(count, 2, squeeze=False, width_ratios=(1, 5))
        units = np.arange(outputs.shape[1])
        for (image_axes, bar_axes), image, values, caption in zip(grid, images, outputs, captions):
            _show(image_axes, image, caption, cmap="gray")
            bar_axes.bar(units, values, color=np.where(values >= 0, "tab:blue", "tab:red"))
            bar_axes.axhline(0, color="black", linewidth=0.6)
            bar_axes.set_ylabel("activation")
            if unit_names is not None:
                bar_axes.set_xticks(units, unit_names, rotation=30, ha="right", fontsize=8)
        grid[-1, 1].set_xlabel("unit" if unit_names is None else "")
        return _save_figure(figure, path)
    maps = outputs.shape[1]
    title = f"Feature maps of {layer_name}: the first {{}} of {maps}, on one scale"
    if count == 1:   # a grid, the image in its first cell, its caption in the title
        shown, columns = min(maps, 31), 8
        rows, widths = math.ceil((shown + 1) / columns), None
        title, captions = title + "\n" + captions[0].replace("\n", ", "), ["input"]
    else:   # a row per image, the image's column wider, for its caption
        shown, rows = min(maps, 11), count
        columns, widths = shown + 1, [1.9] + [1] * shown
    lowest, highest = float(outputs[:, :shown].min()), float(outputs[:, :shown].max())
    figure = _new_figure(1.25 * columns + 2.0, 1.3 * rows + 0.9)
    figure.suptitle(title.format(shown))
    grid = figure.subplots(rows, columns, squeeze=False, width_ratios=widths)
    for axes in grid.flat:
        axes.axis("off")
    cells = iter(grid.flat)
    for index, (image, caption) in enumerate(zip(images, captions)):
        _show(next(cells), image, caption, cmap="gray")
        for channel in range(shown):
            map_image = _show(next(cells), outputs[index, channel], f"map {channel}" if index == 0 else None,
                              cmap="viridis", vmin=lowest, vmax=highest)
    figure.colorbar(map_image, ax=grid, shrink=0.8, label="activation")
    return _save_figure(figure, path)


def _image_and_map_rows(images, maps, captions, title, map_label, overlay):
    """A figure of a column per image: the image above its map (each map on its own colour scale, with its
    bar: the maps of two images may differ tenfold) and, with ``overlay``, the map laid over the image
    below. Returns the figure."""
    images, maps = _as_grayscale_images(images), backend.to_numpy(maps)
    count = len(images)
    captions = _image_captions(captions, count)
    if maps.shape != images.shape:
        raise ValueError(f"expected one (H, W) map per image, shape {images.shape}, got {maps.shape}")
    rows = 3 if overlay else 2
    caption_lines = max(caption.count("\n") + 1 for caption in captions)
    figure = _new_figure(max(1.9 * count + 0.6, 5.0), 1.9 * rows + 0.9 + 0.15 * caption_lines)
    figure.suptitle(title)
    grid = figure.subplots(rows, count, squeeze=False)
    for column, (image, values, caption) in enumerate(zip(images, maps, captions)):
        highest = max(float(values.max()), 1e-12)
        _show(grid[0, column], image, caption, cmap="gray")
        shown = _show(grid[1, column], values, cmap="inferno", vmin=0.0, vmax=highest)
        if overlay:
            _show(grid[2, column], image, cmap="gray")
            grid[2, column].imshow(values, cmap="inferno", vmin=0.0, vmax=highest, alpha=0.55)
        bar = figure.colorbar(shown, ax=grid[rows - 1, column], location="bottom", shrink=0.9)
        bar.ax.tick_params(labelsize=7)
        bar.set_label(map_label, fontsize=8)
    grid[0, 0].set_ylabel("image")
    grid[1, 0].set_ylabel("map")
    if overlay:
        grid[2, 0].set_ylabel("map on the image")
    return figure


def plot_saliency(images, maps, path, captions=None, title="Saliency: which pixels move the score most"):
    """Each image above its saliency map (``explain.saliency``), the maps on one colour scale with its bar.

    Inputs:
    - images: array (N, 1, H, W) or (N, H, W)
    - maps: array (N, H, W), |d score / d pixel|
    - path: where to write the PNG
    - captions: N strings (say which class's score each map explains)
    - title: the figure title

    Returns:
    - path
    """
    figure = _image_and_map_rows(images, maps, captions, title, "|d score / d pixel|", overlay=False)
    return _save_figure(figure, path)


def plot_grad_cam(images, maps, path, captions=None, title="Grad-CAM: where the evidence for the class is"):
    """Each image above its Grad-CAM map (``explain.grad_cam``) and that map laid over it, the maps on one
    colour scale with its bar.

    Inputs:
    - images: array (N, 1, H, W) or (N, H, W)
    - maps: array (N, H, W), Grad-CAM upsampled to the image
    - path: where to write the PNG
    - captions: N strings (say which class's score each map explains)
    - title: the figure title

    Returns:
    - path
    """
    figure = _image_and_map_rows(images, maps, captions, title, "Grad-CAM (score units)", overlay=True)
    return _save_figure(figure, path)


def plot_fooling_images(images, fooling, perturbations, path, captions=None, fooled_captions=None,
                        title="Fooling images: a small change, another answer"):
    """A row per image: the original, the fooling image (``explain.fooling_images``), both on one grey scale,
    and the perturbation between them, on one colour scale centred on 0, with its bar.

    Inputs:
    - images, fooling, perturbations: arrays (N, 1, H, W) or (N, H, W)
    - path: where to write the PNG
    - captions: N strings for the originals (what the model answers); fooled_captions: N for the fooling images
    - title: the figure title

    Returns:
    - path
    """
    images, fooling = _as_grayscale_images(images), _as_grayscale_images(fooling)
    perturbations = _as_grayscale_images(perturbations)
    count = len(images)
    captions, fooled_captions = _image_captions(captions, count), _image_captions(fooled_captions, count)
    if not images.shape == fooling.shape == perturbations.shape:
        raise ValueError(f"images {images.shape}, fooling images {fooling.shape} and perturbations "
                         f"{perturbations.shape} must have one shape")
    lowest, highest = min(images.min(), fooling.min()), max(images.max(), fooling.max())
    limit = _symmetric_limit(perturbations)
    figure = _new_figure(7.0, 2.1 * count + 0.8)
    figure.suptitle(title)
    grid = figure.subplots(count, 3, squeeze=False)
    for row, image in enumerate(images):
        _show(grid[row, 0], image, captions[row], cmap="gray", vmin=lowest, vmax=highest)
        _show(grid[row, 1], fooling[row], fooled_captions[row], cmap="gray", vmin=lowest, vmax=highest)
        change = _show(grid[row, 2], perturbations[row], "perturbation" if row == 0 else None,
                       cmap="RdBu_r", vmin=-limit, vmax=limit)
    figure.colorbar(change, ax=grid[:, 2], shrink=0.8, label="pixel change (fooling image - original)")
    return _save_figure(figure, path)


def plot_class_visualization(images, path, captions=None, title="Class visualization:\nwhat the network "
                                                                  "scores highest for each class"):
    """Images made for classes (``explain.class_visualization``), each with its caption, on one grey scale.

    Inputs:
    - images: array (K, 1, H, W) or (K, H, W), or one image (1, H, W)
    - path: where to write the PNG
    - captions: K strings (the class, its score)
    - title: the figure title

    Returns:
    - path
    """
    images = backend.to_numpy(images)
    images = _as_grayscale_images(images[None] if images.ndim == 3 and images.shape[0] == 1 else images)
    return _plot_image_grid(images, _image_captions(captions, len(images)), path, title)
