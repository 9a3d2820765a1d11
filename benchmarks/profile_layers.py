"""Where the time of one training step goes, layer by layer (forward and backward), for a zoo network.

    python benchmarks/profile_layers.py                                # the flagship at batch 64 and 512
    python benchmarks/profile_layers.py --network band-cnn --batch-sizes 128
    python benchmarks/profile_layers.py --backend cupy --batch-sizes 64 512 2048   # on the GPU

Each layer's forward and backward (or a fused block's, where the model runs
three layers as one: --no-fuse runs them one by one) is timed on its own, with the inputs a real
step would give it, over several repeats; the table gives the median in
milliseconds and each layer's share of the whole step. The loss and the
optimizer step are timed the same way. On cupy the GPU is synchronized before
and after each timed call, so a layer's time is that of the kernels it
launched, not of queueing them; the whole step is also timed end to end (its
kernels then overlap the next launches, so it can be less than the sum).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import minicnn as mc
from minicnn.runtime import threads
from minicnn.lab import zoo
from minicnn.runtime.fusion import NormalizeActivatePool, execution_steps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark import cpu_model  # noqa: E402
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.optim import Adam


def synchronize():
    """Wait for the GPU's queued kernels on cupy; nothing to wait for on numpy."""
    if mc.backend.name == "cupy":
        mc.backend.xp.cuda.Device().synchronize()


def median_ms(function, repeats):
    times = []
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        function()
        synchronize()
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def training_setup(name, batch_size, fuse=True):
    """(model, images on the device, host labels, loss, Adam) for network ``name``, random data, seed 0."""
    model = zoo.build(name, seed=0)
    model.fuse = fuse
    rng = np.random.default_rng(0)
    x = mc.to_device(rng.random((batch_size,) + model.input_shape, dtype=np.float32))
    return model, x, rng.integers(0, 10, batch_size), SoftmaxCrossEntropy(), Adam(model)


def whole_step_ms(name, batch_size, repeats, fuse=True):
    """Median ms of one whole training step as fit() takes it (the loss left on the device)."""
    model, x, labels, loss, optimizer = training_setup(name, batch_size, fuse)

    def step():
        loss.forward_array(model.forward(x, training=True), labels)
        model.backward(loss.backward(), input_gradient=False)
        optimizer.step()

    step()
    return median_ms(step, repeats)


def profile(name, batch_size, repeats, fuse=True):
    """Rows (what, forward ms, backward ms) for one training step of network ``name``: a row per layer, or per
    fused block where the model runs one (minicnn.runtime.fusion)."""
    model, x, labels, loss, optimizer = training_setup(name, batch_size, fuse)
    steps = execution_steps(model.layers, model.fuse, model.fused_blocks)
    steps[0].skip_input_gradient = True  # as in training: nothing needs the gradient of the images
    inputs = [x]
    with threads.step_threads():
        for step in steps:  # one real step first: every cache and buffer exists
            inputs.append(step.forward(inputs[-1], training=True))
        loss.forward(inputs[-1], labels)
        gradients = [loss.backward()]
        for step in reversed(steps):
            gradients.append(step.backward(gradients[-1]))
    gradients = gradients[::-1]  # gradients[i + 1] is what step i's backward receives
    rows = []
    for index, step in enumerate(steps):
        with threads.step_threads():   # the threads and BLAS setting of a real step
            forward = median_ms(lambda: step.forward(inputs[index], training=True), repeats)
            backward = median_ms(lambda: step.backward(gradients[index + 1]), repeats)
        kind = "fused block" if isinstance(step, NormalizeActivatePool) else type(step).__name__
        rows.append((f"{step.name} ({kind})", forward, backward))
    rows.append(("loss", median_ms(lambda: loss.forward_array(inputs[-1], labels), repeats),
                 median_ms(loss.backward, repeats)))
    rows.append(("Adam step", 0.0, median_ms(optimizer.step, repeats)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default=zoo.FLAGSHIP)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 512])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backend", default=mc.backend.name)
    parser.add_argument("--no-fuse", action="store_true",
                        help="every layer on its own, none in a fused BatchNorm -> activation -> MaxPool2D block")
    arguments = parser.parse_args(argv)
    mc.set_backend(arguments.backend)
    mc.backend.keep_freed_host_memory()  # as fit() does
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; minicnn threads {threads.thread_count()}; "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    for batch_size in arguments.batch_sizes:
        rows = profile(arguments.network, batch_size, arguments.repeats, fuse=not arguments.no_fuse)
        total = sum(forward + backward for _, forward, backward in rows)
        whole = whole_step_ms(arguments.network, batch_size, arguments.repeats, fuse=not arguments.no_fuse)
        print(f"\n{arguments.network}, batch {batch_size}, backend {arguments.backend}: "
              f"{total:.1f} ms a step, {batch_size / total * 1e3:.0f} images/s (layers timed one by one); "
              f"{whole:.1f} ms, {batch_size / whole * 1e3:.0f} images/s (whole steps)\n")
        print("| layer | forward ms | backward ms | share |\n|---|---:|---:|---:|")
        for what, forward, backward in rows:
            print(f"| {what} | {forward:.2f} | {backward:.2f} | {(forward + backward) / total:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
