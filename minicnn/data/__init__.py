"""Data: IDX files, dataset discovery and download, splits, batches, augmentation."""
from minicnn.data.augment import (
    Augmenter,
    affine_transform,
    horizontal_flip,
    pad_crop,
    random_affine,
    random_erasing,
)
from minicnn.data.datasets import CLASS_NAMES, load_fashion_mnist, load_mnist, locate_fashion_mnist
from minicnn.data.idx import DatasetError, read_idx, write_idx
from minicnn.data.split import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    iterate_batches,
    prepare_images,
    train_val_split,
)

__all__ = [
    "Augmenter", "affine_transform", "horizontal_flip", "pad_crop", "random_affine", "random_erasing",
    "CLASS_NAMES", "load_fashion_mnist", "load_mnist", "locate_fashion_mnist",
    "DatasetError", "read_idx", "write_idx",
    "FASHION_MNIST_MEAN", "FASHION_MNIST_STD", "iterate_batches", "prepare_images", "train_val_split",
]
