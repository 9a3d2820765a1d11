"""Band et al.: their four-convolution CNN on Fashion-MNIST, with the abstract's recipe.

    python examples/band_et_al_cnn.py                          # Adam 1e-3, batch 64, 20 epochs
    python examples/band_et_al_cnn.py --conclusion-recipe      # and the conclusion's recipe beside it
    python examples/band_et_al_cnn.py --limit 2000 --epochs 2  # a quick try
    python examples/band_et_al_cnn.py --backend cupy           # on an NVIDIA GPU

The network (docs/papers.md, Band et al.; 786,122 parameters): Conv 64, Conv 64, max-pool,
dropout .25, Conv 128, Conv 128, max-pool, dropout .25, Dense 256, dropout .5,
Dense 10, trained with Adam (lr 1e-3, batch 64) for 20 epochs; reported 92.74%
test accuracy. The paper's conclusion credits augmentation, BatchNorm, a learning
rate of 5e-4 and 30 epochs: --conclusion-recipe trains that too (random rotation
of up to 10 degrees, shifts and zoom of 10%, horizontal flips; a BatchNorm after
every convolution; the same command as `minicnn train band-cnn --lr 5e-4 --epochs 30
--set batch_norm_layers=true --set augment={...}`).

Writes OUT_DIR/<run>/ (config, history, model, report.txt, curves.png,
confusion.png, misclassified.png) for each run, and OUT_DIR/comparison.md.
"""
from minicnn.cli.arguments import example_parser
from minicnn.cli.status import run_script
from minicnn.lab.comparison import run_comparison

# The conclusion: "augmentation techniques such as rotation, zoom, and shift" (the abstract adds flipping),
# "Batch Normalization layers", Adam at 0.0005, 30 epochs. It gives no magnitudes: those of the Keras
# mini-project's recipe (rotation 10 degrees, shifts and zoom 10%), and a BatchNorm after every convolution.
CONCLUSION_RECIPE = {"augment": {"rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 0.1,
                                 "zoom_range": 0.1, "horizontal_flip": True},
                     "batch_norm_layers": True, "lr": 5e-4, "epochs": 30}


def parse_arguments(argv=None):
    parser = example_parser(__doc__, out_dir="runs/band_et_al")
    parser.add_argument("--conclusion-recipe", action="store_true",
                        help="also train with the conclusion's recipe: augmentation, BatchNorm, lr 5e-4, 30 epochs")
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    runs = [("band-cnn", "band-cnn", None)]
    if arguments.conclusion_recipe:
        runs.append(("band-cnn-conclusion-recipe", "band-cnn", CONCLUSION_RECIPE))
    run_comparison(runs, arguments, "Band et al.: the abstract's and the conclusion's recipe")
    return 0


if __name__ == "__main__":
    run_script(main)
