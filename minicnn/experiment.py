"""One code path from a zoo network's recipe to a finished run: data, preprocessing, training, report.

    from minicnn.experiment import run_experiment
    result = run_experiment("saraswat-cnn", out_dir="runs/saraswat-cnn")
    result = run_experiment("band-cnn", overrides={"epochs": 2}, limit=2000)   # a quick try

The `minicnn` command, every script in examples/ and the sweep go through
run_experiment, so a recipe (zoo.RECIPE_KEYS) means the same thing wherever it
runs. The steps: load Fashion-MNIST and split it (stratified, seeded); scale
the pixels, standardize them or project them onto principal components as the
recipe says; build the network; train it with the recipe's optimizer,
schedule, loss, augmentation and callbacks, checkpointing after every epoch;
then evaluate it once on the test set and write the report and figures.
"""
import argparse
import hashlib
import os
import re
import shlex
import sys
import time
import types

from minicnn import backend, data, optim, report, results, zoo
from minicnn.files import atomic_write, read_json
from minicnn.layers.normalization import CONVENTIONS
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import shift_problem
from minicnn.projections import PCAProjection
from minicnn.train import MONITORS, EarlyStopping, KeepBestWeights, TrainingDiverged, evaluate, fit, saved_position

CLASS_NAMES = data.CLASS_NAMES["fashion-mnist"]
# The flagship's --augment, and `minicnn train --augment` for a recipe without augmentation of its own.
FLIP_AND_CROP = {"horizontal_flip": True, "pad_crop": 2}
# Recipe keys handed to the optimizer's constructor when the recipe has them.
OPTIMIZER_SETTINGS = ("weight_decay", "momentum", "nesterov")
KEEP_BEST_MONITORS = ("val_accuracy", "val_loss")
# everything a run writes into its directory: what --overwrite removes, so no file of an old run stays beside a new one
RUN_FILES = ("checkpoint.npz", "pca.npz", "pca_variance.png") + report.RUN_FILES
WHOLE_NUMBERS = ("batch_size", "epochs")
# each number's allowed values: outside them a run would fail late, after loading the data, or mean nothing
NUMBERS = {"lr": (lambda value: value > 0, "> 0"), "weight_decay": (lambda value: value >= 0, ">= 0"),
           "momentum": (lambda value: 0 <= value < 1, "in [0, 1)"),
           "val_fraction": (lambda value: 0 < value < 1, "in (0, 1)"),
           "pca_variance": (lambda value: 0 < value <= 1, "in (0, 1]"),
           "label_smoothing": (lambda value: 0 <= value < 1, "in [0, 1)")}
SWITCHES = ("nesterov", "standardize", "batch_norm_layers", "flip_averaged")


# the packages minicnn imports only where they are needed (module name: pip name), from the examples' extra
OPTIONAL_PACKAGES = {"sklearn": "scikit-learn", "joblib": "joblib", "tqdm": "tqdm"}


class RecipeError(ValueError):
    """A recipe or an override that cannot run; the message says what to change."""


def recipe_for(name, overrides=None):
    """The recipe of zoo network ``name`` with ``overrides`` applied, checked.

    Inputs:
    - name: a key of zoo.NETWORKS.
    - overrides: dict of recipe keys (zoo.RECIPE_KEYS) to values that replace the recipe's.

    Returns a new dict. Raises RecipeError for an unknown network, key, optimizer
    or schedule, naming the valid ones.
    """
    if name not in zoo.NETWORKS:
        raise RecipeError(f"unknown network {name!r}; the zoo has: {', '.join(zoo.NETWORKS)}")
    recipe = dict(zoo.RECIPE_DEFAULTS, **zoo.NETWORKS[name].recipe)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(zoo.RECIPE_KEYS))
    if unknown:
        raise RecipeError(f"unknown recipe key {', '.join(unknown)}; the keys are: {', '.join(zoo.RECIPE_KEYS)}")
    for key in zoo.ARCHITECTURE_KEYS:
        if key in overrides and key not in recipe:
            having = [other for other, network in zoo.NETWORKS.items() if key in network.recipe]
            raise RecipeError(f"{key!r} changes the layers of {', '.join(having)} only; {name} has fixed layers")
    recipe.update(overrides)
    # type(...) is int, not isinstance: True and False are ints to Python but not numbers to a person
    for key in WHOLE_NUMBERS:
        if key in recipe and not (type(recipe[key]) is int and recipe[key] > 0):
            raise RecipeError(f"{key} must be a positive whole number, got {recipe[key]!r}")
    for key, (allowed, description) in NUMBERS.items():
        if recipe.get(key) is not None and not (type(recipe[key]) in (int, float) and allowed(recipe[key])):
            raise RecipeError(f"{key} must be a number {description}, got {recipe[key]!r}")
    for key in SWITCHES:
        if key in recipe and not isinstance(recipe[key], bool):
            raise RecipeError(f"{key} must be true or false, got {recipe[key]!r}")
    if recipe.get("augment") is not None and not isinstance(recipe["augment"], dict):
        raise RecipeError(f'augment must be minicnn.data.Augmenter settings such as {{"pad_crop": 2}}, or none; '
                          f"got {recipe['augment']!r}")
    for key, does in (("flip_averaged", "mirrors"), ("shift_averaged", "moves")):
        if recipe.get(key) and (recipe.get("pca_variance") or len(zoo.NETWORKS[name].input_shape) != 3):
            raise RecipeError(f"{key} {does} images, and {name} is given "
                              f"{'PCA features' if recipe.get('pca_variance') else 'no images'}: leave it off")
    shift = recipe.get("shift_averaged")
    problem = shift is not None and shift_problem(shift, zoo.NETWORKS[name].input_shape[1:] or (1,))
    if problem:
        raise RecipeError(f"shift_averaged: {problem}")
    if shift == 0:   # 0 is off, as a missing key is: so that runs with either share a results row
        recipe["shift_averaged"] = None
    if recipe["optimizer"] not in optim.OPTIMIZERS:
        raise RecipeError(f"unknown optimizer {recipe['optimizer']!r}; choose one of {', '.join(optim.OPTIMIZERS)}")
    schedule = recipe.get("schedule")
    if schedule and (not isinstance(schedule, dict) or schedule.get("name") not in optim.SCHEDULES):
        raise RecipeError(f"schedule must be {{'name': one of {', '.join(optim.SCHEDULES)}, plus its settings}}, "
                          f"got {schedule!r}")
    if recipe["batch_norm"] not in CONVENTIONS:
        raise RecipeError(f"batch_norm must be one of {', '.join(CONVENTIONS)}, got {recipe['batch_norm']!r}")
    if keep_best_monitor(recipe) not in KEEP_BEST_MONITORS + (None,):
        raise RecipeError(f"keep_best must be one of {', '.join(KEEP_BEST_MONITORS)}, true or false, "
                          f"got {recipe['keep_best']!r}")
    # built once here only to check their settings before any data is read or any directory looked at
    make_augmenter(recipe)
    make_callbacks(recipe)
    make_schedule(types.SimpleNamespace(lr=recipe["lr"]), recipe)
    return recipe


def keep_best_monitor(recipe):
    """The value KeepBestWeights watches ("val_accuracy" for True), or None for no keep-best."""
    keep_best = recipe.get("keep_best")
    return "val_accuracy" if keep_best is True else keep_best or None


def load_splits(data_dir=None, val_fraction=0.2, seed=0, limit=None):
    """Fashion-MNIST as training, validation and test images.

    Inputs:
    - data_dir: where the IDX files are (they are downloaded into it if missing); None searches
      (see data.load_fashion_mnist).
    - val_fraction: the share of the 60,000 training images held out, stratified by class.
    - seed: picks the validation images.
    - limit: a quick try: the first ``limit`` training images and at most as many
      validation and test images; None keeps everything.

    Returns (train, val, test), each a pair (images uint8 (N, 28, 28), labels int (N,)).
    """
    (x_train_all, y_train_all), test = data.load_fashion_mnist(data_dir)
    train, val = data.train_val_split(x_train_all, y_train_all, val_fraction=val_fraction, seed=seed)
    if limit:
        train, val, test = [(images[:limit], labels[:limit]) for images, labels in (train, val, test)]
    return train, val, test


def prepare_inputs(splits, recipe):
    """Network input for (train, val, test) uint8 splits, as ``recipe`` says.

    Pixels are scaled to [0, 1], or standardized with ``standardize``; with
    ``pca_variance`` they are then projected by a PCAProjection fitted on the
    training split.

    Returns ((train, val, test), pca): each split a pair (float32 input, labels),
    the input (N, 1, 28, 28) or, with PCA, (N, K); pca is the PCAProjection or None.
    """
    standardize = bool(recipe.get("standardize"))
    prepared = [(data.prepare_images(images, standardize=standardize), labels) for images, labels in splits]
    if not recipe.get("pca_variance"):
        return prepared, None
    pca = PCAProjection.fit(prepared[0][0], recipe["pca_variance"], standardize)
    return [(pca.transform(images), labels) for images, labels in prepared], pca


def build_network(name, recipe, seed, input_shape, verbose=True):
    """Zoo network ``name`` with the recipe's architecture settings, for per-sample ``input_shape``.

    A PCA network is rebuilt on the number of components actually kept when it
    differs from the paper's (a --limit run keeps fewer), and says so.
    """
    network = zoo.NETWORKS[name]
    if len(network.input_shape) == 1 and len(input_shape) != 1:
        raise RecipeError(f"{name} takes PCA features, not images: keep its pca_variance")
    if input_shape != network.input_shape and verbose:
        print(f"note: {name} is built on input {input_shape}, not the paper's {network.input_shape}, "
              "because that is what the preprocessing produced")
    architecture = {key: recipe[key] for key in zoo.ARCHITECTURE_KEYS if key in recipe}
    try:
        return zoo.build(name, seed=seed, input_shape=input_shape, batch_norm=recipe["batch_norm"],
                         **architecture)
    except ValueError as error:
        raise RecipeError(f"{name} cannot take input of shape {input_shape} ({error})") from error


def make_optimizer(model, recipe):
    """The recipe's optimizer with its lr and whichever OPTIMIZER_SETTINGS the recipe has."""
    settings = {key: recipe[key] for key in OPTIMIZER_SETTINGS if key in recipe}
    try:
        return optim.OPTIMIZERS[recipe["optimizer"]](model, lr=recipe["lr"], **settings)
    except TypeError as error:
        raise RecipeError(f"{error}; drop those recipe keys or choose another optimizer") from error


def make_schedule(optimizer, recipe):
    """The recipe's learning-rate schedule, or None; CosineAnnealingLR anneals over all epochs by default."""
    if not recipe.get("schedule"):
        return None
    settings = dict(recipe["schedule"])
    name = settings.pop("name")
    if name == "CosineAnnealingLR":
        settings.setdefault("T_max", recipe["epochs"])
    try:
        return optim.SCHEDULES[name](optimizer, **settings)
    except (TypeError, ValueError) as error:
        raise RecipeError(f"schedule {name}: {error}") from error


def make_augmenter(recipe):
    """A data.Augmenter with the recipe's augment settings, or None."""
    if not recipe.get("augment"):
        return None
    try:
        return data.Augmenter(**recipe["augment"])
    except (TypeError, ValueError) as error:
        raise RecipeError(f"augment: {error}; its settings are: {', '.join(data.Augmenter().config())}") from error


def make_callbacks(recipe):
    """(callbacks, keep_best): KeepBestWeights first, then EarlyStopping, each if the recipe asks.

    The order is part of the checkpoint format: callbacks' states are saved by position.
    """
    monitor = keep_best_monitor(recipe)
    keep_best = KeepBestWeights(monitor=monitor) if monitor else None
    callbacks = [keep_best] if keep_best else []
    early_stopping = recipe.get("early_stopping")
    if early_stopping:
        if not isinstance(early_stopping, dict) or early_stopping.get("monitor", "val_loss") not in MONITORS:
            raise RecipeError(f'early_stopping must be like {{"monitor": "val_loss", "patience": 10}} with a monitor '
                              f"among {', '.join(MONITORS)}, got {early_stopping!r}")
        try:
            callbacks.append(EarlyStopping(**early_stopping))
        except (TypeError, ValueError) as error:
            raise RecipeError(f"early_stopping takes monitor, patience and min_delta: {error}") from error
    return callbacks, keep_best


def default_out_dir(base, limit=None, seed=0, changes=()):
    """Where a run goes when no --out-dir is given: ``base`` for the paper's recipe on all the data with
    seed 0, else ``base`` plus what differs, so that a quick try never lands in, or is refused by, the
    folder of the paper's run (nor two different quick tries in one folder).

    Inputs:
    - base: the folder of the paper's run, e.g. "runs/enhanced_cnn".
    - limit, seed: the run's --limit and --seed.
    - changes: "key=value" texts, the recipe's changes (recipe_changes), e.g. ["batch_size=64", "epochs=3"].

    Returns e.g. "runs/enhanced_cnn-limit6000-batch_size64-epochs3".
    """
    parts = ([f"limit={limit}"] if limit else []) + ([f"seed={seed}"] if seed else []) + list(changes)
    words = []
    for part in parts:
        key, _, value = part.partition("=")
        value = re.sub(r"[^A-Za-z0-9._]+", "-", value).strip("-")
        words.append(key + value if re.match(r"[0-9.]", value) else f"{key}-{value}")
    suffix = "-".join(words)
    if len(suffix) > 60:   # a folder name stays readable; the hash keeps two long recipes apart
        suffix = f"{suffix[:50]}-{hashlib.sha1(suffix.encode()).hexdigest()[:8]}"
    return f"{base}-{suffix}" if suffix else base


def recipe_changes(name, overrides):
    """How network ``name``'s recipe with ``overrides`` differs from the paper's: "key=value" texts."""
    return results.recipe_changes({"network": name, "recipe": recipe_for(name, overrides)})


def comparison_out_dir(arguments):
    """An example's OUT_DIR: --out-dir if given, else its default folder, with what a quick try changes
    (--limit, --seed, --epochs) in the name. Also stored in ``arguments.out_dir``."""
    if arguments.out_dir is None:
        changes = [f"epochs={arguments.epochs}"] if arguments.epochs is not None else []
        arguments.out_dir = default_out_dir(arguments.default_out_dir, arguments.limit, arguments.seed, changes)
    if os.path.exists(arguments.out_dir) and not os.path.isdir(arguments.out_dir):
        raise RecipeError(f"--out-dir {arguments.out_dir} is a file, not a directory: give a directory for the runs")
    return arguments.out_dir


def checkpoint_for(out_dir, resume, overwrite):
    """OUT_DIR/checkpoint.npz (None without an out_dir), once the run may go there.

    A new run never silently replaces an old one: --resume needs the checkpoint
    it continues, and a directory that holds a run's files takes a new run only
    with --overwrite, which removes those files first.
    """
    if not out_dir:
        if resume:
            raise RecipeError("resume continues from OUT_DIR/checkpoint.npz: give an out_dir")
        return None
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise RecipeError(f"out_dir {out_dir} is a file, not a directory: give a directory for the run's files")
    checkpoint = os.path.join(out_dir, "checkpoint.npz")
    if resume:
        if not os.path.exists(checkpoint):
            raise RecipeError(f"nothing to resume: there is no {checkpoint} (drop --resume to start a new run)")
        return checkpoint
    existing = [name for name in RUN_FILES if os.path.exists(os.path.join(out_dir, name))]
    if existing and not overwrite:
        raise RecipeError(f"{out_dir} already holds a run ({', '.join(existing)}): --resume continues it, "
                          "--overwrite starts it again, or give another --out-dir")
    for name in existing:
        os.remove(os.path.join(out_dir, name))
    return checkpoint


def finished_run(name, out_dir, checkpoint, epochs, identity, shift_averaged=None, verbose=True):
    """The saved result of the finished run in ``out_dir``, said in words, when --resume has nothing left
    to train (every one of ``epochs`` trained, or the run stopped early) and its report was written with
    the ``shift_averaged`` asked for now; None otherwise (a run trained but not reported, or reported with
    another shift_averaged, is evaluated and reported again).

    Returns a dict like run_experiment's, from the run's config.json and history.json (minutes 0.0).
    """
    position = saved_position(checkpoint, identity)
    stopped_early = bool(position.get("stopped_early"))
    trained = position["epoch"] - 1
    config_path = os.path.join(out_dir, "config.json")
    if position["step"] or (trained < epochs and not stopped_early) or not os.path.exists(config_path):
        return None
    config = read_json(config_path)
    if "test_accuracy" not in config:
        return None
    recipe = config.get("recipe") if isinstance(config.get("recipe"), dict) else {}
    tested_with, asked = recipe.get("shift_averaged") or 0, shift_averaged or 0
    if tested_with != asked:   # training never saw it (not in the identity): only the test is made again
        if verbose:
            print(f"{out_dir} holds a finished run tested with shift_averaged={tested_with}; its kept weights "
                  f"are tested again with shift_averaged={asked}")
        return None
    if verbose:
        how = (f"it stopped early after epoch {trained} (its validation figure had stopped improving)"
               if stopped_early else f"its {trained} epoch is trained" if trained == 1
               else f"its {trained} epochs are trained")
        # --out-dir too: the default folder is named after --epochs, so more epochs would look elsewhere
        further = "" if stopped_early else (f" To train it further, give more --epochs than {trained} with --resume "
                                            f"--out-dir {out_dir}.")
        print(f"{out_dir} holds a finished run, so there is nothing to resume: {how}. Its test accuracy was "
              f"{config['test_accuracy']:.4f} (report in {os.path.join(out_dir, 'report.txt')}).{further}")
    history_path = os.path.join(out_dir, "history.json")
    history = read_json(history_path) if os.path.exists(history_path) else {}
    return {"name": name, "test_accuracy": config["test_accuracy"],
            "best_val_accuracy": config.get("best_val_accuracy"), "best_epoch": config.get("best_epoch"),
            "epochs_run": config.get("epochs_run", trained), "minutes": 0.0, "parameters": config.get("parameters"),
            "pca_components": config.get("pca_components"), "out_dir": out_dir, "history": history,
            "limit": config.get("limit"), "val_accuracy_as_tested": config.get("val_accuracy_as_tested")}


def run_experiment(name, overrides=None, seed=0, out_dir=None, data_dir=None, limit=None, backend_name=None,
                   resume=False, overwrite=False, verbose=True, extra_config=None):
    """Train zoo network ``name`` with its recipe (plus ``overrides``), test it once, and report.

    Inputs:
    - name: a key of zoo.NETWORKS.
    - overrides: dict of recipe keys (zoo.RECIPE_KEYS) replacing the recipe's values.
    - seed: seeds the split, the initial weights, the shuffling, dropout and augmentation.
    - out_dir: where checkpoint.npz (after every epoch) and report.write_run's files
      go, plus pca.npz and pca_variance.png for a PCA recipe; None writes nothing.
    - data_dir: where the Fashion-MNIST files are, or go when downloaded (None: search); config.json
      records the directory they really came from.
    - limit: a quick try: this many training images, at most as many validation and test images.
    - backend_name: "numpy" or "cupy"; None keeps the active backend.
    - resume: continue from out_dir/checkpoint.npz, which must exist and belong to the
      same network, recipe (but epochs: a run may be extended), seed and limit.
    - overwrite: start again in an out_dir that holds a run, removing its files first;
      without resume or overwrite such an out_dir is refused.
    - verbose: print the summary, the data sizes, a line per epoch and the result.
    - extra_config: more entries for config.json (a script's own arguments).

    Returns a dict: name, test_accuracy, best_val_accuracy, best_epoch (the epoch whose
    weights were kept, else the one with the best validation accuracy), epochs_run,
    minutes (training time of this call), parameters ([trainable, non_trainable]),
    pca_components (None without PCA), out_dir, history (the per-epoch lists) and
    val_accuracy_as_tested (with shift_averaged: the kept weights' validation accuracy judged on the
    test's views; None otherwise).
    """
    recipe = recipe_for(name, overrides)
    checkpoint = checkpoint_for(out_dir, resume, overwrite)
    # what makes a checkpoint this run's, less what training never sees: epochs (a run may be extended) and
    # shift_averaged (it judges the finished weights only, so a run may be tested with it after training)
    identity = {"network": name, "recipe": dict(recipe, epochs=None, shift_averaged=None), "seed": seed,
                "limit": limit}
    finished = (finished_run(name, out_dir, checkpoint, recipe["epochs"], identity, recipe.get("shift_averaged"),
                             verbose) if resume else None)
    if finished:
        return finished
    if backend_name:
        backend.set_backend(backend_name)
    # the directory the data really comes from, printed and recorded: a --data-dir given is used or refused,
    # never replaced by another copy
    data_source = os.path.abspath(data.locate_fashion_mnist(data_dir))
    if verbose:
        print(f"data: Fashion-MNIST from {data_source}", flush=True)
    splits = load_splits(data_source, recipe["val_fraction"], seed, limit)
    (train, val, test), pca = prepare_inputs(splits, recipe)
    if pca and verbose:
        print(f"PCA: {len(pca.components)} components keep {pca.variance:.0%} of the variance "
              f"of the {len(train[1]):,} training images")
    model = build_network(name, recipe, seed, train[0].shape[1:], verbose)
    if verbose:
        print(model.summary())
        print(f"backend {backend.name}: {len(train[1]):,} training, {len(val[1]):,} validation, "
              f"{len(test[1]):,} test images", flush=True)

    optimizer = make_optimizer(model, recipe)
    callbacks, keep_best = make_callbacks(recipe)
    augment = make_augmenter(recipe)
    flip_averaged, shift_averaged = recipe.get("flip_averaged", False), recipe.get("shift_averaged") or 0
    started = time.perf_counter()
    history = fit(model, optimizer, train, val, epochs=recipe["epochs"], batch_size=recipe["batch_size"],
                  loss=SoftmaxCrossEntropy(label_smoothing=recipe["label_smoothing"]),
                  schedule=make_schedule(optimizer, recipe), augment=augment, callbacks=callbacks, seed=seed,
                  resume=resume, checkpoint=checkpoint, progress=verbose, history_dir=out_dir,
                  identity=identity, flip_averaged=flip_averaged)
    minutes = (time.perf_counter() - started) / 60
    val_accuracies = history["val_accuracy"]
    best_val_accuracy = max(val_accuracies) if val_accuracies else None
    if keep_best:
        best_epoch = keep_best.best_epoch
    else:
        best_epoch = history["epoch"][val_accuracies.index(best_val_accuracy)] if val_accuracies else None
    # every epoch was validated without the shifts (each costs a forward pass more); the tested weights are
    # judged once more as the test judges them, so that their validation figure stands beside the test's
    val_accuracy_as_tested = (evaluate(model, *val, flip_averaged=flip_averaged, shift_averaged=shift_averaged)[1]
                              if shift_averaged else None)

    if out_dir:
        # the command that made the run: the caller's (the `minicnn` command gives its own), else this process's
        command = (extra_config or {}).get("command") or shlex.join(["python"] + sys.argv)
        config = dict(extra_config or {}, command=command, network=name, recipe=recipe, seed=seed,
                      backend=backend.name, limit=limit, data_dir=data_source, out_dir=out_dir, resume=resume,
                      pca_components=len(pca.components) if pca else None, parameters=list(model.count_params()),
                      epochs_run=len(history["epoch"]),
                      best_epoch=best_epoch, best_val_accuracy=best_val_accuracy,
                      train_minutes_this_session=round(minutes, 2),
                      train_seconds_total=round(sum(history["seconds"]), 1),
                      augment_config=augment.config() if augment else None)
        if shift_averaged:
            config["val_accuracy_as_tested"] = val_accuracy_as_tested
        # PCA features are not pictures: the misclassified figure shows the images behind them.
        pictures = data.prepare_images(splits[2][0]) if pca else None
        test_accuracy = report.write_run(out_dir, model, history, test, config, CLASS_NAMES, images=pictures,
                                         flip_averaged=flip_averaged, shift_averaged=shift_averaged)
        if pca:
            from minicnn import plots   # matplotlib imported where a figure is drawn, so check-layer needs NumPy alone
            pca.save(os.path.join(out_dir, "pca.npz"))
            plots.plot_pca_variance(pca.explained_variance_ratio, os.path.join(out_dir, "pca_variance.png"),
                                    thresholds=sorted({0.90, 0.95, pca.variance}),
                                    title=f"PCA of the {len(train[1]):,} training images")
    else:
        test_accuracy = evaluate(model, *test, flip_averaged=flip_averaged, shift_averaged=shift_averaged)[1]
    if verbose:
        kept = (f"best validation epoch {best_epoch}" if keep_best
                else f"weights of the last epoch, {len(history['epoch'])}")
        where = f"; report and figures in {out_dir}/" if out_dir else ""
        views = (", flip-averaged" if flip_averaged else "") + (f", shift-averaged ({shift_averaged} px)"
                                                                  if shift_averaged else "")
        as_tested = (f"; validation accuracy {val_accuracy_as_tested:.4f} judged the same way" if shift_averaged
                     else "")
        print(f"test accuracy {test_accuracy:.4f} ({kept}{views}){as_tested}{where}")
    return {"name": name, "test_accuracy": test_accuracy, "best_val_accuracy": best_val_accuracy,
            "best_epoch": best_epoch, "epochs_run": len(history["epoch"]), "minutes": round(minutes, 2),
            "parameters": list(model.count_params()), "pca_components": len(pca.components) if pca else None,
            "out_dir": out_dir, "history": dict(history), "limit": limit,
            "val_accuracy_as_tested": val_accuracy_as_tested}


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


def add_training_arguments(parser):
    """The flags of anything that trains: every example, `minicnn train`/`reproduce` and `minicnn sweep`."""
    parser.add_argument("--backend", choices=backend.BACKENDS, default=os.environ.get("MINICNN_BACKEND", "numpy"),
                        help="numpy (CPU) or cupy (NVIDIA GPU)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seeds the split, the weights, shuffling and augmentation")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="train this many epochs instead of the recipe's")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="a quick try: use only this many training images, and as many validation and test images")
    parser.add_argument("--data-dir", default=None, help="where the Fashion-MNIST IDX files are, or are downloaded to "
                             "(default: search $MINICNN_DATA, the user cache, /usr/share/datasets)")


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
    parser = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    add_run_arguments(parser, out_dir=out_dir)
    return parser


def run_settings(arguments):
    """run_experiment's keyword arguments from the flags of add_training_arguments (but --epochs)."""
    return {"seed": arguments.seed, "data_dir": arguments.data_dir, "limit": arguments.limit,
            "backend_name": arguments.backend}


def run_comparison(runs, arguments, title):
    """Run several experiments into OUT_DIR/<label>/; write OUT_DIR/comparison.md, a table of them all,
    and OUT_DIR/comparison.png, their validation curves on shared axes.

    Inputs:
    - runs: list of (label, network name, overrides dict or None), run in order.
    - arguments: the parsed flags of add_run_arguments; --epochs, if given,
      replaces every run's epochs (a quick try).
    - title: the heading of comparison.md.

    Returns the list of run_experiment results, each with its "label" added.
    """
    out_dirs = [os.path.join(comparison_out_dir(arguments), label) for label, _, _ in runs]
    started = [os.path.exists(os.path.join(out_dir, "checkpoint.npz")) for out_dir in out_dirs]
    if arguments.resume and not any(started):
        raise RecipeError(f"nothing to resume: no run in {arguments.out_dir} has a checkpoint yet "
                          "(drop --resume to start them)")
    results = []
    for (label, name, overrides), out_dir, resume in zip(runs, out_dirs, started):
        print(f"\n=== {label} ===", flush=True)
        overrides = dict(overrides or {}, **({"epochs": arguments.epochs} if arguments.epochs is not None else {}))
        # --resume continues the runs that had begun and starts the others
        result = run_experiment(name, overrides, out_dir=out_dir, resume=arguments.resume and resume,
                                overwrite=arguments.overwrite, **run_settings(arguments))
        results.append(dict(result, label=label))
    table = comparison_table(results)
    path = os.path.join(arguments.out_dir, "comparison.md")
    with atomic_write(path, "w") as file:
        file.write(f"# {title}\n\nCommand: `{shlex.join(['python'] + sys.argv)}`\n\n{table}\n")
    from minicnn import plots   # matplotlib imported where a figure is drawn, so check-layer needs NumPy alone
    figure = plots.plot_history_comparison({result["label"]: result["history"] for result in results},
                                           os.path.join(arguments.out_dir, "comparison.png"), title=title)
    print(f"\n{table}\n\ncomparison written to {path} and {figure}")
    return results


def comparison_table(results):
    """A markdown table of run_experiment results (with "label"): ours next to the paper's figures."""
    lines = ["| run | network | paper | parameters (trainable + non-trainable) | reported accuracy "
             "| test accuracy | best validation accuracy | epochs | minutes |",
             "|---|---|---|---|---|---|---|---|---|"]
    limits = sorted({result["limit"] for result in results if result.get("limit")})
    if limits:   # a quick try's accuracy is no reproduction of the paper's figure beside it
        lines.insert(0, f"A quick try on limited data (--limit {', '.join(map(str, limits))}: at most that many "
                        "training, validation and test images), not the paper's; its accuracies are not "
                        "comparable with the reported ones.\n")
    for result in results:
        network = zoo.NETWORKS[result["name"]]
        trainable, non_trainable = result["parameters"]
        best_val = "-" if result["best_val_accuracy"] is None else f"{result['best_val_accuracy']:.2%}"
        limited = f" (--limit {result['limit']})" if result.get("limit") else ""
        lines.append(f"| {result['label']} | {result['name']} | {network.citation} | {trainable:,} + {non_trainable:,} "
                     f"| {network.reported} | {result['test_accuracy']:.2%}{limited} | {best_val} | {result['epochs_run']} "
                     f"| {result['minutes']:.1f} |")
    return "\n".join(lines)


def exit_status(function, program, usage_errors=()):
    """Run ``function()`` as the body of a program: its exit status, and for the errors a user can fix,
    one line naming ``program`` instead of a traceback.

    2: a setting to change (a RecipeError or one of ``usage_errors``); 1: a run that
    could not go on (a missing or bad file, a backend that cannot start, a loss that
    diverged, a package of the examples' extra not installed); 130: Ctrl-C (fit() has
    already saved the checkpoint and said how to resume); 141: the reader of the
    output closed it (a pipe into `head`), said nothing about.
    """
    try:
        status = function()
        sys.stdout.flush()   # here, so that a closed pipe is seen inside this try, not at exit
        return status
    except BrokenPipeError:
        # the reader of our output went away (`minicnn zoo | head -1`): nothing is wrong, and nothing more
        # can be printed; point stdout at /dev/null so the interpreter's own flush at exit stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141   # what a shell reports for a program ended by SIGPIPE
    except ModuleNotFoundError as error:
        if error.name not in OPTIONAL_PACKAGES:
            raise
        print(f"{program}: error: this needs {OPTIONAL_PACKAGES[error.name]}, which is not installed: "
              "pip install 'minicnn[examples]'", file=sys.stderr)
        return 1
    except (RecipeError,) + tuple(usage_errors) as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError, backend.BackendError, TrainingDiverged) as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130


def run_script(main):
    """Run an example's ``main()`` as a program: exit with its status, errors reported as exit_status does."""
    sys.exit(exit_status(main, os.path.basename(sys.argv[0])))
