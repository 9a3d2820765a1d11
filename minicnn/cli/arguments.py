"""The command line's shared options, each declared once, and its argument types."""
import argparse
import os

from minicnn import backend


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose mistakes are one line, like every other error of the command line:
    "minicnn train: error: argument --epochs: expected a positive whole number, got '0'" and where to
    read more, instead of the whole usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help with each option's default (unless it is None or the help already names it) and the
    description and epilog laid out as written."""

    def _get_help_string(self, action):
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def positive_int(text):
    """argparse type for counts (--epochs, --limit, --jobs): 0 would silently mean "all" or "nothing"."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def non_negative_int(text):
    """argparse type for --seed, --patience and --shift-averaged: a whole number >= 0 (NumPy takes no
    negative seed)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def add_data_dir_argument(parser):
    """--data-dir: where Fashion-MNIST is read from (the same flag for training and evaluating)."""
    parser.add_argument("--data-dir", default=None, help="where the Fashion-MNIST IDX files are, or are downloaded to "
                             "(default: search $MINICNN_DATA, the user cache, /usr/share/datasets)")


def add_training_arguments(parser):
    """The flags of anything that trains: every example, `minicnn train`/`reproduce` and `minicnn sweep`."""
    parser.add_argument("--backend", choices=backend.BACKENDS, default=os.environ.get("MINICNN_BACKEND", "numpy"),
                        help="numpy (CPU) or cupy (NVIDIA GPU)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seeds the split, the weights, shuffling and augmentation")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="train this many epochs instead of the recipe's")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="a quick try: use only this many training images, and as many validation and test images")
    add_data_dir_argument(parser)


def add_run_arguments(parser, out_dir):
    """The flags every example and `minicnn train`/`reproduce` share; ``out_dir`` is the folder of the paper's
    run, --out-dir's default (``arguments.default_out_dir``; see default_out_dir for the other runs')."""
    add_training_arguments(parser)
    parser.set_defaults(default_out_dir=out_dir)
    parser.add_argument("--out-dir", default=None,
                        help=f"where the report, figures and checkpoints go (default: {out_dir} for the paper's "
                             f"recipe; a run that changes it, e.g. with --limit, --seed or --epochs, gets its own "
                             f"folder beside it, such as {out_dir}-limit6000-epochs3)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in OUT_DIR from its checkpoint: after Ctrl-C, with the same flags; "
                            "to train a finished run further, give its --out-dir and more --epochs")
    again.add_argument("--overwrite", action="store_true",
                       help="start again in an OUT_DIR that holds a run, removing that run's files")


def example_parser(description, out_dir):
    """The argument parser of an example script: ``description`` (its docstring) and the run flags."""
    parser = ArgumentParser(description=description, formatter_class=HelpFormatter)
    add_run_arguments(parser, out_dir=out_dir)
    return parser


def positive_float(text):
    """argparse type for --tolerance: a number > 0 (nothing passes a tolerance of 0 or less)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value
