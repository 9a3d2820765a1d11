"""Every network of the papers (see ../shared/papers.md), rebuilt layer by layer, with its metadata.

``NETWORKS[name]`` is a ``Network``: the builder plus the paper, the
published parameter counts, the reported accuracy (and on which split) and
the training recipe. ``build(name)`` returns a fresh Sequential.
"""
from dataclasses import dataclass, field

from minicnn.layers import BatchNorm, Conv2D, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D, ReLU
from minicnn.model import Sequential


@dataclass(frozen=True)
class Network:
    name: str
    paper: str
    description: str
    layers: object                 # callable () -> list of layers
    input_shape: tuple
    trainable_params: int          # as published
    non_trainable_params: int      # as published (BatchNorm running statistics, Keras's count)
    reported_accuracy: float       # as published, a fraction
    reported_split: str            # "test" or "validation": where the paper measured it
    framework: str                 # the paper's framework, whose weight initialisation we use
    recipe: dict = field(default_factory=dict)


def band_cnn():
    return [Conv2D(64, 3), ReLU(), Conv2D(64, 3), ReLU(), MaxPool2D(), Dropout(0.25),
            Conv2D(128, 3), ReLU(), Conv2D(128, 3), ReLU(), MaxPool2D(), Dropout(0.25),
            Flatten(), Dense(256), ReLU(), Dropout(0.5), Dense(10)]


def awasthi_basic_cnn():
    return [Conv2D(64, 3), ReLU(), MaxPool2D(), Flatten(), Dense(128), ReLU(), Dense(10)]


def awasthi_enhanced_cnn():
    blocks = []
    for filters in (32, 64, 128):
        blocks += [Conv2D(filters, 3, padding="same"), BatchNorm(), ReLU(), MaxPool2D()]
    return blocks + [Flatten(), Dense(256), ReLU(), Dropout(0.5), Dense(128), ReLU(), Dropout(0.5), Dense(10)]


def report_ann():
    return [Flatten(), Dense(256), ReLU(), Dropout(0.2), Dense(128), ReLU(), Dropout(0.2), Dense(10)]


def report_cnn():
    return [Conv2D(32, 3, padding="same"), ReLU(), Conv2D(64, 3, padding="same"), ReLU(), MaxPool2D(),
            Dropout(0.25), Flatten(), Dense(128), ReLU(), Dropout(0.25), Dense(10)]


def saraswat_pca_dnn():
    return [Dense(64), ReLU(), Dense(10)]


def saraswat_cnn():
    return [Conv2D(16, 3), BatchNorm(), LeakyReLU(0.2), MaxPool2D(),
            Conv2D(32, 3), BatchNorm(), LeakyReLU(0.2),
            Conv2D(64, 3), BatchNorm(), LeakyReLU(0.2), MaxPool2D(),
            Conv2D(128, 3),
            Flatten(), Dense(256), ReLU(), Dense(128), ReLU(), Dense(10)]


def miniproject_basic_cnn():
    return [Conv2D(32, 3), ReLU(), MaxPool2D(), Conv2D(64, 3), ReLU(), MaxPool2D(),
            Flatten(), Dense(128), ReLU(), Dropout(0.5), Dense(10)]


def miniproject_enhanced_cnn():
    return [Conv2D(32, 3), ReLU(), BatchNorm(), MaxPool2D(),
            Conv2D(64, 3), ReLU(), BatchNorm(), MaxPool2D(),
            Conv2D(128, 3), ReLU(), BatchNorm(),
            Flatten(), Dense(128), ReLU(), Dropout(0.5), Dense(10)]


IMAGE = (1, 28, 28)
SEED001 = "Awasthi & Soni, Enhanced CNN Architecture for Image Classification on the Fashion-MNIST Dataset (2024)"
SEED002 = "FASHION-MNIST CLASSIFICATION report (ANN vs CNN, PyTorch)"
SEED003 = "Saraswat, Challur, Pitta, Classification of Fashion MNIST Dataset Using DNN and CNN"
SEED004 = "Mini-project: image classification of fashion items using deep learning (Keras)"

NETWORKS = {network.name: network for network in [
    Network("band-cnn", "Band et al., CNN Model for Image Classification on MNIST and Fashion-MNIST Dataset",
            "4 conv (64, 64, 128, 128) + 2 max-pool + dropout, Dense 256", band_cnn, IMAGE,
            786_122, 0, 0.9274, "test", "keras",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 20, "val_fraction": 0.2}),
    Network("awasthi-basic-cnn", SEED001, "1 conv (64) + max-pool, Dense 128 (overfits)", awasthi_basic_cnn, IMAGE,
            1_386_506, 0, 0.917, "validation", "keras",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 512, "epochs": 100, "val_fraction": 0.2}),
    Network("awasthi-enhanced-cnn", SEED001, "3 x (conv same + BatchNorm + ReLU + max-pool), Dense 256-128, "
            "dropout 0.5 (the flagship)", awasthi_enhanced_cnn, IMAGE,
            422_474, 448, 0.933, "validation", "keras",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 512, "epochs": 100, "val_fraction": 0.2}),
    Network("report-ann", SEED002, "MLP 784-256-128-10, dropout 0.2", report_ann, IMAGE,
            235_146, 0, 0.85, "test", "pytorch",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 10, "val_fraction": 0.2,
             "standardize": True}),
    Network("report-cnn", SEED002, "2 conv same (32, 64) + 1 max-pool, Dense 128, dropout 0.25", report_cnn, IMAGE,
            1_625_866, 0, 0.90, "test", "pytorch",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 10, "val_fraction": 0.2,
             "standardize": True}),
    Network("saraswat-pca-dnn", SEED003, "PCA to 95% variance (187 components), Dense 64, Dense 10",
            saraswat_pca_dnn, (187,), 12_682, 0, 0.8850, "test", "keras",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 32, "epochs": 30, "val_fraction": 0.2,
             "pca_variance": 0.95}),
    Network("saraswat-cnn", SEED003, "4 conv valid (16, 32, 64, 128) with BatchNorm + LeakyReLU 0.2, Dense 256-128",
            saraswat_cnn, IMAGE, 262_890, 224, 0.8970, "test", "keras",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 128, "epochs": 10, "val_fraction": 0.2,
             "keep_best": True}),
    Network("miniproject-basic-cnn", SEED004, "2 conv valid (32, 64) + max-pool, Dense 128, dropout 0.5",
            miniproject_basic_cnn, IMAGE, 225_034, 0, None, None, "keras",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 15, "val_fraction": 0.2}),
    Network("miniproject-enhanced-cnn", SEED004, "3 conv valid (32, 64, 128) + BatchNorm, Dense 128, dropout 0.5, "
            "augmentation", miniproject_enhanced_cnn, IMAGE, 241_994, 448, 0.8929, "test", "keras",
            {"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 15, "val_fraction": 0.2,
             "augment": {"rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 0.1,
                         "zoom_range": 0.1}}),
]}

FLAGSHIP = "awasthi-enhanced-cnn"


def build(name, seed=None, dtype="float32", init=None):
    """A fresh Sequential of zoo network ``name``, initialised like its paper's framework unless ``init`` says.

    BatchNorm layers use the PyTorch convention (momentum 0.1 on the new batch
    statistic) even in Keras papers: Keras's 0.99-kept running statistics are
    still unsettled after a short run and make inference accuracy collapse
    (DESIGN.md, known pitfalls). The parameter counts are the same either way.
    """
    if name not in NETWORKS:
        raise KeyError(f"unknown network {name!r}; the zoo has: {', '.join(NETWORKS)}")
    network = NETWORKS[name]
    return Sequential(network.layers(), input_shape=network.input_shape, init=init or network.framework,
                      seed=seed, dtype=dtype, name=name)
