#!/usr/bin/env bash
# The whole GPU check, in one command run from the repository root (docs/gpu.md says how):
#
#     bash benchmarks/gpu_check.sh                  # on the GPU machine: every step, logs into $OUT
#     bash benchmarks/gpu_check.sh suite parity     # only these steps (a rerun of what failed)
#     bash benchmarks/gpu_check.sh --smoke          # the same steps, tiny, on numpy: any machine, minutes
#     bash benchmarks/gpu_check.sh --dry-run        # print each step's command and time limit, run nothing
#
# Steps, in this order (the quick and most telling first), each under its own `timeout`; a step that
# fails or runs out of time is written down in summary.log and the next one runs:
#   parity     tests/test_cupy_parity.py: numpy and cupy train the flagship to the same numbers
#   benchmark  every zoo network, minicnn/cupy against PyTorch CUDA, batch 64, 512, 2048 -> benchmark.md
#   profile    the flagship's training step layer by layer, synchronized, batch 64, 512, 2048 -> profile.md
#   flagship   examples/enhanced_cnn.py --backend cupy for as many epochs as fit (two timed epochs decide)
#   suite      the whole test suite with MINICNN_BACKEND=cupy
# The limits add up to 540 s, which leaves a 600 s device call 60 s to install and copy back.
# Nothing is downloaded: minicnn is installed with --no-index --no-deps (the suite checks its console
# script), and Fashion-MNIST comes from .gpu-data (benchmarks/gpu_prepare.sh), carried with the tree.
# $OUT gets at most 7 flat files: summary.log, parity.log, benchmark.md, profile.md, flagship.log, suite.log
# (and setup.log).
set -u   # no -e: a failed step must not stop the others
cd "$(dirname "$0")/.."

MODE=gpu
case "${1:-}" in
    --smoke) MODE=smoke; shift ;;
    --dry-run) MODE=dry; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
ALL_STEPS="parity benchmark profile flagship suite"
STEPS="${*:-$ALL_STEPS}"
for name in $STEPS; do
    case " $ALL_STEPS " in *" $name "*) ;; *) echo "gpu_check.sh: unknown step '$name'; the steps are: $ALL_STEPS" >&2; exit 2 ;; esac
done

PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export MINICNN_DATA="${MINICNN_DATA:-$PWD/.gpu-data}"
SUMMARY="$OUT/summary.log"
WORK="$(mktemp -d)"

if [ "$MODE" = smoke ]; then
    BACKEND=numpy DEVICE=cpu BATCHES="4" NETWORKS="saraswat-pca-dnn awasthi-enhanced-cnn" ROUNDS=1 IMAGES=4
    REPEATS=1 FLAGSHIP_MARGIN=15 FLAGSHIP_LIMIT="--limit 256" MAX_EPOCHS=2
    SUITE=(tests/test_host_copies.py tests/test_cupy_parity.py)
    LIMITS=(parity=60 benchmark=60 profile=60 flagship=120 suite=60)
else
    BACKEND=cupy DEVICE=cuda BATCHES="64 512 2048" NETWORKS="" ROUNDS=3 IMAGES=1024
    REPEATS=7 FLAGSHIP_MARGIN=40 FLAGSHIP_LIMIT="" MAX_EPOCHS=100
    SUITE=()
    LIMITS=(parity=40 benchmark=110 profile=35 flagship=230 suite=125)
fi
limit_of() { local entry; for entry in "${LIMITS[@]}"; do [ "${entry%%=*}" = "$1" ] && echo "${entry#*=}"; done; }

# step NAME LOG COMMAND...: run COMMAND under the step's time limit, appending to $OUT/LOG; one summary line.
step() {
    local name=$1 log=$2 limit started status verdict
    shift 2
    limit=$(limit_of "$name")
    if [ "$MODE" = dry ]; then
        printf '%-9s %4ss  > %-13s %s\n' "$name" "$limit" "$log" "$*"
        return 0
    fi
    started=$SECONDS
    echo "### $name (limit ${limit}s): $*" >> "$OUT/$log"
    timeout -k 10 "$limit" "$@" >> "$OUT/$log" 2>&1
    status=$?
    case $status in
        0) verdict=ok ;;
        124|137) verdict="TIMED OUT (${limit}s)" ;;
        *) verdict="FAILED (exit $status)" ;;
    esac
    printf '%-9s %-20s %4ss  %s\n' "$name" "$verdict" "$((SECONDS - started))" "$log" | tee -a "$SUMMARY"
    return $status
}

setup() {
    {
        echo "gpu_check.sh $MODE, $(date -u '+%Y-%m-%d %H:%M UTC'), steps: $STEPS"
        echo "tree: $(git rev-parse --short HEAD 2>/dev/null || echo 'no git here') $(git status --porcelain 2>/dev/null | wc -l) changed files"
        nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
        "$PYTHON" - <<'EOF'
import os, platform
print("python", platform.python_version(), "on", platform.processor() or platform.machine(), os.cpu_count(), "cores")
for name in ("numpy", "cupy", "torch", "pytest", "hypothesis", "xdist", "pytest_timeout", "sklearn", "matplotlib"):
    try:
        module = __import__(name)
        print(f"  {name} {getattr(module, '__version__', '?')}")
    except Exception as error:
        print(f"  {name}: not importable ({type(error).__name__})")
import minicnn
print("minicnn backends available:", minicnn.backend.available_backends())
data = os.environ["MINICNN_DATA"]
print("MINICNN_DATA", data, sorted(os.listdir(data)) if os.path.isdir(data) else "(missing: run benchmarks/gpu_prepare.sh "
      "here and carry .gpu-data)")
EOF
    } >> "$OUT/setup.log" 2>&1
    if [ "$MODE" = gpu ]; then   # the console script the suite checks for; never reaches out for anything
        "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation -e . >> "$OUT/setup.log" 2>&1 \
            || echo "pip install -e . failed: minicnn runs from PYTHONPATH; the console-script test will fail" >> "$OUT/setup.log"
    fi
    head -n 3 "$OUT/setup.log" >> "$SUMMARY"
}

run_parity() {
    step parity parity.log env MINICNN_BACKEND=$BACKEND "$PYTHON" -m pytest -p no:cacheprovider -v -rs \
        tests/test_cupy_parity.py
    if [ "$MODE" = gpu ] && grep -q " SKIPPED\| skipped" "$OUT/parity.log"; then
        echo "parity    SKIPPED on the GPU machine: cupy is not usable here (see setup.log)" | tee -a "$SUMMARY"
    fi
}

run_benchmark() {
    # the flagship first, so that the goal's row is in even if the step runs out of time
    local networks=${NETWORKS:-$("$PYTHON" -c "from minicnn import zoo; print(zoo.FLAGSHIP, *(name for name in zoo.NETWORKS if name != zoo.FLAGSHIP))")}
    step benchmark benchmark.md "$PYTHON" benchmarks/benchmark.py --device $DEVICE --networks $networks \
        --batch-sizes $BATCHES --rounds $ROUNDS --images-per-round $IMAGES --no-memory
}

run_profile() {
    step profile profile.md "$PYTHON" benchmarks/profile_layers.py --backend $BACKEND --batch-sizes $BATCHES \
        --repeats $REPEATS
}

# Two epochs of the default recipe, timed, say how many epochs fit in the rest of the step's time; then that many.
flagship_run() {
    local started=$SECONDS per_epoch epochs
    "$PYTHON" examples/enhanced_cnn.py --backend $BACKEND --epochs 2 $FLAGSHIP_LIMIT --out-dir "$WORK/probe" || return
    per_epoch=$("$PYTHON" -c "import json, sys; print(json.load(open(sys.argv[1]))['seconds'][-1])" "$WORK/probe/history.json")
    # what is left of the step, less a margin for starting up and for the test set and the report at the end
    epochs=$("$PYTHON" -c "import sys; print(max(1, min($MAX_EPOCHS, int(float(sys.argv[1]) / (1.1 * float(sys.argv[2]))))))" \
             "$((FLAGSHIP_SECONDS - (SECONDS - started) - FLAGSHIP_MARGIN))" "$per_epoch")
    echo "### the probe's second epoch took ${per_epoch}s (training and validation): --epochs $epochs" \
         "($([ "$epochs" = 100 ] && echo 'the full default recipe' || echo "of the recipe's 100; cosine over $epochs"))"
    "$PYTHON" examples/enhanced_cnn.py --backend $BACKEND --epochs "$epochs" $FLAGSHIP_LIMIT --out-dir "$WORK/flagship"
    local status=$?
    for file in config.json report.txt history.csv; do
        [ -f "$WORK/flagship/$file" ] && { echo "### $file"; cat "$WORK/flagship/$file"; }
    done
    return $status
}

run_flagship() {
    FLAGSHIP_SECONDS=$(limit_of flagship)
    [ "$MODE" = dry ] && echo "          (flagship_run: examples/enhanced_cnn.py --backend $BACKEND --epochs 2 $FLAGSHIP_LIMIT," \
        "then --epochs N: as many as the second epoch's seconds fit in what is left, at most $MAX_EPOCHS)"
    export -f flagship_run
    export BACKEND FLAGSHIP_LIMIT FLAGSHIP_SECONDS FLAGSHIP_MARGIN MAX_EPOCHS WORK PYTHON
    step flagship flagship.log bash -c flagship_run
}

run_suite() {
    local options=(-p no:cacheprovider -q -rfEs --durations=15)
    if [ "$MODE" = gpu ]; then
        "$PYTHON" -c "import xdist" 2>/dev/null && options+=(-n 8)
        "$PYTHON" -c "import pytest_timeout" 2>/dev/null && options+=(--timeout 100)
    fi
    step suite suite.log env MINICNN_BACKEND=$BACKEND "$PYTHON" -m pytest "${options[@]}" ${SUITE[@]+"${SUITE[@]}"}
}

[ "$MODE" = dry ] || setup
for name in $STEPS; do
    "run_$name"
done
rm -rf "$WORK"
[ "$MODE" = dry ] || echo "logs in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
