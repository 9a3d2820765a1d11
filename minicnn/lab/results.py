"""The results table: finished runs (their config.json) grouped by network and recipe, against the papers.

    minicnn results runs/                 # every run below runs/, one Markdown row per network and recipe

Runs of one network share a row only if they trained with the same recipe; a
row whose recipe is not the zoo's names what it changed, e.g.
"awasthi-enhanced-cnn (batch_norm="keras")", so seeds of different recipes are
never averaged together. A run on limited data (--limit) is no reproduction of
a paper: it is left out, unless asked for (include_limited), and then has a
row of its own marked "limit=N images".

Every number comes from a run directory written by minicnn.lab.runner
(config.json: the command, the network, the seed, the epochs run, the training
seconds and the test accuracy), so the table can always be made again.
"""
import glob
import json
import os
import re
import statistics

from minicnn.lab import zoo
from minicnn.data.files import read_json
from minicnn.model import Sequential

HEADER = ("| network | parameters: ours (paper) | paper: accuracy (split) | ours: test accuracy "
          "| ours: validation accuracy of the tested weights | runs | seeds | epochs | minutes per run (CPU) | command |"
          "\n|---|---|---|---|---|---|---|---|---|---|")


def find_runs(directories, include_limited=False):
    """The config.json of every finished run (one with a test accuracy) under ``directories``, as dicts;
    runs on limited data (a --limit) only with ``include_limited``.

    Runs that did not record their parameter counts get them from the model.npz beside the config.
    """
    runs = []
    for directory in directories:
        for path in sorted(glob.glob(os.path.join(directory, "**", "config.json"), recursive=True)):
            config = read_json(path)
            if "test_accuracy" in config and "network" in config and (include_limited or not config.get("limit")):
                run_directory = os.path.dirname(path)
                model_path = os.path.join(run_directory, "model.npz")
                if "parameters" not in config and os.path.exists(model_path):
                    config["parameters"] = list(Sequential.load(model_path).count_params())
                config["tested_val_accuracy"] = tested_val_accuracy(config, run_directory)
                runs.append(config)
    return runs


def tested_val_accuracy(config, directory):
    """The validation accuracy of the weights the test set saw: as the run judged them once more after
    training where it did (val_accuracy_as_tested: a shift-averaged run's epochs were validated without
    the shifts); else the kept epoch's where the recipe keeps the best epoch (keep_best), the last epoch's
    otherwise; None where the run left no history.json."""
    if config.get("val_accuracy_as_tested") is not None:
        return config["val_accuracy_as_tested"]
    history_path = os.path.join(directory, "history.json")
    if not os.path.exists(history_path):
        return None
    history = read_json(history_path)
    if not history.get("val_accuracy"):
        return None
    keeps_best = settings_in_force(config.get("recipe")).get("keep_best")
    epoch = config.get("best_epoch") if keeps_best else history["epoch"][-1]
    if epoch not in history["epoch"]:
        raise ValueError(f"{history_path}: has no epoch {epoch}, the kept epoch (best_epoch) its config.json names")
    return history["val_accuracy"][history["epoch"].index(epoch)]


def mean_and_spread(values, digits=2, scale=100.0):
    """'93.12%' for one value, '93.12% ± 0.15' (sample standard deviation) for several."""
    scaled = [value * scale for value in values]
    text = f"{statistics.mean(scaled):.{digits}f}%"
    return text + (f" ± {statistics.stdev(scaled):.{digits}f}" if len(scaled) > 1 else " (1 seed)")


def general_command(command):
    """The command with its seed as S, without where it wrote (--out-dir) and without --resume, so that seeds
    share one line. (--resume continues an interrupted run exactly where its checkpoint left it, so the run is
    the one the command without it makes.)"""
    command = re.sub(r"\s--out-dir[ =]\S+", "", command)
    command = re.sub(r"\s--resume(?=\s|$)", "", command)
    return re.sub(r"--seed[ =]\d+", "--seed S", command)


def settings_in_force(recipe):
    """The recipe's settings that are on: zoo.RECIPE_DEFAULTS filled in, keys set to None or False dropped."""
    settings = dict(zoo.RECIPE_DEFAULTS, **(recipe or {}))
    return {key: value for key, value in settings.items() if value is not None and value is not False}


def recipe_changes(run):
    """How the run's recipe differs from its zoo network's: 'key=value' (or 'key=off'), in key order.

    Nothing for a network outside the zoo or a run that did not record its recipe.
    """
    network = zoo.NETWORKS.get(run["network"])
    if network is None or "recipe" not in run:
        return []
    ours, zoos = settings_in_force(run["recipe"]), settings_in_force(network.recipe)
    return [f"{key}={json.dumps(ours[key]) if key in ours else 'off'}"
            for key in sorted(set(ours) | set(zoos)) if ours.get(key) != zoos.get(key)]


def table_row(name, runs):
    """One Markdown row for the runs of network ``name``, which all share one recipe."""
    network = zoo.NETWORKS.get(name)
    changes = recipe_changes(runs[0]) + ([f"limit={runs[0]['limit']:,} images"] if runs[0].get("limit") else [])
    extended = sorted({run["extended_from_epochs"] for run in runs if run.get("extended_from_epochs")})
    if extended:   # resumed with more (or fewer) epochs than it was started for: the same numbers, said
        changes.append(f"resumed from a run of {' or '.join(map(str, extended))} epochs")
    counts = sorted({tuple(run["parameters"]) for run in runs if "parameters" in run})
    parameters = ", ".join(f"{trainable:,} + {non_trainable:,}" for trainable, non_trainable in counts) or "?"
    if network:
        parameters += f" ({network.trainable_params:,} + {network.non_trainable_params:,})"
    reported = network.reported if network else "not reported"
    seeds = sorted(run.get("seed") for run in runs)
    epochs = sorted({run.get("epochs_run") for run in runs})
    minutes = statistics.mean(run.get("train_seconds_total", 0.0) for run in runs) / 60
    commands = "; ".join(sorted({f"`{general_command(run['command'])}`" for run in runs if run.get("command")}))
    label = f"{name} ({', '.join(changes)})" if changes else name
    validations = [run["tested_val_accuracy"] for run in runs if run.get("tested_val_accuracy") is not None]
    validation = mean_and_spread(validations) if len(validations) == len(runs) else "not recorded"
    return (f"| {label} | {parameters} | {reported} | {mean_and_spread([run['test_accuracy'] for run in runs])} "
            f"| {validation} | {len(runs)} | {', '.join(map(str, seeds))} | {', '.join(map(str, epochs))} | {minutes:.1f} "
            f"| {commands} |")


def results_table(directories, include_limited=False):
    """The Markdown table of every finished run under ``directories``: one row per network (in zoo order),
    recipe and data (all of it, or a --limit: only with ``include_limited``), the zoo's recipe first."""
    groups = {}
    for run in find_runs(directories, include_limited):
        recipe = json.dumps(dict(settings_in_force(run.get("recipe")), limit=run.get("limit")), sort_keys=True)
        groups.setdefault((run["network"], recipe), []).append(run)
    order = list(zoo.NETWORKS) + sorted({name for name, _ in groups} - set(zoo.NETWORKS))

    def position(group):
        (name, _), runs = group
        return order.index(name), bool(runs[0].get("limit")), bool(recipe_changes(runs[0])), group[0][1]

    return "\n".join([HEADER] + [table_row(name, runs) for (name, _), runs in sorted(groups.items(), key=position)])
