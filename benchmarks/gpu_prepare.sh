#!/usr/bin/env bash
# For a GPU machine without the dataset or internet (docs/gpu.md): copy Fashion-MNIST into .gpu-data/,
# which git ignores, so that it can be copied over with the checkout. Run it in the checkout's root.
# Takes the four IDX files from $MINICNN_DATA or /usr/share/datasets/fashion-mnist; checks that
# minicnn reads them.
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE="${1:-${MINICNN_DATA:-/usr/share/datasets/fashion-mnist}}"
TARGET=.gpu-data
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

mkdir -p "$TARGET"
git check-ignore -q "$TARGET" || { echo "gpu_prepare.sh: $TARGET is not ignored by git (.gitignore)" >&2; exit 1; }
for name in $FILES; do
    if [ -f "$SOURCE/$name.gz" ]; then
        cp "$SOURCE/$name.gz" "$TARGET/"
    elif [ -f "$SOURCE/$name" ]; then
        gzip -c "$SOURCE/$name" > "$TARGET/$name.gz"   # the device run carries at most 64 MiB with the tree
    else
        echo "gpu_prepare.sh: $SOURCE has no $name(.gz); give the directory that holds Fashion-MNIST" >&2
        exit 1
    fi
done
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" -c "
import minicnn as mc
(x, y), (x_test, y_test) = mc.data.load_fashion_mnist('$TARGET', download=False)
print(f'$TARGET: {len(x):,} training and {len(x_test):,} test images, read by minicnn')"
du -sh "$TARGET"
