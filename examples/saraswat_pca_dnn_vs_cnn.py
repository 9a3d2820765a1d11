"""Saraswat, Challur & Pitta: a dense network on PCA features against a CNN, with the data's pictures.

    python examples/saraswat_pca_dnn_vs_cnn.py                            # figures, then both networks
    python examples/saraswat_pca_dnn_vs_cnn.py --grid-search --jobs 2     # and the paper's grid for the DNN
    python examples/saraswat_pca_dnn_vs_cnn.py --figures-only             # only the data's pictures (a minute)
    python examples/saraswat_pca_dnn_vs_cnn.py --limit 2000 --epochs 2    # a quick try
    python examples/saraswat_pca_dnn_vs_cnn.py --backend cupy             # on an NVIDIA GPU

First the figures of the data the paper shows, on the training split: sample
images, the cumulative variance explained by the principal components (187
components keep 95% of it), the images on the first two and three principal
components, and a t-SNE map of a subsample (t-SNE's cost grows faster than the
number of images). Then the two networks, each with the paper's recipe: the DNN
(PCA to 95% variance fitted on the training split only, Dense 64, Dense 10;
12,682 parameters; Adam 1e-3, batch 32, 30 epochs) and the CNN (four valid
convolutions with BatchNorm and LeakyReLU, Dense 256-128; 262,890 + 224
parameters; Adam 1e-3, batch 128, 10 epochs, best validation epoch kept).
Reported: DNN 88.50% and CNN 89.70% test accuracy. --grid-search also runs the
paper's grid for the DNN: layers [187,64,10] / [187,64,32,10] x Adam (1e-3) /
RMSprop (1e-2) x batch 32 / 64 (the paper's best: [187,64,10], Adam, batch 32).

Writes OUT_DIR/data/ (samples.png, pca_variance.png, pca_2d.png, pca_3d.png,
tsne.png), OUT_DIR/<network>/ (config, history, model, report.txt, curves.png,
confusion.png, misclassified.png; pca.npz for the DNN), OUT_DIR/comparison.md
and, with --grid-search, OUT_DIR/grid.csv.
"""
import os

from minicnn import data, plots
from minicnn.cli.arguments import example_parser, positive_int
from minicnn.cli.status import run_script
from minicnn.lab.comparison import comparison_out_dir, run_comparison
from minicnn.lab.runner import CLASS_NAMES, load_splits, run_settings
from minicnn.data import projections
from minicnn.lab import sweep, zoo

PAPER_GRID = ["hidden=64,64-32", "optimizer=Adam:1e-3,RMSprop:1e-2", "batch_size=32,64"]


def parse_arguments(argv=None):
    parser = example_parser(__doc__, out_dir="runs/saraswat")
    parser.add_argument("--tsne-samples", type=positive_int, default=2000,
                        help="how many training images t-SNE maps")
    parser.add_argument("--grid-search", action="store_true",
                        help="also run the paper's 8-configuration grid for the DNN (30 epochs each)")
    parser.add_argument("--jobs", type=positive_int, default=1, help="grid configurations trained at once")
    parser.add_argument("--figures-only", action="store_true",
                        help="draw the figures of the data (into OUT_DIR/data/) and train nothing")
    return parser.parse_args(argv)


def plot_data(arguments):
    """The paper's pictures of the training split, into OUT_DIR/data/."""
    recipe = zoo.NETWORKS["saraswat-pca-dnn"].recipe
    (images, labels), _, _ = load_splits(arguments.data_dir, recipe["val_fraction"], arguments.seed,
                                                    arguments.limit)
    images = data.prepare_images(images)
    class_names = CLASS_NAMES
    figures = os.path.join(arguments.out_dir, "data")
    count = f"{len(labels):,} training images"
    plots.plot_samples(images, labels, class_names, os.path.join(figures, "samples.png"),
                       title="Fashion-MNIST: sample training images")
    plots.plot_pca_variance(projections.pca_explained_variance(images), os.path.join(figures, "pca_variance.png"),
                            title=f"PCA of the {count}: cumulative explained variance")
    # the first two components of a 3-component PCA are the 2-component PCA: one fit serves both plots
    points = projections.pca_embedding(images, n_components=3)
    plots.plot_embedding_2d(points[:, :2], labels, class_names, os.path.join(figures, "pca_2d.png"),
                            title=f"The {count} on the first two principal components",
                            axis_labels=("PC 1", "PC 2"))
    plots.plot_embedding_3d(points, labels, class_names, os.path.join(figures, "pca_3d.png"),
                            title=f"The {count} on the first three principal components",
                            axis_labels=("PC 1", "PC 2", "PC 3"))
    points, indices = projections.tsne_embedding(images, n_samples=arguments.tsne_samples, seed=arguments.seed)
    plots.plot_embedding_2d(points, labels[indices], class_names, os.path.join(figures, "tsne.png"),
                            title=f"t-SNE of {len(indices):,} training images", axis_labels=("t-SNE 1", "t-SNE 2"))
    print(f"figures of the data written to {figures}/")


def grid_search(arguments):
    """The paper's grid for the DNN, best validation accuracy first, into OUT_DIR/grid.csv."""
    configurations = sweep.parse_grid(PAPER_GRID, epochs=arguments.epochs)
    print(f"\n=== grid search: {len(configurations)} configurations of saraswat-pca-dnn ===", flush=True)
    rows = sweep.run_sweep("saraswat-pca-dnn", configurations, jobs=arguments.jobs, progress=True,
                           **run_settings(arguments))
    path = os.path.join(arguments.out_dir, "grid.csv")
    sweep.write_csv(rows, path)
    print(sweep.format_table(rows) + f"\n\ngrid written to {path}")


def main(argv=None):
    arguments = parse_arguments(argv)
    comparison_out_dir(arguments)   # the figures go beside the runs
    plot_data(arguments)
    if arguments.figures_only:
        return 0
    runs = [(name, name, None) for name in ("saraswat-pca-dnn", "saraswat-cnn")]
    run_comparison(runs, arguments, "Saraswat, Challur & Pitta: PCA-DNN vs CNN")
    if arguments.grid_search:
        grid_search(arguments)
    return 0


if __name__ == "__main__":
    run_script(main)
