"""The flagship: Awasthi & Soni's enhanced CNN on Fashion-MNIST, trained with the paper's recipe.

    python examples/enhanced_cnn.py                  # the full recipe on the CPU
    python examples/enhanced_cnn.py --backend cupy   # the same on an NVIDIA GPU
    python examples/enhanced_cnn.py --limit 2000 --epochs 2   # a quick try

Recipe (../shared/papers.md, seed 001): Adam (lr 1e-3), batch 512, a stratified
80/20 split of the 60,000 training images (48,000 / 12,000), up to 100 epochs.
"Up to" is read as early stopping: training stops once the validation loss
has not improved for --patience epochs, and the best-validation weights are
kept. Then the model is evaluated once on the 10,000 test images.
"""
import argparse
import os
import sys
import time

import minicnn as mc
from minicnn import data, report, zoo
from minicnn.optim import Adam
from minicnn.train import EarlyStopping, KeepBestWeights, fit


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--backend", choices=mc.backend.BACKENDS, default=os.environ.get("MINICNN_BACKEND", "numpy"))
    parser.add_argument("--epochs", type=int, default=100, help="at most this many epochs")
    parser.add_argument("--patience", type=int, default=10,
                        help="stop after this many epochs without a better validation loss (0: never)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="where the Fashion-MNIST IDX files are (default: search)")
    parser.add_argument("--out-dir", default="runs/enhanced_cnn")
    parser.add_argument("--limit", type=int, default=None,
                        help="a quick try: use only this many training images, and as many validation and test images")
    parser.add_argument("--augment", action="store_true", help="random horizontal flip + 2-pixel pad-and-crop")
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.npz")
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    mc.set_backend(arguments.backend)
    (x_train_all, y_train_all), (x_test, y_test) = data.load_fashion_mnist(arguments.data_dir)
    train, val = data.train_val_split(x_train_all, y_train_all, val_fraction=0.2, seed=arguments.seed)
    if arguments.limit:
        limit = arguments.limit
        train, val = (train[0][:limit], train[1][:limit]), (val[0][:limit], val[1][:limit])
        x_test, y_test = x_test[:limit], y_test[:limit]
    train = (data.prepare_images(train[0]), train[1])
    val = (data.prepare_images(val[0]), val[1])
    test = (data.prepare_images(x_test), y_test)

    model = zoo.build(zoo.FLAGSHIP, seed=arguments.seed)
    print(model.summary())
    print(f"backend {arguments.backend}: {len(train[1]):,} training, {len(val[1]):,} validation, "
          f"{len(test[1]):,} test images", flush=True)
    optimizer = Adam(model, lr=arguments.lr)
    keep_best = KeepBestWeights(monitor="val_loss")
    callbacks = [keep_best] + ([EarlyStopping("val_loss", arguments.patience)] if arguments.patience else [])
    augment = data.Augmenter(horizontal_flip=True, pad_crop=2) if arguments.augment else None
    started = time.perf_counter()
    history = fit(model, optimizer, train, val, epochs=arguments.epochs, batch_size=arguments.batch_size,
                  augment=augment, callbacks=callbacks, seed=arguments.seed, resume=arguments.resume,
                  checkpoint=os.path.join(arguments.out_dir, "checkpoint.npz"))
    minutes = (time.perf_counter() - started) / 60
    config = dict(vars(arguments), network=zoo.FLAGSHIP, epochs_run=len(history["epoch"]),
                  best_epoch=keep_best.best_epoch, train_minutes_this_session=round(minutes, 2),
                  train_seconds_total=round(sum(history["seconds"]), 1),
                  augment_config=augment.config() if augment else None)
    accuracy = report.write_run(arguments.out_dir, model, history, test, config, data.CLASS_NAMES["fashion-mnist"])
    print(f"test accuracy {accuracy:.4f} (best validation epoch {keep_best.best_epoch}); "
          f"report and figures in {arguments.out_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
