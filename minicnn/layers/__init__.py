"""One small class per layer. Every class here can be rebuilt from its config() by name."""
from minicnn.layers.activations import LeakyReLU, ReLU
from minicnn.layers.base import Layer
from minicnn.layers.conv import Conv2D
from minicnn.layers.dense import Dense, Flatten
from minicnn.layers.dropout import Dropout
from minicnn.layers.normalization import BatchNorm
from minicnn.layers.per_sample_normalization import GroupNorm, LayerNorm
from minicnn.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from minicnn.layers.residual import Residual

LAYER_CLASSES = {cls.__name__: cls for cls in
                 (Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, BatchNorm, LayerNorm, GroupNorm, Dropout, Dense,
                  Flatten, ReLU, LeakyReLU, Residual)}

__all__ = ["Layer", "LAYER_CLASSES"] + sorted(LAYER_CLASSES)
