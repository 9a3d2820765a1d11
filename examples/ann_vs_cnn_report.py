"""The ANN-vs-CNN report ("FASHION-MNIST CLASSIFICATION", PyTorch): a dense network (ANN) against a CNN.

    python examples/ann_vs_cnn_report.py                          # the full recipe
    python examples/ann_vs_cnn_report.py --limit 2000 --epochs 2  # a quick try
    python examples/ann_vs_cnn_report.py --backend cupy           # on an NVIDIA GPU

The ANN: Dense 256, dropout .2, Dense 128, dropout .2, Dense 10 (235,146
parameters), reported ~85% test accuracy. The CNN: Conv 32 and Conv 64 ("same"),
one max-pool, dropout .25, Dense 128, dropout .25, Dense 10 (1,625,866
parameters), reported ~90%. Both: Adam (lr 1e-3), batch 64, 10 epochs,
standardized pixels, an 80/20 split.

Writes OUT_DIR/<network>/ (config, history, model, report.txt, curves.png,
confusion.png, misclassified.png) and OUT_DIR/comparison.md.
"""
from minicnn.cli.arguments import example_parser
from minicnn.cli.status import run_script
from minicnn.lab.comparison import run_comparison


def main(argv=None):
    arguments = example_parser(__doc__, out_dir="runs/ann_vs_cnn_report").parse_args(argv)
    runs = [(name, name, None) for name in ("report-ann", "report-cnn")]
    run_comparison(runs, arguments, "The ANN-vs-CNN report: ANN vs CNN")
    return 0


if __name__ == "__main__":
    run_script(main)
