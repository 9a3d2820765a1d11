"""Each speed technique of the fast layers against the way it replaced, side by side, in one process.

    python benchmarks/techniques.py                 # flagship shapes at batch 512, 7 alternating rounds
    python benchmarks/techniques.py --batch-size 64
    python benchmarks/techniques.py --convolutions-only   # im2col in pieces, Winograd, the bias

Each line times the old way and the new way of one piece of work, taking turns
round after round (so that both see the same machine state), and prints the
medians and the gain (old / new). The shapes are the flagship's (its second
block: 32 channels of 14 x 14 going into a 64-filter 3 x 3 convolution, and the
first block's 32 x 28 x 28 activations for the element-wise passes).
"""
import argparse
import contextlib
import math
import os
import statistics
import sys
import time

import numpy as np
import threadpoolctl

import minicnn as mc
from minicnn.lab import zoo
from minicnn.layers import conv as conv_module
from minicnn.runtime import threads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark import cpu_model  # noqa: E402


def side_by_side(ways, rounds, settle=0.0):
    """Median ms of each named function, the functions taking turns in every round.

    ``settle``: seconds of idle before each timed call, so that BLAS's own worker threads,
    which spin for a while after a call, are asleep when the next way starts.
    """
    for way in ways.values():
        way()
    times = {name: [] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            time.sleep(settle)
            started = time.perf_counter()
            way()
            times[name].append(time.perf_counter() - started)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def report(what, old_name, new_name, medians):
    old, new = medians[old_name], medians[new_name]
    print(f"| {what} | {old_name}: {old:.2f} | {new_name}: {new:.2f} | {old / new:.2f}x |", flush=True)


def flagship_step(batch_size, fuse=True):
    """A closure running one training step of the flagship (forward, backward, Adam)."""
    model = zoo.build("awasthi-enhanced-cnn", seed=0)
    model.fuse = fuse
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, batch_size)
    loss, optimizer = mc.losses.SoftmaxCrossEntropy(), mc.optim.Adam(model)

    def step():
        loss.forward(model.forward(x, training=True), labels)
        model.backward(loss.backward(), input_gradient=False)
        optimizer.step()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--convolutions-only", action="store_true",
                        help="only the convolution's techniques (im2col in pieces, Winograd, the bias)")
    arguments = parser.parse_args(argv)
    batch, rounds = arguments.batch_size, arguments.rounds
    mc.backend.keep_freed_host_memory()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start; "
          f"batch {batch}\n\n| technique | old ms | new ms | gain |\n|---|---:|---:|---:|")
    rng = np.random.default_rng(0)
    if arguments.convolutions_only:
        convolution_techniques(batch, rounds, rng)
        return 0

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
                            "ours + BLAS threads": with_threads(2, blas_threads=2)}, rounds, settle=0.5)
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
    later_techniques(batch, rounds, rng)
    convolution_techniques(batch, rounds, rng)
    return 0


def batch_innermost(array):
    """The same values in (C, H, W, N) memory, viewed as (N, C, H, W): the layout a fast convolution makes."""
    return np.ascontiguousarray(array.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def later_techniques(batch, rounds, rng):
    """The techniques of the second speed round (each against the way it replaced)."""
    # 6. a dropout mask drawn in C order on a batch-innermost input: report-cnn's dropout after its pooling
    pooled = batch_innermost(rng.random((batch, 64, 14, 14), dtype=np.float32))
    draws = np.random.default_rng(1)

    def mask_in_c_order():
        mask = (draws.random(pooled.shape, dtype=np.float32) >= 0.25).astype(np.float32) * np.float32(4 / 3)
        return pooled * mask

    def mask_in_memory_order():
        layer = mc.layers.Dropout(0.25)
        layer.build(pooled.shape[1:], rng=draws)
        return layer.forward(pooled, training=True)

    medians = side_by_side({"C-order mask": mask_in_c_order, "x's order": mask_in_memory_order}, rounds)
    report("report-cnn's dropout forward: the mask drawn in the input's memory order (output keeps it)",
           "C-order mask", "x's order", medians)
    pool = mc.layers.MaxPool2D()
    pool.build((64, 28, 28))
    with threads.step_threads():
        pool.forward(batch_innermost(rng.random((batch, 64, 28, 28), dtype=np.float32)), training=True)
        gradient = mask_in_memory_order()
        gradient_in_c_order = np.ascontiguousarray(gradient)
        medians = side_by_side({"C-order dout": lambda: pool.backward(gradient_in_c_order),
                                "dout in x's order": lambda: pool.backward(gradient)}, rounds)
    report("... what it did to report-cnn's max-pool backward after it (its dout came in C order)",
           "C-order dout", "dout in x's order", medians)

    # 7. LeakyReLU's slope: where(x > 0, 1, alpha) against max(x > 0, alpha)
    values = rng.standard_normal(batch * 16 * 26 * 26).astype(np.float32)
    slope, out, alpha = np.empty_like(values), np.empty_like(values), np.float32(0.01)

    def slope_by_where():
        slope[...] = np.where(values > 0, np.float32(1), alpha)
        np.multiply(values, slope, out=out)

    def slope_by_maximum():
        np.maximum(values > 0, alpha, out=slope)
        np.multiply(values, slope, out=out)

    medians = side_by_side({"where()": slope_by_where, "max(x > 0, alpha)": slope_by_maximum}, rounds)
    report("LeakyReLU training forward on saraswat-cnn's first activation", "where()", "max(x > 0, alpha)", medians)

    # 8. Adam's update: the plain expressions (temporaries) against out= into one work array per parameter
    model = zoo.build("awasthi-enhanced-cnn", seed=0)
    for layer in model.layers:
        for key, param in layer.params.items():
            layer.grads[key] = rng.standard_normal(param.shape).astype(np.float32)
    optimizer = mc.optim.Adam(model)

    def adam_with_temporaries():
        optimizer.steps += 1
        for key, param, layer in optimizer.named_parameters():
            grad = layer.grads[key.rsplit("/", 1)[1]]
            mean, square = optimizer.slot(key, "mean", param), optimizer.slot(key, "square", param)
            mean *= optimizer.beta1
            mean += (1.0 - optimizer.beta1) * grad
            square *= optimizer.beta2
            square += (1.0 - optimizer.beta2) * (grad * grad)
            denominator = np.sqrt(square)
            denominator *= 1.0 / math.sqrt(1.0 - optimizer.beta2 ** optimizer.steps)
            denominator += optimizer.eps
            param -= optimizer.lr / (1.0 - optimizer.beta1 ** optimizer.steps) * (mean / denominator)

    medians = side_by_side({"temporaries": adam_with_temporaries, "one work array": optimizer.step}, rounds)
    report("the flagship's Adam step (422,474 values)", "temporaries", "one work array", medians)

    # 9. BLAS at one thread for a step: threadpoolctl's limit() context against its library controllers called directly
    controller = threadpoolctl.ThreadpoolController()

    def limit_context():
        for _ in range(100):
            with controller.limit(limits=1, user_api="blas"):
                pass

    def direct_calls():
        for _ in range(100):
            with threads.blas_at_one_thread():
                pass

    medians = side_by_side({"limit()": limit_context, "direct calls": direct_calls}, rounds)
    report("100 steps' entry and exit of BLAS at one thread", "limit()", "direct calls", medians)

    # 10. the smallest matrix product worth a thread: 2048 columns (before) against 4M multiply-adds
    conv = mc.layers.Conv2D(128, 3, padding="same")
    conv.build((64, 7, 7), rng=np.random.default_rng(0))
    conv_input = batch_innermost(rng.random((batch, 64, 7, 7), dtype=np.float32))

    def conv_step():
        with threads.step_threads():
            conv.backward(conv.forward(conv_input, training=True))

    def columns_rule():
        original = threads.product_pieces
        threads.product_pieces = lambda size, work_per_item: min(threads.active_threads(), size // 2048)
        try:
            conv_step()
        finally:
            threads.product_pieces = original

    medians = side_by_side({"2048 columns": columns_rule, "4M multiply-adds": conv_step}, rounds)
    report("the flagship's conv2d_2 forward + backward: when a product is split over the threads",
           "2048 columns", "4M multiply-adds", medians)

    # 11. the fused BatchNorm -> ReLU -> MaxPool2D block: the flagship's whole training step
    unfused, fused = flagship_step(batch, fuse=False), flagship_step(batch, fuse=True)
    medians = side_by_side({"unfused": unfused, "fused": fused}, rounds)
    report("the flagship's training step, its three BatchNorm -> ReLU -> MaxPool2D run as fused blocks",
           "unfused", "fused", medians)



# the convolutions of the third round: (network, layer, input channels, filters, input side, padding)
CONVOLUTIONS = [("band-cnn", "conv2d_1", 64, 64, 26, "valid"), ("band-cnn", "conv2d_3", 128, 128, 10, "valid"),
                ("report-cnn", "conv2d_1", 32, 64, 28, "same"), ("awasthi-enhanced-cnn", "conv2d_1", 32, 64, 14, "same"),
                ("awasthi-enhanced-cnn", "conv2d_2", 64, 128, 7, "same")]


def conv_training_step(channels, filters, side, padding, batch, rng, algorithm="auto", piece_bytes=None,
                       use_bias=True):
    """A closure running one forward and backward of a Conv2D on the step's threads."""
    layer = mc.layers.Conv2D(filters, 3, padding=padding, use_bias=use_bias)
    layer.build((channels, side, side), rng=np.random.default_rng(0))
    layer.algorithm = algorithm
    x = batch_innermost(rng.random((batch, channels, side, side), dtype=np.float32))
    dout = batch_innermost(rng.standard_normal((batch,) + layer.output_shape).astype(np.float32))

    def step():
        original = conv_module.PIECE_BYTES
        conv_module.PIECE_BYTES = piece_bytes or original
        try:
            with threads.step_threads():
                layer.forward(x, training=True)
                layer.backward(dout)
        finally:
            conv_module.PIECE_BYTES = original
    return step


def convolution_techniques(batch, rounds, rng):
    """The convolution's techniques of the third speed round: im2col in pieces, Winograd, the bias."""
    # 12. im2col's columns in pieces of the output rows (made again in the backward) against one piece
    for network, name, channels, filters, side, padding in CONVOLUTIONS[:3]:
        ways = {"one piece": conv_training_step(channels, filters, side, padding, batch, rng, "im2col", 1 << 40)}
        for mebibytes in (2, 8, 32):
            ways[f"{mebibytes} MiB"] = conv_training_step(channels, filters, side, padding, batch, rng, "im2col",
                                                          mebibytes << 20)
        medians = side_by_side(ways, rounds)
        columns_mib = channels * 9 * (side - 2 * (padding == "valid")) ** 2 * batch * 4 / 2 ** 20
        for mebibytes in (2, 8, 32):
            report(f"{network} {name} forward + backward, im2col in pieces of the output rows (the whole "
                   f"batch's columns: {columns_mib:.0f} MiB)", "one piece", f"{mebibytes} MiB", medians)

    # 13. Winograd F(2x2, 3x3) and F(4x4, 3x3) against im2col (in its 32 MiB pieces)
    for network, name, channels, filters, side, padding in CONVOLUTIONS:
        medians = side_by_side({algorithm: conv_training_step(channels, filters, side, padding, batch, rng, algorithm)
                                for algorithm in ("im2col", "winograd2", "winograd4")}, rounds)
        for algorithm in ("winograd2", "winograd4"):
            report(f"{network} {name} forward + backward, Winograd against im2col", "im2col", algorithm, medians)

    # 14. what a bias folded into the next BatchNorm could save at most: the convolution with and without its bias
    for network, name, channels, filters, side, padding in CONVOLUTIONS[3:]:
        medians = side_by_side({
            "with bias": conv_training_step(channels, filters, side, padding, batch, rng),
            "no bias": conv_training_step(channels, filters, side, padding, batch, rng, use_bias=False)}, rounds)
        report(f"{network} {name} forward + backward (auto), the bias dropped (the most folding it into "
               f"BatchNorm can save)", "with bias", "no bias", medians)


if __name__ == "__main__":
    sys.exit(main())
