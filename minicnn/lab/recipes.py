"""A zoo network's recipe with a user's changes, checked, and the training objects it asks for.

    from minicnn.lab.recipes import recipe_for, make_optimizer
    recipe = recipe_for("band-cnn", {"epochs": 2})   # RecipeError names what is wrong
    optimizer = make_optimizer(model, recipe)

A recipe is a dict of zoo.RECIPE_KEYS. recipe_for checks every value before any data
is read, so that a run fails at once, not after loading Fashion-MNIST.
"""
import types

from minicnn import data, optim
from minicnn.lab import zoo
from minicnn.layers.normalization import CONVENTIONS
from minicnn.model import shift_problem
from minicnn.train import MONITORS, EarlyStopping, KeepBestWeights


# The flagship's --augment, and `minicnn train --augment` for a recipe without augmentation of its own.
FLIP_AND_CROP = {"horizontal_flip": True, "pad_crop": 2}

# Recipe keys handed to the optimizer's constructor when the recipe has them.
OPTIMIZER_SETTINGS = ("weight_decay", "momentum", "nesterov")

KEEP_BEST_MONITORS = ("val_accuracy", "val_loss")

WHOLE_NUMBER_KEYS = ("batch_size", "epochs")

# each number's allowed values: outside them a run would fail late, after loading the data, or mean nothing
NUMBER_RANGES = {"lr": (lambda value: value > 0, "> 0"), "weight_decay": (lambda value: value >= 0, ">= 0"),
                 "momentum": (lambda value: 0 <= value < 1, "in [0, 1)"),
                 "val_fraction": (lambda value: 0 < value < 1, "in (0, 1)"),
                 "pca_variance": (lambda value: 0 < value <= 1, "in (0, 1]"),
                 "label_smoothing": (lambda value: 0 <= value < 1, "in [0, 1)")}

TRUE_OR_FALSE_KEYS = ("nesterov", "standardize", "batch_norm_layers", "flip_averaged")


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
    for key in WHOLE_NUMBER_KEYS:
        if key in recipe and not (type(recipe[key]) is int and recipe[key] > 0):
            raise RecipeError(f"{key} must be a positive whole number, got {recipe[key]!r}")
    for key, (allowed, description) in NUMBER_RANGES.items():
        if recipe.get(key) is not None and not (type(recipe[key]) in (int, float) and allowed(recipe[key])):
            raise RecipeError(f"{key} must be a number {description}, got {recipe[key]!r}")
    for key in TRUE_OR_FALSE_KEYS:
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
