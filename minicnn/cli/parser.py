"""The `minicnn` command: the zoo, training, reproducing the papers, evaluating, sweeping, explaining, checking
a layer, course assignments.

    minicnn zoo                                    # every network: paper, parameters, reported accuracy
    minicnn summary awasthi-enhanced-cnn           # its Keras-style layer table
    minicnn train band-cnn --epochs 5 --augment    # the recipe with overrides
    minicnn reproduce saraswat-cnn                 # the paper's recipe end to end: report and figures
    minicnn evaluate runs/saraswat-cnn/model.npz   # a saved model on the test set
    minicnn curves runs/a runs/b --out ab.png      # several runs' validation curves on shared axes
    minicnn sweep saraswat-pca-dnn --grid hidden=64,64-32 batch_size=32,64 --jobs 2
    minicnn explain runs/band-cnn/model.npz gradcam --image 0 --out gradcam.png   # what the network sees
    minicnn check-layer mylayer.py:MyLayer --input-shape 3,8,8
    minicnn assignment make conv pool --out hw    # a course assignment (minicnn assignment --help)

A mistake on the command line (an unknown network, a bad grid) is answered
with one line saying what to change and exit status 2; a run that cannot go on
(no dataset, a corrupt file, a diverged loss) with one line and status 1.
"""
import argparse
import sys

import minicnn
from minicnn import optim
from minicnn.cli.arguments import (ArgumentParser, HelpFormatter, add_data_dir_argument, add_run_arguments,
                                   add_training_arguments, non_negative_int, positive_float, positive_int)
from minicnn.cli.assignment import add_command as add_assignment_command
from minicnn.cli.explain import add_command as add_explain_command
from minicnn.cli.commands import (UsageError, command_check_layer, command_curves, command_evaluate,
                                  command_reproduce, command_results, command_summary, command_sweep,
                                  command_train, command_zoo, network_argument)
from minicnn.cli.status import exit_status
from minicnn.lab import zoo
from minicnn.lab.sweep import SweepError


def build_parser():
    """The argparse parser of every command, each with a --help that says what it does."""
    parser = ArgumentParser(prog="minicnn", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1] + "\nEvery command has --help.")
    parser.add_argument("--version", action="version", version=f"minicnn {minicnn.__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True, parser_class=ArgumentParser)

    def command(name, function, summary, description=None):
        subparser = commands.add_parser(name, help=summary, description=description or summary,
                                        formatter_class=HelpFormatter)
        subparser.set_defaults(function=function, command_name=name)
        return subparser

    command("zoo", command_zoo, "list every network: paper, parameter counts, reported accuracy and split")

    summary = command("summary", command_summary, "print a network's Keras-style summary (layers, shapes, parameters)")
    network_argument(summary)

    keys = "\n".join(f"  {key:<16} {text}" for key, text in zoo.RECIPE_KEYS.items())
    train = command("train", command_train, "train a network with its recipe plus your changes; report and figures",
                    "Train a zoo network with its paper's recipe, changed by the options, then evaluate it once on "
                    "the test set and write config, history, model, report and figures into --out-dir.")
    network_argument(train)
    add_run_arguments(train, out_dir="runs/NAME")
    train.add_argument("--batch-size", type=int, default=None, help="instead of the recipe's")
    train.add_argument("--lr", type=float, default=None, help="the learning rate, instead of the recipe's")
    train.add_argument("--optimizer", choices=list(optim.OPTIMIZERS), default=None, help="instead of the recipe's")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                       help="augment with the recipe's augmentation, or random flip + 2-pixel pad-and-crop if it "
                            "has none (--no-augment: none); default: as the recipe says")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="set any recipe key (the list below; JSON values allowed), repeatable")
    train.epilog = f"The recipe keys (minicnn/lab/zoo.py, RECIPE_KEYS):\n{keys}"

    reproduce = command("reproduce", command_reproduce, "train a network exactly with its paper's recipe; "
                        "report and figures", "Run a zoo network's paper recipe end to end (--epochs and --limit "
                        "are for a quick try) and write config, history, model, report and figures into --out-dir.")
    network_argument(reproduce)
    add_run_arguments(reproduce, out_dir="runs/NAME")

    results_command = command("results", command_results, "the Markdown table of finished runs: test accuracy "
                              "(mean and spread over seeds) against the paper's, epochs, minutes, commands")
    results_command.add_argument("directories", nargs="+", metavar="DIR", help="searched for runs' config.json")
    results_command.add_argument("--include-limited", action="store_true",
                                 help="also the runs on limited data (--limit), each in a row marked so")

    curves = command("curves", command_curves, "several runs' validation loss and accuracy per epoch on shared "
                     "axes, one line per run, in one PNG")
    curves.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a run's directory (it holds history.json)")
    curves.add_argument("--out", required=True, metavar="PNG", help="where to write the figure")
    curves.add_argument("--labels", default=None, help="comma-separated names for the runs (default: their paths)")
    curves.add_argument("--title", default="Validation curves", help="the figure's title")
    curves.add_argument("--from-epoch", type=int, default=1, metavar="EPOCH",
                        help="draw the curves from this epoch on, so that some runs' first epochs do not stretch "
                             "the axes (each legend's best is still over the whole run; default: 1, all)")

    evaluation = command("evaluate", command_evaluate, "evaluate a saved model.npz on the test set and print "
                         "its classification report")
    evaluation.add_argument("model", metavar="MODEL.npz", help="a model saved by minicnn (a run's model.npz)")
    add_data_dir_argument(evaluation)
    evaluation.add_argument("--split", choices=("test", "validation"), default="test",
                            help="the test set, or the validation split of the run that saved the model (picked "
                                 "by the seed and val_fraction in the config.json beside it)")
    evaluation.add_argument("--limit", type=positive_int, default=None, help="only the first LIMIT images")
    evaluation.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                            help="standardize the pixels as in training (default: as the run's config.json beside "
                                 "the model says, else scale to [0, 1])")
    evaluation.add_argument("--flip-averaged", action=argparse.BooleanOptionalAction, default=None,
                            help="predict from the logits averaged over each image and its mirror image (default: "
                                 "as the run's config.json beside the model says, else not)")
    evaluation.add_argument("--shift-averaged", type=non_negative_int, default=None, metavar="PIXELS",
                            help="average the logits over each image and its copies moved by 1 to PIXELS pixels "
                                 "up, down, left and right (with --flip-averaged, mirrored too); 0: no moves "
                                 "(default: as the run's config.json beside the model says, else 0)")
    evaluation.add_argument("--pca", default=None, metavar="PCA.npz",
                            help="for a PCA network: the pca.npz of its run (its own scaling is then used)")

    sweep = command("sweep", command_sweep, "train every configuration of a hyperparameter grid, in parallel, "
                    "and rank them by validation accuracy",
                    "Train every configuration of a grid (the cartesian product of the --grid entries) with "
                    "joblib on this machine or on a Dask cluster; print and write one row per configuration, "
                    "best validation accuracy first. Example (the grid of Saraswat et al.): minicnn sweep saraswat-pca-dnn "
                    "--grid hidden=64,64-32 optimizer=Adam:1e-3,RMSprop:1e-2 batch_size=32,64")
    network_argument(sweep)
    sweep.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                       help="recipe keys and their values; hidden=64-32 means hidden layers of 64 and 32; "
                            "optimizer=RMSprop:1e-2 sets the optimizer with its learning rate")
    sweep.add_argument("--jobs", type=positive_int, default=1, help="configurations at once on this machine")
    sweep.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786) instead")
    add_training_arguments(sweep)   # --epochs for every configuration whose grid does not set them
    sweep.add_argument("--out", metavar="FILE.csv", default=None,
                       help="the CSV to write (default: runs/sweep-NAME.csv)")
    sweep.add_argument("--overwrite", action="store_true", help="replace the CSV of an earlier sweep")
    sweep.add_argument("--test-best", metavar="OUT_DIR", default=None,
                       help="then train the configuration with the best validation accuracy once more into OUT_DIR "
                            "and test it, once (no other configuration is ever tested)")

    check = command("check-layer", command_check_layer, "check a layer's backward against numerical gradients "
                    "(exit status 0 if right, 1 if not, 2 if it cannot be imported)",
                    "Import a layer class (yours: a subclass of minicnn.layers.Layer, or any class with forward "
                    "and backward; modules beside its file can be imported), build it in float64 and compare "
                    "its backward (the input gradient and every parameter gradient) with central differences "
                    "on several random inputs, shapes and batch sizes. A wrong shape, a missing gradient, None "
                    "returned, a stub or an input changed in place is said in one line.")
    check.add_argument("layer", metavar="MODULE:CLASS", help="e.g. mylayer:MyReLU, path/to/mylayer.py:MyReLU or "
                                                             "minicnn.layers:Conv2D")
    check.add_argument("--input-shape", default="3,8,8", help="the per-sample input shape, e.g. 3,8,8 or 10")
    check.add_argument("--args", default="{}", help="the constructor's arguments as JSON, e.g. "
                                                    "'{\"filters\": 4, \"kernel_size\": 3}'")
    check.add_argument("--tolerance", type=positive_float, default=1e-6, help="the largest relative error that passes")
    add_explain_command(commands, HelpFormatter)   # minicnn explain MODEL.npz KIND --out FILE.png
    add_assignment_command(commands, HelpFormatter)   # minicnn assignment make / grade
    return parser


def main(argv=None):
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    arguments = parser.parse_args(argv)
    arguments.argv = argv   # recorded in a run's config.json
    return exit_status(lambda: arguments.function(arguments), f"minicnn {arguments.command_name}",
                       usage_errors=(UsageError, SweepError))
