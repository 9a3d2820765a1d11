"""Batch normalization, per channel on (N, C, H, W) and per feature on (N, D)."""
import numpy as np

from minicnn import backend
from minicnn.layers.base import Layer
from minicnn.runtime import threads
from minicnn.runtime.layout import channel_rows, from_channel_rows

CONVENTIONS = {
    # momentum = weight of the new batch statistic; running variance unbiased (divides by M - 1)
    "pytorch": {"momentum": 0.1, "eps": 1e-5},
    # momentum = weight KEPT of the old running value; running variance biased (divides by M)
    "keras": {"momentum": 0.99, "eps": 1e-3},
}


class BatchNorm(Layer):
    """BatchNorm(momentum=None, eps=None, convention="pytorch" | "keras").

    Params: gamma (C,), beta (C,). Buffers: running_mean (C,), running_var (C,).
    Input (N, C, H, W) (per channel) or (N, D) (per feature) -> the same shape. With mean and
    (biased) variance over the M values of each channel (every axis but the channel one):

        training:  x_hat = (x - mean) / sqrt(var + eps),  y = gamma * x_hat + beta;
                   the running statistics move towards the batch ones
        inference: the same with the running statistics, as y = x * scale + shift
        backward:  dgamma = sum(dy * x_hat),  dbeta = sum(dy),
                   dx = gamma / sqrt(var + eps) * (dy - dbeta / M - x_hat * dgamma / M)

    momentum and eps default to the chosen convention's values (see CONVENTIONS).
    Reference twin: minicnn/reference/normalization.py (the staged backward). The tricks:
    - Each channel's values as one row of a (C, M) view (``channel_rows``: no copy, the
      convolution's output is batch-innermost), so that every statistic is a row reduction.
    - Row sums as ``rows @ ones`` (a matrix-vector product), not ``rows.sum(1)``.
    - Every pass in place or with out= into a fresh or reused array: no temporaries.
    - On the step's threads (minicnn.runtime.threads), each thread takes whole channels:
      no partial sums to combine.
    - The fused block (minicnn.runtime.fusion) calls these same methods on its pooled values.
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

    def ones(self, count, dtype):
        """A reused ones vector of ``count`` values, for row sums as rows @ ones."""
        return self.work_buffers.get("ones", (count,), dtype, fill=1)

    def forward(self, x, training=False):
        """x (N, C, H, W) or (N, D) -> same shape (laid out channel-major, batch innermost).

        Caches x_hat (the normalized input, (C, M) rows) and inv_std (C,) in training; in
        inference the input rows (x_hat is made only if a backward asks for it).
        """
        self.batch_size = self.check_input(x)
        xp = backend.xp
        rows = channel_rows(x)                      # (C, M): one row per channel
        gamma, beta = self.params["gamma"], self.params["beta"]
        out = xp.empty(rows.shape, dtype=x.dtype)
        self.training = training
        if training:
            self.check_training_batch(x, rows.shape[1])
            self.x_hat = xp.empty(rows.shape, dtype=x.dtype)
            mean, variance, self.inv_std = self.normalize_batch(rows, self.x_hat, gamma, beta, out,
                                                                ones=self.ones(rows.shape[1], x.dtype))
            self.update_running_statistics(mean, variance, rows.shape[1])
        else:
            self.rows, self.x_hat = rows, None
            self.inv_std, scale, shift = self.running_scale_and_shift()
            self.scale_and_shift(rows, scale, shift, out)
        return from_channel_rows(out, x.shape)

    def backward(self, dout):
        """dout (same shape as x) -> dx (laid out channel-major, batch innermost); writes grads gamma and beta.

        In inference mode the statistics do not depend on x: dx = gamma * inv_std * dout.
        """
        self.check_output_gradient(dout)
        xp = backend.xp
        drows = channel_rows(dout)
        if self.x_hat is None:   # after an inference forward
            self.x_hat = self.standardize(self.rows, self.buffers["running_mean"], self.inv_std)
        dx = xp.empty(drows.shape, dtype=dout.dtype)
        self.grads["gamma"], self.grads["beta"] = self.backward_rows(
            drows, self.x_hat, self.params["gamma"] * self.inv_std, dx, ones=self.ones(drows.shape[1], dout.dtype))
        return from_channel_rows(dx, dout.shape)

    # The formulas on channel rows, each run on pieces of the channels (whole rows) on the step's threads.
    # rows, centred, x_hat, out, drows, dx: (C, M); mean, inv_std, gamma, beta, scale, shift, dgamma, dbeta: (C,).

    @threads.in_pieces(axis=0)
    def normalize_batch(self, rows, x_hat, gamma, beta, out, *, ones):
        """The training forward: x_hat = (rows - mean) * inv_std and out = gamma * x_hat + beta with each
        row's batch statistics, which it returns: (mean, variance, inv_std)."""
        mean, variance, inv_std = self.batch_statistics(rows, x_hat, ones=ones)   # x_hat holds rows - mean here
        self.normalize(x_hat, inv_std, gamma, beta, out)
        return mean, variance, inv_std

    @threads.in_pieces(axis=0)
    def backward_rows(self, drows, x_hat, scale, dx, *, ones):
        """The backward, scale = gamma * inv_std: writes dx, returns (dgamma, dbeta)."""
        dgamma, dbeta = self.gamma_beta_gradients(drows, x_hat, ones=ones)
        if self.training:
            self.input_gradient(drows, x_hat, dgamma, dbeta, scale, dx)
        else:
            backend.xp.multiply(drows, scale[:, None], out=dx)
        return dgamma, dbeta

    @threads.in_pieces(axis=0)
    def batch_statistics(self, rows, centred, *, ones):
        """(mean, biased variance, 1 / sqrt(variance + eps)) of each row; writes centred = rows - mean."""
        xp = backend.xp
        count = rows.shape[1]
        mean = (rows @ ones) * (1.0 / count)
        self.centre(rows, mean, centred)
        variance = xp.einsum("cm,cm->c", centred, centred) * (1.0 / count)
        return mean, variance, 1.0 / xp.sqrt(variance + self.eps)

    @threads.in_pieces(axis=0)
    def centre(self, rows, mean, out):
        """out = rows - mean."""
        backend.xp.subtract(rows, mean[:, None], out=out)

    @threads.in_pieces(axis=0)
    def normalize(self, centred, inv_std, gamma, beta, out):
        """centred *= inv_std (it is x_hat then); out = gamma * x_hat + beta."""
        centred *= inv_std[:, None]
        self.scale_and_shift(centred, gamma, beta, out)

    @threads.in_pieces(axis=0)
    def scale_and_shift(self, rows, scale, shift, out):
        """out = rows * scale + shift."""
        backend.xp.multiply(rows, scale[:, None], out=out)
        out += shift[:, None]

    def running_scale_and_shift(self):
        """(inv_std, scale, shift) of inference: y = x * scale + shift with the running statistics."""
        inv_std = 1.0 / backend.xp.sqrt(self.buffers["running_var"] + self.eps)
        scale = self.params["gamma"] * inv_std
        return inv_std, scale, self.params["beta"] - self.buffers["running_mean"] * scale

    def standardize(self, rows, mean, inv_std):
        """(rows - mean) * inv_std, in a fresh array."""
        return (rows - mean[:, None]) * inv_std[:, None]

    @threads.in_pieces(axis=0)
    def gamma_beta_gradients(self, drows, x_hat, *, ones):
        """(dgamma, dbeta) = (sum(drows * x_hat), sum(drows)) of each row."""
        return backend.xp.einsum("cm,cm->c", drows, x_hat), drows @ ones

    @threads.in_pieces(axis=0)
    def input_gradient(self, drows, x_hat, dgamma, dbeta, scale, dx):
        """dx = scale * (drows - x_hat * dgamma / M) - scale * dbeta / M, in four passes with no temporary."""
        count = drows.shape[1]
        backend.xp.multiply(x_hat, (dgamma * (-1.0 / count))[:, None], out=dx)
        dx += drows
        dx *= scale[:, None]
        dx -= (scale * dbeta * (1.0 / count))[:, None]

    def check_training_batch(self, x, count):
        if count < 2:
            raise ValueError(f"BatchNorm '{self.name}' needs more than one value per channel in training, "
                             f"got input of shape {tuple(x.shape)}")

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
