"""The same network in PyTorch, built from a minicnn Sequential, with the same weights."""
import numpy as np
import torch
from torch import nn

from minicnn import backend, layers


def torch_twin(model):
    """An nn.Sequential computing what ``model`` computes (same layers, weights, BatchNorm settings and
    statistics); a Residual becomes a ResidualTwin."""
    return nn.Sequential(*(translate(layer) for layer in model.layers))


class ResidualTwin(nn.Module):
    """body(x) + shortcut(x), as minicnn's Residual; an empty shortcut is the identity."""

    def __init__(self, body, shortcut):
        super().__init__()
        self.body, self.shortcut = nn.Sequential(*body), nn.Sequential(*shortcut)

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def tensor(array):
    """A copy of ``array`` as a tensor: the twin's updates never reach minicnn's arrays, nor theirs the twin."""
    return torch.from_numpy(np.array(backend.to_numpy(array), order="C"))


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
        module = kind(layer.input_shape[0], eps=layer.eps, momentum=momentum)
        module.weight.data, module.bias.data = tensor(layer.params["gamma"]), tensor(layer.params["beta"])
        module.running_mean.data = tensor(layer.buffers["running_mean"])
        module.running_var.data = tensor(layer.buffers["running_var"])
        return module
    if isinstance(layer, (layers.LayerNorm, layers.GroupNorm)):
        module = (nn.LayerNorm(layer.input_shape, eps=layer.eps) if isinstance(layer, layers.LayerNorm)
                  else nn.GroupNorm(layer.groups, layer.input_shape[0], eps=layer.eps))
        module.weight.data, module.bias.data = tensor(layer.params["gamma"]), tensor(layer.params["beta"])
        return module
    if isinstance(layer, layers.GlobalAvgPool2D):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(layer, layers.Residual):
        return ResidualTwin([translate(inner) for inner in layer.body], [translate(inner) for inner in layer.shortcut])
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
