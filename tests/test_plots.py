"""Every figure in minicnn.plots is written as a readable PNG, edge cases included (the PCA and t-SNE figures
with the coordinates minicnn.projections computes)."""
import os
import subprocess
import sys
import warnings

import matplotlib.image
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from minicnn import plots
from minicnn.data import projections
from minicnn.metrics import FASHION_MNIST_CLASSES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_width=300, min_height=200):
    """``path`` holds a PNG that matplotlib reads back at a sensible size."""
    with open(path, "rb") as file:
        assert file.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, (width, height)
    # A blank canvas would mean nothing was drawn.
    assert pixels.std() > 0.01


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def history():
    epochs = np.arange(1, 13)
    return {
        "loss": list(1.0 / epochs),
        "accuracy": list(1.0 - 0.5 / epochs),
        "val_loss": list(1.0 / epochs + 0.01 * epochs),
        "val_accuracy": list(0.9 - 0.4 / epochs - 0.005 * epochs),
        "lr": [1e-3] * 12,
        "seconds": [2.5] * 12,
    }


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)


@pytest.fixture
def labels(rng):
    return rng.integers(0, 10, size=40)


def test_plot_history_writes_a_png_and_returns_its_path(tmp_path, history):
    path = tmp_path / "history.png"
    assert plots.plot_history(history, path) == path
    assert_png(path)


def test_plot_history_without_validation_keys(tmp_path, history):
    path = tmp_path / "history.png"
    plots.plot_history({"loss": history["loss"], "accuracy": history["accuracy"]}, path)
    assert_png(path)


def test_plot_history_from_numpy_arrays(tmp_path, history):
    path = tmp_path / "history.png"
    plots.plot_history({key: np.asarray(values) for key, values in history.items()}, path)
    assert_png(path)


def test_plot_history_with_loss_only_and_a_single_epoch(tmp_path):
    path = tmp_path / "history.png"
    plots.plot_history({"loss": [0.7], "val_loss": [0.8]}, path)
    assert_png(path, min_width=200)


def test_plot_history_survives_a_nan_loss(tmp_path, history):
    history["loss"][-1] = history["val_loss"][-1] = float("nan")
    plots.plot_history(history, tmp_path / "history.png")
    assert_png(tmp_path / "history.png")


def test_plot_history_without_any_curve_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no values for any of"):
        plots.plot_history({"lr": [0.1, 0.1]}, tmp_path / "history.png")


def test_plot_history_comparison_draws_one_line_per_run_and_leaves_out_missing_curves(tmp_path, history):
    no_accuracy = {"val_loss": history["val_loss"][:5]}
    path = plots.plot_history_comparison({"a": history, "b": no_accuracy}, tmp_path / "both.png")
    assert_png(path)


def test_plot_history_comparison_keeps_long_labels_off_the_curves_and_inside_the_figure(tmp_path, history,
                                                                                         monkeypatch):
    drawn = []
    save = plots._save_figure
    monkeypatch.setattr(plots, "_save_figure", lambda figure, path: drawn.append(figure) or save(figure, path))
    labels = [f"a long description of recipe {index}: Keras BatchNorm + constant 1e-3 + stop" for index in range(3)]
    plots.plot_history_comparison({label: history for label in labels}, tmp_path / "long.png")
    (figure,) = drawn
    figure.set_dpi(plots.DPI)   # laid out as it was saved
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axes in figure.axes:
        legend, panel = axes.get_legend().get_window_extent(renderer), axes.get_window_extent(renderer)
        assert legend.y1 <= panel.y0, "the legend covers the panel"
        assert 0 <= legend.x0 and legend.x1 <= figure.bbox.x1 and legend.y0 >= 0, "the legend runs off the figure"


def test_plot_history_comparison_labels_a_diverged_run_instead_of_failing(tmp_path, history):
    diverged = {"val_loss": [float("nan")] * 3, "val_accuracy": [float("nan")] * 3}
    assert_png(plots.plot_history_comparison({"a": history, "nan": diverged}, tmp_path / "nan.png"))


def test_plot_history_comparison_from_an_epoch_draws_only_the_epochs_from_it(tmp_path, monkeypatch):
    drawn = []
    save = plots._save_figure
    monkeypatch.setattr(plots, "_save_figure", lambda figure, path: drawn.append(figure) or save(figure, path))
    slow_start = {"val_loss": [2.0, 1.5, 0.4, 0.3], "val_accuracy": [0.27, 0.54, 0.90, 0.92]}
    plots.plot_history_comparison({"slow": slow_start, "short": {"val_accuracy": [0.8]}}, tmp_path / "late.png",
                                  from_epoch=3)
    (figure,) = drawn
    loss_panel, accuracy_panel = figure.axes
    (slow_loss,) = loss_panel.get_lines()
    assert list(slow_loss.get_xdata()) == [3, 4] and loss_panel.get_ylim()[1] < 1.5
    slow_line, short_line = accuracy_panel.get_lines()
    assert list(slow_line.get_xdata()) == [3, 4] and list(slow_line.get_ydata()) == [0.90, 0.92]
    assert len(short_line.get_xdata()) == 0
    assert accuracy_panel.get_ylim()[0] > 0.54, "the epochs before the first drawn still stretch the axis"
    assert "from epoch 3" in accuracy_panel.get_title()
    slow_text, short_text = (text.get_text().replace("\n", " ") for text in accuracy_panel.get_legend().get_texts())
    assert "best 92.00%, epoch 4)" in slow_text
    assert "best 80.00%, epoch 1; ends at epoch 1, before the first drawn" in short_text


def test_plot_history_comparison_from_an_epoch_no_run_reaches_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="drawing from epoch 9, but the longest of the runs has 4 epochs"):
        plots.plot_history_comparison({"a": {"val_loss": [1.0, 0.9, 0.8, 0.7]}}, tmp_path / "x.png", from_epoch=9)
    with pytest.raises(ValueError, match="longest of the runs has 1 epoch$"):
        plots.plot_history_comparison({"a": {"val_loss": [1.0]}}, tmp_path / "x.png", from_epoch=2)
    for wrong in (0, 2.5):
        with pytest.raises(ValueError, match=f"from_epoch is {wrong}: epochs are whole numbers counted from 1"):
            plots.plot_history_comparison({"a": {"val_loss": [1.0]}}, tmp_path / "x.png", from_epoch=wrong)


@pytest.mark.parametrize("value", [None, 0.5, [[0.1, 0.2]], ["a", "b"]])
def test_plot_history_comparison_names_a_history_value_that_is_not_a_list_of_numbers(tmp_path, value):
    with pytest.raises(ValueError, match="the history's val_loss is not a list of per-epoch numbers"):
        plots.plot_history_comparison({"a": {"val_loss": value}}, tmp_path / "x.png")


def test_plot_history_comparison_without_any_validation_is_an_error(tmp_path, history):
    with pytest.raises(ValueError, match="none of the runs a, b recorded"):
        plots.plot_history_comparison({"a": {"loss": [1.0]}, "b": {}}, tmp_path / "none.png")


def best_stars(figure):
    """Per panel (in order): the epoch of the star that marks its best validation value."""
    return [[int(line.get_xdata()[0]) for line in axes.get_lines() if line.get_marker() == "*"]
            for axes in figure.axes]


def test_each_curves_panel_marks_its_own_best_and_a_one_epoch_run_stays_visible(tmp_path, monkeypatch):
    drawn = []
    save = plots._save_figure
    monkeypatch.setattr(plots, "_save_figure", lambda figure, path: drawn.append(figure) or save(figure, path))
    # the best accuracy at epoch 4, the lowest loss at epoch 5: each panel stars its own
    history = {"loss": [0.9, 0.6, 0.5, 0.45, 0.42], "accuracy": [0.7, 0.8, 0.84, 0.86, 0.87],
               "val_loss": [0.5, 0.35, 0.31, 0.2933, 0.287], "val_accuracy": [0.8, 0.86, 0.88, 0.90, 0.89]}
    plots.plot_history(history, tmp_path / "curves.png")
    assert best_stars(drawn[-1]) == [[5], [4]]
    loss_panel, accuracy_panel = drawn[-1].axes
    assert "lowest validation loss (epoch 5)" in [text.get_text() for text in loss_panel.get_legend().get_texts()]
    plots.plot_history({key: values[:1] for key, values in history.items()}, tmp_path / "one.png")
    points = [line for line in drawn[-1].axes[0].get_lines() if line.get_marker() == "o"]
    assert points and all(line.get_markersize() >= 7 for line in points)
    assert all(line.get_markerfacecolor() == "none" for axes in drawn[-1].axes for line in axes.get_lines()
               if line.get_marker() == "*"), "the star over a lone point is hollow: the point shows through"


@pytest.mark.parametrize("normalize", [True, False])
def test_plot_confusion_matrix(tmp_path, rng, normalize):
    matrix = rng.integers(0, 50, size=(10, 10)) + np.diag(np.full(10, 900))
    matrix[3] = 0  # a class with no test samples must not produce NaNs
    path = tmp_path / "confusion.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_confusion_matrix(matrix, FASHION_MNIST_CLASSES, path, normalize=normalize)
    assert_png(path, min_width=800, min_height=800)


def test_plot_confusion_matrix_rejects_a_shape_that_does_not_fit_the_names(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(10, 10\)"):
        plots.plot_confusion_matrix(np.eye(3), FASHION_MNIST_CLASSES, tmp_path / "confusion.png")


def test_plot_samples_from_uint8_images_without_channel_axis(tmp_path, images, labels):
    path = tmp_path / "samples.png"
    plots.plot_samples(images, labels, FASHION_MNIST_CLASSES, path)
    assert_png(path, min_width=600, min_height=600)


def test_plot_samples_from_few_float_images_with_channel_axis(tmp_path, images, labels):
    path = tmp_path / "samples.png"
    plots.plot_samples(images[:3, None] / 255.0, labels[:3], FASHION_MNIST_CLASSES, path, count=25)
    assert_png(path)


def test_plot_samples_rejects_colour_images(tmp_path, labels):
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        plots.plot_samples(np.zeros((4, 3, 28, 28)), labels[:4], FASHION_MNIST_CLASSES,
                           tmp_path / "samples.png")


def test_plot_misclassified_with_probabilities(tmp_path, images, labels, rng):
    predictions = np.where(rng.random(40) < 0.5, labels, (labels + 1) % 10)
    probabilities = rng.dirichlet(np.ones(10), size=40)
    path = tmp_path / "misclassified.png"
    plots.plot_misclassified(images[:, None], labels, predictions, FASHION_MNIST_CLASSES, path,
                             count=9, probabilities=probabilities)
    assert_png(path, min_width=400, min_height=400)


def test_the_misclassified_grid_says_it_shows_the_most_confident_mistakes(tmp_path, images, labels, monkeypatch):
    shown = {}
    monkeypatch.setattr(plots, "_plot_image_grid",
                        lambda images, captions, path, title: shown.update(captions=captions, title=title))
    predictions = (labels + 1) % 10
    probabilities = np.full((40, 10), 0.001)
    probabilities[np.arange(40), predictions] = np.linspace(0.5, 0.9993, 40)
    plots.plot_misclassified(images, labels, predictions, FASHION_MNIST_CLASSES, tmp_path / "m.png", count=3,
                             probabilities=probabilities)
    assert shown["title"].endswith("\nthe 3 most confident of 40 mistakes in 40 images, with the confidence in "
                                   "the wrong answer")
    assert [caption.rsplit("(", 1)[1] for caption in shown["captions"]] == ["99.93%)", "98.65%)", "97.37%)"]


def test_plot_misclassified_without_probabilities(tmp_path, images, labels):
    path = tmp_path / "misclassified.png"
    plots.plot_misclassified(images, labels, (labels + 1) % 10, FASHION_MNIST_CLASSES, path)
    assert_png(path, min_width=600, min_height=600)


def test_plot_misclassified_when_every_prediction_is_right(tmp_path, images, labels):
    path = tmp_path / "misclassified.png"
    plots.plot_misclassified(images, labels, labels.copy(), FASHION_MNIST_CLASSES, path)
    assert_png(path)


def test_pca_variance_and_plot(tmp_path, images):
    ratio = projections.pca_explained_variance(images)
    assert ratio.shape == (40,)
    assert np.all(np.diff(ratio) <= 1e-12)
    assert ratio.sum() == pytest.approx(1.0)
    path = tmp_path / "pca_variance.png"
    plots.plot_pca_variance(ratio, path)
    assert_png(path)


def test_plot_pca_variance_when_a_threshold_is_never_reached(tmp_path):
    path = tmp_path / "pca_variance.png"
    plots.plot_pca_variance(np.array([0.6, 0.2, 0.1]), path)
    assert_png(path)


def test_pca_embedding_in_two_and_three_dimensions(tmp_path, images, labels):
    points = projections.pca_embedding(images)
    assert points.shape == (40, 2)
    plots.plot_embedding_2d(points, labels, FASHION_MNIST_CLASSES, tmp_path / "pca.png",
                            "PCA", axis_labels=("PC 1", "PC 2"))
    assert_png(tmp_path / "pca.png")

    points = projections.pca_embedding(images[:, None] / 255.0, n_components=3)
    assert points.shape == (40, 3)
    plots.plot_embedding_3d(points, labels, FASHION_MNIST_CLASSES, tmp_path / "pca3d.png",
                            "3-D PCA")
    assert_png(tmp_path / "pca3d.png")


@pytest.fixture
def one_thread():
    """Run t-SNE's OpenMP loops on one thread: on a busy shared machine, spinning
    threads made a 1-second t-SNE of 100 points take 10 to 25 seconds."""
    with threadpool_limits(limits=1):
        yield


def test_tsne_embeds_a_reproducible_subsample(tmp_path, rng, one_thread):
    images = rng.random((150, 8, 8), dtype=np.float32)
    labels = rng.integers(0, 10, size=150)
    points, indices = projections.tsne_embedding(images, n_samples=100, seed=3)
    assert points.shape == (100, 2)
    assert np.all(np.diff(indices) > 0) and indices[-1] < 150
    assert np.all(np.isfinite(points))
    plots.plot_embedding_2d(points, labels[indices], FASHION_MNIST_CLASSES, tmp_path / "tsne.png",
                            "t-SNE")
    assert_png(tmp_path / "tsne.png")

    again, same_indices = projections.tsne_embedding(images, n_samples=100, seed=3)
    np.testing.assert_array_equal(same_indices, indices)
    np.testing.assert_allclose(again, points)


def test_tsne_of_fewer_images_than_asked_embeds_them_all(rng, one_thread):
    points, indices = projections.tsne_embedding(rng.random((12, 4, 4)), n_samples=2000)
    assert points.shape == (12, 2)
    np.testing.assert_array_equal(indices, np.arange(12))


def test_plot_embedding_rejects_mismatched_shapes(tmp_path, labels):
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.plot_embedding_2d(np.zeros((40, 3)), labels, FASHION_MNIST_CLASSES,
                                tmp_path / "bad.png", "bad")
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        plots.plot_embedding_3d(np.zeros((39, 3)), labels, FASHION_MNIST_CLASSES,
                                tmp_path / "bad.png", "bad")


def test_saving_creates_folders_overwrites_and_leaves_no_temporary_file(tmp_path, history):
    path = tmp_path / "run" / "figures" / "history.png"
    plots.plot_history(history, path)
    plots.plot_history({"loss": history["loss"]}, str(path))
    assert_png(path)
    assert [file.name for file in path.parent.iterdir()] == ["history.png"]


def test_importing_plots_leaves_pyplot_alone():
    code = "import sys, minicnn.plots; print('matplotlib.pyplot' in sys.modules)"
    # A fresh interpreter, since this one may have imported pyplot already;
    # it must find the same minicnn as these tests.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(plots.__file__)))
    environment = {**os.environ, "PYTHONPATH": package_root}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=environment)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("probability, text", [(0.87, "87.00%"), (0.9849, "98.49%"), (0.994, "99.40%"),
                                               (0.99972, "99.97%"), (0.99996, ">99.99%"), (1.0, ">99.99%")])
def test_confidence_captions_keep_the_digits_that_tell_mistakes_apart(probability, text):
    assert plots.confidence_text(probability) == text
