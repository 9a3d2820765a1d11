"""Optimizers with PyTorch's update rules and defaults, and per-epoch learning-rate schedules.

An optimizer takes the model, keeps its per-parameter state in plain dicts
keyed like "3/W" (layer index / parameter name), and ``step()`` updates every
parameter in place from the gradient its layer's backward wrote.
"""
import math

import numpy as np

from minicnn import backend
from minicnn.runtime.work_buffers import WorkBuffers


class Optimizer:
    """Base: walks the model's parameters; subclasses define ``update``."""

    defaults = {}

    def __init__(self, model, lr, **hyperparameters):
        self.model = model
        self.lr = float(lr)
        unknown = set(hyperparameters) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown settings {sorted(unknown)}")
        for key, value in hyperparameters.items():
            # bool("no") is True: a switch takes only True or False
            if isinstance(self.defaults[key], bool) and not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{type(self).__name__} setting {key} must be True or False, got {value!r}")
        # each setting takes its default's type: Python floats, so no NumPy float64 scalar turns float32 into float64
        self.hyperparameters = {key: type(default)(hyperparameters.get(key, default))
                                for key, default in self.defaults.items()}
        for key, value in self.hyperparameters.items():
            setattr(self, key, value)
        self.state = {}
        self.work_buffers = WorkBuffers()   # one per parameter, reused by every step (not part of the state)
        self.steps = 0

    def named_parameters(self):
        """(key, param, layer) for every trainable array of the model."""
        for index, layer in enumerate(self.model.layers):
            for name, param in layer.params.items():
                yield f"{index}/{name}", param, layer

    def slot(self, key, slot_name, like):
        """The optimizer state array ``slot_name`` of parameter ``key``, zeros at first."""
        slots = self.state.setdefault(key, {})
        if slot_name not in slots:
            slots[slot_name] = backend.xp.zeros_like(like)
        return slots[slot_name]

    def step(self):
        self.steps += 1
        for key, param, layer in self.named_parameters():
            self.update(key, param, layer.grads[key.rsplit("/", 1)[1]])

    def update(self, key, param, grad):
        raise NotImplementedError

    def state_dict(self):
        """Everything needed to resume: lr, step count, settings and host copies of the state arrays."""
        arrays = {f"{key}/{slot}": backend.to_numpy(value)
                  for key, slots in self.state.items() for slot, value in slots.items()}
        return {"class": type(self).__name__, "lr": self.lr, "steps": self.steps,
                "hyperparameters": dict(self.hyperparameters), "arrays": arrays}

    def load_state_dict(self, state):
        if state["class"] != type(self).__name__:
            raise ValueError(f"optimizer state is for {state['class']}, not {type(self).__name__}")
        self.lr = float(state["lr"])
        self.steps = int(state["steps"])
        self.hyperparameters = dict(state["hyperparameters"])
        for key, value in self.hyperparameters.items():
            setattr(self, key, value)
        params = {key: param for key, param, _ in self.named_parameters()}
        self.state = {}
        for name, value in state["arrays"].items():
            key, slot = name.rsplit("/", 1)
            if key not in params or params[key].shape != value.shape:
                raise ValueError(f"optimizer state {name!r} with shape {value.shape} does not match the model")
            self.state.setdefault(key, {})[slot] = backend.to_device(value, dtype=params[key].dtype)


class SGD(Optimizer):
    """SGD(model, lr=0.01, momentum=0, nesterov=False, weight_decay=0, dampening=0), PyTorch's rule:
    g += weight_decay * p; v = momentum * v + (1 - dampening) * g (v = g on the first step);
    p -= lr * (g + momentum * v if nesterov else v).
    """

    defaults = {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0, "dampening": 0.0}

    def __init__(self, model, lr=0.01, **hyperparameters):
        super().__init__(model, lr, **hyperparameters)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening 0")

    def update(self, key, param, grad):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            first = key not in self.state
            velocity = self.slot(key, "velocity", param)
            if first:
                velocity[...] = grad
            else:
                velocity *= self.momentum
                velocity += (1.0 - self.dampening) * grad
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        param -= self.lr * grad


class Adam(Optimizer):
    """Adam(model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0), PyTorch's rule:
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    weight_decay here is L2 added to the gradient; AdamW decouples it.
    """

    defaults = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}

    def __init__(self, model, lr=1e-3, **hyperparameters):
        super().__init__(model, lr, **hyperparameters)

    def update(self, key, param, grad):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        self.adam_update(key, param, grad)

    def adam_update(self, key, param, grad):
        # every pass in place or into one work array per parameter: the temporaries of the plain
        # expressions would cost more than their arithmetic (the measured gain: docs/benchmarks.md)
        xp = backend.xp
        mean = self.slot(key, "mean", param)
        square = self.slot(key, "square", param)
        work = self.work_buffers.get(key, param.shape, param.dtype)
        xp.multiply(grad, 1.0 - self.beta1, out=work)
        mean *= self.beta1
        mean += work
        xp.multiply(grad, grad, out=work)
        work *= 1.0 - self.beta2
        square *= self.beta2
        square += work
        # Python floats: a NumPy float64 scalar would turn float32 arrays into float64
        step_size = self.lr / (1.0 - self.beta1 ** self.steps)
        root_correction = math.sqrt(1.0 - self.beta2 ** self.steps)
        denominator = xp.sqrt(square, out=work)
        denominator *= 1.0 / root_correction
        denominator += self.eps
        xp.divide(mean, denominator, out=work)
        work *= step_size
        param -= work


class AdamW(Adam):
    """AdamW(model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01), PyTorch's rule:
    p *= 1 - lr * weight_decay, then the Adam step without any L2 term.
    """

    defaults = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01}

    def update(self, key, param, grad):
        param *= 1.0 - self.lr * self.weight_decay
        self.adam_update(key, param, grad)


class RMSprop(Optimizer):
    """RMSprop(model, lr=0.01, alpha=0.99, eps=1e-8, momentum=0, centered=False, weight_decay=0), PyTorch's rule:
    v = alpha v + (1 - alpha) g^2; denominator = sqrt(v - mean_g^2 if centered else v) + eps;
    with momentum: b = momentum b + g / denominator, p -= lr b; else p -= lr g / denominator.
    """

    defaults = {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False, "weight_decay": 0.0}

    def __init__(self, model, lr=0.01, **hyperparameters):
        super().__init__(model, lr, **hyperparameters)

    def update(self, key, param, grad):
        xp = backend.xp
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        square = self.slot(key, "square", param)
        square *= self.alpha
        square += (1.0 - self.alpha) * (grad * grad)
        if self.centered:
            mean = self.slot(key, "mean", param)
            mean *= self.alpha
            mean += (1.0 - self.alpha) * grad
            denominator = xp.sqrt(square - mean * mean)
        else:
            denominator = xp.sqrt(square)
        denominator += self.eps
        if self.momentum:
            buffer = self.slot(key, "momentum_buffer", param)
            buffer *= self.momentum
            buffer += grad / denominator
            param -= self.lr * buffer
        else:
            param -= self.lr * (grad / denominator)


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop)}


class Schedule:
    """A learning-rate schedule stepped once per epoch: ``step()`` sets optimizer.lr for the next epoch."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self):
        self.epoch += 1
        self.optimizer.lr = float(self.lr_at(self.epoch))
        return self.optimizer.lr

    def lr_at(self, epoch):
        raise NotImplementedError

    def positive_epochs(self, name, value):
        """``value`` as a whole number of epochs >= 1; ValueError naming the schedule and ``name`` otherwise."""
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"{type(self).__name__} {name} must be a whole number of epochs >= 1, got {value!r}")
        return int(value)

    def state_dict(self):
        return {"class": type(self).__name__, "epoch": self.epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state):
        self.epoch = int(state["epoch"])
        self.base_lr = float(state["base_lr"])


class StepLR(Schedule):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size, self.gamma = self.positive_epochs("step_size", step_size), float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(Schedule):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, flat at eta_min after T_max."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        self.T_max, self.eta_min = self.positive_epochs("T_max", T_max), float(eta_min)

    def lr_at(self, epoch):
        progress = min(epoch, self.T_max) / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + math.cos(math.pi * progress)) / 2.0


SCHEDULES = {cls.__name__: cls for cls in (StepLR, ExponentialLR, CosineAnnealingLR)}
