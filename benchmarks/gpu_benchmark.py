"""minicnn on CuPy against PyTorch on CUDA: every zoo network, training and inference, one process.

    python benchmarks/benchmark.py --device cuda --batch-sizes 64 512 2048 --out /tmp/gpu-table.md

(``benchmark.py --device cuda`` runs this module's ``main``.) The same
measurement as on the CPU (benchmark.py's docstring), with what a GPU needs:
the GPU is synchronized before a round starts and after it ends, so a round
counts every kernel it queued, and never inside one, so neither library is
made to wait between steps. A training step is what fit() does: forward,
backward without the images' gradient, Adam step; the loss stays on the
device. Both libraries compute in float32: PyTorch's TF32 convolutions and
matrix products are switched off, since minicnn's GEMMs are plain float32.
GPU memory is what each library's allocator holds after the steps (CuPy's
pool, PyTorch's peak reserved), the pools emptied before each network.
"""
import platform
import statistics
import time

import numpy as np

import minicnn as mc
from minicnn.lab import zoo
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.optim import Adam


def synchronizer(torch, torch_device):
    """A function that waits until both libraries' queued work on the device is done."""
    def synchronize():
        if mc.backend.name == "cupy":
            mc.backend.xp.cuda.Device().synchronize()
        if torch_device == "cuda":
            torch.cuda.synchronize()
    return synchronize


def minicnn_steps(model, x, y):
    """(train_step, infer_step) for minicnn on the active backend; x is copied to the device once."""
    optimizer, loss = Adam(model), SoftmaxCrossEntropy()
    x_device = mc.to_device(x)

    def train():
        loss.forward_array(model.forward(x_device, training=True), y)
        model.backward(loss.backward(), input_gradient=False)
        optimizer.step()

    def infer():
        model.forward(x_device, training=False)

    return train, infer


def throughput(steps, batch_size, rounds, repeats, synchronize):
    """Median images/s of each named step over ``rounds``; the steps take turns, each round synchronized."""
    for step in steps.values():
        step()   # warm-up: CuPy compiles its kernels, cuDNN picks its algorithms, the memory pools fill
        step()
    synchronize()
    rates = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            synchronize()
            started = time.perf_counter()
            for _ in range(repeats):
                step()
            synchronize()
            rates[name].append(batch_size * repeats / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def gemm_peak_gflops(torch, torch_device, size=8192, repeats=5):
    """float32 matrix-product rate of PyTorch on ``torch_device`` (TF32 off), the best of ``repeats``."""
    size = size if torch_device == "cuda" else 1024
    a = torch.rand((size, size), device=torch_device)
    b = torch.rand((size, size), device=torch_device)
    synchronize = synchronizer(torch, torch_device)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        a @ b
        synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best / 1e9


def held_megabytes(torch, torch_device):
    """(minicnn's, PyTorch's) device memory held, in MB; '-' where a library is on the host."""
    ours = f"{mc.backend.xp.get_default_memory_pool().total_bytes() / 2**20:.0f}" if mc.backend.name == "cupy" else "-"
    theirs = f"{torch.cuda.max_memory_reserved() / 2**20:.0f}" if torch_device == "cuda" else "-"
    return ours, theirs


def release_memory(torch, torch_device):
    if mc.backend.name == "cupy":
        mc.backend.xp.get_default_memory_pool().free_all_blocks()
    if torch_device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def device_description(torch, torch_device):
    if torch_device != "cuda":
        return f"no GPU ({platform.processor() or platform.machine()}), a dry run"
    properties = torch.cuda.get_device_properties(0)
    cupy_version = mc.backend.xp.__version__ if mc.backend.name == "cupy" else "not used"
    return (f"{properties.name}, {properties.total_memory / 2**30:.0f} GiB, {properties.multi_processor_count} SMs; "
            f"CUDA {torch.version.cuda}, CuPy {cupy_version}")


def main(arguments, backend_name="cupy", torch_device="cuda"):
    """The table for ``arguments`` (benchmark.py's: networks, batch_sizes, rounds, images_per_round, out).

    backend_name and torch_device are cupy and cuda on a GPU; numpy and cpu make a quick dry run of this code.
    """
    import torch
    from benchmark import forward_flops_per_image, torch_steps
    mc.set_backend(backend_name)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    synchronize = synchronizer(torch, torch_device)
    peak = gemm_peak_gflops(torch, torch_device)
    lines = [f"Device: {device_description(torch, torch_device)}; minicnn on {backend_name}, NumPy {np.__version__}, "
             f"PyTorch {torch.__version__} on {torch_device}; float32 GEMM peak measured {peak:.0f} GFLOP/s "
             "(PyTorch, TF32 off).", "",
             "| network | batch | train img/s minicnn | train img/s PyTorch | train ratio "
             "| inference img/s minicnn | inference img/s PyTorch | inference ratio "
             "| train GFLOP/s (of peak) | GPU MB minicnn | GPU MB PyTorch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for name in arguments.networks:
        for batch_size in arguments.batch_sizes:
            release_memory(torch, torch_device)
            model = zoo.build(name, seed=0)
            rng = np.random.default_rng(0)
            x = rng.random((batch_size,) + model.input_shape, dtype=np.float32)
            y = rng.integers(0, 10, batch_size)
            theirs_train, theirs_infer = torch_steps(model, x, y, torch_device)   # before ours moves the weights
            ours_train, ours_infer = minicnn_steps(model, x, y)
            repeats = max(1, arguments.images_per_round // batch_size)
            train = throughput({"minicnn": ours_train, "torch": theirs_train}, batch_size, arguments.rounds, repeats,
                               synchronize)
            infer = throughput({"minicnn": ours_infer, "torch": theirs_infer}, batch_size, arguments.rounds, repeats,
                               synchronize)
            gflops = 3 * forward_flops_per_image(model) * train["minicnn"] / 1e9
            memory = held_megabytes(torch, torch_device)
            row = (f"| {name} | {batch_size} | {train['minicnn']:.0f} | {train['torch']:.0f} | "
                   f"{train['minicnn'] / train['torch']:.2f} | {infer['minicnn']:.0f} | {infer['torch']:.0f} | "
                   f"{infer['minicnn'] / infer['torch']:.2f} | {gflops:.1f} ({gflops / peak:.1%}) | "
                   f"{memory[0]} | {memory[1]} |")
            lines.append(row)
            print(row, flush=True)
    if arguments.out:
        with open(arguments.out, "w") as file:
            file.write("\n".join(lines) + "\n")
    return 0
