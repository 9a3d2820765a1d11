"""Batch normalization, per channel on (N, C, H, W) and per feature on (N, D)."""
import numpy as np

from minicnn import backend
from minicnn.layers.base import Layer

CONVENTIONS = {
    # momentum = weight of the new batch statistic; running variance unbiased (divides by M - 1)
    "pytorch": {"momentum": 0.1, "eps": 1e-5},
    # momentum = weight KEPT of the old running value; running variance biased (divides by M)
    "keras": {"momentum": 0.99, "eps": 1e-3},
}


class BatchNorm(Layer):
    """BatchNorm(momentum=None, eps=None, convention="pytorch" | "keras").

    Params: gamma (C,), beta (C,). Buffers: running_mean (C,), running_var (C,).
    Training: y = gamma * (x - mean_batch) / sqrt(var_batch + eps) + beta, with
    mean and (biased) variance over every axis but the channel one; the
    running statistics move towards the batch ones.
    Inference: the same with the running statistics.
    momentum and eps default to the chosen convention's values (see CONVENTIONS).
    """

    def __init__(self, momentum=None, eps=None, convention="pytorch", name=None):
        super().__init__(name)
        if convention not in CONVENTIONS:
            raise ValueError(f"BatchNorm convention must be one of {tuple(CONVENTIONS)}, got {convention!r}")
        self.convention = convention
        self.momentum = float(CONVENTIONS[convention]["momentum"] if momentum is None else momentum)
        self.eps = float(CONVENTIONS[convention]["eps"] if eps is None else eps)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"BatchNorm momentum must lie in [0, 1], got {self.momentum}")

    def config(self):
        return {"momentum": self.momentum, "eps": self.eps, "convention": self.convention, "name": self.name}

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (1, 3):
            raise ValueError(f"BatchNorm '{self.name}' needs (C, H, W) or (D,) inputs, got {input_shape}")
        return input_shape

    def create_params(self):
        channels = self.input_shape[0]
        self.params["gamma"] = self.new_param(np.ones(channels))
        self.params["beta"] = self.new_param(np.zeros(channels))
        self.buffers["running_mean"] = self.new_param(np.zeros(channels))
        self.buffers["running_var"] = self.new_param(np.ones(channels))

    def per_channel_sum(self, a, b=None):
        """sum over every axis but the channel one of a (or of a * b), shape (C,).

        einsum over the (N, C, H*W) view is several times faster than
        a.sum(axis=(0, 2, 3)) and never builds the product a * b.
        """
        xp = backend.xp
        a3 = a.reshape(a.shape[0], a.shape[1], -1)
        if b is None:
            return xp.einsum("nck->c", a3)
        return xp.einsum("nck,nck->c", a3, b.reshape(a3.shape))

    def channel_shape(self):
        """The shape that broadcasts a (C,) vector against the input: (1, C, 1, 1) or (1, C)."""
        return (1, -1, 1, 1) if len(self.input_shape) == 3 else (1, -1)

    def forward(self, x, training=False):
        """x (N, C, H, W) or (N, D) -> same shape.

        Caches x_hat (the normalized input), inv_std (C,) and whether the
        batch or the running statistics were used.
        """
        self.check_input(x)
        shape = self.channel_shape()
        self.training = training
        if training:
            count = x.size // x.shape[1]
            if count < 2:
                raise ValueError(f"BatchNorm '{self.name}' needs more than one value per channel in training, "
                                 f"got input of shape {tuple(x.shape)}")
            mean = self.per_channel_sum(x) * (1.0 / count)
            centered = x - mean.reshape(shape)
            variance = self.per_channel_sum(centered, centered) * (1.0 / count)
            self.update_running_statistics(mean, variance, count)
        else:
            centered = x - self.buffers["running_mean"].reshape(shape)
            variance = self.buffers["running_var"]
        self.inv_std = 1.0 / backend.xp.sqrt(variance + self.eps)
        centered *= self.inv_std.reshape(shape)
        self.x_hat = centered
        out = self.x_hat * self.params["gamma"].reshape(shape)
        out += self.params["beta"].reshape(shape)
        return out

    def update_running_statistics(self, mean, variance, count):
        if self.convention == "pytorch":
            new_weight = self.momentum
            variance = variance * (count / (count - 1))
        else:
            new_weight = 1.0 - self.momentum
        for key, batch_value in (("running_mean", mean), ("running_var", variance)):
            running = self.buffers[key]
            running *= 1.0 - new_weight
            running += new_weight * batch_value

    def backward(self, dout):
        """dout (same shape as x) -> dx; writes grads gamma and beta.

        Training mode (mean and variance depend on x):
            dx = gamma * inv_std / M * (M * dout - sum(dout) - x_hat * sum(dout * x_hat))
        with sums over the M values of each channel. Inference mode: dx = gamma * inv_std * dout.
        """
        shape = self.channel_shape()
        dgamma = self.per_channel_sum(dout, self.x_hat)
        dbeta = self.per_channel_sum(dout)
        self.grads["gamma"] = dgamma
        self.grads["beta"] = dbeta
        scale = self.params["gamma"] * self.inv_std
        if not self.training:
            return dout * scale.reshape(shape)
        count = dout.size // dout.shape[1]
        dx = self.x_hat * (scale * dgamma * (-1.0 / count)).reshape(shape)
        dx += dout * scale.reshape(shape)
        dx -= (scale * dbeta * (1.0 / count)).reshape(shape)
        return dx
