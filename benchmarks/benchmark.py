"""minicnn against PyTorch on this machine's CPU: every zoo network, training and inference, one process.

    pip install -e '.[benchmarks]'          # PyTorch CPU is a benchmark-only dependency
    python benchmarks/benchmark.py          # all networks, batch 64 and 512 (about 10 minutes on 2 cores)
    python benchmarks/benchmark.py --networks awasthi-enhanced-cnn --batch-sizes 64 512 --rounds 5
    python benchmarks/benchmark.py --device cuda --batch-sizes 64 512 2048   # CuPy against PyTorch CUDA

For each network and batch size, after a warm-up, minicnn and PyTorch take
turns (so that both see the same machine state; each turn lasts at least
--turn-seconds, so that a small network's figure is not its cold start after
the other library's turn): a training step is forward +
backward + Adam step, inference is a forward pass without gradients. The
figure is the median over rounds of images per second, and the ratio is
minicnn / PyTorch (above 1: minicnn is faster). GFLOP/s counts the multiply-adds
of the convolutions and dense layers (x2 flops, x3 for a training step), and
"of peak" divides it by this machine's float32 GEMM rate, measured in the same
run. Peak memory is the resident set of a separate process that trains the
network at the given batch size for a few steps, once with each library.
Prints a Markdown table (and writes it with --out).
"""
import argparse
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import minicnn as mc  # noqa: E402
from minicnn.runtime import threads  # noqa: E402
from minicnn import layers  # noqa: E402
from minicnn.lab import zoo  # noqa: E402
from minicnn.losses import SoftmaxCrossEntropy  # noqa: E402
from minicnn.optim import Adam  # noqa: E402


def forward_flops_per_image(model):
    """Multiply-adds x 2 of every Conv2D and Dense layer, for one image."""
    flops = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            filters, out_h, out_w = layer.output_shape
            flops += 2 * filters * out_h * out_w * layer.input_shape[0] * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, layers.Dense):
            flops += 2 * layer.input_shape[0] * layer.units
    return flops


def gemm_peak_gflops(size=2048, repeats=5):
    """float32 matrix-product rate of NumPy's BLAS here, the best of ``repeats``."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    b = np.random.default_rng(1).random((size, size), dtype=np.float32)
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def cpu_model():
    """The processor's name as the OS reports it (/proc/cpuinfo's "model name"), else platform's guess."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def batch_for(model, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size,) + model.input_shape, dtype=np.float32)
    return x, rng.integers(0, 10, batch_size)


def minicnn_steps(model, x, y):
    """(train_step, infer_step) closures for minicnn."""
    optimizer, loss = Adam(model), SoftmaxCrossEntropy()
    x_device = mc.to_device(x)

    def train():
        loss.forward(model.forward(x_device, training=True), y)
        model.backward(loss.backward(), input_gradient=False)   # as fit() trains, and as PyTorch (x needs no grad)
        optimizer.step()

    def infer():
        mc.to_numpy(model.forward(x_device, training=False))

    return train, infer


def torch_steps(model, x, y, device="cpu"):
    """(train_step, infer_step) for the PyTorch twin of ``model`` (same weights) on ``device``."""
    import torch
    from torch_twin import torch_twin
    twin = torch_twin(model).to(device)
    optimizer = torch.optim.Adam(twin.parameters())
    x_t, y_t = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def train():
        twin.train()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(twin(x_t), y_t).backward()
        optimizer.step()

    def infer():
        twin.eval()
        with torch.no_grad():
            twin(x_t)

    return train, infer


def throughput(steps, batch_size, rounds, repeats, turn_seconds=0.0):
    """Median images/s of each named step; the steps take turns within each round.

    A turn runs a step ``repeats`` times, or more, until it lasts about ``turn_seconds`` (judged by a
    warm-up step): a turn of one or two small steps measures mostly the cold start after the other
    library's turn (its caches, its freed memory), not the step.
    """
    turns = {}
    for name, step in steps.items():
        step()  # warm-up: allocations, caches, thread pools
        turns[name] = max(repeats, math.ceil(turn_seconds / max(timed(step), 1e-6)))
    rates = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            count = turns[name]
            rates[name].append(batch_size * count / timed(lambda: [step() for _ in range(count)]))
    return {name: statistics.median(values) for name, values in rates.items()}


def peak_memory_mb(library, name, batch_size, steps=5):
    """Peak resident memory (MB) of a fresh process training ``name`` with ``library`` for a few steps."""
    command = [sys.executable, os.path.abspath(__file__), "--memory-probe", library, name, str(batch_size), str(steps)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


def memory_probe(library, name, batch_size, steps):
    mc.backend.keep_freed_host_memory()
    model = zoo.build(name, seed=0)
    x, y = batch_for(model, batch_size)
    train, _ = (minicnn_steps if library == "minicnn" else torch_steps)(model, x, y)
    for _ in range(steps):
        train()
    print(f"{own_peak_resident_kilobytes() / 1024:.1f}")


def own_peak_resident_kilobytes():
    """This process's peak resident memory. Not ru_maxrss: Linux carries that over from the parent
    through exec, so a small child of a large benchmark would report the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", nargs="+", default=list(zoo.NETWORKS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 512])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--images-per-round", type=int, default=1024, help="at least this many images a round")
    parser.add_argument("--turn-seconds", type=float, default=0.25,
                        help="each library's turn repeats its step for at least about this long")
    parser.add_argument("--threads", type=int, help="threads for both libraries (default: minicnn's choice, "
                        "PyTorch as many as cores); 1 also holds NumPy's BLAS at one thread: a per-core comparison "
                        "that suffers less when other processes share the cores")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--out", help="also write the Markdown table to this file")
    parser.add_argument("--memory-probe", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: minicnn on CuPy against PyTorch on the GPU (benchmarks/gpu_benchmark.py)")
    arguments = parser.parse_args(argv)
    if arguments.device == "cuda":
        import gpu_benchmark
        return gpu_benchmark.main(arguments)
    if arguments.memory_probe:
        library, name, batch_size, steps = arguments.memory_probe
        return memory_probe(library, name, int(batch_size), int(steps))

    import torch
    torch.set_num_threads(arguments.threads or os.cpu_count())
    if arguments.threads:
        mc.set_threads(arguments.threads)
    if arguments.threads == 1:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1, user_api="blas")
    mc.backend.keep_freed_host_memory()  # as fit() does; PyTorch's CPU tensors come from the same malloc
    peak = gemm_peak_gflops()
    lines = [f"Machine: {cpu_model()}, {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the start: "
             f"other processes sharing the cores); NumPy {np.__version__}, minicnn {threads.thread_count()} "
             f"threads, PyTorch {torch.__version__} ({torch.get_num_threads()} threads); "
             f"float32 GEMM peak measured {peak:.0f} GFLOP/s.", "",
             "| network | batch | train img/s minicnn | train img/s PyTorch | train ratio "
             "| inference img/s minicnn | inference img/s PyTorch | inference ratio "
             "| train GFLOP/s (of peak) | peak MB minicnn | peak MB PyTorch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for name in arguments.networks:
        for batch_size in arguments.batch_sizes:
            model = zoo.build(name, seed=0)
            x, y = batch_for(model, batch_size)
            ours_train, ours_infer = minicnn_steps(model, x, y)
            theirs_train, theirs_infer = torch_steps(model, x, y)
            repeats = max(1, arguments.images_per_round // batch_size)
            train = throughput({"minicnn": ours_train, "torch": theirs_train}, batch_size, arguments.rounds, repeats,
                               arguments.turn_seconds)
            infer = throughput({"minicnn": ours_infer, "torch": theirs_infer}, batch_size, arguments.rounds,
                               repeats, arguments.turn_seconds)
            gflops = 3 * forward_flops_per_image(model) * train["minicnn"] / 1e9
            memory = ("-", "-") if arguments.no_memory else tuple(
                f"{peak_memory_mb(library, name, batch_size):.0f}" for library in ("minicnn", "torch"))
            row = (f"| {name} | {batch_size} | {train['minicnn']:.0f} | {train['torch']:.0f} | "
                   f"{train['minicnn'] / train['torch']:.2f} | {infer['minicnn']:.0f} | {infer['torch']:.0f} | "
                   f"{infer['minicnn'] / infer['torch']:.2f} | {gflops:.1f} ({gflops / peak:.0%}) | "
                   f"{memory[0]} | {memory[1]} |")
            lines.append(row)
            print(row, flush=True)
    if arguments.out:
        with open(arguments.out, "w") as file:
            file.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
