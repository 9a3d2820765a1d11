"""An earlier commit's minicnn, this checkout's and PyTorch, taking turns in one process: the gain of a change.

    python benchmarks/before_after.py --before d9ee1d5 --networks awasthi-enhanced-cnn --batch-sizes 64 512

The earlier commit's package is exported with `git archive` into a temporary
folder and imported under the name ``minicnn_before``, so both versions run in
the same process and see the same machine state. Each round times a training
step of: the earlier version, this one, this one on one thread of its own
(MINICNN_THREADS=1, BLAS left as it is), and PyTorch; the medians are printed.
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import minicnn as mc  # noqa: E402
from minicnn.lab import zoo  # noqa: E402
from benchmark import batch_for, cpu_model, minicnn_steps, torch_steps  # noqa: E402


def import_earlier_version(revision, folder):
    """The package at ``revision``, importable as minicnn_before (its own imports renamed to match)."""
    repository = pathlib.Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(repository), "archive", revision, "minicnn"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    package = pathlib.Path(folder) / "minicnn_before"
    (pathlib.Path(folder) / "minicnn").rename(package)
    for source in package.rglob("*.py"):
        source.write_text(re.sub(r"\bminicnn\b(?=[. ])", "minicnn_before", source.read_text()))
    sys.path.insert(0, folder)
    import minicnn_before
    return minicnn_before


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--networks", nargs="+", default=[zoo.FLAGSHIP])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 512])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="steps timed together in each round")
    arguments = parser.parse_args(argv)
    import torch
    torch.set_num_threads(os.cpu_count())
    mc.backend.keep_freed_host_memory()
    with tempfile.TemporaryDirectory() as folder:
        before = import_earlier_version(arguments.before, folder)
        print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start; "
              f"before = {arguments.before}\n\n| network | batch | step ms before | now | now, 1 thread | PyTorch "
              "| ratio before | ratio now | now / before |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in arguments.networks:
            for batch_size in arguments.batch_sizes:
                model = zoo.build(name, seed=0)
                x, y = batch_for(model, batch_size)
                steps = {"before": earlier_train_step(before, name, x, y), "now": minicnn_steps(model, x, y)[0]}
                steps["one thread"] = one_thread(steps["now"])
                steps["torch"] = torch_steps(model, x, y)[0]
                ms = median_step_ms(steps, arguments.rounds, arguments.repeats)
                print(f"| {name} | {batch_size} | {ms['before']:.1f} | {ms['now']:.1f} | {ms['one thread']:.1f} | "
                      f"{ms['torch']:.1f} | {ms['torch'] / ms['before']:.2f} | {ms['torch'] / ms['now']:.2f} | "
                      f"{ms['before'] / ms['now']:.2f}x |", flush=True)
    return 0


def earlier_train_step(before, name, x, y):
    model = before.zoo.build(name, seed=0)
    optimizer, loss = before.optim.Adam(model), before.losses.SoftmaxCrossEntropy()

    def train():
        loss.forward(model.forward(x, training=True), y)
        model.backward(loss.backward())
        optimizer.step()
    return train


def one_thread(step):
    def run():
        mc.set_threads(1)
        try:
            step()
        finally:
            mc.set_threads(None)
    return run


def median_step_ms(steps, rounds, repeats):
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(repeats):
                step()
            times[name].append((time.perf_counter() - started) / repeats)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


if __name__ == "__main__":
    sys.exit(main())
