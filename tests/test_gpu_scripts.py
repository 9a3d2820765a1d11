"""The GPU check (benchmarks/gpu_check.sh) cannot rot on a machine without a GPU.

It runs once, on a GPU machine lent for minutes, so everything it calls is
checked here: both scripts parse, every step is there within the time the
device call allows, every flag it gives a Python script is one that script
takes, and the GPU benchmark's and profile's code runs (on numpy and the CPU;
both switch the backend, and the numpy_backend fixture switches the suite's back).
"""
import argparse
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
STEPS = ("parity", "benchmark", "profile", "flagship", "suite")
DEVICE_CALL_SECONDS = 600   # the check is made to fit in one 10-minute command, with time to spare


def run(*command):
    environment = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=environment)


@pytest.fixture(scope="module")
def dry_run():
    finished = run("bash", os.path.join(BENCHMARKS, "gpu_check.sh"), "--dry-run")
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_prepare.sh"])
def test_the_scripts_parse(script):
    finished = run("bash", "-n", os.path.join(BENCHMARKS, script))
    assert finished.returncode == 0, finished.stderr


def test_every_step_is_there_and_all_fit_in_one_device_call(dry_run):
    limits = dict(re.findall(r"^(\w+)\s+(\d+)s ", dry_run, flags=re.MULTILINE))
    assert tuple(limits) == STEPS
    assert sum(int(seconds) for seconds in limits.values()) <= DEVICE_CALL_SECONDS - 60
    assert "MINICNN_BACKEND=cupy" in dry_run and "tests/test_cupy_parity.py" in dry_run
    assert "--device cuda" in dry_run and "--batch-sizes 64 512 2048" in dry_run


def test_an_unknown_step_is_refused_by_name():
    finished = run("bash", os.path.join(BENCHMARKS, "gpu_check.sh"), "benchmarks")
    assert finished.returncode == 2 and "unknown step 'benchmarks'" in finished.stderr


def test_every_flag_the_check_gives_a_script_is_one_it_takes(dry_run):
    flags_of = {}
    for script, arguments in re.findall(r"(\S+\.py)((?: [^ ]+)*?)(?= \S+\.py|,|$)", dry_run, flags=re.MULTILINE):
        if script.startswith(("benchmarks/", "examples/")):
            flags_of.setdefault(script, set()).update(re.findall(r"--[a-z][a-z-]*", arguments))
    assert set(flags_of) == {"benchmarks/benchmark.py", "benchmarks/profile_layers.py", "examples/enhanced_cnn.py"}
    for script, flags in flags_of.items():
        finished = run(sys.executable, script, "--help")
        assert finished.returncode == 0, finished.stderr
        taken = set(re.findall(r"--[a-z][a-z-]*", finished.stdout))
        assert flags <= taken, f"{script} does not take {sorted(flags - taken)}"


def test_the_gpu_benchmark_code_runs_on_the_cpu(capsys, tmp_path, numpy_backend):
    pytest.importorskip("torch")
    sys.path.insert(0, BENCHMARKS)
    try:
        import gpu_benchmark
        arguments = argparse.Namespace(networks=["saraswat-pca-dnn"], batch_sizes=[4], rounds=1, images_per_round=4,
                                       out=str(tmp_path / "table.md"))
        assert gpu_benchmark.main(arguments, backend_name="numpy", torch_device="cpu") == 0
    finally:
        sys.path.remove(BENCHMARKS)
    row = re.search(r"^\| saraswat-pca-dnn \| 4 \|(.*)\|$", (tmp_path / "table.md").read_text(), flags=re.MULTILINE)
    assert row and len(row.group(1).split("|")) == 9, capsys.readouterr().out


def test_the_profile_times_each_layer_and_the_whole_step(capsys, numpy_backend):
    sys.path.insert(0, BENCHMARKS)
    try:
        import profile_layers
        assert profile_layers.main(["--network", "saraswat-pca-dnn", "--batch-sizes", "4", "--repeats", "1",
                                    "--backend", "numpy"]) == 0
    finally:
        sys.path.remove(BENCHMARKS)
    printed = capsys.readouterr().out
    assert "(whole steps)" in printed and "| dense (Dense) |" in printed and "| Adam step |" in printed
