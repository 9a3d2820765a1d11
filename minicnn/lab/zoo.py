"""Every network of the papers (docs/papers.md), rebuilt layer by layer, with its metadata.

``NETWORKS[name]`` is a ``Network``: the builder plus the paper, the
published parameter counts, the reported accuracy (and on which split) and
the training recipe. ``build(name)`` returns a fresh Sequential.
``minicnn.lab.runner.run_experiment(name)`` trains a network with its recipe,
a dict whose keys ``RECIPE_KEYS`` explains; ``minicnn train NAME --set KEY=VALUE``
overrides any of them.
"""
from dataclasses import dataclass, field

from minicnn.layers import (BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D, LeakyReLU, MaxPool2D, ReLU,
                            Residual)
from minicnn.layers.normalization import CONVENTIONS
from minicnn.model import Sequential


@dataclass(frozen=True, kw_only=True)   # twelve fields: by name, so none can be given in another's place
class Network:
    name: str
    paper: str
    citation: str                  # the paper in a few words, for tables
    description: str
    layers: object                 # callable (**architecture settings) -> list of layers
    input_shape: tuple
    trainable_params: int          # as published (as counted for our own network)
    non_trainable_params: int      # likewise (BatchNorm running statistics, Keras's count)
    reported_accuracy: float       # as published, a fraction; None where nothing was published
    reported_split: str            # "test" or "validation": where the paper measured it
    framework: str                 # the paper's framework, whose weight initialisation we use
    recipe: dict = field(default_factory=dict)   # see RECIPE_KEYS

    @property
    def reported(self):
        """What the paper reported, for tables: "93.30% (validation)", or "not reported"."""
        if self.reported_accuracy is None:
            return "not reported"
        return f"{self.reported_accuracy:.2%} ({self.reported_split})"


RECIPE_KEYS = {
    "optimizer": 'the name of a minicnn.optim optimizer: "SGD", "Adam", "AdamW" or "RMSprop"',
    "lr": "the initial learning rate",
    "weight_decay": "optional: the optimizer's weight decay (L2 for SGD/Adam/RMSprop, decoupled for AdamW)",
    "momentum": "optional: SGD's or RMSprop's momentum",
    "nesterov": "optional: SGD with Nesterov momentum (true/false)",
    "batch_size": "images per training step",
    "epochs": "how many epochs to train (at most, with early_stopping)",
    "val_fraction": "the share of the 60,000 training images held out for validation (stratified, seeded)",
    "standardize": "true: (x / 255 - mean) / std with Fashion-MNIST's statistics; false: x / 255",
    "pca_variance": "project the images onto the principal components (fitted on the training split) "
                    "that explain this share of the variance, e.g. 0.95",
    "hidden": "the widths of the hidden Dense layers, e.g. 64-32 (saraswat-pca-dnn only)",
    "batch_norm_layers": "true: a BatchNorm after every convolution (band-cnn only: its paper's conclusion)",
    "augment": 'minicnn.data.Augmenter settings, e.g. {"horizontal_flip": true, "pad_crop": 2}; none = off',
    "schedule": '{"name": a minicnn.optim schedule, plus its settings}, stepped every epoch; '
                "CosineAnnealingLR's T_max defaults to the epochs",
    "label_smoothing": "the label smoothing of the cross-entropy loss (0 = none)",
    "early_stopping": '{"monitor": "val_loss", "patience": 10}: stop when the monitored value stops improving',
    "keep_best": '"val_accuracy" or "val_loss" (true = "val_accuracy"): end with the best epoch\'s weights',
    "flip_averaged": "true: validate and test on the logits averaged over each image and its mirror image "
                     "(test-time augmentation; for networks trained on flipped images)",
    "shift_averaged": "pixels, e.g. 1: test the kept weights on the logits averaged over each image and its copies "
                      "moved by 1 to that many pixels up, down, left and right (mirrored too with flip_averaged), "
                      "and judge their validation accuracy so once more; the epochs are validated without the "
                      "moves (for networks trained on shifted images; 0 = off)",
    "batch_norm": 'the BatchNorm convention: "pytorch" (momentum 0.1, the default) or "keras" (0.99 kept, eps 1e-3)',
}
# What a recipe that leaves these keys out trains with (every other key left out means "off").
RECIPE_DEFAULTS = {"batch_norm": "pytorch", "label_smoothing": 0.0}

# Recipe keys that change the network itself: build() hands them to the network's builder.
ARCHITECTURE_KEYS = ("hidden", "batch_norm_layers")


def band_cnn(batch_norm_layers=False):
    """The paper's table; with ``batch_norm_layers`` (its conclusion's recipe) a BatchNorm after each convolution."""
    def convolution(filters):
        return [Conv2D(filters, 3)] + ([BatchNorm()] if batch_norm_layers else []) + [ReLU()]
    return (convolution(64) + convolution(64) + [MaxPool2D(), Dropout(0.25)]
            + convolution(128) + convolution(128) + [MaxPool2D(), Dropout(0.25),
                                                     Flatten(), Dense(256), ReLU(), Dropout(0.5), Dense(10)])


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


def saraswat_pca_dnn(hidden):
    """Dense(width) + ReLU for each width of ``hidden`` ([64] in the paper's best grid point), then Dense 10."""
    layers = []
    for width in hidden:
        layers += [Dense(width), ReLU()]
    return layers + [Dense(10)]


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


def minicnn_best():
    """band_cnn with BatchNorm after every convolution (Conv-BN-ReLU) and no dropout between the blocks.

    The convolutions drop their bias: BatchNorm subtracts each channel's mean
    right after, so a bias there would be learned and cancelled every step.
    The blocks' dropout is gone too: with augmentation, weight decay and label
    smoothing, a run that kept it (93.86%, docs/results.md) was still underfitting.
    """
    blocks = []
    for filters in (64, 128):
        blocks += [Conv2D(filters, 3, use_bias=False), BatchNorm(), ReLU(),
                   Conv2D(filters, 3, use_bias=False), BatchNorm(), ReLU(), MaxPool2D()]
    return blocks + [Flatten(), Dense(256), ReLU(), Dropout(0.5), Dense(10)]


def resnet20():
    """He et al.'s CIFAR ResNet-20 on 28x28 grayscale images: a 3x3 convolution (16), then 3 stages of 3 basic
    blocks (16, 32, 64 filters; the first block of stages 2 and 3 halves the size with stride 2, 28 -> 14 -> 7),
    global average pooling and Dense(10).

    A basic block is two 3x3 convolutions with BatchNorm, ReLU between them, its input added before the
    last ReLU. Where a block changes the shape its shortcut is a 1x1 convolution with stride 2 and its
    BatchNorm (the paper's option B; its CIFAR network pads the input with zeros instead, option A). The
    convolutions drop their bias: BatchNorm follows each one.
    """
    def block(filters, stride):
        body = [Conv2D(filters, 3, stride=stride, padding=1, use_bias=False), BatchNorm(), ReLU(),
                Conv2D(filters, 3, padding=1, use_bias=False), BatchNorm()]
        shortcut = [Conv2D(filters, 1, stride=stride, use_bias=False), BatchNorm()] if stride != 1 else None
        return [Residual(body, shortcut), ReLU()]

    layers = [Conv2D(16, 3, padding=1, use_bias=False), BatchNorm(), ReLU()]
    for filters, first_stride in ((16, 1), (32, 2), (64, 2)):
        for index in range(3):
            layers += block(filters, first_stride if index == 0 else 1)
    return layers + [GlobalAvgPool2D(), Dense(10)]


IMAGE = (1, 28, 28)
BAND = "Band et al., CNN Model for Image Classification on MNIST and Fashion-MNIST Dataset"
AWASTHI_SONI = "Awasthi & Soni, Enhanced CNN Architecture for Image Classification on the Fashion-MNIST Dataset (2024)"
ANN_VS_CNN_REPORT = "FASHION-MNIST CLASSIFICATION report (ANN vs CNN, PyTorch)"
SARASWAT = "Saraswat, Challur, Pitta, Classification of Fashion MNIST Dataset Using DNN and CNN"
MINIPROJECT = "Mini-project: image classification of fashion items using deep learning (Keras)"
OURS = "minicnn (ours)"
# Awasthi & Soni train 100 epochs (their Table 1); we end with the weights of the best validation-accuracy epoch.
UP_TO = {"keep_best": "val_accuracy"}

NETWORKS = {network.name: network for network in [
    Network(name="band-cnn", paper=BAND, citation="Band et al.",
            description="4 conv (64, 64, 128, 128) + 2 max-pool + dropout, Dense 256",
            layers=band_cnn, input_shape=IMAGE, trainable_params=786_122, non_trainable_params=0,
            reported_accuracy=0.9274, reported_split="test", framework="keras",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 20, "val_fraction": 0.2,
                    "batch_norm_layers": False}),
    Network(name="awasthi-basic-cnn", paper=AWASTHI_SONI, citation="Awasthi & Soni 2024",
            description="1 conv (64) + max-pool, Dense 128 (overfits)",
            layers=awasthi_basic_cnn, input_shape=IMAGE, trainable_params=1_386_506, non_trainable_params=0,
            reported_accuracy=0.917, reported_split="validation", framework="keras",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 512, "epochs": 100, "val_fraction": 0.2, **UP_TO}),
    Network(name="awasthi-enhanced-cnn", paper=AWASTHI_SONI, citation="Awasthi & Soni 2024",
            description="3 x (conv same + BatchNorm + ReLU + max-pool), Dense 256-128, dropout 0.5 (the flagship)",
            layers=awasthi_enhanced_cnn, input_shape=IMAGE, trainable_params=422_474, non_trainable_params=448,
            reported_accuracy=0.933, reported_split="validation", framework="keras",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 512, "epochs": 100, "val_fraction": 0.2, **UP_TO,
                    # the paper states no learning rate or schedule: annealing keeps the validation accuracy
                    # steady where a constant 1e-3 swings by a point (docs/results.md, the flagship)
                    "schedule": {"name": "CosineAnnealingLR"}}),
    Network(name="report-ann", paper=ANN_VS_CNN_REPORT, citation="ANN-vs-CNN report",
            description="MLP 784-256-128-10, dropout 0.2",
            layers=report_ann, input_shape=IMAGE, trainable_params=235_146, non_trainable_params=0,
            reported_accuracy=0.85, reported_split="test", framework="pytorch",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 10, "val_fraction": 0.2,
                    "standardize": True}),
    Network(name="report-cnn", paper=ANN_VS_CNN_REPORT, citation="ANN-vs-CNN report",
            description="2 conv same (32, 64) + 1 max-pool, Dense 128, dropout 0.25",
            layers=report_cnn, input_shape=IMAGE, trainable_params=1_625_866, non_trainable_params=0,
            reported_accuracy=0.90, reported_split="test", framework="pytorch",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 10, "val_fraction": 0.2,
                    "standardize": True}),
    Network(name="saraswat-pca-dnn", paper=SARASWAT, citation="Saraswat et al.",
            description="PCA to 95% variance (187 components), Dense 64, Dense 10",
            layers=saraswat_pca_dnn, input_shape=(187,), trainable_params=12_682, non_trainable_params=0,
            # PyTorch: the authors' notebooks build it from torch.nn.Linear, default initialisation
            reported_accuracy=0.8850, reported_split="test", framework="pytorch",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 32, "epochs": 30, "val_fraction": 0.2,
                    "pca_variance": 0.95, "hidden": [64],
                    "keep_best": "val_accuracy"}),  # "the best validation accuracy ... saved for final evaluation"
    Network(name="saraswat-cnn", paper=SARASWAT, citation="Saraswat et al.",
            description="4 conv valid (16, 32, 64, 128) with BatchNorm + LeakyReLU 0.2, Dense 256-128",
            layers=saraswat_cnn, input_shape=IMAGE, trainable_params=262_890, non_trainable_params=224,
            # PyTorch: "The models are implemented in Pytorch" (docs/papers.md, Saraswat et al.)
            reported_accuracy=0.8970, reported_split="test", framework="pytorch",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 128, "epochs": 10, "val_fraction": 0.2,
                    "keep_best": "val_accuracy"}),
    Network(name="miniproject-basic-cnn", paper=MINIPROJECT, citation="Keras mini-project",
            description="2 conv valid (32, 64) + max-pool, Dense 128, dropout 0.5",
            layers=miniproject_basic_cnn, input_shape=IMAGE, trainable_params=225_034, non_trainable_params=0,
            reported_accuracy=None, reported_split=None, framework="keras",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 15, "val_fraction": 0.2}),
    Network(name="miniproject-enhanced-cnn", paper=MINIPROJECT, citation="Keras mini-project",
            description="3 conv valid (32, 64, 128) + BatchNorm, Dense 128, dropout 0.5, augmentation",
            layers=miniproject_enhanced_cnn, input_shape=IMAGE, trainable_params=241_994, non_trainable_params=448,
            reported_accuracy=0.8929, reported_split="test", framework="keras",
            recipe={"optimizer": "Adam", "lr": 1e-3, "batch_size": 64, "epochs": 15, "val_fraction": 0.2,
                    "augment": {"rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 0.1,
                         "zoom_range": 0.1}}),
    # Beyond the papers (docs/papers.md, "Records beyond the papers"): small BatchNorm CNNs with crop + flip
    # reach 93-94.5%. Band's network plus BatchNorm, trained the way those records were.
    Network(name="minicnn-best", paper=OURS, citation=OURS,
            description="band-cnn, BatchNorm after every conv, no conv dropout; crop + flip + random erasing, "
                        "SGD-Nesterov, cosine, label smoothing; flip-averaged validation, flip- and "
                        "shift-averaged test",
            layers=minicnn_best, input_shape=IMAGE, trainable_params=786_506, non_trainable_params=768,
            reported_accuracy=None, reported_split=None, framework="pytorch",
            recipe={"optimizer": "SGD", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                    "batch_size": 128, "epochs": 60, "val_fraction": 0.2,
                    "augment": {"horizontal_flip": True, "pad_crop": 2, "random_erasing": 0.5},
                    "schedule": {"name": "CosineAnnealingLR"}, "label_smoothing": 0.1, "keep_best": "val_accuracy",
                    "flip_averaged": True, "shift_averaged": 1}),
    # He et al.'s CIFAR ResNet-20, adapted to Fashion-MNIST (docs/papers.md, "resnet20 (ours)"): not a paper's
    # network, so no published count or accuracy; the counts are ours, worked out by hand there.
    Network(name="resnet20", paper=OURS, citation=OURS,
            description="ResNet-20 (He et al. 2016, CIFAR): 3 stages x 3 basic blocks (16, 32, 64), 1x1 projection "
                        "shortcuts, global average pooling, Dense 10; crop + flip, SGD-Nesterov, cosine",
            layers=resnet20, input_shape=IMAGE, trainable_params=272_186, non_trainable_params=1_568,
            reported_accuracy=None, reported_split=None, framework="pytorch",
            recipe={"optimizer": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                    "batch_size": 128, "epochs": 30, "val_fraction": 0.2,
                    "augment": {"horizontal_flip": True, "pad_crop": 2},
                    "schedule": {"name": "CosineAnnealingLR"}, "keep_best": "val_accuracy"}),
]}

FLAGSHIP = "awasthi-enhanced-cnn"


def build(name, seed=None, dtype="float32", init=None, input_shape=None, batch_norm="pytorch", **architecture):
    """A fresh Sequential of zoo network ``name``, initialised like its paper's framework unless ``init`` says.

    Inputs:
    - name: a key of NETWORKS.
    - seed: seeds the initial weights and the dropout masks.
    - dtype: "float32" or "float64".
    - init: "pytorch" or "keras"; None uses the paper's framework.
    - input_shape: the per-sample input shape; None uses the paper's. (A PCA
      network on fewer components than the paper's 187 needs another.)
    - batch_norm: the BatchNorm convention, "pytorch" or "keras".
    - architecture: the ARCHITECTURE_KEYS of the network's recipe, e.g.
      hidden=[64, 32]; missing ones are taken from the recipe.

    BatchNorm layers use the PyTorch convention (momentum 0.1 on the new batch
    statistic) by default, even in Keras papers: Keras's 0.99-kept running
    statistics are still unsettled after a short run and make inference
    accuracy collapse (docs/design.md, known pitfalls). batch_norm="keras" gives the
    papers' own. The parameter counts are the same either way. Only the convention
    changes: whatever else a builder set on a BatchNorm stays (with_convention).
    """
    if name not in NETWORKS:
        raise KeyError(f"unknown network {name!r}; the zoo has: {', '.join(NETWORKS)}")
    network = NETWORKS[name]
    settings = {key: network.recipe[key] for key in ARCHITECTURE_KEYS if key in network.recipe}
    unknown = set(architecture) - set(settings)
    if unknown:
        raise ValueError(f"network {name!r} has no setting {', '.join(sorted(unknown))}; "
                         f"its architecture settings are: {', '.join(settings) or 'none'}")
    settings.update(architecture)
    layers = with_convention_everywhere(network.layers(**settings), batch_norm)
    return Sequential(layers, input_shape=input_shape or network.input_shape,
                      init=init or network.framework, seed=seed, dtype=dtype, name=name)


def with_convention_everywhere(layers, convention):
    """``layers`` with every BatchNorm under ``convention`` (with_convention), those inside blocks too."""
    for layer in layers:
        if isinstance(layer, Residual):
            layer.body = with_convention_everywhere(layer.body, convention)
            if layer.chosen_shortcut is not None:
                layer.shortcut = layer.chosen_shortcut = with_convention_everywhere(layer.chosen_shortcut, convention)
    return [with_convention(layer, convention) if isinstance(layer, BatchNorm) else layer for layer in layers]


def with_convention(layer, convention):
    """BatchNorm ``layer`` under ``convention``, everything else its builder set kept.

    The layer itself if it already follows ``convention``. Otherwise a new BatchNorm
    with the same name: a momentum or eps that was the old convention's default
    becomes the new one's; one the builder chose keeps its meaning. PyTorch's
    momentum is the weight of the new batch statistic and Keras's the weight kept
    of the old running value, so a chosen momentum m becomes 1 - m, the same speed.
    """
    if layer.convention == convention:
        return layer
    defaults = CONVENTIONS[layer.convention]
    momentum = None if layer.momentum == defaults["momentum"] else 1.0 - layer.momentum
    eps = None if layer.eps == defaults["eps"] else layer.eps
    return BatchNorm(momentum=momentum, eps=eps, convention=convention, name=layer.name)
