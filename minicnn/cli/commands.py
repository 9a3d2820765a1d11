"""What each subcommand of `minicnn` does: one function per command, given the parsed arguments, returning
the exit status. minicnn/cli/parser.py declares the commands and their options."""
import argparse
import difflib
import importlib
import importlib.util
import json
import os
import shlex
import sys

from minicnn import data, metrics
from minicnn.lab import results, zoo
from minicnn.lab.recipes import FLIP_AND_CROP, recipe_for
from minicnn.lab.runner import load_splits, run_experiment, run_settings
from minicnn.lab.runs import default_out_dir, recipe_changes
from minicnn.data.files import npz_fault, read_json
from minicnn.gradcheck import check_layer, where_it_failed
from minicnn.layers import Layer
from minicnn.model import Sequential, shift_problem
from minicnn.data.preparation import InputPreparation
from minicnn.data.projections import PCAProjection
from minicnn.lab.sweep import RESULT_COLUMNS, format_table, parse_assignment, parse_grid, run_sweep, write_csv


class UsageError(ValueError):
    """A command line that cannot work as written; the message says what to write instead."""


def network_name(text):
    """argparse type for NAME: a network of the zoo; an unknown name is refused with the nearest ones."""
    if text in zoo.NETWORKS:
        return text
    near = difflib.get_close_matches(text, zoo.NETWORKS, n=2, cutoff=0.5)
    guess = f"; did you mean {' or '.join(near)}?" if near else ""
    raise argparse.ArgumentTypeError(f"unknown network {text!r}{guess} The zoo has: {', '.join(zoo.NETWORKS)}")


def network_argument(parser):
    """The NAME argument: a network of the zoo."""
    parser.add_argument("name", metavar="NAME", type=network_name,
                        help="a network of the zoo: " + ", ".join(zoo.NETWORKS))


# ----------------------------------------------------------------------------
# minicnn zoo, minicnn summary
# ----------------------------------------------------------------------------

def command_zoo(arguments):
    """`minicnn zoo`: one line per network, its paper, published parameter counts and reported accuracy."""
    rows = [("name", "paper", "parameters (trainable + non-trainable)", "reported accuracy")]
    for network in zoo.NETWORKS.values():
        rows.append((network.name, network.citation,
                     f"{network.trainable_params:,} + {network.non_trainable_params:,}", network.reported))
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    for row in rows:
        print("  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip())
    return 0


def command_summary(arguments):
    """`minicnn summary NAME`: what the network is, from which paper, and its Keras-style table."""
    network = zoo.NETWORKS[arguments.name]
    print(f"{network.name}: {network.description}\n{network.paper}\n")
    print(zoo.build(arguments.name).summary())
    return 0


# ----------------------------------------------------------------------------
# minicnn train, minicnn reproduce
# ----------------------------------------------------------------------------

def overrides_from(assignments):
    """--set KEY=VALUE texts -> a dict of recipe overrides (one value each)."""
    overrides = {}
    for text in assignments or []:
        _, settings = parse_assignment(text, "--set", 'KEY=VALUE with KEY a recipe key, e.g. lr=1e-3 or '
                                                      'augment={"pad_crop": 2}')
        if len(settings) != 1:
            raise UsageError(f"--set {text}: one value per key (try several with minicnn sweep)")
        for key, value in settings[0].items():
            if key in overrides and overrides[key] != value:
                raise UsageError(f"--set {key} is given twice ({overrides[key]!r} and {value!r}): give it once")
            overrides[key] = value
    return overrides


def command_train(arguments):
    """`minicnn train NAME`: the recipe, changed by --set and the named options; a setting given both ways
    is refused, since one of them would be silently ignored."""
    overrides = overrides_from(arguments.set)
    for key in ("epochs", "batch_size", "lr", "optimizer", "augment"):
        option = "--" + key.replace("_", "-")
        if getattr(arguments, key) is not None and key in overrides:
            raise UsageError(f"{key} is given twice, by {option} and by --set {key}=...: give it once")
        if getattr(arguments, key) is not None and key != "augment":
            overrides[key] = getattr(arguments, key)
    if arguments.augment is not None:
        recipe_augmentation = recipe_for(arguments.name, overrides).get("augment")
        overrides["augment"] = (recipe_augmentation or FLIP_AND_CROP) if arguments.augment else None
    return train_and_report(arguments, overrides)


def command_reproduce(arguments):
    """`minicnn reproduce NAME`: the paper's recipe as it is (--epochs only for a quick try)."""
    return train_and_report(arguments, {"epochs": arguments.epochs} if arguments.epochs is not None else {})


def train_and_report(arguments, overrides):
    """run_experiment for train and reproduce, into --out-dir (default runs/NAME for the paper's recipe,
    runs/NAME-<what differs> for any other run), the command line recorded."""
    out_dir = arguments.out_dir or default_out_dir(os.path.join("runs", arguments.name), arguments.limit,
                                                   arguments.seed, recipe_changes(arguments.name, overrides))
    run_experiment(arguments.name, overrides, out_dir=out_dir,
                   resume=arguments.resume, overwrite=arguments.overwrite,
                   extra_config={"command": shlex.join(["minicnn"] + arguments.argv)}, **run_settings(arguments))
    return 0


# ----------------------------------------------------------------------------
# minicnn evaluate
# ----------------------------------------------------------------------------

def recorded_config(model_path):
    """The config.json of the run that saved ``model_path`` (beside it), or {} where there is none readable."""
    try:
        config = read_json(os.path.join(os.path.dirname(model_path), "config.json"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def recorded_setting(model_path, key, default=False):
    """The recipe's ``key`` (standardize, flip_averaged, shift_averaged) of the run that saved ``model_path``,
    by the config.json beside it; ``default`` where there is none or the recipe leaves it unset."""
    recipe = recorded_config(model_path).get("recipe")
    value = recipe.get(key) if isinstance(recipe, dict) else None
    return default if value is None else value


def evaluation_images(arguments, data_source):
    """The (images, labels) ``minicnn evaluate`` judges: the test set, or the validation split of the run
    that saved the model (its seed and val_fraction, from the config.json beside it); the first --limit."""
    if arguments.split == "test":
        _, _, test = load_splits(data_source, limit=arguments.limit)
        return test
    config = recorded_config(arguments.model)
    if not config:
        beside = os.path.join(os.path.dirname(arguments.model) or ".", "config.json")
        raise UsageError(f"--split validation picks the validation images by the seed and val_fraction of the run "
                         f"that saved {arguments.model}, and there is no readable {beside} beside it: evaluate it on "
                         "the test set, or copy the run's config.json beside it")
    recipe = config.get("recipe") if isinstance(config.get("recipe"), dict) else {}
    seed, val_fraction = config.get("seed"), recipe.get("val_fraction")
    if type(seed) is not int or type(val_fraction) not in (int, float) or not 0 < val_fraction < 1:
        raise UsageError(f"--split validation needs the config.json of the run beside {arguments.model}, with its "
                         f"seed (a whole number; there: {seed!r}) and its recipe's val_fraction (in (0, 1); there: "
                         f"{val_fraction!r}): they pick the validation images")
    _, val, _ = load_splits(data_source, val_fraction, seed, arguments.limit)
    return val


def load_npz_file(load, path):
    """``load(path)``, with an error that says what is wrong with the file: missing, empty, truncated."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file (a run leaves its model in RUN_DIR/model.npz)")
    try:
        return load(path)
    except ValueError as error:
        fault = npz_fault(path)
        if fault is None:
            raise
        raise ValueError(fault) from error


def input_preparation(model, arguments):
    """How ``minicnn evaluate`` prepares the images for ``model``: the preparation its file records; for a
    file from before models recorded it, --standardize and --pca, else the run's config.json and pca.npz
    beside the model, else pixels scaled to [0, 1], with a warning that says what is assumed."""
    if model.input_preparation is not None:
        recorded = model.input_preparation
        if arguments.pca is not None or (arguments.standardize is not None
                                         and arguments.standardize != recorded.standardize):
            raise UsageError(f"{arguments.model} records how its input is prepared ({recorded.describe()}): "
                             "drop --standardize and --pca")
        return recorded
    beside = os.path.join(os.path.dirname(arguments.model), "pca.npz")
    pca_path = arguments.pca or (beside if len(model.input_shape) == 1 and os.path.exists(beside) else None)
    if len(model.input_shape) == 1 and pca_path is None:
        raise UsageError(f"{arguments.model} takes {model.input_shape[0]} PCA features, not images, and there "
                         f"is no {beside}: pass the pca.npz of its run with --pca")
    if len(model.input_shape) != 1 and arguments.pca is not None:
        raise UsageError(f"{arguments.model} takes images {model.input_shape}, not PCA features: drop --pca")
    pca = load_npz_file(PCAProjection.load, pca_path) if pca_path else None
    if pca is not None:
        if arguments.pca is None:
            print(f"note: using {pca_path}, the PCA of the run beside the model")
        return InputPreparation(pca.standardize, pca=pca)
    if arguments.standardize is not None:
        return InputPreparation(arguments.standardize)
    recipe = recorded_config(arguments.model).get("recipe")
    if isinstance(recipe, dict):
        return InputPreparation(bool(recipe.get("standardize")))
    print(f"warning: {arguments.model} does not record how its input was prepared and has no config.json beside "
          "it: its images are scaled to [0, 1] (give --standardize if it was trained on standardized pixels)",
          file=sys.stderr)
    return InputPreparation()


def command_evaluate(arguments):
    """`minicnn evaluate MODEL.npz`: accuracy, classification report and confusion matrix on the test set
    (or, with --split validation, on the validation split of the run that saved the model)."""
    model = load_npz_file(Sequential.load, arguments.model)
    preparation = input_preparation(model, arguments)
    flip_averaged = (arguments.flip_averaged if arguments.flip_averaged is not None
                     else recorded_setting(arguments.model, "flip_averaged"))
    shift_averaged = (arguments.shift_averaged if arguments.shift_averaged is not None
                      else recorded_setting(arguments.model, "shift_averaged", 0))
    if (flip_averaged or shift_averaged) and len(model.input_shape) != 3:
        turn_off = [option for option, on in (("--no-flip-averaged", flip_averaged),
                                              ("--shift-averaged 0", shift_averaged)) if on]
        raise UsageError(f"{arguments.model} takes input {model.input_shape}, not images, so nothing can be "
                         f"mirrored or moved: give {' and '.join(turn_off)}")
    problem = shift_averaged and shift_problem(shift_averaged, model.input_shape[1:])
    if problem:
        raise UsageError(f"--shift-averaged for {arguments.model}: {problem}"
                         + ("" if arguments.shift_averaged is not None else " (from the config.json beside it)"))
    data_source = os.path.abspath(data.locate_fashion_mnist(arguments.data_dir))
    print(f"data: Fashion-MNIST from {data_source}")
    x_test, y_test = evaluation_images(arguments, data_source)
    inputs = preparation.prepare(x_test, dtype=model.dtype.name)
    if inputs.shape[1:] != model.input_shape:
        raise UsageError(f"{arguments.model} takes input {model.input_shape}, the {arguments.split} images give "
                         f"{inputs.shape[1:]}")
    predicted = model.predict(inputs, batch_size=512, flip_averaged=flip_averaged, shift_averaged=shift_averaged)
    class_names = data.CLASS_NAMES["fashion-mnist"]
    accuracy, right = metrics.accuracy(y_test, predicted), int((predicted == y_test).sum())
    print(f"{model.name}: {arguments.split} accuracy {accuracy:.4f} on {len(y_test):,} images ({right:,} right; "
          f"{preparation.describe()}"
          f"{', flip-averaged' if flip_averaged else ''}"
          f"{f', shift-averaged ({shift_averaged} px)' if shift_averaged else ''})\n")
    print(metrics.classification_report(y_test, predicted, class_names=class_names))
    print()
    print(metrics.format_confusion_matrix(metrics.confusion_matrix(y_test, predicted), class_names))
    return 0


# ----------------------------------------------------------------------------
# minicnn sweep
# ----------------------------------------------------------------------------

def command_sweep(arguments):
    """`minicnn sweep NAME --grid ...`: every configuration ranked by validation accuracy, printed and written
    as CSV (an earlier CSV only replaced with --overwrite); with --test-best, the best one trained again into
    its own run folder and tested once."""
    configurations = parse_grid(arguments.grid, epochs=arguments.epochs)
    out = arguments.out or os.path.join("runs", f"sweep-{arguments.name}.csv")
    if os.path.exists(out) and not arguments.overwrite:
        raise UsageError(f"{out} holds an earlier sweep: give --overwrite to replace it, or another --out")
    where = f"on the Dask cluster at {arguments.dask}" if arguments.dask else f"{arguments.jobs} at a time"
    count = len(configurations)
    print(f"{arguments.name}: {count} configuration{'s' if count != 1 else ''}, {where}", flush=True)
    rows = run_sweep(arguments.name, configurations, jobs=arguments.jobs, dask_address=arguments.dask,
                     progress=True, **run_settings(arguments))
    write_csv(rows, out)
    print(format_table(rows))
    print(f"\nbest first, by validation accuracy (no configuration was tested); written to {out}")
    if arguments.test_best:
        best = rows[0]
        if best["failure"]:
            raise UsageError("every configuration diverged: there is none to test")
        overrides = {key: value for key, value in best.items() if key not in RESULT_COLUMNS}
        print(f"\nthe best configuration, {overrides}, trained again into {arguments.test_best} and tested once:")
        run_experiment(arguments.name, overrides, out_dir=arguments.test_best, overwrite=arguments.overwrite,
                       extra_config={"command": shlex.join(["minicnn"] + arguments.argv)}, **run_settings(arguments))
    return 0


# ----------------------------------------------------------------------------
# minicnn check-layer
# ----------------------------------------------------------------------------

class LayerImportError(UsageError):
    """The layer's file or module could not be imported (exit status 2, like any command line that cannot work)."""


def load_layer_class(spec):
    """'package.module:Class' or 'path/to/file.py:Class' -> the class. Raises UsageError.

    The file's own directory (or, for a module name, the current one) is put first on sys.path while it is
    imported, so a layer file can import the modules beside it. A class that does not subclass
    minicnn.layers.Layer is accepted if it has forward and backward (check_layer uses build, params and grads
    where it has them).
    """
    location, _, class_name = spec.rpartition(":")
    if not location or not class_name:
        raise UsageError(f"expected MODULE:CLASS or path/to/file.py:CLASS, got {spec!r}")
    as_file = location.endswith(".py") or os.sep in location
    if as_file and not os.path.isfile(location):
        raise UsageError(f"no file {location!r}")
    directory = os.path.dirname(os.path.abspath(location)) if as_file else os.getcwd()
    sys.path.insert(0, directory)
    try:
        if as_file:
            module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(location))[0],
                                                                 location)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except ModuleNotFoundError as error:
        if not as_file and (error.name == location.split(".")[0] or location.startswith(f"{error.name}.")):
            raise UsageError(f"no module {location!r} here or on the Python path ({error})") from None
        raise LayerImportError(f"importing {location} raised {where_it_failed(error)}") from None
    except SyntaxError as error:   # placed in the layer's file, not in the import machinery that read it
        raise LayerImportError(f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:   # a NameError at import time...: one line, not a traceback
        raise LayerImportError(f"importing {location} raised {where_it_failed(error)}") from None
    finally:
        sys.path.remove(directory)
    if not isinstance(getattr(module, class_name, None), type):
        classes = sorted(name for name, value in vars(module).items() if isinstance(value, type))
        raise UsageError(f"{location} has no class {class_name!r}; it has: {', '.join(classes) or 'none'}")
    layer_class = getattr(module, class_name)
    is_model = layer_class is Sequential or issubclass(layer_class, Sequential)
    if not issubclass(layer_class, Layer) and (is_model or not (callable(getattr(layer_class, "forward", None))
                                                               and callable(getattr(layer_class, "backward", None)))):
        raise UsageError(f"{class_name} is not a layer: subclass minicnn.layers.Layer, which gives it build, "
                         "params and grads, and write its forward and backward")
    return layer_class


def parse_shape(text):
    """'3,8,8' -> (3, 8, 8). Raises UsageError."""
    try:
        shape = tuple(int(size) for size in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise UsageError(f"--input-shape {text!r}: expected positive sizes joined by commas, e.g. 3,8,8 or 10")
    return shape


def parse_layer_arguments(text):
    """--args JSON -> (positional list, keyword dict)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--args must be JSON, e.g. '{{\"filters\": 4, \"kernel_size\": 3}}' or '[4, 3]': "
                         f"{error}") from None
    if isinstance(value, dict):
        return [], value
    if isinstance(value, list):
        return value, {}
    raise UsageError(f"--args must be a JSON object (keyword arguments) or list (positional ones), got {text!r}")


def trials(input_shape):
    """(per-sample shape, batch size) pairs to check: the shape given, then every axis but the
    channels one larger (odd sizes find floor-mode and padding mistakes), then a bigger batch."""
    grown = input_shape[:1] + tuple(size + 1 for size in input_shape[1:]) if len(input_shape) > 1 \
        else (input_shape[0] + 1,)
    return [(input_shape, 2), (grown, 3), (input_shape, 4)]


def command_check_layer(arguments):
    """`minicnn check-layer MODULE:CLASS`: gradient checks on every trial shape; 0 if all pass, 1 if not
    (2, through UsageError, for a command line or a layer file that cannot be imported)."""
    input_shape = parse_shape(arguments.input_shape)
    positional, keywords = parse_layer_arguments(arguments.args)
    layer_class = load_layer_class(arguments.layer)
    passed = True
    for index, (shape, batch_size) in enumerate(trials(input_shape)):
        print(f"{layer_class.__name__} on input {(batch_size,) + shape}, seed {index}:")
        try:
            layer = layer_class(*positional, **keywords)
        except TypeError as error:   # the arguments given do not fit its constructor: the command line to fix
            raise UsageError(f"{layer_class.__name__}({arguments.args}) cannot be made: {error}; give its "
                             "constructor's arguments with --args") from None
        except Exception as error:
            print(f"  FAILED: constructing it raised {where_it_failed(error)}")
            return 1
        try:
            report = check_layer(layer, input_shape=shape, batch_size=batch_size, seed=index,
                                 tolerance=arguments.tolerance)
        except ValueError as error:
            if index and not layer.built:
                # a layer may rightly refuse another shape; the shape asked for is the one that counts
                print(f"  skipped: the layer does not take this shape ({error})")
                continue
            print(f"  FAILED: {where_it_failed(error)}")
            passed = False
            continue
        except Exception as error:
            print(f"  FAILED: {where_it_failed(error)}")
            passed = False
            continue
        print("  " + str(report).replace("\n", "\n  "))
        passed = passed and report.passed
    print(f"\n{layer_class.__name__}: {'every gradient check passed' if passed else 'FAILED'}")
    return 0 if passed else 1


def command_results(arguments):
    """`minicnn results DIR...`: the Markdown results table of every finished run below the directories."""
    missing = [directory for directory in arguments.directories if not os.path.isdir(directory)]
    if missing:
        raise UsageError(f"no such directory: {', '.join(missing)}")
    table = results.results_table(arguments.directories, arguments.include_limited)
    if table.count("\n") < 2:
        limited = results.find_runs(arguments.directories, include_limited=True) and not arguments.include_limited
        raise UsageError("no finished run (a config.json with a test accuracy) under "
                         f"{', '.join(arguments.directories)}"
                         + ("; the runs there are on limited data (--limit): --include-limited shows them"
                            if limited else ""))
    print(table)
    return 0


def command_curves(arguments):
    """`minicnn curves RUN_DIR... --out PNG`: the runs' validation loss and accuracy per epoch, one line each."""
    labels = arguments.labels.split(",") if arguments.labels else [os.path.normpath(run) for run in arguments.runs]
    if len(labels) != len(arguments.runs):
        raise UsageError(f"--labels names {len(labels)} runs, but {len(arguments.runs)} run directories are given")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UsageError(f"each run needs its own label, and {', '.join(repeated)} is given twice")
    histories = {}
    for label, run in zip(labels, arguments.runs):
        path = os.path.join(run, "history.json")
        try:
            histories[label] = read_json(path)
        except OSError as error:
            raise UsageError(f"{path}: not a run's readable history ({error})") from None
        except ValueError as error:
            raise UsageError(str(error)) from None
        if not isinstance(histories[label], dict):
            raise UsageError(f"{path}: not a run's history (a JSON object of per-epoch lists), "
                             f"but a JSON {type(histories[label]).__name__}")
    try:
        from minicnn import plots   # matplotlib only where a figure is drawn: check-layer needs NumPy alone
        plots.plot_history_comparison(histories, arguments.out, title=arguments.title,
                                      from_epoch=arguments.from_epoch)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(f"validation curves of {len(histories)} run{'s' if len(histories) > 1 else ''} written to {arguments.out}")
    return 0
