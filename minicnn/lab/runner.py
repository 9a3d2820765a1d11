"""One code path from a zoo network's recipe to a finished run: data, preprocessing, training, report.

    from minicnn.lab.runner import run_experiment
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
import os
import shlex
import sys
import time

from minicnn import backend, data
from minicnn.data.files import read_json
from minicnn.data.preparation import InputPreparation
from minicnn.data.projections import PCAProjection
from minicnn.lab import report, zoo
from minicnn.lab.recipes import (RecipeError, make_augmenter, make_callbacks, make_optimizer, make_schedule,
                                 recipe_for)
from minicnn.lab.runs import prepare_run_folder
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.train import Checkpoint, SaveHistory, best_epoch_index, evaluate, fit


CLASS_NAMES = data.CLASS_NAMES["fashion-mnist"]


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

    Returns ((train, val, test), preparation): each split a pair (float32 input, labels),
    the input (N, 1, 28, 28) or, with PCA, (N, K); preparation is the InputPreparation that made
    them (its pca the PCAProjection, or None), which the model's file keeps.
    """
    standardize = bool(recipe.get("standardize"))
    preparation = InputPreparation(standardize)
    if recipe.get("pca_variance"):
        pca = PCAProjection.fit(preparation.prepare(splits[0][0]), recipe["pca_variance"], standardize)
        preparation = InputPreparation(standardize, pca=pca)
    return [(preparation.prepare(images), labels) for images, labels in splits], preparation


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


def run_settings(arguments):
    """run_experiment's keyword arguments from a command line's parsed flags (minicnn.cli.arguments.add_training_arguments; all but --epochs)."""
    return {"seed": arguments.seed, "data_dir": arguments.data_dir, "limit": arguments.limit,
            "backend_name": arguments.backend}


def finished_run(name, out_dir, position, recipe, verbose=True):
    """The saved result of the finished run in ``out_dir``, said in words, when --resume has nothing left
    to train (every one of ``epochs`` trained, or the run stopped early) and its report was written with
    the ``shift_averaged`` asked for now; None otherwise (a run trained but not reported, or reported with
    another shift_averaged, is evaluated and reported again).

    ``position`` is the TrainingPosition the run's checkpoint saved.
    Returns a dict like run_experiment's, from the run's config.json and history.json (minutes 0.0).
    """
    epochs, shift_averaged = recipe["epochs"], recipe.get("shift_averaged")
    stopped_early = position.stopped_early
    trained = position.epoch - 1
    config_path = os.path.join(out_dir, "config.json")
    if position.step or (trained < epochs and not stopped_early) or not os.path.exists(config_path):
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
        further = ("" if stopped_early or anneals_over_its_epochs(recipe) else
                   f" To train it further, give more --epochs than {trained} with --resume --out-dir {out_dir}.")
        print(f"{out_dir} holds a finished run, so there is nothing to resume: {how}. Its test accuracy was "
              f"{config['test_accuracy']:.4f} (report in {os.path.join(out_dir, 'report.txt')}).{further}")
    history_path = os.path.join(out_dir, "history.json")
    history = read_json(history_path) if os.path.exists(history_path) else {}
    return run_result(name, config["test_accuracy"], config.get("best_val_accuracy"), config.get("best_epoch"),
                      config.get("epochs_run", trained), 0.0, config.get("parameters"), config.get("pca_components"),
                      out_dir, history, config.get("limit"), config.get("val_accuracy_as_tested"))


def anneals_over_its_epochs(recipe):
    """Whether the recipe's learning-rate schedule depends on its number of epochs (a cosine schedule with
    no T_max of its own), so that the same run cannot be trained for another number of epochs."""
    schedule = recipe.get("schedule") or {}
    return schedule.get("name") == "CosineAnnealingLR" and "T_max" not in schedule


def resumed_epochs(checkpoint, position, recipe):
    """The epochs the checkpoint's run was started for when a resume asks for others (None when they are the
    same, or the checkpoint is older than that record). A run whose schedule anneals over its epochs is
    refused: the resumed run would be neither the one started nor the one its recorded command makes.
    Any other schedule trains the same numbers for the first epochs whatever the total, so the run is
    extended (or ended sooner), and the command with the new --epochs remakes it. ``position``: the
    TrainingPosition saved in ``checkpoint``."""
    planned = position.epochs
    if planned is None or planned == recipe["epochs"]:
        return None
    if anneals_over_its_epochs(recipe):
        raise RecipeError(f"{checkpoint} is a run of {planned} epochs whose learning rate is cosine-annealed over "
                          f"those {planned}: resumed with epochs {recipe['epochs']} it would be neither that run nor "
                          f"the one a {recipe['epochs']}-epoch command makes. Resume it with --epochs {planned}, or "
                          "start a new run in another --out-dir")
    return planned


def run_result(name, test_accuracy, best_val_accuracy, best_epoch, epochs_run, minutes, parameters, pca_components,
               out_dir, history, limit, val_accuracy_as_tested):
    """What run_experiment returns: one dict, the same for a run trained now and one found finished."""
    return {"name": name, "test_accuracy": test_accuracy, "best_val_accuracy": best_val_accuracy,
            "best_epoch": best_epoch, "epochs_run": epochs_run, "minutes": minutes, "parameters": parameters,
            "pca_components": pca_components, "out_dir": out_dir, "history": history, "limit": limit,
            "val_accuracy_as_tested": val_accuracy_as_tested}


def run_experiment(name, overrides=None, seed=0, out_dir=None, data_dir=None, limit=None, backend_name=None,
                   resume=False, overwrite=False, verbose=True, extra_config=None, test=True):
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
    - test: evaluate on the test set at the end; False (a sweep's configurations, chosen among on
      validation) leaves test_accuracy None; needs out_dir None, since a run's report is its test.

    Returns a dict: name, test_accuracy, best_val_accuracy, best_epoch (the epoch whose
    weights were kept, else the one with the best validation accuracy), epochs_run,
    minutes (training time of this call), parameters ([trainable, non_trainable]),
    pca_components (None without PCA), out_dir, history (the per-epoch lists) and
    val_accuracy_as_tested (with shift_averaged: the kept weights' validation accuracy judged on the
    test's views; None otherwise).
    """
    recipe = recipe_for(name, overrides)
    if out_dir and not test:
        raise RecipeError("a run written to an out_dir is reported with its test accuracy: give test=True")
    checkpoint = prepare_run_folder(out_dir, resume, overwrite)
    # what makes a checkpoint this run's, less what training never sees: epochs (a run may be extended) and
    # shift_averaged (it judges the finished weights only, so a run may be tested with it after training)
    identity = {"network": name, "recipe": dict(recipe, epochs=None, shift_averaged=None), "seed": seed,
                "limit": limit}
    # the checkpoint's position read once, for both questions a resume asks of it
    position = Checkpoint(checkpoint, identity=identity).saved_position() if resume else None
    finished = finished_run(name, out_dir, position, recipe, verbose) if resume else None
    if finished:
        return finished
    extended_from = resumed_epochs(checkpoint, position, recipe) if resume else None
    if backend_name:
        backend.set_backend(backend_name)
    # the directory the data really comes from, printed and recorded: a --data-dir given is used or refused,
    # never replaced by another copy
    data_source = os.path.abspath(data.locate_fashion_mnist(data_dir))
    if verbose:
        print(f"data: Fashion-MNIST from {data_source}", flush=True)
    splits = load_splits(data_source, recipe["val_fraction"], seed, limit)
    (train, val, test), preparation = prepare_inputs(splits, recipe)
    pca = preparation.pca
    if pca and verbose:
        print(f"PCA: {len(pca.components)} components keep {pca.variance:.0%} of the variance "
              f"of the {len(train[1]):,} training images")
    model = build_network(name, recipe, seed, train[0].shape[1:], verbose)
    model.input_preparation = preparation   # every checkpoint and model.npz of the run carries it
    if verbose:
        print(model.summary())
        print(f"backend {backend.name}: {len(train[1]):,} training, {len(val[1]):,} validation, "
              f"{len(test[1]):,} test images", flush=True)

    optimizer = make_optimizer(model, recipe)
    callbacks, keep_best = make_callbacks(recipe)
    augment = make_augmenter(recipe)
    flip_averaged, shift_averaged = recipe.get("flip_averaged", False), recipe.get("shift_averaged") or 0
    started = time.perf_counter()
    if out_dir:   # so that a run in progress can be looked at (`minicnn curves`)
        callbacks = callbacks + [SaveHistory(out_dir)]
    # a run's many large temporaries: glibc keeps freed memory for the next step instead of fresh pages
    backend.keep_freed_host_memory()
    history = fit(model, optimizer, train, val, epochs=recipe["epochs"], batch_size=recipe["batch_size"],
                  loss=SoftmaxCrossEntropy(label_smoothing=recipe["label_smoothing"]),
                  schedule=make_schedule(optimizer, recipe), augment=augment, callbacks=callbacks, seed=seed,
                  checkpoint=checkpoint and Checkpoint(checkpoint, resume=resume, identity=identity),
                  progress=verbose, flip_averaged=flip_averaged)
    minutes = (time.perf_counter() - started) / 60
    best = best_epoch_index(history["val_accuracy"], "val_accuracy")
    best_val_accuracy = None if best is None else history["val_accuracy"][best]
    best_epoch = keep_best.best_epoch if keep_best else None if best is None else history["epoch"][best]
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
                      train_minutes=round(minutes, 2),
                      train_seconds_total=round(sum(history["seconds"]), 1),
                      augment_config=augment.config() if augment else None)
        if shift_averaged:
            config["val_accuracy_as_tested"] = val_accuracy_as_tested
        if extended_from:
            config["extended_from_epochs"] = extended_from
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
    elif test:
        test_accuracy = evaluate(model, *test, flip_averaged=flip_averaged, shift_averaged=shift_averaged)[1]
    else:
        test_accuracy = None
    if verbose and test_accuracy is not None:
        kept = (f"best validation epoch {best_epoch}" if keep_best
                else f"weights of the last epoch, {len(history['epoch'])}")
        where = f"; report and figures in {out_dir}/" if out_dir else ""
        views = (", flip-averaged" if flip_averaged else "") + (f", shift-averaged ({shift_averaged} px)"
                                                                  if shift_averaged else "")
        as_tested = (f"; validation accuracy {val_accuracy_as_tested:.4f} judged the same way" if shift_averaged
                     else "")
        print(f"test accuracy {test_accuracy:.4f} ({kept}{views}){as_tested}{where}")
    return run_result(name, test_accuracy, best_val_accuracy, best_epoch, len(history["epoch"]), round(minutes, 2),
                      list(model.count_params()), len(pca.components) if pca else None, out_dir, dict(history), limit,
                      val_accuracy_as_tested)
