"""Hyperparameter grids: every configuration of a grid trained by run_experiment, in parallel.

    minicnn sweep saraswat-pca-dnn --grid hidden=64,64-32 optimizer=Adam:1e-3,RMSprop:1e-2 batch_size=32,64

A grid is a list of axes, one per recipe key on the command line; an axis is
the list of settings that key takes, each a dict of recipe overrides. The
configurations are the cartesian product of the axes: the grid above (seed
003's) has 2 x 2 x 2 = 8. Two keys read their values specially:
- hidden=64-32: the widths of saraswat-pca-dnn's hidden layers, [187, 64, 32, 10];
- optimizer=RMSprop:1e-2: an optimizer together with its learning rate.
The runs go through joblib: processes on this machine, or the workers of a
Dask cluster (joblib's dask backend). Nothing is written but the result rows.
"""
import csv
import itertools
import json

from minicnn.lab import zoo
from minicnn.lab.recipes import recipe_for
from minicnn.lab.runner import run_experiment
from minicnn.data.files import atomic_write
from minicnn.train import TrainingDiverged

GRID_FORM = ("KEY=VALUE,VALUE,... with KEY a recipe key, e.g. batch_size=32,64 or hidden=64,64-32 "
             "or optimizer=Adam:1e-3,RMSprop:1e-2")
# a configuration is judged on validation only: choosing among test accuracies would make the test set part
# of training; the chosen one is tested once, on request (`minicnn sweep --test-best`)
RESULT_COLUMNS = ("val_accuracy", "epochs_run", "minutes", "seed", "limit", "failure")


class SweepError(ValueError):
    """A grid written wrongly (the message shows the expected form), or an unreachable Dask cluster."""


def parse_value(text):
    """A command-line value as a Python value.

    '32' -> 32, '1e-3' -> 0.001, 'true' / 'false' / 'none' -> True / False / None,
    JSON such as '{"pad_crop": 2}' -> a dict, anything else -> the string itself ('Adam').
    """
    lowered = text.lower()
    if lowered in ("true", "false", "none", "null"):
        return {"true": True, "false": False}.get(lowered)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def split_values(text):
    """Split at the commas outside brackets and braces: 'a,{"b": 1, "c": 2}' -> ['a', '{"b": 1, "c": 2}']."""
    values, depth, start = [], 0, 0
    for index, character in enumerate(text):
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(character, 0)
        if character == "," and depth == 0:
            values.append(text[start:index])
            start = index + 1
    return values + [text[start:]]


def parse_setting(key, value):
    """One value of ``key`` as a dict of recipe overrides; see the module docstring for hidden and optimizer."""
    if key == "hidden":
        try:
            widths = [int(width) for width in value.split("-")]
        except ValueError:
            widths = []
        if not widths or min(widths) < 1:
            raise SweepError(f"hidden={value!r}: expected layer widths joined by '-', e.g. hidden=64 or hidden=64-32")
        return {"hidden": widths}
    if key == "optimizer" and ":" in value:
        name, _, learning_rate = value.partition(":")
        try:
            return {"optimizer": name, "lr": float(learning_rate)}
        except ValueError:
            raise SweepError(f"optimizer={value!r}: expected NAME:LEARNING_RATE, e.g. optimizer=RMSprop:1e-2") from None
    return {key: parse_value(value)}


def parse_assignment(text, what="grid entry", form=GRID_FORM):
    """'KEY=VALUE,VALUE,...' -> (key, list of override dicts, one per value). Raises SweepError.

    ``what`` and ``form`` name the text in errors: a grid entry, or `minicnn train`'s --set.
    """
    key, equals, values = text.partition("=")
    key = key.strip()
    if not equals or not key or not values:
        raise SweepError(f"bad {what} {text!r}: expected {form}")
    if key not in zoo.RECIPE_KEYS:
        raise SweepError(f"bad {what} {text!r}: {key!r} is not a recipe key; the keys are: "
                        f"{', '.join(zoo.RECIPE_KEYS)}")
    values = split_values(values)
    if "" in values:
        raise SweepError(f"bad {what} {text!r}: an empty value; expected {form}")
    return key, [parse_setting(key, value) for value in values]


def parse_grid(assignments, epochs=None):
    """Command-line assignments -> configurations (list of override dicts, the cartesian product).

    A key given twice (hidden=64 hidden=64-32) gathers its values on one axis.
    ``epochs``, if given, is the epochs of every configuration whose grid does not set them.
    """
    if not assignments:
        raise SweepError(f"an empty grid: give at least one {GRID_FORM}")
    axes = {}
    for text in assignments:
        key, settings = parse_assignment(text)
        axes.setdefault(key, []).extend(settings)
    configurations = []
    for combination in itertools.product(*axes.values()):
        configuration = {key: value for setting in combination for key, value in setting.items()}
        if epochs is not None:
            configuration.setdefault("epochs", epochs)
        configurations.append(configuration)
    return configurations


def run_configuration(name, overrides, settings):
    """Train one configuration (nothing written); return its row: the overrides plus RESULT_COLUMNS.

    A configuration whose loss stops being finite (a learning rate too high for it) is a row with
    no accuracies and the failure ("loss became nan at epoch 3, step 12 of 750"), not the end of the grid.
    """
    recorded = {"seed": settings.get("seed", 0), "limit": settings.get("limit")}
    try:
        result = run_experiment(name, overrides, out_dir=None, verbose=False, test=False, **settings)
    except TrainingDiverged as error:
        return dict(overrides, val_accuracy=None, epochs_run=None, minutes=None, **recorded,
                    failure=str(error).split(";")[0])
    # a shift-averaged recipe judged its kept weights on validation once more, as its test: that figure ranks it
    as_tested = result["val_accuracy_as_tested"]
    val_accuracy = result["best_val_accuracy"] if as_tested is None else as_tested
    return dict(overrides, val_accuracy=val_accuracy, epochs_run=result["epochs_run"], minutes=result["minutes"],
                **recorded, failure=None)


def run_sweep(name, configurations, jobs=1, dask_address=None, progress=False, **settings):
    """Run every configuration of zoo network ``name``; return the rows, best validation accuracy first.

    Inputs:
    - name: a key of zoo.NETWORKS.
    - configurations: list of override dicts (parse_grid's result).
    - jobs: how many configurations run at once on this machine (joblib processes).
    - dask_address: the address of a Dask scheduler ("tcp://host:8786"); the
      configurations then run on its workers instead, as many at once as it has.
    - progress: let joblib report each finished configuration.
    - settings: run_experiment's other arguments (seed, data_dir, limit, backend_name).

    Every configuration is checked before any runs, so a typo fails at once.
    Returns a list of dicts: the configuration's overrides plus val_accuracy (the
    best epoch's), epochs_run, minutes, seed, limit and failure (None, or why the
    configuration diverged; its accuracy is then None and it comes last). No
    configuration is tested: the test set is for the chosen one, once.
    """
    import joblib

    for overrides in configurations:
        recipe_for(name, overrides)
    tasks = [joblib.delayed(run_configuration)(name, overrides, settings) for overrides in configurations]
    verbosity = 10 if progress else 0
    if dask_address:
        with dask_client(dask_address), joblib.parallel_config(backend="dask"):
            rows = joblib.Parallel(n_jobs=-1, verbose=verbosity)(tasks)
    else:
        rows = joblib.Parallel(n_jobs=jobs, verbose=verbosity)(tasks)
    return sorted(rows, key=lambda row: -1.0 if row["val_accuracy"] is None else row["val_accuracy"], reverse=True)


def dask_client(address):
    """A distributed.Client connected to the scheduler at ``address``, or a SweepError saying why not."""
    try:
        from distributed import Client
    except ImportError:
        raise SweepError("--dask needs Dask's distributed scheduler: pip install 'minicnn[dask]'") from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise SweepError(f"cannot reach the Dask scheduler at {address}: {error}") from error


def columns(rows):
    """The columns of ``rows``: the configuration keys in order of appearance, then RESULT_COLUMNS."""
    keys = [key for row in rows for key in row if key not in RESULT_COLUMNS]
    return list(dict.fromkeys(keys)) + list(RESULT_COLUMNS)


def cell(value):
    """A value as the grid writes it: hidden widths as 64-32, dicts as JSON, None as nothing."""
    if isinstance(value, list):
        return "-".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def format_table(rows):
    """The rows as an aligned text table, one line per configuration."""
    header = columns(rows)
    # four significant digits are plenty to read; the CSV keeps every digit
    table = [header] + [[f"{value:.4g}" if isinstance(value, float) else cell(value)
                         for value in (row.get(key) for key in header)] for row in rows]
    widths = [max(len(line[index]) for line in table) for index in range(len(header))]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in table)


def write_csv(rows, path):
    """The rows as CSV at ``path`` (written atomically), one line per configuration."""
    header = columns(rows)
    with atomic_write(path, "w") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[cell(row.get(key)) for key in header] for row in rows])
