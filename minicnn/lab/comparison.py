"""Several runs side by side: an example script's runs into one folder, with a table and a figure."""
import os
import shlex
import sys

from minicnn.data.files import atomic_write
from minicnn.lab import zoo
from minicnn.lab.recipes import RecipeError
from minicnn.lab.runner import run_experiment, run_settings
from minicnn.lab.runs import default_out_dir


def comparison_out_dir(arguments):
    """An example's OUT_DIR: --out-dir if given, else its default folder, with what a quick try changes
    (--limit, --seed, --epochs) in the name. Also stored in ``arguments.out_dir``."""
    if arguments.out_dir is None:
        changes = [f"epochs={arguments.epochs}"] if arguments.epochs is not None else []
        arguments.out_dir = default_out_dir(arguments.default_out_dir, arguments.limit, arguments.seed, changes)
    if os.path.exists(arguments.out_dir) and not os.path.isdir(arguments.out_dir):
        raise RecipeError(f"--out-dir {arguments.out_dir} is a file, not a directory: give a directory for the runs")
    return arguments.out_dir


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
    limits = sorted({result["limit"] for result in results if result.get("limit")})
    # a quick try's curves are no picture of the paper's runs: the title says so
    figure_title = title + (f"\nquick try on limited data (--limit {', '.join(map(str, limits))})" if limits else "")
    figure = plots.plot_history_comparison({result["label"]: result["history"] for result in results},
                                           os.path.join(arguments.out_dir, "comparison.png"), title=figure_title)
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
