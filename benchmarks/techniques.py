"""Each speed technique of the fast layers against the way it replaced, side by side, in one process.

    python benchmarks/techniques.py                 # flagship shapes at batch 512, 7 alternating rounds
    python benchmarks/techniques.py --batch-size 64

Each line times the old way and the new way of one piece of work, taking turns
round after round (so that both see the same machine state), and prints the
medians and the gain (old / new). The shapes are the flagship's (its second
block: 32 channels of 14 x 14 going into a 64-filter 3 x 3 convolution, and the
first block's 32 x 28 x 28 activations for the element-wise passes).
"""
import argparse
import contextlib
import os
import statistics
import sys
import time

import numpy as np

import minicnn as mc
from minicnn import threads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark import cpu_model  # noqa: E402


def side_by_side(ways, rounds):
    """Median ms of each named function, the functions taking turns in every round."""
    for way in ways.values():
        way()
    times = {name: [] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            started = time.perf_counter()
            way()
            times[name].append(time.perf_counter() - started)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def report(what, old_name, new_name, medians):
    old, new = medians[old_name], medians[new_name]
    print(f"| {what} | {old_name}: {old:.2f} | {new_name}: {new:.2f} | {old / new:.2f}x |", flush=True)


def flagship_step(batch_size):
    """A closure running one training step of the flagship (forward, backward, Adam)."""
    model = mc.zoo.build("awasthi-enhanced-cnn", seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, batch_size)
    loss, optimizer = mc.losses.SoftmaxCrossEntropy(), mc.optim.Adam(model)

    def step():
        loss.forward(model.forward(x, training=True), labels)
        model.backward(loss.backward())
        optimizer.step()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args(argv)
    batch, rounds = arguments.batch_size, arguments.rounds
    mc.backend.keep_freed_host_memory()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start; "
          f"batch {batch}\n\n| technique | old ms | new ms | gain |\n|---|---:|---:|---:|")
    rng = np.random.default_rng(0)

    # 1. threads: the whole training step, BLAS's own 2 threads and no threads of ours, against ours + BLAS at 1
    step = flagship_step(batch)

    def with_threads(count, blas_threads=None):
        def run():
            threads.set_threads(count)
            try:
                if blas_threads is None:
                    step()
                else:   # our threads, but BLAS not held at one thread (what the step would be without threadpoolctl)
                    original = threads.blas_at_one_thread
                    threads.blas_at_one_thread = contextlib.nullcontext
                    try:
                        step()
                    finally:
                        threads.blas_at_one_thread = original
            finally:
                threads.set_threads(None)
        return run

    medians = side_by_side({"BLAS threads only": with_threads(1), "ours + BLAS at 1": with_threads(2),
                            "ours + BLAS threads": with_threads(2, blas_threads=2)}, rounds)
    report("flagship training step: 2 threads of ours over the work, BLAS at 1 thread (threadpoolctl)",
           "BLAS threads only", "ours + BLAS at 1", medians)
    report("... the same, BLAS left at its own threads beside ours (spinning workers)",
           "ours + BLAS threads", "ours + BLAS at 1", medians)

    # 2. memory order of im2col's copies (one thread): (C, N, H, W) rows of 14 against (C, H, W, N) rows of N
    channels, side = 32, 14
    columns_cn = np.empty((channels, 3, 3, batch, side, side), np.float32)
    padded_cn = rng.random((channels, batch, side + 2, side + 2), dtype=np.float32)
    columns_nl = np.empty((channels, 3, 3, side, side, batch), np.float32)
    padded_nl = rng.random((channels, side + 2, side + 2, batch), dtype=np.float32)

    def im2col_channel_major():
        for i in range(3):
            for j in range(3):
                columns_cn[:, i, j] = padded_cn[:, :, i:i + side, j:j + side]

    def im2col_batch_innermost():
        for i in range(3):
            for j in range(3):
                columns_nl[:, i, j] = padded_nl[:, i:i + side, j:j + side]

    medians = side_by_side({"(C, N, H, W)": im2col_channel_major, "(C, H, W, N)": im2col_batch_innermost}, rounds)
    report("im2col copies of conv2d_1, batch innermost in memory", "(C, N, H, W)", "(C, H, W, N)", medians)

    def col2im_channel_major():
        for i in range(3):
            for j in range(3):
                padded_cn[:, :, i:i + side, j:j + side] += columns_cn[:, i, j]

    def col2im_batch_innermost():
        for i in range(3):
            for j in range(3):
                padded_nl[:, i:i + side, j:j + side] += columns_nl[:, i, j]

    medians = side_by_side({"(C, N, H, W)": col2im_channel_major, "(C, H, W, N)": col2im_batch_innermost}, rounds)
    report("col2im adds of conv2d_1, batch innermost in memory", "(C, N, H, W)", "(C, H, W, N)", medians)

    # 3. scatter into a max-pool gradient: masked add against a multiply by the boolean mask
    activation = rng.standard_normal((batch, 32, 28, 28)).astype(np.float32)
    dout = rng.standard_normal((batch, 32, 14, 14)).astype(np.float32)
    mask = activation[:, :, ::2, ::2] > 0
    dx = np.zeros_like(activation)
    medians = side_by_side({
        "add where=mask": lambda: np.add(dx[:, :, ::2, ::2], dout, out=dx[:, :, ::2, ::2], where=mask),
        "multiply by mask": lambda: np.multiply(dout, mask, out=dx[:, :, ::2, ::2])}, rounds)
    report("max-pool backward, one window offset: scatter by multiplying with the mask",
           "add where=mask", "multiply by mask", medians)

    # 4. per-channel sums: rows.sum(1), einsum, and a product with a ones vector
    rows = activation.transpose(1, 0, 2, 3).copy().reshape(32, -1)
    ones = np.ones(rows.shape[1], np.float32)
    medians = side_by_side({"rows.sum(1)": lambda: rows.sum(axis=1),
                            "einsum": lambda: np.einsum("cm->c", rows),
                            "rows @ ones": lambda: rows @ ones}, rounds)
    report("BatchNorm per-channel sum of a (32, N*28*28) array", "rows.sum(1)", "rows @ ones", medians)
    report("... against einsum (the previous layer's way)", "einsum", "rows @ ones", medians)

    # 5. out= into reused buffers against fresh temporaries (BatchNorm's normalize)
    mean, scale = rows.mean(axis=1), np.float32(1.5) * np.ones(32, np.float32)
    hat = np.empty_like(rows)

    def fresh():
        return (rows - mean[:, None]) * scale[:, None]

    def reused():
        np.subtract(rows, mean[:, None], out=hat)
        np.multiply(hat, scale[:, None], out=hat)

    medians = side_by_side({"fresh temporaries": fresh, "out= buffer": reused}, rounds)
    report("BatchNorm normalize (x - mean) * inv_std into a reused buffer", "fresh temporaries", "out= buffer",
           medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())
