"""The same network in PyTorch, built from a minicnn Sequential, with the same weights."""
import numpy as np
import torch
from torch import nn

from minicnn import backend, layers


def torch_twin(model):
    """An nn.Sequential computing what ``model`` computes (same layers, weights and BatchNorm settings)."""
    return nn.Sequential(*(translate(layer) for layer in model.layers))


def tensor(array):
    return torch.from_numpy(np.ascontiguousarray(backend.to_numpy(array)))


def translate(layer):
    if isinstance(layer, layers.Conv2D):
        top, bottom, left, right = layer.pads
        if top != bottom or left != right:
            raise ValueError(f"{layer.name}: asymmetric padding has no nn.Conv2d twin")
        module = nn.Conv2d(layer.input_shape[0], layer.filters, layer.kernel_size, stride=layer.stride,
                           padding=(top, left), bias=layer.use_bias)
        module.weight.data = tensor(layer.params["W"])
        if layer.use_bias:
            module.bias.data = tensor(layer.params["b"])
        return module
    if isinstance(layer, layers.Dense):
        module = nn.Linear(layer.input_shape[0], layer.units, bias=layer.use_bias)
        module.weight.data = tensor(layer.params["W"]).T.contiguous()
        if layer.use_bias:
            module.bias.data = tensor(layer.params["b"])
        return module
    if isinstance(layer, layers.BatchNorm):
        kind = nn.BatchNorm2d if len(layer.input_shape) == 3 else nn.BatchNorm1d
        momentum = layer.momentum if layer.convention == "pytorch" else 1.0 - layer.momentum
        return kind(layer.input_shape[0], eps=layer.eps, momentum=momentum)
    if isinstance(layer, layers.MaxPool2D):
        return nn.MaxPool2d(layer.pool_size, stride=layer.stride or layer.pool_size)
    if isinstance(layer, layers.AvgPool2D):
        return nn.AvgPool2d(layer.pool_size, stride=layer.stride or layer.pool_size)
    if isinstance(layer, layers.Dropout):
        return nn.Dropout(layer.rate)
    if isinstance(layer, layers.Flatten):
        return nn.Flatten()
    if isinstance(layer, layers.LeakyReLU):
        return nn.LeakyReLU(layer.alpha)
    if isinstance(layer, layers.ReLU):
        return nn.ReLU()
    raise ValueError(f"no PyTorch twin for {type(layer).__name__}")
