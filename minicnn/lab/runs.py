"""Run folders: where a run goes, and when a folder may take a new run.

A new run never silently replaces an old one: --resume needs the checkpoint it
continues, and a folder that holds a run's files takes a new run only with
--overwrite.
"""
import hashlib
import os
import re

from minicnn.lab import report, results
from minicnn.lab.recipes import RecipeError, recipe_for


# everything a run writes into its directory: what --overwrite removes, so no file of an old run stays beside a new one
RUN_FILES = ("checkpoint.npz", "pca.npz", "pca_variance.png") + report.RUN_FILES


def default_out_dir(base, limit=None, seed=0, changes=()):
    """Where a run goes when no --out-dir is given: ``base`` for the paper's recipe on all the data with
    seed 0, else ``base`` plus what differs, so that a quick try never lands in, or is refused by, the
    folder of the paper's run (nor two different quick tries in one folder).

    Inputs:
    - base: the folder of the paper's run, e.g. "runs/awasthi-enhanced-cnn".
    - limit, seed: the run's --limit and --seed.
    - changes: "key=value" texts, the recipe's changes (recipe_changes), e.g. ["batch_size=64", "epochs=3"].

    Returns e.g. "runs/awasthi-enhanced-cnn-limit6000-batch_size64-epochs3".
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


def prepare_run_folder(out_dir, resume, overwrite):
    """Make OUT_DIR ready for a run and return its checkpoint path (None without an out_dir).

    A new run never silently replaces an old one: --resume needs the checkpoint
    it continues, and a directory that holds a run's files takes a new run only
    with --overwrite, which removes those files here (and only those: RUN_FILES).
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
